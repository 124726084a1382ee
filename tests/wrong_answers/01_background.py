"""Plausible wrong answers to solutions/01_background/exercises.ipynb, one dict entry per part.

Each value is the source of a wrong ``def`` (or class) that replaces the part's solution cell;
the suite checks that the part's test cell fails with every one of them (and passes with the
solution).
"""

WRONG_ANSWERS = {
    "hard_lookup_weights": {
        "torch_one_hot_shortcut": '''
def hard_lookup_weights(scores):
    import torch
    winners = torch.from_numpy(np.asarray(scores, dtype=float)).argmax(dim=-1)
    return torch.nn.functional.one_hot(winners, np.shape(scores)[-1]).double().numpy()
''',
        "argmax_over_axis_0": '''
def hard_lookup_weights(scores):
    scores = np.asarray(scores, dtype=float)
    winners = np.argmax(scores, axis=0)
    weights = np.zeros_like(scores)
    np.put_along_axis(weights, np.expand_dims(winners, 0), 1.0, axis=0)
    return weights
''',
        "all_tied_maxima_get_one": '''
def hard_lookup_weights(scores):
    scores = np.asarray(scores, dtype=float)
    return (scores == scores.max(axis=-1, keepdims=True)).astype(float)
''',
        "returns_the_index": '''
def hard_lookup_weights(scores):
    return np.argmax(scores, axis=-1)
''',
        "flat_argmax_of_whole_array": '''
def hard_lookup_weights(scores):
    scores = np.asarray(scores, dtype=float)
    weights = np.zeros(scores.size)
    weights[np.argmax(scores)] = 1.0
    return weights.reshape(scores.shape)
''',
    },
    "soft_lookup": {
        "torch_softmax_shortcut": '''
def soft_lookup(query, keys, values, beta=1.0):
    weights = torch.softmax(torch.from_numpy(beta * (keys @ query)), dim=0).numpy()
    return weights @ values
''',
        "attnbook_softmax_shortcut": '''
def soft_lookup(query, keys, values, beta=1.0):
    return attnbook.softmax(beta * (keys @ query)) @ values
''',
        "no_max_subtraction_overflows": '''
def soft_lookup(query, keys, values, beta=1.0):
    exps = np.exp(beta * (keys @ query))
    return exps / exps.sum() @ values
''',
        "forgets_beta": '''
def soft_lookup(query, keys, values, beta=1.0):
    scores = keys @ query
    exps = np.exp(scores - scores.max())
    return (exps / exps.sum()) @ values
''',
        "divides_by_beta": '''
def soft_lookup(query, keys, values, beta=1.0):
    scores = (keys @ query) / beta
    exps = np.exp(scores - scores.max())
    return (exps / exps.sum()) @ values
''',
        "unnormalised_weights": '''
def soft_lookup(query, keys, values, beta=1.0):
    scores = beta * (keys @ query)
    return np.exp(scores - scores.max()) @ values
''',
        "hard_lookup_instead": '''
def soft_lookup(query, keys, values, beta=1.0):
    return values[np.argmax(keys @ query)]
''',
    },
    "gaussian_kernel_weights": {
        "attnbook_shortcut": '''
def gaussian_kernel_weights(queries, keys, bandwidth):
    return attnbook.gaussian_kernel_weights(queries, keys, bandwidth)
''',
        "normalises_over_axis_0": '''
def gaussian_kernel_weights(queries, keys, bandwidth):
    scores = -((queries[:, None] - keys[None, :]) ** 2) / (2 * bandwidth**2)
    exps = np.exp(scores - scores.max(axis=0, keepdims=True))
    return exps / exps.sum(axis=0, keepdims=True)
''',
        "no_normalisation": '''
def gaussian_kernel_weights(queries, keys, bandwidth):
    return np.exp(-((queries[:, None] - keys[None, :]) ** 2) / (2 * bandwidth**2))
''',
        "wrong_sign_in_exponent": '''
def gaussian_kernel_weights(queries, keys, bandwidth):
    scores = ((queries[:, None] - keys[None, :]) ** 2) / (2 * bandwidth**2)
    exps = np.exp(scores - scores.max(axis=1, keepdims=True))
    return exps / exps.sum(axis=1, keepdims=True)
''',
        "bandwidth_not_squared": '''
def gaussian_kernel_weights(queries, keys, bandwidth):
    scores = -((queries[:, None] - keys[None, :]) ** 2) / (2 * bandwidth)
    exps = np.exp(scores - scores.max(axis=1, keepdims=True))
    return exps / exps.sum(axis=1, keepdims=True)
''',
        "missing_factor_two": '''
def gaussian_kernel_weights(queries, keys, bandwidth):
    scores = -((queries[:, None] - keys[None, :]) ** 2) / bandwidth**2
    exps = np.exp(scores - scores.max(axis=1, keepdims=True))
    return exps / exps.sum(axis=1, keepdims=True)
''',
        "literal_formula_nan_for_far_query": '''
def gaussian_kernel_weights(queries, keys, bandwidth):
    kernel = np.exp(-((queries[:, None] - keys[None, :]) ** 2) / (2 * bandwidth**2))
    with np.errstate(invalid="ignore"):
        return kernel / kernel.sum(axis=1, keepdims=True)
''',
        "absolute_distance_laplace_kernel": '''
def gaussian_kernel_weights(queries, keys, bandwidth):
    scores = -np.abs(queries[:, None] - keys[None, :]) / bandwidth
    exps = np.exp(scores - scores.max(axis=1, keepdims=True))
    return exps / exps.sum(axis=1, keepdims=True)
''',
    },
    "nadaraya_watson": {
        "attnbook_shortcut": '''
def nadaraya_watson(queries, keys, values, bandwidth):
    return attnbook.nadaraya_watson(queries, keys, values, bandwidth)
''',
        "transposed_weights": '''
def nadaraya_watson(queries, keys, values, bandwidth):
    scores = -((keys[:, None] - queries[None, :]) ** 2) / (2 * bandwidth**2)
    exps = np.exp(scores - scores.max(axis=1, keepdims=True))
    weights = exps / exps.sum(axis=1, keepdims=True)
    return weights.T @ values
''',
        "unnormalised_kernel_sum": '''
def nadaraya_watson(queries, keys, values, bandwidth):
    kernel = np.exp(-((queries[:, None] - keys[None, :]) ** 2) / (2 * bandwidth**2))
    return kernel @ values
''',
        "average_pooling": '''
def nadaraya_watson(queries, keys, values, bandwidth):
    return np.full(len(queries), np.mean(values))
''',
        "nearest_neighbour": '''
def nadaraya_watson(queries, keys, values, bandwidth):
    return values[np.abs(queries[:, None] - keys[None, :]).argmin(axis=1)]
''',
    },
    "KernelPooling": {
        "attnbook_module_shortcut": '''
class KernelPooling(nn.Module):
    def __init__(self, initial_w=1.0):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(float(initial_w)))

    def forward(self, queries, keys, values, mask=None):
        scores = -0.5 * ((queries[:, None] - keys[None, :]) * self.w) ** 2
        return attnbook.softmax(scores, axis=-1, mask=mask) @ values
''',
        "ignores_the_mask": '''
class KernelPooling(nn.Module):
    def __init__(self, initial_w=1.0):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(float(initial_w)))

    def forward(self, queries, keys, values, mask=None):
        scores = -0.5 * ((queries[:, None] - keys[None, :]) * self.w) ** 2
        return torch.softmax(scores, dim=-1) @ values
''',
        "mask_after_softmax_not_renormalised": '''
class KernelPooling(nn.Module):
    def __init__(self, initial_w=1.0):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(float(initial_w)))

    def forward(self, queries, keys, values, mask=None):
        scores = -0.5 * ((queries[:, None] - keys[None, :]) * self.w) ** 2
        weights = torch.softmax(scores, dim=-1)
        if mask is not None:
            weights = weights * mask
        return weights @ values
''',
        "divides_by_w": '''
class KernelPooling(nn.Module):
    def __init__(self, initial_w=1.0):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(float(initial_w)))

    def forward(self, queries, keys, values, mask=None):
        scores = -0.5 * ((queries[:, None] - keys[None, :]) / self.w) ** 2
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        return torch.softmax(scores, dim=-1) @ values
''',
        "detached_w_no_gradient": '''
class KernelPooling(nn.Module):
    def __init__(self, initial_w=1.0):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(float(initial_w)))

    def forward(self, queries, keys, values, mask=None):
        w = self.w.item()
        scores = -0.5 * ((queries[:, None] - keys[None, :]) * w) ** 2
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        return torch.softmax(scores, dim=-1) @ values
''',
        "softmax_over_queries": '''
class KernelPooling(nn.Module):
    def __init__(self, initial_w=1.0):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(float(initial_w)))

    def forward(self, queries, keys, values, mask=None):
        scores = -0.5 * ((queries[:, None] - keys[None, :]) * self.w) ** 2
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        return torch.softmax(scores, dim=0) @ values
''',
    },
    "dot_attention_context": {
        "softmax_over_the_decoder_steps": '''
def dot_attention_context(decoder_states, encoder_states):
    scores = decoder_states @ encoder_states.transpose(1, 2) / math.sqrt(decoder_states.shape[-1])
    weights = torch.softmax(scores, dim=1)
    return weights @ encoder_states, weights
''',
        "no_scaling": '''
def dot_attention_context(decoder_states, encoder_states):
    weights = torch.softmax(decoder_states @ encoder_states.transpose(1, 2), dim=-1)
    return weights @ encoder_states, weights
''',
        "divides_by_H_not_sqrt_H": '''
def dot_attention_context(decoder_states, encoder_states):
    scores = decoder_states @ encoder_states.transpose(1, 2) / decoder_states.shape[-1]
    weights = torch.softmax(scores, dim=-1)
    return weights @ encoder_states, weights
''',
        "fixed_context_ignores_the_weights": '''
def dot_attention_context(decoder_states, encoder_states):
    scores = decoder_states @ encoder_states.transpose(1, 2) / math.sqrt(decoder_states.shape[-1])
    weights = torch.softmax(scores, dim=-1)
    return encoder_states[:, -1:].expand_as(decoder_states), weights
''',
        "exp_without_max_shift_overflows": '''
def dot_attention_context(decoder_states, encoder_states):
    exps = torch.exp(decoder_states @ encoder_states.transpose(1, 2) / math.sqrt(decoder_states.shape[-1]))
    weights = exps / exps.sum(dim=-1, keepdim=True)
    return weights @ encoder_states, weights
''',
        "calls_F_scaled_dot_product_attention": '''
def dot_attention_context(decoder_states, encoder_states):
    scores = decoder_states @ encoder_states.transpose(1, 2) / math.sqrt(decoder_states.shape[-1])
    weights = torch.softmax(scores, dim=-1)
    contexts = torch.nn.functional.scaled_dot_product_attention(decoder_states, encoder_states, encoder_states)
    return contexts, weights
''',
        "calls_attnbook": '''
def dot_attention_context(decoder_states, encoder_states):
    contexts, weights = attnbook.scaled_dot_product_attention(decoder_states, encoder_states, encoder_states,
                                                              return_weights=True)
    return contexts, weights
''',
    },
}
