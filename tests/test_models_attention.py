"""Unit tests for attnbook/models/attention.py and positions.py.

References: ``torch.nn.MultiheadAttention`` (with copied weights and its masks converted from
True = blocked to our True = may attend), ``F.scaled_dot_product_attention``, formulas written
out independently here (sinusoidal encodings element by element, RoPE as complex rotations), and
``torch.utils.flop_counter`` for the FLOP formula.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import attnbook
from attnbook import KVCache, MultiHeadAttention, apply_rope, merge_heads, sinusoidal_positions, split_heads
from attnbook.models import bottom_right_causal_mask

DOUBLE = dict(rtol=1e-10, atol=1e-10)


def numel(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def make(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# ---------------------------------------------------------------- split and merge heads


def test_split_heads_puts_consecutive_feature_blocks_in_heads():
    x = torch.arange(2 * 3 * 8, dtype=torch.float32).view(2, 3, 8)  # (batch, n, heads * d_head)
    heads = split_heads(x, 4)
    assert heads.shape == (2, 4, 3, 2)
    torch.testing.assert_close(heads[1, 2, 0], x[1, 0, 4:6])  # head 2 owns features 4, 5
    torch.testing.assert_close(merge_heads(heads), x)


def test_split_heads_rejects_indivisible_features():
    with pytest.raises(ValueError, match=r"10 features into 4 heads"):
        split_heads(torch.zeros(1, 2, 10), 4)
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        merge_heads(torch.zeros(2, 3))


# ---------------------------------------------------------------- equal to nn.MultiheadAttention


def torch_masks(batch, n_q, n_k, seed):
    """Torch-convention masks (True = blocked) and our equivalent (True = may attend)."""
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, n_k + 1, (batch,), generator=generator)
    lengths[0] = n_k
    key_padding = torch.arange(n_k)[None, :] >= lengths[:, None]  # (batch, n_k) True = padding
    causal_blocked = torch.ones(n_q, n_k, dtype=torch.bool).triu(1)  # (n_q, n_k) True = future
    ours = ~key_padding[:, None, None, :] & ~causal_blocked
    return key_padding, causal_blocked, ours


CONFIGS = [  # (batch_first, bias, kdim, vdim, n_q, n_k, masked)
    (True, True, None, None, 5, 5, True),
    (False, True, None, None, 5, 5, True),
    (True, False, None, None, 4, 6, False),
    (False, False, 6, 10, 3, 7, True),
    (True, True, 12, 5, 6, 6, True),
]


@pytest.mark.parametrize("batch_first, bias, kdim, vdim, n_q, n_k, masked", CONFIGS)
def test_equals_torch_multihead_attention(batch_first, bias, kdim, vdim, n_q, n_k, masked):
    torch.manual_seed(0)
    d_model, num_heads, batch = 8, 2, 3
    reference = nn.MultiheadAttention(
        d_model, num_heads, bias=bias, kdim=kdim, vdim=vdim, batch_first=batch_first, dtype=torch.float64
    )
    ours = MultiHeadAttention.from_torch(reference)
    assert ours.q_proj.weight.dtype == torch.float64
    query = make(batch, n_q, d_model, seed=1)
    key = make(batch, n_k, kdim or d_model, seed=2)
    value = make(batch, n_k, vdim or d_model, seed=3)
    key_padding, causal_blocked, mask = torch_masks(batch, n_q, n_k, seed=4)
    torch_kwargs = dict(key_padding_mask=key_padding, attn_mask=causal_blocked) if masked else {}
    mask = mask if masked else None

    def to_torch_layout(x):
        return x if batch_first else x.transpose(0, 1)  # (n, batch, features) when not batch_first

    expected, expected_weights = reference(
        to_torch_layout(query), to_torch_layout(key), to_torch_layout(value), average_attn_weights=False, **torch_kwargs
    )
    got, weights = ours(query, key, value, mask=mask, need_weights=True)
    torch.testing.assert_close(got, to_torch_layout(expected), **DOUBLE)
    torch.testing.assert_close(weights, expected_weights, **DOUBLE)


def test_torch_averages_weights_over_heads_by_default():
    torch.manual_seed(0)
    reference = nn.MultiheadAttention(8, 4, batch_first=True, dtype=torch.float64)
    ours = MultiHeadAttention.from_torch(reference)
    x = make(2, 5, 8)
    _, averaged = reference(x, x, x)  # need_weights=True, average_attn_weights=True
    _, per_head = ours(x, need_weights=True)
    assert averaged.shape == (2, 5, 5) and per_head.shape == (2, 4, 5, 5)
    torch.testing.assert_close(per_head.mean(dim=1), averaged, **DOUBLE)


def test_float_additive_mask_converts_with_equals_zero():
    torch.manual_seed(0)
    reference = nn.MultiheadAttention(8, 2, batch_first=True, dtype=torch.float64)
    ours = MultiHeadAttention.from_torch(reference)
    x = make(2, 6, 8)
    additive = nn.Transformer.generate_square_subsequent_mask(6, dtype=torch.float64)  # 0 / -inf
    expected, _ = reference(x, x, x, attn_mask=additive)
    torch.testing.assert_close(ours(x, mask=additive == 0), expected, **DOUBLE)
    torch.testing.assert_close(ours(x, is_causal=True), expected, **DOUBLE)


def test_from_torch_rejects_extra_key_options():
    with pytest.raises(ValueError, match="add_bias_kv"):
        MultiHeadAttention.from_torch(nn.MultiheadAttention(8, 2, add_bias_kv=True))


# ---------------------------------------------------------------- masks, SDPA path, gradients


def odd_mask(batch=2, heads=4, n_q=5, n_k=6):
    """A random mask with one fully masked query row in item 0."""
    mask = torch.rand(batch, heads, n_q, n_k, generator=torch.Generator().manual_seed(7)) > 0.4
    mask[0, :, 2] = False
    return mask


@pytest.mark.parametrize("num_kv_heads", [None, 2, 1])
@pytest.mark.parametrize("case", ["none", "mask", "causal", "mask+causal", "bias", "mask+bias"])
def test_sdpa_path_equals_book_path(case, num_kv_heads):
    torch.manual_seed(0)
    book = MultiHeadAttention(16, 4, num_kv_heads=num_kv_heads).double()
    fused = MultiHeadAttention(16, 4, num_kv_heads=num_kv_heads, use_sdpa=True).double()
    fused.load_state_dict(book.state_dict())
    query, memory = make(2, 5, 16, seed=1), make(2, 6, 16, seed=2)
    kwargs = {}
    if "mask" in case:
        kwargs["mask"] = odd_mask()
    if "causal" in case:
        kwargs["is_causal"] = True
    if "bias" in case:
        kwargs["score_bias"] = make(1, 4, 5, 6, seed=3)
    got = fused(query, memory, **kwargs)
    expected = book(query, memory, **kwargs)
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got, expected, **DOUBLE)


@pytest.mark.parametrize("use_sdpa", [False, True])
def test_fully_masked_query_gives_zero_weights_output_and_finite_gradients(use_sdpa):
    torch.manual_seed(0)
    attention = MultiHeadAttention(16, 4, use_sdpa=use_sdpa).double()
    query = make(2, 5, 16, seed=1).requires_grad_()
    memory = make(2, 6, 16, seed=2)
    mask = odd_mask()
    heads = {}
    attention.out_proj.register_forward_hook(lambda module, inputs, output: heads.update(merged=inputs[0]))
    output = attention(query, memory, mask=mask)
    assert (heads["merged"][0, 2] == 0).all()  # zero attention output before out_proj
    torch.testing.assert_close(output[0, 2], attention.out_proj.bias)  # so the layer outputs only the bias
    output.sum().backward()
    assert torch.isfinite(query.grad).all()
    if not use_sdpa:
        _, weights = attention(query, memory, mask=mask, need_weights=True)
        assert (weights[0, :, 2] == 0).all()
        torch.testing.assert_close(weights[1].sum(-1), mask[1].any(-1).double())


def test_gradcheck_float64():
    torch.manual_seed(0)
    attention = MultiHeadAttention(8, 4, num_kv_heads=2, rope_theta=100.0).double()
    query, memory = make(2, 3, 8, seed=1), make(2, 4, 8, seed=2)
    query.requires_grad_()
    memory.requires_grad_()
    mask = torch.tensor([[True, True, False, True], [True, False, False, False], [True] * 4])  # (n_q, n_k)

    def self_attention(x):
        return attention(x, is_causal=True)

    def cross_attention(q, kv):
        return attention(q, kv, mask=mask)

    assert torch.autograd.gradcheck(self_attention, (query,))
    assert torch.autograd.gradcheck(cross_attention, (query, memory))

    def with_weights(q_weight, k_weight, out_bias):
        parameters = {"q_proj.weight": q_weight, "k_proj.weight": k_weight, "out_proj.bias": out_bias}
        return torch.func.functional_call(attention, parameters, (query.detach(), memory.detach(), None, mask))

    weights = [attention.q_proj.weight, attention.k_proj.weight, attention.out_proj.bias]
    assert torch.autograd.gradcheck(with_weights, tuple(w.detach().clone().requires_grad_() for w in weights))


def test_bottom_right_causal_mask():
    assert torch.equal(bottom_right_causal_mask(3, 3), torch.ones(3, 3, dtype=torch.bool).tril())
    expected = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]], dtype=torch.bool)  # 2 new queries after 2 cached keys
    assert torch.equal(bottom_right_causal_mask(2, 4), expected)


def test_mask_that_does_not_broadcast_is_rejected_with_shapes():
    attention = MultiHeadAttention(8, 2)
    x = torch.zeros(2, 5, 8)
    with pytest.raises(ValueError, match=r"\(3, 5\).*\(2, 2, 5, 5\)"):
        attention(x, mask=torch.ones(3, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="boolean"):
        attention(x, mask=torch.zeros(5, 5))
    with pytest.raises(ValueError, match=r"\(4, 5\).*\(2, 2, 5, 5\)"):
        attention(x, score_bias=torch.zeros(4, 5))
    with pytest.raises(ValueError, match=r"\(batch, n, 8\).*\(2, 5, 6\)"):
        attention(torch.zeros(2, 5, 6))


def test_constructor_errors_name_the_numbers():
    with pytest.raises(ValueError, match=r"d_model=10, num_heads=4"):
        MultiHeadAttention(10, 4)
    with pytest.raises(ValueError, match=r"num_heads=6, num_kv_heads=4"):
        MultiHeadAttention(24, 6, num_kv_heads=4)
    with pytest.raises(ValueError, match=r"d_head=3"):
        MultiHeadAttention(12, 4, rope_theta=10000.0)


# ---------------------------------------------------------------- grouped-query attention


@pytest.mark.parametrize("num_kv_heads", [4, 2, 1])
def test_grouped_query_shapes_and_parameter_count(num_kv_heads):
    attention = MultiHeadAttention(16, 4, num_kv_heads=num_kv_heads)
    assert attention.k_proj.weight.shape == (num_kv_heads * 4, 16)
    output, weights = attention(torch.randn(2, 5, 16), need_weights=True)
    assert output.shape == (2, 5, 16) and weights.shape == (2, 4, 5, 5)
    for bias in (True, False):
        module = MultiHeadAttention(16, 4, num_kv_heads=num_kv_heads, bias=bias, kdim=6, vdim=10)
        assert numel(module) == attnbook.mha_parameter_count(16, 4, num_kv_heads, bias, kdim=6, vdim=10)


def test_num_kv_heads_equal_to_num_heads_is_plain_multi_head_attention():
    torch.manual_seed(0)
    plain = MultiHeadAttention(16, 4)
    torch.manual_seed(0)
    explicit = MultiHeadAttention(16, 4, num_kv_heads=4)
    x = torch.randn(2, 5, 16)
    torch.testing.assert_close(explicit(x, is_causal=True), plain(x, is_causal=True), rtol=0, atol=0)


def test_grouped_query_equals_multi_head_with_repeated_kv_weights():
    """Each k/v head serves num_heads // num_kv_heads consecutive query heads."""
    torch.manual_seed(0)
    grouped = MultiHeadAttention(24, 6, num_kv_heads=2).double()
    full = MultiHeadAttention(24, 6).double()
    d_head, group = 4, 3
    with torch.no_grad():
        for name in ("q_proj", "out_proj"):
            getattr(full, name).load_state_dict(getattr(grouped, name).state_dict())
        for name in ("k_proj", "v_proj"):
            weight = getattr(grouped, name).weight.view(2, d_head, 24).repeat_interleave(group, dim=0)
            bias = getattr(grouped, name).bias.view(2, d_head).repeat_interleave(group, dim=0)
            getattr(full, name).weight.copy_(weight.reshape(24, 24))
            getattr(full, name).bias.copy_(bias.reshape(24))
    x = make(2, 5, 24)
    torch.testing.assert_close(grouped(x, is_causal=True), full(x, is_causal=True), **DOUBLE)


