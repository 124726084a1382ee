"""Plausible wrong answers to solutions/06_challenges/exercises.ipynb, one dict entry per part.

Each value is the source of a wrong ``def`` that replaces the part's solution cell; the suite
checks that the part's test cell fails with every one of them (and passes with the solution),
also when an always-pass ``Checker`` is monkeypatched in.
"""

_DELTA_OK = '''
def softmax_backward_delta(d_out, out):
    return np.sum(d_out * out, axis=-1)
'''

WRONG_ANSWERS = {
    "flash_tile_step": {
        "forgets_to_rescale_acc": '''
def flash_tile_step(q_block, k_block, v_block, row_max, row_sum, acc, mask=None):
    scores = q_block @ k_block.T / math.sqrt(q_block.shape[-1])
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    new_max = np.maximum(row_max, scores.max(axis=-1))
    shift = np.where(np.isfinite(new_max), new_max, 0.0)
    rescale = np.exp(row_max - shift)
    probs = np.exp(scores - shift[:, None])
    return new_max, row_sum * rescale + probs.sum(axis=-1), acc + probs @ v_block
''',
        "forgets_to_rescale_sum": '''
def flash_tile_step(q_block, k_block, v_block, row_max, row_sum, acc, mask=None):
    scores = q_block @ k_block.T / math.sqrt(q_block.shape[-1])
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    new_max = np.maximum(row_max, scores.max(axis=-1))
    shift = np.where(np.isfinite(new_max), new_max, 0.0)
    rescale = np.exp(row_max - shift)
    probs = np.exp(scores - shift[:, None])
    return new_max, row_sum + probs.sum(axis=-1), acc * rescale[:, None] + probs @ v_block
''',
        "no_scaling_by_sqrt_d": '''
def flash_tile_step(q_block, k_block, v_block, row_max, row_sum, acc, mask=None):
    scores = q_block @ k_block.T
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    new_max = np.maximum(row_max, scores.max(axis=-1))
    shift = np.where(np.isfinite(new_max), new_max, 0.0)
    rescale = np.exp(row_max - shift)
    probs = np.exp(scores - shift[:, None])
    return new_max, row_sum * rescale + probs.sum(axis=-1), acc * rescale[:, None] + probs @ v_block
''',
        "block_max_instead_of_running_max": '''
def flash_tile_step(q_block, k_block, v_block, row_max, row_sum, acc, mask=None):
    scores = q_block @ k_block.T / math.sqrt(q_block.shape[-1])
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    new_max = scores.max(axis=-1)
    shift = np.where(np.isfinite(new_max), new_max, 0.0)
    rescale = np.exp(row_max - shift)
    probs = np.exp(scores - shift[:, None])
    return new_max, row_sum * rescale + probs.sum(axis=-1), acc * rescale[:, None] + probs @ v_block
''',
        "nan_for_an_empty_masked_row": '''
def flash_tile_step(q_block, k_block, v_block, row_max, row_sum, acc, mask=None):
    scores = q_block @ k_block.T / math.sqrt(q_block.shape[-1])
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    new_max = np.maximum(row_max, scores.max(axis=-1))
    rescale = np.exp(row_max - new_max)
    probs = np.exp(scores - new_max[:, None])
    return new_max, row_sum * rescale + probs.sum(axis=-1), acc * rescale[:, None] + probs @ v_block
''',
        "torch_version": '''
def flash_tile_step(q_block, k_block, v_block, row_max, row_sum, acc, mask=None):
    q, k, v = (torch.from_numpy(x) for x in (q_block, k_block, v_block))
    scores = q @ k.T / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~torch.from_numpy(np.asarray(mask)), -math.inf)
    new_max = torch.maximum(torch.from_numpy(row_max), scores.max(dim=-1).values)
    shift = torch.where(torch.isfinite(new_max), new_max, torch.zeros_like(new_max))
    rescale = torch.exp(torch.from_numpy(row_max) - shift)
    probs = torch.exp(scores - shift[:, None])
    new_sum = torch.from_numpy(row_sum) * rescale + probs.sum(dim=-1)
    new_acc = torch.from_numpy(acc) * rescale[:, None] + probs @ v
    return new_max.numpy(), new_sum.numpy(), new_acc.numpy()
''',
    },
    "flash_backward": {
        "delta_summed_over_everything": '''
def softmax_backward_delta(d_out, out):
    return np.sum(d_out * out)


def flash_backward(q, k, v, out, lse, d_out):
    scale = 1 / math.sqrt(q.shape[-1])
    probs = np.exp(q @ k.T * scale - lse[:, None])
    d_probs = d_out @ v.T
    d_scores = probs * (d_probs - softmax_backward_delta(d_out, out))
    return d_scores @ k * scale, d_scores.T @ q * scale, probs.T @ d_out
''',
        "delta_without_the_weights": '''
def softmax_backward_delta(d_out, out):
    return np.sum(d_out * out, axis=-1)


def flash_backward(q, k, v, out, lse, d_out):
    scale = 1 / math.sqrt(q.shape[-1])
    probs = np.exp(q @ k.T * scale - lse[:, None])
    d_probs = d_out @ v.T
    d_scores = probs * (d_probs - d_probs.sum(axis=-1, keepdims=True))
    return d_scores @ k * scale, d_scores.T @ q * scale, probs.T @ d_out
''',
        "no_delta": _DELTA_OK + '''

def flash_backward(q, k, v, out, lse, d_out):
    scale = 1 / math.sqrt(q.shape[-1])
    probs = np.exp(q @ k.T * scale - lse[:, None])
    d_scores = probs * (d_out @ v.T)
    return d_scores @ k * scale, d_scores.T @ q * scale, probs.T @ d_out
''',
        "forgets_the_scale_in_dq_dk": _DELTA_OK + '''

def flash_backward(q, k, v, out, lse, d_out):
    scale = 1 / math.sqrt(q.shape[-1])
    probs = np.exp(q @ k.T * scale - lse[:, None])
    d_scores = probs * (d_out @ v.T - softmax_backward_delta(d_out, out)[:, None])
    return d_scores @ k, d_scores.T @ q, probs.T @ d_out
''',
        "weights_without_lse": _DELTA_OK + '''

def flash_backward(q, k, v, out, lse, d_out):
    scale = 1 / math.sqrt(q.shape[-1])
    probs = np.exp(q @ k.T * scale)
    d_scores = probs * (d_out @ v.T - softmax_backward_delta(d_out, out)[:, None])
    return d_scores @ k * scale, d_scores.T @ q * scale, probs.T @ d_out
''',
        "torch_autograd": _DELTA_OK + '''

def flash_backward(q, k, v, out, lse, d_out):
    q_t, k_t, v_t = (torch.tensor(x, requires_grad=True) for x in (q, k, v))
    result = torch.softmax(q_t @ k_t.T / math.sqrt(q.shape[-1]), dim=-1) @ v_t
    result.backward(torch.from_numpy(d_out))
    return q_t.grad.numpy(), k_t.grad.numpy(), v_t.grad.numpy()
''',
    },
    "kv_cache_bytes": {
        "keys_only": '''
def kv_cache_bytes(num_layers, num_heads, d_head, seq_len, batch_size=1, bytes_per_value=2, num_kv_heads=None):
    num_kv_heads = num_heads if num_kv_heads is None else num_kv_heads
    if num_heads % num_kv_heads != 0:
        raise ValueError(f"num_heads = {num_heads} is not a multiple of num_kv_heads = {num_kv_heads}")
    return num_layers * batch_size * num_kv_heads * seq_len * d_head * bytes_per_value
''',
        "ignores_num_kv_heads": '''
def kv_cache_bytes(num_layers, num_heads, d_head, seq_len, batch_size=1, bytes_per_value=2, num_kv_heads=None):
    if num_kv_heads is not None and num_heads % num_kv_heads != 0:
        raise ValueError(f"num_heads = {num_heads} is not a multiple of num_kv_heads = {num_kv_heads}")
    return 2 * num_layers * batch_size * num_heads * seq_len * d_head * bytes_per_value
''',
        "group_size_instead_of_kv_heads": '''
def kv_cache_bytes(num_layers, num_heads, d_head, seq_len, batch_size=1, bytes_per_value=2, num_kv_heads=None):
    num_kv_heads = num_heads if num_kv_heads is None else num_kv_heads
    if num_heads % num_kv_heads != 0:
        raise ValueError(f"num_heads = {num_heads} is not a multiple of num_kv_heads = {num_kv_heads}")
    group = num_heads // num_kv_heads
    return 2 * num_layers * batch_size * group * seq_len * d_head * bytes_per_value
''',
        "one_layer_only": '''
def kv_cache_bytes(num_layers, num_heads, d_head, seq_len, batch_size=1, bytes_per_value=2, num_kv_heads=None):
    num_kv_heads = num_heads if num_kv_heads is None else num_kv_heads
    if num_heads % num_kv_heads != 0:
        raise ValueError(f"num_heads = {num_heads} is not a multiple of num_kv_heads = {num_kv_heads}")
    return 2 * batch_size * num_kv_heads * seq_len * d_head * bytes_per_value
''',
        "forgets_the_batch": '''
def kv_cache_bytes(num_layers, num_heads, d_head, seq_len, batch_size=1, bytes_per_value=2, num_kv_heads=None):
    num_kv_heads = num_heads if num_kv_heads is None else num_kv_heads
    if num_heads % num_kv_heads != 0:
        raise ValueError(f"num_heads = {num_heads} is not a multiple of num_kv_heads = {num_kv_heads}")
    return 2 * num_layers * num_kv_heads * seq_len * d_head * bytes_per_value
''',
        "no_check_of_the_groups": '''
def kv_cache_bytes(num_layers, num_heads, d_head, seq_len, batch_size=1, bytes_per_value=2, num_kv_heads=None):
    num_kv_heads = num_heads if num_kv_heads is None else num_kv_heads
    return 2 * num_layers * batch_size * num_kv_heads * seq_len * d_head * bytes_per_value
''',
    },
    "sliding_window_mask": {
        "one_key_too_many": '''
def sliding_window_mask(n, window):
    if window < 1:
        raise ValueError(f"window must be at least 1; got {window}")
    distance = np.arange(n)[:, None] - np.arange(n)[None, :]
    return (distance >= 0) & (distance <= window)
''',
        "two_sided_window": '''
def sliding_window_mask(n, window):
    if window < 1:
        raise ValueError(f"window must be at least 1; got {window}")
    distance = np.arange(n)[:, None] - np.arange(n)[None, :]
    return np.abs(distance) < window
''',
        "true_means_blocked": '''
def sliding_window_mask(n, window):
    if window < 1:
        raise ValueError(f"window must be at least 1; got {window}")
    distance = np.arange(n)[:, None] - np.arange(n)[None, :]
    return ~((distance >= 0) & (distance < window))
''',
        "window_in_the_future": '''
def sliding_window_mask(n, window):
    if window < 1:
        raise ValueError(f"window must be at least 1; got {window}")
    distance = np.arange(n)[None, :] - np.arange(n)[:, None]
    return (distance >= 0) & (distance < window)
''',
        "float_mask": '''
def sliding_window_mask(n, window):
    if window < 1:
        raise ValueError(f"window must be at least 1; got {window}")
    distance = np.arange(n)[:, None] - np.arange(n)[None, :]
    return ((distance >= 0) & (distance < window)).astype(float)
''',
        "attnbook_shortcut": '''
def sliding_window_mask(n, window):
    return attnbook.sliding_window_mask(n, n, window=window, causal=True)
''',
    },
    "merge_partials": {
        "plain_average": '''
def merge_partials(out1, lse1, out2, lse2):
    return (out1 + out2) / 2, np.logaddexp(lse1, lse2)
''',
        "lse_is_the_max": '''
def merge_partials(out1, lse1, out2, lse2):
    m = np.maximum(lse1, lse2)
    shift = np.where(np.isfinite(m), m, 0.0)
    w1, w2 = np.exp(lse1 - shift), np.exp(lse2 - shift)
    total = np.where(w1 + w2 > 0, w1 + w2, 1.0)
    return (w1 / total)[..., None] * out1 + (w2 / total)[..., None] * out2, m
''',
        "overflows_without_the_max": '''
def merge_partials(out1, lse1, out2, lse2):
    w1, w2 = np.exp(lse1), np.exp(lse2)
    total = np.where(w1 + w2 > 0, w1 + w2, 1.0)
    lse = np.log(w1 + w2)
    return (w1 / total)[..., None] * out1 + (w2 / total)[..., None] * out2, lse
''',
        "nan_when_both_are_empty": '''
def merge_partials(out1, lse1, out2, lse2):
    lse = np.logaddexp(lse1, lse2)
    return np.exp(lse1 - lse)[..., None] * out1 + np.exp(lse2 - lse)[..., None] * out2, lse
''',
        "weights_not_normalised": '''
def merge_partials(out1, lse1, out2, lse2):
    m = np.maximum(lse1, lse2)
    shift = np.where(np.isfinite(m), m, 0.0)
    w1, w2 = np.exp(lse1 - shift), np.exp(lse2 - shift)
    total = w1 + w2
    lse = np.where(total > 0, shift + np.log(np.where(total > 0, total, 1.0)), -np.inf)
    return w1[..., None] * out1 + w2[..., None] * out2, lse
''',
        "attnbook_shortcut": '''
def merge_partials(out1, lse1, out2, lse2):
    out, lse = attnbook.merge_attention_partials(*(torch.from_numpy(np.asarray(x)) for x in (out1, lse1, out2, lse2)))
    return out.numpy(), lse.numpy()
''',
    },
    "attention_rollout": {
        "the_buggy_version": '''
def attention_rollout(weights_per_layer):
    rollout = np.eye(weights_per_layer[0].shape[-1])
    for weights in weights_per_layer:
        rollout = rollout @ weights.mean(axis=0)
    return rollout
''',
        "no_residual_identity": '''
def attention_rollout(weights_per_layer):
    rollout = np.eye(weights_per_layer[0].shape[-1])
    for weights in weights_per_layer:
        rollout = weights.mean(axis=0) @ rollout
    return rollout
''',
        "first_layer_on_the_left": '''
def attention_rollout(weights_per_layer):
    n = weights_per_layer[0].shape[-1]
    rollout = np.eye(n)
    for weights in weights_per_layer:
        rollout = rollout @ ((weights.mean(axis=0) + np.eye(n)) / 2)
    return rollout
''',
        "identity_without_renormalising": '''
def attention_rollout(weights_per_layer):
    n = weights_per_layer[0].shape[-1]
    rollout = np.eye(n)
    for weights in weights_per_layer:
        rollout = (weights.mean(axis=0) + np.eye(n)) @ rollout
    return rollout
''',
        "max_over_heads": '''
def attention_rollout(weights_per_layer):
    n = weights_per_layer[0].shape[-1]
    rollout = np.eye(n)
    for weights in weights_per_layer:
        strongest = weights.max(axis=0) + np.eye(n)
        rollout = (strongest / strongest.sum(axis=-1, keepdims=True)) @ rollout
    return rollout
''',
        "attnbook_shortcut": '''
def attention_rollout(weights_per_layer):
    return attnbook.attention_rollout([torch.from_numpy(w) for w in weights_per_layer]).numpy()
''',
    },
    "alibi_bias": {
        "slopes_start_at_one": '''
def alibi_bias(n_heads, n):
    if n_heads < 1 or n_heads & (n_heads - 1) != 0:
        raise ValueError(f"n_heads must be a power of two; got {n_heads}")
    slopes = 2.0 ** (-8.0 * np.arange(n_heads) / n_heads)
    distance = np.arange(n)[:, None] - np.arange(n)[None, :]
    return -slopes[:, None, None] * distance
''',
        "halving_slopes_for_any_head_count": '''
def alibi_bias(n_heads, n):
    if n_heads < 1 or n_heads & (n_heads - 1) != 0:
        raise ValueError(f"n_heads must be a power of two; got {n_heads}")
    slopes = 0.5 ** np.arange(1, n_heads + 1)
    distance = np.arange(n)[:, None] - np.arange(n)[None, :]
    return -slopes[:, None, None] * distance
''',
        "sign_flipped": '''
def alibi_bias(n_heads, n):
    if n_heads < 1 or n_heads & (n_heads - 1) != 0:
        raise ValueError(f"n_heads must be a power of two; got {n_heads}")
    slopes = 2.0 ** (-8.0 * np.arange(1, n_heads + 1) / n_heads)
    distance = np.arange(n)[:, None] - np.arange(n)[None, :]
    return slopes[:, None, None] * distance
''',
        "absolute_distance": '''
def alibi_bias(n_heads, n):
    if n_heads < 1 or n_heads & (n_heads - 1) != 0:
        raise ValueError(f"n_heads must be a power of two; got {n_heads}")
    slopes = 2.0 ** (-8.0 * np.arange(1, n_heads + 1) / n_heads)
    distance = np.abs(np.arange(n)[:, None] - np.arange(n)[None, :])
    return -slopes[:, None, None] * distance
''',
        "slopes_in_reverse_order": '''
def alibi_bias(n_heads, n):
    if n_heads < 1 or n_heads & (n_heads - 1) != 0:
        raise ValueError(f"n_heads must be a power of two; got {n_heads}")
    slopes = 2.0 ** (-8.0 * np.arange(n_heads, 0, -1) / n_heads)
    distance = np.arange(n)[:, None] - np.arange(n)[None, :]
    return -slopes[:, None, None] * distance
''',
        "no_check_of_the_head_count": '''
def alibi_bias(n_heads, n):
    slopes = 2.0 ** (-8.0 * np.arange(1, n_heads + 1) / n_heads)
    distance = np.arange(n)[:, None] - np.arange(n)[None, :]
    return -slopes[:, None, None] * distance
''',
    },
    "induction_score": {
        "same_token_not_the_next": '''
def induction_score(weights, first_start, second_start, segment_len):
    k = np.arange(segment_len - 1)
    return float(np.mean(weights[second_start + k, first_start + k]))
''',
        "one_pair_too_many": '''
def induction_score(weights, first_start, second_start, segment_len):
    k = np.arange(segment_len)
    return float(np.mean(weights[second_start + k, first_start + k + 1]))
''',
        "keys_and_queries_swapped": '''
def induction_score(weights, first_start, second_start, segment_len):
    k = np.arange(segment_len - 1)
    return float(np.mean(weights[first_start + k + 1, second_start + k]))
''',
        "sum_instead_of_mean": '''
def induction_score(weights, first_start, second_start, segment_len):
    k = np.arange(segment_len - 1)
    return float(np.sum(weights[second_start + k, first_start + k + 1]))
''',
        "previous_token_pattern": '''
def induction_score(weights, first_start, second_start, segment_len):
    k = np.arange(segment_len - 1)
    return float(np.mean(weights[second_start + k + 1, second_start + k]))
''',
    },
}
