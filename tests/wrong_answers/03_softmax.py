"""Plausible wrong answers to solutions/03_softmax/exercises.ipynb, one dict entry per part.

Each value is the source of a wrong ``def`` that replaces the part's solution cell; the suite
checks that the part's test cell fails with every one of them (and passes with the solution).
"""

WRONG_ANSWERS = {
    "stable_softmax": {
        "no_max_subtraction": '''
def stable_softmax(x, axis=-1):
    exps = np.exp(np.asarray(x, dtype=float))
    return exps / np.sum(exps, axis=axis, keepdims=True)
''',
        "ignores_axis": '''
def stable_softmax(x, axis=-1):
    x = np.asarray(x, dtype=float)
    exps = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return exps / np.sum(exps, axis=-1, keepdims=True)
''',
        "global_max": '''
def stable_softmax(x, axis=-1):
    x = np.asarray(x, dtype=float)
    exps = np.exp(x - np.max(x))
    return exps / np.sum(exps, axis=axis, keepdims=True)
''',
        "normalises_over_axis_0": '''
def stable_softmax(x, axis=-1):
    x = np.asarray(x, dtype=float)
    exps = np.exp(x - np.max(x, axis=0, keepdims=True))
    return exps / np.sum(exps, axis=0, keepdims=True)
''',
    },
    "masked_softmax": {
        "fill_minus_inf_gives_nan": '''
def masked_softmax(scores, mask):
    filled = np.where(mask, scores, -np.inf)
    exps = np.exp(filled - filled.max(axis=-1, keepdims=True))
    return exps / exps.sum(axis=-1, keepdims=True)
''',
        "fill_minus_1e9_gives_uniform": '''
def masked_softmax(scores, mask):
    filled = np.where(mask, scores, -1e9)
    exps = np.exp(filled - filled.max(axis=-1, keepdims=True))
    return exps / exps.sum(axis=-1, keepdims=True)
''',
        "mask_after_softmax_no_renormalise": '''
def masked_softmax(scores, mask):
    scores = np.asarray(scores, dtype=float)
    exps = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return exps / exps.sum(axis=-1, keepdims=True) * mask
''',
        "no_max_subtraction": '''
def masked_softmax(scores, mask):
    exps = np.where(mask, np.exp(np.asarray(scores, dtype=float)), 0.0)
    totals = exps.sum(axis=-1, keepdims=True)
    return exps / np.where(totals == 0, 1.0, totals)
''',
    },
    "log_softmax": {
        "log_of_softmax_underflows": '''
def log_softmax(x):
    x = np.asarray(x, dtype=float)
    exps = np.exp(x - x.max(axis=-1, keepdims=True))
    return np.log(exps / exps.sum(axis=-1, keepdims=True))
''',
        "unshifted_logsumexp_overflows": '''
def log_softmax(x):
    x = np.asarray(x, dtype=float)
    return x - np.log(np.sum(np.exp(x), axis=-1, keepdims=True))
''',
        "forgets_the_log_sum": '''
def log_softmax(x):
    x = np.asarray(x, dtype=float)
    return x - np.max(x, axis=-1, keepdims=True)
''',
    },
    "softmax_jacobian": {
        "diagonal_only": '''
def softmax_jacobian(x):
    x = np.asarray(x, dtype=float)
    p = np.exp(x - x.max()) / np.exp(x - x.max()).sum()
    return np.diag(p * (1 - p))
''',
        "sign_flipped": '''
def softmax_jacobian(x):
    x = np.asarray(x, dtype=float)
    p = np.exp(x - x.max()) / np.exp(x - x.max()).sum()
    return np.outer(p, p) - np.diag(p)
''',
        "scores_instead_of_probabilities": '''
def softmax_jacobian(x):
    x = np.asarray(x, dtype=float)
    return np.diag(x) - np.outer(x, x)
''',
        "unstable_softmax_inside": '''
def softmax_jacobian(x):
    x = np.asarray(x, dtype=float)
    p = np.exp(x) / np.exp(x).sum()
    return np.diag(p) - np.outer(p, p)
''',
    },
    "merge_softmax_stats": {
        "no_rescaling": '''
def merge_softmax_stats(m1, s1, m2, s2):
    return np.maximum(m1, m2), s1 + s2
''',
        "rescales_the_wrong_way": '''
def merge_softmax_stats(m1, s1, m2, s2):
    m = np.maximum(m1, m2)
    return m, s1 * np.exp(m - m1) + s2 * np.exp(m - m2)
''',
        "assumes_second_block_has_the_max": '''
def merge_softmax_stats(m1, s1, m2, s2):
    return m2, s1 * np.exp(m1 - m2) + s2
''',
        "nan_for_two_empty_blocks": '''
def merge_softmax_stats(m1, s1, m2, s2):
    m = np.maximum(m1, m2)
    return m, s1 * np.exp(m1 - m) + s2 * np.exp(m2 - m)
''',
    },
    "online_softmax": {
        "forgets_to_rescale_running_sum": '''
def online_softmax(blocks):
    m, s, seen = -np.inf, 0.0, []
    for block in blocks:
        seen.append(block)
        new_m = max(m, block.max())
        s = s + np.exp(block - new_m).sum()
        m = new_m
    x = np.concatenate(seen)
    return np.exp(x - m) / s
''',
        "uses_first_block_max_only": '''
def online_softmax(blocks):
    m, s, seen = None, 0.0, []
    for block in blocks:
        seen.append(block)
        if m is None:
            m = block.max()
        s = s + np.exp(block - m).sum()
    x = np.concatenate(seen)
    return np.exp(x - m) / s
''',
        "reads_the_blocks_twice": '''
def online_softmax(blocks):
    m = max(block.max() for block in blocks)
    x = np.concatenate(list(blocks))
    return np.exp(x - m) / np.exp(x - m).sum()
''',
        "normalises_each_block_separately": '''
def online_softmax(blocks):
    parts = [np.exp(b - b.max()) / np.exp(b - b.max()).sum() for b in blocks]
    return np.concatenate(parts)
''',
    },
    "fixed_attention": {
        "unchanged_buggy_version": '''
def fixed_attention(queries, keys, values):
    scores = queries @ keys.T / np.sqrt(keys.shape[-1])
    weights = np.exp(scores) / np.exp(scores).sum(axis=0)
    return weights @ values
''',
        "fixes_only_the_axis": '''
def fixed_attention(queries, keys, values):
    scores = queries @ keys.T / np.sqrt(keys.shape[-1])
    weights = np.exp(scores) / np.exp(scores).sum(axis=-1, keepdims=True)
    return weights @ values
''',
        "fixes_only_the_overflow": '''
def fixed_attention(queries, keys, values):
    scores = queries @ keys.T / np.sqrt(keys.shape[-1])
    exps = np.exp(scores - scores.max(axis=0, keepdims=True))
    return exps / exps.sum(axis=0) @ values
''',
        "drops_the_scaling": '''
def fixed_attention(queries, keys, values):
    scores = queries @ keys.T
    exps = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return exps / exps.sum(axis=-1, keepdims=True) @ values
''',
    },
}
