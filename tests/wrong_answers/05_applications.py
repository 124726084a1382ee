"""Plausible wrong answers to solutions/05_applications/exercises.ipynb, one dict entry per part.

Each value is the source of a wrong ``def`` that replaces the part's solution cell; the suite
checks that the part's test cell fails with every one of them (and passes with the solution),
also when an always-pass ``Checker`` is monkeypatched in.
"""

WRONG_ANSWERS = {
    "patchify": {
        "one_reshape": '''
def patchify(images, patch_size):
    batch, channels, height, width = images.shape
    if height % patch_size != 0 or width % patch_size != 0:
        raise ValueError(f"image size {height} x {width} is not divisible by patch_size {patch_size}")
    return images.reshape(batch, -1, channels * patch_size * patch_size)
''',
        "channels_last_inside_a_patch": '''
def patchify(images, patch_size):
    batch, channels, height, width = images.shape
    if height % patch_size != 0 or width % patch_size != 0:
        raise ValueError(f"image size {height} x {width} is not divisible by patch_size {patch_size}")
    rows, columns = height // patch_size, width // patch_size
    grid = images.reshape(batch, channels, rows, patch_size, columns, patch_size)
    grid = grid.permute(0, 2, 4, 3, 5, 1)  # (p1 p2 c), the einops recipe of some ViT code
    return grid.reshape(batch, rows * columns, channels * patch_size * patch_size)
''',
        "patches_column_by_column": '''
def patchify(images, patch_size):
    batch, channels, height, width = images.shape
    if height % patch_size != 0 or width % patch_size != 0:
        raise ValueError(f"image size {height} x {width} is not divisible by patch_size {patch_size}")
    rows, columns = height // patch_size, width // patch_size
    grid = images.reshape(batch, channels, rows, patch_size, columns, patch_size)
    grid = grid.permute(0, 4, 2, 1, 3, 5)
    return grid.reshape(batch, rows * columns, channels * patch_size * patch_size)
''',
        "unfold_without_transpose": '''
def patchify(images, patch_size):
    batch, channels, height, width = images.shape
    if height % patch_size != 0 or width % patch_size != 0:
        raise ValueError(f"image size {height} x {width} is not divisible by patch_size {patch_size}")
    patches = F.unfold(images, kernel_size=patch_size, stride=patch_size)  # (batch, c * p * p, patches)
    return patches.reshape(batch, -1, channels * patch_size * patch_size)
''',
        "strided_pixels_instead_of_blocks": '''
def patchify(images, patch_size):
    batch, channels, height, width = images.shape
    if height % patch_size != 0 or width % patch_size != 0:
        raise ValueError(f"image size {height} x {width} is not divisible by patch_size {patch_size}")
    rows, columns = height // patch_size, width // patch_size
    grid = images.reshape(batch, channels, patch_size, rows, patch_size, columns)
    grid = grid.permute(0, 3, 5, 1, 2, 4)
    return grid.reshape(batch, rows * columns, channels * patch_size * patch_size)
''',
        "crops_silently": '''
def patchify(images, patch_size):
    batch, channels, height, width = images.shape
    rows, columns = height // patch_size, width // patch_size
    images = images[:, :, :rows * patch_size, :columns * patch_size]
    grid = images.reshape(batch, channels, rows, patch_size, columns, patch_size)
    grid = grid.permute(0, 2, 4, 1, 3, 5)
    return grid.reshape(batch, rows * columns, channels * patch_size * patch_size)
''',
    },
    "class_token_logits": {
        "mean_of_the_outputs": '''
def class_token_logits(patch_embeddings, class_token, position_embeddings, encoder, norm, head):
    batch = patch_embeddings.shape[0]
    tokens = torch.cat([class_token.expand(batch, -1, -1), patch_embeddings], dim=1)
    encoded = encoder(tokens + position_embeddings)
    return head(norm(encoded.mean(dim=1)))
''',
        "no_position_embeddings": '''
def class_token_logits(patch_embeddings, class_token, position_embeddings, encoder, norm, head):
    batch = patch_embeddings.shape[0]
    tokens = torch.cat([class_token.expand(batch, -1, -1), patch_embeddings], dim=1)
    encoded = encoder(tokens)
    return head(norm(encoded[:, 0]))
''',
        "class_token_appended_last": '''
def class_token_logits(patch_embeddings, class_token, position_embeddings, encoder, norm, head):
    batch = patch_embeddings.shape[0]
    tokens = torch.cat([patch_embeddings, class_token.expand(batch, -1, -1)], dim=1)
    encoded = encoder(tokens + position_embeddings)
    return head(norm(encoded[:, -1]))
''',
        "reads_the_first_patch": '''
def class_token_logits(patch_embeddings, class_token, position_embeddings, encoder, norm, head):
    batch = patch_embeddings.shape[0]
    tokens = torch.cat([class_token.expand(batch, -1, -1), patch_embeddings], dim=1)
    encoded = encoder(tokens + position_embeddings)
    return head(norm(encoded[:, 1]))
''',
        "no_final_norm": '''
def class_token_logits(patch_embeddings, class_token, position_embeddings, encoder, norm, head):
    batch = patch_embeddings.shape[0]
    tokens = torch.cat([class_token.expand(batch, -1, -1), patch_embeddings], dim=1)
    encoded = encoder(tokens + position_embeddings)
    return head(encoded[:, 0])
''',
        "positions_only_on_the_patches": '''
def class_token_logits(patch_embeddings, class_token, position_embeddings, encoder, norm, head):
    batch = patch_embeddings.shape[0]
    patches = patch_embeddings + position_embeddings[:, :-1]
    tokens = torch.cat([class_token.expand(batch, -1, -1), patches], dim=1)
    return head(norm(encoder(tokens)[:, 0]))
''',
    },
    "attention_pooling": {
        "mean_pooling_of_real_tokens": '''
def attention_pooling(x, query, mask):
    weights = mask.to(x.dtype) / mask.sum(dim=-1, keepdim=True).clamp(min=1).to(x.dtype)
    return (weights[:, :, None] * x).sum(dim=1), weights
''',
        "mask_after_softmax": '''
def attention_pooling(x, query, mask):
    weights = torch.softmax((x @ query) / math.sqrt(x.shape[-1]), dim=-1) * mask
    return (weights[:, :, None] * x).sum(dim=1), weights
''',
        "masked_scores_set_to_zero": '''
def attention_pooling(x, query, mask):
    scores = ((x @ query) / math.sqrt(x.shape[-1])).masked_fill(~mask, 0.0)
    weights = torch.softmax(scores, dim=-1)
    return (weights[:, :, None] * x).sum(dim=1), weights
''',
        "nan_for_an_empty_sequence": '''
def attention_pooling(x, query, mask):
    scores = ((x @ query) / math.sqrt(x.shape[-1])).masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return (weights[:, :, None] * x).sum(dim=1), weights
''',
        "softmax_over_the_batch": '''
def attention_pooling(x, query, mask):
    scores = ((x @ query) / math.sqrt(x.shape[-1])).masked_fill(~mask, -1e9)
    weights = torch.softmax(scores, dim=0) * mask
    return (weights[:, :, None] * x).sum(dim=1), weights
''',
        "no_scaling": '''
def attention_pooling(x, query, mask):
    scores = (x @ query).masked_fill(~mask, -1e9)
    weights = torch.softmax(scores, dim=-1) * mask
    return (weights[:, :, None] * x).sum(dim=1), weights
''',
        "exp_without_the_max": '''
def attention_pooling(x, query, mask):
    exps = torch.exp((x @ query) / math.sqrt(x.shape[-1])) * mask
    weights = exps / exps.sum(dim=-1, keepdim=True).clamp(min=1e-30)
    return (weights[:, :, None] * x).sum(dim=1), weights
''',
    },
    "seasonal_naive_forecast": {
        "last_value": '''
def seasonal_naive_forecast(history, period, horizon):
    history = np.asarray(history, dtype=float)
    if history.shape[0] < period:
        raise ValueError(f"history of length {history.shape[0]} is shorter than one period ({period})")
    return np.full(horizon, history[-1])
''',
        "off_by_one": '''
def seasonal_naive_forecast(history, period, horizon):
    history = np.asarray(history, dtype=float)
    if history.shape[0] < period:
        raise ValueError(f"history of length {history.shape[0]} is shorter than one period ({period})")
    last_season = history[-period - 1:-1]
    return last_season[np.arange(horizon) % period]
''',
        "first_season_instead_of_last": '''
def seasonal_naive_forecast(history, period, horizon):
    history = np.asarray(history, dtype=float)
    if history.shape[0] < period:
        raise ValueError(f"history of length {history.shape[0]} is shorter than one period ({period})")
    return history[np.arange(horizon) % period]
''',
        "no_repeat_after_one_period": '''
def seasonal_naive_forecast(history, period, horizon):
    history = np.asarray(history, dtype=float)
    if history.shape[0] < period:
        raise ValueError(f"history of length {history.shape[0]} is shorter than one period ({period})")
    return history[-period:][:horizon]
''',
        "no_check_of_the_length": '''
def seasonal_naive_forecast(history, period, horizon):
    history = np.asarray(history, dtype=float)
    return history[-period:][np.arange(horizon) % min(period, history.shape[0])]
''',
    },
    "split_and_normalise": {
        "the_buggy_function_itself": '''
def split_and_normalise(series, window, split):
    z = (series - series.mean()) / series.std()
    x = np.stack([z[t - window:t] for t in range(window, len(z))])
    y = z[window:]
    return x[:split], y[:split], x[split:], y[split:], (series.mean(), series.std())
''',
        "statistics_of_the_whole_series": '''
def split_and_normalise(series, window, split):
    series = np.asarray(series, dtype=float)
    if split < window or split >= series.shape[0]:
        raise ValueError(f"need window <= split < T; got window {window}, split {split}, T {series.shape[0]}")
    mean, std = series.mean(), series.std()
    z = (series - mean) / std
    x = np.stack([z[t - window:t] for t in range(window, len(z))])
    y = z[window:]
    return x[:split - window], y[:split - window], x[split - window:], y[split - window:], (mean, std)
''',
        "windows_straddle_the_split": '''
def split_and_normalise(series, window, split):
    series = np.asarray(series, dtype=float)
    if split < window or split >= series.shape[0]:
        raise ValueError(f"need window <= split < T; got window {window}, split {split}, T {series.shape[0]}")
    mean, std = series[:split].mean(), series[:split].std()
    z = (series - mean) / std
    x = np.stack([z[t - window:t] for t in range(window, len(z))])
    y = z[window:]
    return x[:split], y[:split], x[split:], y[split:], (mean, std)
''',
        "test_part_standardised_with_its_own_statistics": '''
def split_and_normalise(series, window, split):
    series = np.asarray(series, dtype=float)
    if split < window or split >= series.shape[0]:
        raise ValueError(f"need window <= split < T; got window {window}, split {split}, T {series.shape[0]}")
    mean, std = series[:split].mean(), series[:split].std()
    z = np.concatenate([(series[:split] - mean) / std, (series[split:] - series[split:].mean()) / series[split:].std()])
    x = np.stack([z[t - window:t] for t in range(window, len(z))])
    y = z[window:]
    return x[:split - window], y[:split - window], x[split - window:], y[split - window:], (mean, std)
''',
        "test_inputs_only_from_the_test_part": '''
def split_and_normalise(series, window, split):
    series = np.asarray(series, dtype=float)
    if split < window or split >= series.shape[0]:
        raise ValueError(f"need window <= split < T; got window {window}, split {split}, T {series.shape[0]}")
    mean, std = series[:split].mean(), series[:split].std()
    z = (series - mean) / std
    x_train = np.stack([z[t - window:t] for t in range(window, split)])
    x_test = np.stack([z[t - window:t] for t in range(split + window, len(z))])
    return x_train, z[window:split], x_test, z[split + window:], (mean, std)
''',
        "sample_standard_deviation": '''
def split_and_normalise(series, window, split):
    series = np.asarray(series, dtype=float)
    if split < window or split >= series.shape[0]:
        raise ValueError(f"need window <= split < T; got window {window}, split {split}, T {series.shape[0]}")
    mean, std = series[:split].mean(), series[:split].std(ddof=1)
    z = (series - mean) / std
    x = np.stack([z[t - window:t] for t in range(window, len(z))])
    y = z[window:]
    return x[:split - window], y[:split - window], x[split - window:], y[split - window:], (mean, std)
''',
    },
    "next_item_mask": {
        "future_instead_of_past": '''
def next_item_mask(items, pad_id=0):
    n = items.shape[1]
    causal = torch.triu(torch.ones(n, n, dtype=torch.bool))
    return causal[None] & (items != pad_id)[:, None, :]
''',
        "an_item_cannot_see_itself": '''
def next_item_mask(items, pad_id=0):
    n = items.shape[1]
    causal = torch.tril(torch.ones(n, n, dtype=torch.bool), diagonal=-1)
    return causal[None] & (items != pad_id)[:, None, :]
''',
        "padding_ignored": '''
def next_item_mask(items, pad_id=0):
    n = items.shape[1]
    return torch.tril(torch.ones(n, n, dtype=torch.bool))[None].expand(items.shape[0], n, n)
''',
        "true_means_blocked": '''
def next_item_mask(items, pad_id=0):
    n = items.shape[1]
    causal = torch.tril(torch.ones(n, n, dtype=torch.bool))
    return ~(causal[None] & (items != pad_id)[:, None, :])
''',
        "padding_masked_on_the_query_axis": '''
def next_item_mask(items, pad_id=0):
    n = items.shape[1]
    causal = torch.tril(torch.ones(n, n, dtype=torch.bool))
    return causal[None] & (items != pad_id)[:, :, None]
''',
        "pad_id_zero_hard_coded": '''
def next_item_mask(items, pad_id=0):
    n = items.shape[1]
    causal = torch.tril(torch.ones(n, n, dtype=torch.bool))
    return causal[None] & (items != 0)[:, None, :]
''',
    },
    "hit_rate_and_ndcg": {
        "ties_count_for_the_target": '''
def hit_rate_and_ndcg(scores, targets, k):
    if targets.ndim != 1 or targets.shape[0] != scores.shape[0]:
        raise ValueError(f"targets {tuple(targets.shape)} do not match scores {tuple(scores.shape)}")
    target_scores = scores[torch.arange(scores.shape[0]), targets]
    rank = (scores > target_scores[:, None]).sum(dim=1)
    hit = rank < k
    gain = torch.where(hit, 1.0 / torch.log2(rank.double() + 2.0), torch.zeros((), dtype=torch.float64))
    return float(hit.double().mean()), float(gain.mean())
''',
        "argsort_breaks_ties_by_index": '''
def hit_rate_and_ndcg(scores, targets, k):
    if targets.ndim != 1 or targets.shape[0] != scores.shape[0]:
        raise ValueError(f"targets {tuple(targets.shape)} do not match scores {tuple(scores.shape)}")
    order = torch.argsort(scores, dim=1, descending=True, stable=True)
    rank = (order == targets[:, None]).int().argmax(dim=1)
    hit = rank < k
    gain = torch.where(hit, 1.0 / torch.log2(rank.double() + 2.0), torch.zeros((), dtype=torch.float64))
    return float(hit.double().mean()), float(gain.mean())
''',
        "target_counted_in_its_own_rank": '''
def hit_rate_and_ndcg(scores, targets, k):
    if targets.ndim != 1 or targets.shape[0] != scores.shape[0]:
        raise ValueError(f"targets {tuple(targets.shape)} do not match scores {tuple(scores.shape)}")
    target_scores = scores[torch.arange(scores.shape[0]), targets]
    rank = (scores >= target_scores[:, None]).sum(dim=1)
    hit = rank < k
    gain = torch.where(hit, 1.0 / torch.log2(rank.double() + 2.0), torch.zeros((), dtype=torch.float64))
    return float(hit.double().mean()), float(gain.mean())
''',
        "log2_of_rank_plus_one": '''
def hit_rate_and_ndcg(scores, targets, k):
    if targets.ndim != 1 or targets.shape[0] != scores.shape[0]:
        raise ValueError(f"targets {tuple(targets.shape)} do not match scores {tuple(scores.shape)}")
    target_scores = scores[torch.arange(scores.shape[0]), targets]
    rank = (scores >= target_scores[:, None]).sum(dim=1) - 1
    hit = rank < k
    gain = torch.where(hit, 1.0 / torch.log2(rank.double() + 1.0), torch.zeros((), dtype=torch.float64))
    return float(hit.double().mean()), float(gain.mean())
''',
        "natural_log": '''
def hit_rate_and_ndcg(scores, targets, k):
    if targets.ndim != 1 or targets.shape[0] != scores.shape[0]:
        raise ValueError(f"targets {tuple(targets.shape)} do not match scores {tuple(scores.shape)}")
    target_scores = scores[torch.arange(scores.shape[0]), targets]
    rank = (scores >= target_scores[:, None]).sum(dim=1) - 1
    hit = rank < k
    gain = torch.where(hit, 1.0 / torch.log(rank.double() + 2.0), torch.zeros((), dtype=torch.float64))
    return float(hit.double().mean()), float(gain.mean())
''',
        "ndcg_without_the_cutoff": '''
def hit_rate_and_ndcg(scores, targets, k):
    if targets.ndim != 1 or targets.shape[0] != scores.shape[0]:
        raise ValueError(f"targets {tuple(targets.shape)} do not match scores {tuple(scores.shape)}")
    target_scores = scores[torch.arange(scores.shape[0]), targets]
    rank = (scores >= target_scores[:, None]).sum(dim=1) - 1
    gain = 1.0 / torch.log2(rank.double() + 2.0)
    return float((rank < k).double().mean()), float(gain.mean())
''',
        "hit_when_rank_at_most_k": '''
def hit_rate_and_ndcg(scores, targets, k):
    if targets.ndim != 1 or targets.shape[0] != scores.shape[0]:
        raise ValueError(f"targets {tuple(targets.shape)} do not match scores {tuple(scores.shape)}")
    target_scores = scores[torch.arange(scores.shape[0]), targets]
    rank = (scores >= target_scores[:, None]).sum(dim=1) - 1
    hit = rank <= k
    gain = torch.where(hit, 1.0 / torch.log2(rank.double() + 2.0), torch.zeros((), dtype=torch.float64))
    return float(hit.double().mean()), float(gain.mean())
''',
    },
}