# ---------------------------------------------------------------- KV cache


@pytest.mark.parametrize("use_sdpa", [False, True])
@pytest.mark.parametrize("rope_theta", [None, 10000.0])
@pytest.mark.parametrize("num_kv_heads", [None, 1])
def test_cached_decoding_equals_full_causal_attention(rope_theta, num_kv_heads, use_sdpa):
    torch.manual_seed(0)
    attention = MultiHeadAttention(16, 4, num_kv_heads=num_kv_heads, rope_theta=rope_theta, use_sdpa=use_sdpa)
    attention = attention.double()
    x = make(2, 7, 16)
    expected = attention(x, is_causal=True)
    cache = KVCache()
    pieces = [attention(x[:, :3], is_causal=True, cache=cache)]  # a 3-token prompt, two tokens, then one at a time
    pieces.append(attention(x[:, 3:5], is_causal=True, cache=cache))
    for i in range(5, 7):
        pieces.append(attention(x[:, i : i + 1], is_causal=True, cache=cache))
    torch.testing.assert_close(torch.cat(pieces, dim=1), expected, **DOUBLE)
    kv_heads = num_kv_heads or 4
    assert cache.length == 7 and cache.keys.shape == (2, kv_heads, 7, 4)
    assert cache.nbytes == 2 * 2 * kv_heads * 7 * 4 * 8


