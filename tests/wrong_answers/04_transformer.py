"""Plausible wrong answers to solutions/04_transformer/exercises.ipynb, one dict entry per part.

Each value is the source of a wrong ``def`` (or ``class``) that replaces the part's solution cell;
the suite checks that the part's test cell fails with every one of them (and passes with the
solution), also when an always-pass ``Checker`` is monkeypatched in.
"""

_SPLIT_OK = '''
def split_heads(x, num_heads):
    batch, n, d_model = x.shape
    if d_model % num_heads != 0:
        raise ValueError(f"d_model = {d_model} is not divisible by num_heads = {num_heads}")
    return x.reshape(batch, n, num_heads, d_model // num_heads).transpose(1, 2)
'''

_PRE_NORM_INIT = '''
class PreNormBlock(nn.Module):
    def __init__(self, d_model, attention, feed_forward):
        super().__init__()
        self.attention = attention
        self.feed_forward = feed_forward
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
'''

WRONG_ANSWERS = {
    "split_heads": {
        "reshape_without_transpose": '''
def split_heads(x, num_heads):
    batch, n, d_model = x.shape
    if d_model % num_heads != 0:
        raise ValueError(f"d_model = {d_model} is not divisible by num_heads = {num_heads}")
    return x.reshape(batch, num_heads, n, d_model // num_heads)


def merge_heads(x):
    batch, num_heads, n, d_head = x.shape
    return x.reshape(batch, n, num_heads * d_head)
''',
        "heads_take_strided_features": '''
def split_heads(x, num_heads):
    batch, n, d_model = x.shape
    if d_model % num_heads != 0:
        raise ValueError(f"d_model = {d_model} is not divisible by num_heads = {num_heads}")
    return x.reshape(batch, n, d_model // num_heads, num_heads).permute(0, 3, 1, 2)


def merge_heads(x):
    batch, num_heads, n, d_head = x.shape
    return x.permute(0, 2, 3, 1).reshape(batch, n, num_heads * d_head)
''',
        "merge_forgets_the_transpose": _SPLIT_OK + '''

def merge_heads(x):
    batch, num_heads, n, d_head = x.shape
    return x.reshape(batch, n, num_heads * d_head)
''',
        "merge_views_a_non_contiguous_tensor": _SPLIT_OK + '''

def merge_heads(x):
    batch, num_heads, n, d_head = x.shape
    return x.transpose(1, 2).view(batch, n, num_heads * d_head)
''',
        "no_value_error": '''
def split_heads(x, num_heads):
    batch, n, d_model = x.shape
    return x.reshape(batch, n, num_heads, d_model // num_heads).transpose(1, 2)


def merge_heads(x):
    batch, num_heads, n, d_head = x.shape
    return x.transpose(1, 2).reshape(batch, n, num_heads * d_head)
''',
    },
    "causal_self_attention": {
        "scales_by_d_head": '''
def causal_self_attention(x, w_q, w_k, w_v, w_o, num_heads):
    n, d_model = x.shape[1], x.shape[2]
    q, k, v = (split_heads(x @ w.T, num_heads) for w in (w_q, w_k, w_v))
    scores = q @ k.transpose(-2, -1) / (d_model // num_heads)
    scores = scores.masked_fill(~torch.tril(torch.ones(n, n, dtype=torch.bool)), float("-inf"))
    return merge_heads(torch.softmax(scores, dim=-1) @ v) @ w_o.T
''',
        "scales_by_sqrt_d_model": '''
def causal_self_attention(x, w_q, w_k, w_v, w_o, num_heads):
    n, d_model = x.shape[1], x.shape[2]
    q, k, v = (split_heads(x @ w.T, num_heads) for w in (w_q, w_k, w_v))
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_model)
    scores = scores.masked_fill(~torch.tril(torch.ones(n, n, dtype=torch.bool)), float("-inf"))
    return merge_heads(torch.softmax(scores, dim=-1) @ v) @ w_o.T
''',
        "mask_inverted_sees_the_future": '''
def causal_self_attention(x, w_q, w_k, w_v, w_o, num_heads):
    n, d_model = x.shape[1], x.shape[2]
    q, k, v = (split_heads(x @ w.T, num_heads) for w in (w_q, w_k, w_v))
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_model // num_heads)
    scores = scores.masked_fill(~torch.triu(torch.ones(n, n, dtype=torch.bool)), float("-inf"))
    return merge_heads(torch.softmax(scores, dim=-1) @ v) @ w_o.T
''',
        "off_by_one_sees_next_token": '''
def causal_self_attention(x, w_q, w_k, w_v, w_o, num_heads):
    n, d_model = x.shape[1], x.shape[2]
    q, k, v = (split_heads(x @ w.T, num_heads) for w in (w_q, w_k, w_v))
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_model // num_heads)
    scores = scores.masked_fill(~torch.tril(torch.ones(n, n, dtype=torch.bool), diagonal=1), float("-inf"))
    return merge_heads(torch.softmax(scores, dim=-1) @ v) @ w_o.T
''',
        "heads_by_reshape_only": '''
def causal_self_attention(x, w_q, w_k, w_v, w_o, num_heads):
    batch, n, d_model = x.shape
    d_head = d_model // num_heads
    q, k, v = ((x @ w.T).reshape(batch, num_heads, n, d_head) for w in (w_q, w_k, w_v))
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_head)
    scores = scores.masked_fill(~torch.tril(torch.ones(n, n, dtype=torch.bool)), float("-inf"))
    return (torch.softmax(scores, dim=-1) @ v).reshape(batch, n, d_model) @ w_o.T
''',
        "weights_not_transposed": '''
def causal_self_attention(x, w_q, w_k, w_v, w_o, num_heads):
    n, d_model = x.shape[1], x.shape[2]
    q, k, v = (split_heads(x @ w, num_heads) for w in (w_q, w_k, w_v))
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_model // num_heads)
    scores = scores.masked_fill(~torch.tril(torch.ones(n, n, dtype=torch.bool)), float("-inf"))
    return merge_heads(torch.softmax(scores, dim=-1) @ v) @ w_o
''',
        "right_but_calls_F_scaled_dot_product_attention": '''
def causal_self_attention(x, w_q, w_k, w_v, w_o, num_heads):
    q, k, v = (split_heads(x @ w.T, num_heads) for w in (w_q, w_k, w_v))
    return merge_heads(F.scaled_dot_product_attention(q, k, v, is_causal=True)) @ w_o.T
''',
        "right_but_uses_nn_MultiheadAttention": '''
def causal_self_attention(x, w_q, w_k, w_v, w_o, num_heads):
    n, d_model = x.shape[1], x.shape[2]
    mha = nn.MultiheadAttention(d_model, num_heads, bias=False, batch_first=True).to(x.dtype)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat([w_q, w_k, w_v]))
        mha.out_proj.weight.copy_(w_o)
    blocked = torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1)
    return mha(x, x, x, attn_mask=blocked, need_weights=False)[0]
''',
        "right_but_calls_attnbook": '''
def causal_self_attention(x, w_q, w_k, w_v, w_o, num_heads):
    q, k, v = (attnbook.split_heads(x @ w.T, num_heads) for w in (w_q, w_k, w_v))
    weights = attnbook.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), axis=-1,
                               mask=torch.ones(x.shape[1], x.shape[1], dtype=torch.bool).tril())
    return attnbook.merge_heads(weights @ v) @ w_o.T
''',
    },
    "sinusoidal_positions": {
        "sin_and_cos_swapped": '''
def sinusoidal_positions(n_positions, d_model):
    if d_model % 2:
        raise ValueError(f"odd d_model {d_model}")
    angles = np.arange(n_positions)[:, None] / 10000.0 ** (2 * np.arange(d_model // 2)[None, :] / d_model)
    encoding = np.zeros((n_positions, d_model))
    encoding[:, 0::2] = np.cos(angles)
    encoding[:, 1::2] = np.sin(angles)
    return encoding
''',
        "exponent_uses_the_column_index": '''
def sinusoidal_positions(n_positions, d_model):
    if d_model % 2:
        raise ValueError(f"odd d_model {d_model}")
    angles = np.arange(n_positions)[:, None] / 10000.0 ** (np.arange(d_model)[None, :] / d_model)
    encoding = np.sin(angles)
    encoding[:, 1::2] = np.cos(angles[:, 1::2])
    return encoding
''',
        "exponent_i_over_d": '''
def sinusoidal_positions(n_positions, d_model):
    if d_model % 2:
        raise ValueError(f"odd d_model {d_model}")
    angles = np.arange(n_positions)[:, None] / 10000.0 ** (np.arange(d_model // 2)[None, :] / d_model)
    encoding = np.zeros((n_positions, d_model))
    encoding[:, 0::2] = np.sin(angles)
    encoding[:, 1::2] = np.cos(angles)
    return encoding
''',
        "sin_half_then_cos_half": '''
def sinusoidal_positions(n_positions, d_model):
    if d_model % 2:
        raise ValueError(f"odd d_model {d_model}")
    angles = np.arange(n_positions)[:, None] / 10000.0 ** (2 * np.arange(d_model // 2)[None, :] / d_model)
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=-1)
''',
        "positions_start_at_1": '''
def sinusoidal_positions(n_positions, d_model):
    if d_model % 2:
        raise ValueError(f"odd d_model {d_model}")
    angles = np.arange(1, n_positions + 1)[:, None] / 10000.0 ** (2 * np.arange(d_model // 2)[None, :] / d_model)
    encoding = np.zeros((n_positions, d_model))
    encoding[:, 0::2] = np.sin(angles)
    encoding[:, 1::2] = np.cos(angles)
    return encoding
''',
    },
    "apply_rope": {
        "rotates_halves_not_interleaved_pairs": '''
def apply_rope(x, positions, theta=10000.0):
    d_head = x.shape[-1]
    frequencies = theta ** (-2 * torch.arange(d_head // 2, dtype=x.dtype) / d_head)
    angles = positions.to(x.dtype)[:, None] * frequencies
    a, b = x[..., : d_head // 2], x[..., d_head // 2:]
    return torch.cat([a * torch.cos(angles) - b * torch.sin(angles),
                      a * torch.sin(angles) + b * torch.cos(angles)], dim=-1)
''',
        "turns_the_wrong_way": '''
def apply_rope(x, positions, theta=10000.0):
    d_head = x.shape[-1]
    frequencies = theta ** (-2 * torch.arange(d_head // 2, dtype=x.dtype) / d_head)
    angles = positions.to(x.dtype)[:, None] * frequencies
    a, b = x[..., 0::2], x[..., 1::2]
    rotated = torch.stack([a * torch.cos(angles) + b * torch.sin(angles),
                           -a * torch.sin(angles) + b * torch.cos(angles)], dim=-1)
    return rotated.flatten(-2)
''',
        "frequency_exponent_i_over_d": '''
def apply_rope(x, positions, theta=10000.0):
    d_head = x.shape[-1]
    frequencies = theta ** (-torch.arange(d_head // 2, dtype=x.dtype) / d_head)
    angles = positions.to(x.dtype)[:, None] * frequencies
    a, b = x[..., 0::2], x[..., 1::2]
    rotated = torch.stack([a * torch.cos(angles) - b * torch.sin(angles),
                           a * torch.sin(angles) + b * torch.cos(angles)], dim=-1)
    return rotated.flatten(-2)
''',
        "ignores_positions_uses_arange": '''
def apply_rope(x, positions, theta=10000.0):
    n, d_head = x.shape[-2], x.shape[-1]
    frequencies = theta ** (-2 * torch.arange(d_head // 2, dtype=x.dtype) / d_head)
    angles = torch.arange(n, dtype=x.dtype)[:, None] * frequencies
    a, b = x[..., 0::2], x[..., 1::2]
    rotated = torch.stack([a * torch.cos(angles) - b * torch.sin(angles),
                           a * torch.sin(angles) + b * torch.cos(angles)], dim=-1)
    return rotated.flatten(-2)
''',
        "ignores_theta": '''
def apply_rope(x, positions, theta=10000.0):
    d_head = x.shape[-1]
    frequencies = 10000.0 ** (-2 * torch.arange(d_head // 2, dtype=x.dtype) / d_head)
    angles = positions.to(x.dtype)[:, None] * frequencies
    a, b = x[..., 0::2], x[..., 1::2]
    rotated = torch.stack([a * torch.cos(angles) - b * torch.sin(angles),
                           a * torch.sin(angles) + b * torch.cos(angles)], dim=-1)
    return rotated.flatten(-2)
''',
    },
    "PreNormBlock": {
        "post_norm": _PRE_NORM_INIT + '''
    def forward(self, x):
        x = self.norm1(x + self.attention(x))
        return self.norm2(x + self.feed_forward(x))
''',
        "forgets_the_residual": _PRE_NORM_INIT + '''
    def forward(self, x):
        x = self.attention(self.norm1(x))
        return self.feed_forward(self.norm2(x))
''',
        "residual_from_the_normalised_input": _PRE_NORM_INIT + '''
    def forward(self, x):
        h = self.norm1(x)
        x = h + self.attention(h)
        h = self.norm2(x)
        return h + self.feed_forward(h)
''',
        "norm1_used_twice": _PRE_NORM_INIT + '''
    def forward(self, x):
        x = x + self.attention(self.norm1(x))
        return x + self.feed_forward(self.norm1(x))
''',
        "parallel_sublayers": _PRE_NORM_INIT + '''
    def forward(self, x):
        return x + self.attention(self.norm1(x)) + self.feed_forward(self.norm2(x))
''',
    },
    "decode_step": {
        "overwrites_the_cache": '''
def decode_step(x_new, cache_k, cache_v, w_q, w_k, w_v, w_o, num_heads):
    d_head = x_new.shape[-1] // num_heads
    q, k, v = (split_heads(x_new @ w.T, num_heads) for w in (w_q, w_k, w_v))
    cache_k, cache_v = k, v
    weights = torch.softmax(q @ cache_k.transpose(-2, -1) / math.sqrt(d_head), dim=-1)
    return merge_heads(weights @ cache_v) @ w_o.T, cache_k, cache_v
''',
        "attends_before_appending": '''
def decode_step(x_new, cache_k, cache_v, w_q, w_k, w_v, w_o, num_heads):
    d_head = x_new.shape[-1] // num_heads
    q, k, v = (split_heads(x_new @ w.T, num_heads) for w in (w_q, w_k, w_v))
    weights = torch.softmax(q @ cache_k.transpose(-2, -1) / math.sqrt(d_head), dim=-1)
    output = merge_heads(weights @ cache_v) @ w_o.T
    return output, torch.cat([cache_k, k], dim=2), torch.cat([cache_v, v], dim=2)
''',
        "causal_mask_copied_from_full_attention": '''
def decode_step(x_new, cache_k, cache_v, w_q, w_k, w_v, w_o, num_heads):
    d_head = x_new.shape[-1] // num_heads
    q, k, v = (split_heads(x_new @ w.T, num_heads) for w in (w_q, w_k, w_v))
    cache_k, cache_v = torch.cat([cache_k, k], dim=2), torch.cat([cache_v, v], dim=2)
    scores = q @ cache_k.transpose(-2, -1) / math.sqrt(d_head)  # (batch, heads, 1, n_keys)
    n_q, n_k = scores.shape[-2], scores.shape[-1]
    allowed = torch.tril(torch.ones(n_q, n_k, dtype=torch.bool))  # top-left aligned: only key 0
    weights = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)
    return merge_heads(weights @ cache_v) @ w_o.T, cache_k, cache_v
''',
        "scales_by_sqrt_d_model": '''
def decode_step(x_new, cache_k, cache_v, w_q, w_k, w_v, w_o, num_heads):
    q, k, v = (split_heads(x_new @ w.T, num_heads) for w in (w_q, w_k, w_v))
    cache_k, cache_v = torch.cat([cache_k, k], dim=2), torch.cat([cache_v, v], dim=2)
    weights = torch.softmax(q @ cache_k.transpose(-2, -1) / math.sqrt(x_new.shape[-1]), dim=-1)
    return merge_heads(weights @ cache_v) @ w_o.T, cache_k, cache_v
''',
        "appends_along_the_feature_axis": '''
def decode_step(x_new, cache_k, cache_v, w_q, w_k, w_v, w_o, num_heads):
    d_head = x_new.shape[-1] // num_heads
    q, k, v = (split_heads(x_new @ w.T, num_heads) for w in (w_q, w_k, w_v))
    cache_k, cache_v = torch.cat([cache_k, k], dim=-1), torch.cat([cache_v, v], dim=-1)
    weights = torch.softmax(q @ cache_k.transpose(-2, -1) / math.sqrt(d_head), dim=-1)
    return merge_heads(weights @ cache_v) @ w_o.T, cache_k, cache_v
''',
        "right_but_calls_F_scaled_dot_product_attention": '''
def decode_step(x_new, cache_k, cache_v, w_q, w_k, w_v, w_o, num_heads):
    q, k, v = (split_heads(x_new @ w.T, num_heads) for w in (w_q, w_k, w_v))
    cache_k, cache_v = torch.cat([cache_k, k], dim=2), torch.cat([cache_v, v], dim=2)
    return merge_heads(F.scaled_dot_product_attention(q, cache_k, cache_v)) @ w_o.T, cache_k, cache_v
''',
    },
    "fixed_causal_sublayer": {
        "unchanged_buggy_version": '''
def fixed_causal_sublayer(x, attn, norm):
    n = x.shape[1]
    causal = torch.tril(torch.ones(n, n, dtype=torch.bool))
    h, _ = attn(x, x, x, attn_mask=causal)
    return norm(x + h)
''',
        "fixes_only_the_mask": '''
def fixed_causal_sublayer(x, attn, norm):
    n = x.shape[1]
    blocked = torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1)
    h, _ = attn(x, x, x, attn_mask=blocked)
    return norm(x + h)
''',
        "fixes_only_the_norm": '''
def fixed_causal_sublayer(x, attn, norm):
    n = x.shape[1]
    causal = torch.tril(torch.ones(n, n, dtype=torch.bool))
    h = norm(x)
    attended, _ = attn(h, h, h, attn_mask=causal)
    return x + attended
''',
        "mask_passed_as_float": '''
def fixed_causal_sublayer(x, attn, norm):
    n = x.shape[1]
    causal = torch.tril(torch.ones(n, n))
    h = norm(x)
    attended, _ = attn(h, h, h, attn_mask=causal)
    return x + attended
''',
        "norm_on_the_sublayer_output": '''
def fixed_causal_sublayer(x, attn, norm):
    n = x.shape[1]
    blocked = torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1)
    attended, _ = attn(x, x, x, attn_mask=blocked)
    return x + norm(attended)
''',
        "is_causal_hint_without_a_mask": '''
def fixed_causal_sublayer(x, attn, norm):
    h = norm(x)
    attended, _ = attn(h, h, h, is_causal=True)
    return x + attended
''',
    },
}
