"""Plausible wrong answers to solutions/03_softmax/exercises.ipynb, one dict entry per part.

Each value is the source of a wrong ``def`` that replaces the part's solution cell; the suite
checks that the part's test cell fails with every one of them (and passes with the solution).
"""

WRONG_ANSWERS = {
    "stable_softmax": {
        "torch_softmax_shortcut": '''
def stable_softmax(x, axis=-1):
    return torch.softmax(torch.from_numpy(np.asarray(x, dtype=float)), dim=axis).numpy()
''',
        "attnbook_shortcut": '''
def stable_softmax(x, axis=-1):
    return attnbook.softmax(x, axis=axis)
''',
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
        "attnbook_shortcut": '''
def masked_softmax(scores, mask):
    return attnbook.softmax(scores, mask=np.broadcast_to(mask, np.shape(scores)))
''',
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
        "torch_log_softmax_shortcut": '''
def log_softmax(x):
    return torch.log_softmax(torch.from_numpy(np.asarray(x, dtype=float)), dim=-1).numpy()
''',
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
        "autograd_shortcut": '''
def softmax_jacobian(x):
    t = torch.from_numpy(np.asarray(x, dtype=float))
    return torch.autograd.functional.jacobian(lambda v: torch.softmax(v, dim=0), t).numpy()
''',
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
        "attnbook_shortcut": '''
def merge_softmax_stats(m1, s1, m2, s2):
    return attnbook.merge_softmax_stats(m1, s1, m2, s2)
''',
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
    "online_softmax_stats": {
        "concatenates_the_blocks": '''
def online_softmax_stats(blocks):
    x = np.concatenate(list(blocks))
    return x.max(), np.exp(x - x.max()).sum()
''',
        "keeps_every_block_in_a_list": '''
def online_softmax_stats(blocks):
    m, s, seen = -np.inf, 0.0, []
    for block in blocks:
        seen.append(block)
        new_m = max(m, block.max())
        s = s * np.exp(m - new_m) + np.exp(block - new_m).sum()
        m = new_m
    return m, s
''',
        "reads_the_blocks_twice": '''
def online_softmax_stats(blocks):
    m = max(block.max() for block in blocks)
    return m, sum(np.exp(block - m).sum() for block in blocks)
''',
        "forgets_to_rescale_the_running_sum": '''
def online_softmax_stats(blocks):
    m, s = -np.inf, 0.0
    for block in blocks:
        new_m = max(m, block.max())
        s = s + np.exp(block - new_m).sum()
        m = new_m
    return m, s
''',
        "uses_the_first_block_max_only": '''
def online_softmax_stats(blocks):
    m, s = None, 0.0
    for block in blocks:
        if m is None:
            m = block.max()
        s = s + np.exp(block - m).sum()
    return (-np.inf, 0.0) if m is None else (m, s)
''',
        "rescales_the_wrong_way": '''
def online_softmax_stats(blocks):
    m, s = -np.inf, 0.0
    for block in blocks:
        new_m = max(m, block.max())
        s = s * np.exp(new_m - m) + np.exp(block - new_m).sum() if np.isfinite(m) else np.exp(block - new_m).sum()
        m = new_m
    return m, s
''',
        "nan_for_no_block": '''
def online_softmax_stats(blocks):
    m, s = -np.inf, 0.0
    for block in blocks:
        new_m = max(m, block.max())
        s = s * np.exp(m - new_m) + np.exp(block - new_m).sum()
        m = new_m
    return m, s * np.exp(m - m)
''',
        "torch_logsumexp_shortcut": '''
def online_softmax_stats(blocks):
    m, log_s = -np.inf, -np.inf
    for block in blocks:
        new_m = max(m, block.max())
        log_s = torch.logaddexp(torch.tensor(log_s + m - new_m if np.isfinite(m) else -np.inf),
                                torch.logsumexp(torch.from_numpy(block - new_m), dim=0)).item()
        m = new_m
    return m, float(np.exp(log_s))
''',
    },
    "streaming_attention": {
        "forgets_to_rescale_the_accumulator": '''
def streaming_attention(query, blocks):
    scale = 1 / math.sqrt(query.shape[-1])
    m, s, accumulator = -np.inf, 0.0, 0.0
    for keys, values in blocks:
        scores = keys @ query * scale
        m_new = max(m, scores.max())
        exps = np.exp(scores - m_new)
        s = s * np.exp(m - m_new) + exps.sum()
        accumulator = accumulator + exps @ values
        m = m_new
    return accumulator / s
''',
        "no_scaling": '''
def streaming_attention(query, blocks):
    m, s, accumulator = -np.inf, 0.0, 0.0
    for keys, values in blocks:
        scores = keys @ query
        m_new = max(m, scores.max())
        rescale = np.exp(m - m_new)
        exps = np.exp(scores - m_new)
        s = s * rescale + exps.sum()
        accumulator = accumulator * rescale + exps @ values
        m = m_new
    return accumulator / s
''',
        "averages_the_block_outputs": '''
def streaming_attention(query, blocks):
    outputs = []
    for keys, values in blocks:
        scores = keys @ query / math.sqrt(query.shape[-1])
        weights = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
        outputs.append(weights @ values)
    return np.mean(outputs, axis=0)
''',
        "concatenates_the_blocks": '''
def streaming_attention(query, blocks):
    pairs = list(blocks)
    keys = np.concatenate([k for k, _ in pairs])
    values = np.concatenate([v for _, v in pairs])
    scores = keys @ query / math.sqrt(query.shape[-1])
    weights = np.exp(scores - scores.max())
    return weights @ values / weights.sum()
''',
        "no_max_shift_overflows": '''
def streaming_attention(query, blocks):
    s, accumulator = 0.0, 0.0
    for keys, values in blocks:
        exps = np.exp(keys @ query / math.sqrt(query.shape[-1]))
        s = s + exps.sum()
        accumulator = accumulator + exps @ values
    return accumulator / s
''',
        "first_block_max_only": '''
def streaming_attention(query, blocks):
    scale = 1 / math.sqrt(query.shape[-1])
    m, s, accumulator = None, 0.0, 0.0
    for keys, values in blocks:
        scores = keys @ query * scale
        if m is None:
            m = scores.max()
        exps = np.exp(scores - m)
        s = s + exps.sum()
        accumulator = accumulator + exps @ values
    return accumulator / s
''',
        "torch_softmax_per_block_merged": '''
def streaming_attention(query, blocks):
    scale = 1 / math.sqrt(query.shape[-1])
    m, s, accumulator = -np.inf, 0.0, 0.0
    for keys, values in blocks:
        scores = torch.from_numpy(keys @ query * scale)
        m_new = max(m, scores.max().item())
        rescale = math.exp(m - m_new) if np.isfinite(m) else 0.0
        exps = torch.exp(scores - m_new).numpy()
        s = s * rescale + exps.sum()
        accumulator = accumulator * rescale + exps @ values
        m = m_new
    return accumulator / s
''',
    },
}