def test_cache_rejects_mismatched_keys():
    cache = KVCache()
    cache.append(torch.zeros(2, 4, 3, 8), torch.zeros(2, 4, 3, 8))
    with pytest.raises(ValueError, match=r"\(2, 2, 1, 8\).*\(2, 4, 3, 8\)"):
        cache.append(torch.zeros(2, 2, 1, 8), torch.zeros(2, 2, 1, 8))


def test_mha_flops_match_torch_flop_counter():
    for n_q, n_k, num_kv_heads in ((5, 5, None), (3, 7, 2)):
        attention = MultiHeadAttention(16, 4, num_kv_heads=num_kv_heads, kdim=12, vdim=10)
        query, key, value = torch.randn(1, n_q, 16), torch.randn(1, n_k, 12), torch.randn(1, n_k, 10)
        with FlopCounterMode(display=False) as counter:
            attention(query, key, value)
        expected = attnbook.mha_flops(n_q, n_k, 16, 4, num_kv_heads, kdim=12, vdim=10)
        assert counter.get_total_flops() == expected


# ---------------------------------------------------------------- positions


def test_sinusoidal_positions_follow_the_formula():
    for n_positions, d_model in ((7, 6), (5, 7)):
        encoding = sinusoidal_positions(n_positions, d_model)
        assert encoding.shape == (n_positions, d_model) and encoding.dtype == torch.float32
        for p in range(n_positions):
            for column in range(d_model):
                i = column // 2
                angle = p / 10000 ** (2 * i / d_model)
                expected = math.sin(angle) if column % 2 == 0 else math.cos(angle)
                assert abs(encoding[p, column].item() - expected) < 1e-6, (p, column)


