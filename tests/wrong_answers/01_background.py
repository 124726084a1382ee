"""Plausible wrong answers to solutions/01_background/exercises.ipynb, one dict entry per part.

Each value is the source of a wrong ``def`` (or class) that replaces the part's solution cell;
the suite checks that the part's test cell fails with every one of them (and passes with the
solution).
"""

WRONG_ANSWERS = {
    "hard_lookup_weights": {
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
    "attention_pool": {
        "the_original_bug_axis_0": '''
def attention_pool(queries, keys, values):
    scores = queries @ keys.T
    exps = np.exp(scores - scores.max(axis=0, keepdims=True))
    weights = exps / exps.sum(axis=0, keepdims=True)
    return weights @ values
''',
        "normalised_over_all_entries": '''
def attention_pool(queries, keys, values):
    scores = queries @ keys.T
    exps = np.exp(scores - scores.max())
    return exps / exps.sum() @ values
''',
        "fixed_axis_but_no_max_shift": '''
def attention_pool(queries, keys, values):
    exps = np.exp(queries @ keys.T)
    return exps / exps.sum(axis=1, keepdims=True) @ values
''',
        "fixed_sum_only": '''
def attention_pool(queries, keys, values):
    scores = queries @ keys.T
    exps = np.exp(scores - scores.max(axis=0, keepdims=True))
    weights = exps / exps.sum(axis=1, keepdims=True)
    return weights @ values
''',
    },
}