def rope_reference(x, positions, theta):
    """RoPE written as complex multiplication: pair (a, b) → (a + ib) · exp(i · p · theta^(-2j/d))."""
    d_head = x.shape[-1]
    pairs = torch.view_as_complex(x.reshape(*x.shape[:-1], d_head // 2, 2).contiguous())
    frequencies = theta ** (-torch.arange(0, d_head, 2, dtype=torch.float64) / d_head)
    rotation = torch.polar(torch.ones(1, dtype=torch.float64), positions.double()[:, None] * frequencies)
    return torch.view_as_real(pairs * rotation).reshape(x.shape)


def test_rope_equals_complex_rotation_and_keeps_lengths():
    x = make(2, 3, 5, 8)
    positions = torch.tensor([0, 3, 4, 10, 2])
    rotated = apply_rope(x, positions, theta=500.0)
    torch.testing.assert_close(rotated, rope_reference(x, positions, 500.0), **DOUBLE)
    torch.testing.assert_close(rotated.norm(dim=-1), x.norm(dim=-1), **DOUBLE)
    torch.testing.assert_close(apply_rope(x, torch.zeros(5, dtype=torch.long)), x, rtol=0, atol=0)


def test_rope_score_depends_only_on_relative_position():
    q, k = make(16, seed=1), make(16, seed=2)

    def score(m, n):
        q_m = apply_rope(q[None], torch.tensor([m]))
        k_n = apply_rope(k[None], torch.tensor([n]))
        return (q_m @ k_n.T).item()

    for m, n in ((3, 1), (10, 4), (0, 7)):
        for shift in (1, 5, 100):
            assert abs(score(m + shift, n + shift) - score(m, n)) < 1e-9
    assert abs(score(5, 1) - score(5, 3)) > 1e-3  # but it does depend on the offset


def test_rope_errors_name_the_numbers():
    with pytest.raises(ValueError, match=r"d_head=7"):
        apply_rope(torch.zeros(3, 7), torch.arange(3))
    with pytest.raises(ValueError, match=r"n=3"):
        apply_rope(torch.zeros(3, 8), torch.arange(4))


def test_learned_positions_offset_and_range():
    table = attnbook.LearnedPositions(6, 4)
    torch.testing.assert_close(table(2, offset=3), table.embedding.weight[3:5])
    with pytest.raises(ValueError, match=r"4\.\.7.*6 positions"):
        table(4, offset=4)


@pytest.mark.parametrize("use_sdpa", [False, True])
def test_edit_weights_replaces_the_weights_that_multiply_the_values(use_sdpa):
    torch.manual_seed(0)
    attention = MultiHeadAttention(8, 2, use_sdpa=use_sdpa).double().eval()
    x = torch.randn(3, 5, 8, dtype=torch.float64)  # (batch, n, d_model)
    plain, weights = attention(x, need_weights=True)  # weights: (batch, heads, 5, 5)

    uniform = torch.full_like(weights, 1 / 5)
    attention.edit_weights = lambda w: torch.full_like(w, 1 / w.shape[-1])
    edited_output = attention(x)  # the fused path is bypassed while an edit is set
    _, edited_weights = attention(x, need_weights=True)
    attention.edit_weights = None

    values = split_heads(attention.v_proj(x), 2)  # (batch, heads, 5, d_head)
    expected = attention.out_proj(merge_heads(uniform @ values))
    torch.testing.assert_close(edited_output, expected)
    torch.testing.assert_close(edited_weights, uniform)
    assert not torch.allclose(edited_output, plain)
    torch.testing.assert_close(attention(x), plain)  # unset: back to the model's own weights


def test_edit_weights_must_keep_the_shape():
    attention = MultiHeadAttention(8, 2)
    attention.edit_weights = lambda w: w[..., :-1]
    with pytest.raises(ValueError, match=r"edit_weights must return a tensor of shape \(1, 2, 4, 4\); got \(1, 2, 4, 3\)"):
        attention(torch.zeros(1, 4, 8))
