"""Unit tests for attnbook/kernels/efficient.py: the sliding-window mask and linear attention.

Linear attention is checked against its definition written as a (masked) quadratic form,
``A = phi(Q) phi(K)^T``, ``out = A V / (A 1 + eps)``, computed here in float64.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import attnbook


def loop_window_mask(n_q, n_k, window, causal):
    mask = np.zeros((n_q, n_k), dtype=bool)
    for i in range(n_q):
        for j in range(n_k):
            mask[i, j] = (0 <= i - j < window) if causal else abs(i - j) < window
    return mask


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize(("n_q", "n_k", "window"), [(1, 1, 1), (6, 6, 1), (6, 6, 2), (5, 9, 3), (9, 5, 4), (7, 7, 100)])
def test_sliding_window_mask_semantics(n_q, n_k, window, causal):
    mask = attnbook.sliding_window_mask(n_q, n_k, window, causal=causal)
    assert mask.shape == (n_q, n_k) and mask.dtype == np.bool_
    np.testing.assert_array_equal(mask, loop_window_mask(n_q, n_k, window, causal))
    if causal:  # never a future key, and at most `window` keys per query
        assert not (mask & ~attnbook.causal_mask(n_q, n_k)).any()
        assert mask.sum(axis=1).max() <= window
    else:  # symmetric band, at most 2 * window - 1 keys
        assert mask.sum(axis=1).max() <= 2 * window - 1


def test_sliding_window_mask_limits_and_torch_output():
    np.testing.assert_array_equal(attnbook.sliding_window_mask(6, 6, 6), attnbook.causal_mask(6))
    np.testing.assert_array_equal(attnbook.sliding_window_mask(4, window=1, causal=True), np.eye(4, dtype=bool))
    as_torch = attnbook.sliding_window_mask(4, 5, 2, causal=False, device="cpu")
    assert isinstance(as_torch, torch.Tensor) and as_torch.dtype == torch.bool
    assert torch.equal(as_torch, torch.from_numpy(loop_window_mask(4, 5, 2, causal=False)))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n_queries": 0, "window": 2}, "n_queries must be a positive integer; got 0"),
    ({"n_queries": 4, "n_keys": -1, "window": 2}, "n_keys must be a positive integer; got -1"),
    ({"n_queries": 4, "window": 0}, "window must be a positive integer; got 0"),
    ({"n_queries": 4, "window": 1.5}, "window must be a positive integer; got 1.5"),
    ({"n_queries": 4, "window": 2, "causal": None}, "causal must be True or False"),
])
def test_sliding_window_mask_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        attnbook.sliding_window_mask(**kwargs)


def quadratic_linear_attention(q, k, v, causal, eps=1e-6):
    phi_q, phi_k = F.elu(q.double()) + 1, F.elu(k.double()) + 1
    weights = phi_q @ phi_k.transpose(-2, -1)  # (..., n_q, n_k), positive
    if causal:
        weights = weights * torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool).tril()
    return weights @ v.double() / (weights.sum(dim=-1, keepdim=True) + eps)


def random_qkv(batch_shape, n_q, n_k, d=6, d_v=5, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(*batch_shape, n_q, d, generator=generator, dtype=torch.float64),
            torch.randn(*batch_shape, n_k, d, generator=generator, dtype=torch.float64),
            torch.randn(*batch_shape, n_k, d_v, generator=generator, dtype=torch.float64))


def test_non_causal_linear_attention_equals_quadratic_form():
    q, k, v = random_qkv((2, 3), 11, 17)
    torch.testing.assert_close(attnbook.linear_attention(q, k, v), quadratic_linear_attention(q, k, v, False))


@pytest.mark.parametrize("chunk_size", [1, 4, 7, 37, 64])
def test_causal_chunked_form_equals_masked_quadratic_form(chunk_size):
    q, k, v = random_qkv((2,), 37, 37, seed=1)
    got = attnbook.linear_attention(q, k, v, causal=True, chunk_size=chunk_size)
    torch.testing.assert_close(got, quadratic_linear_attention(q, k, v, True))


def test_recurrent_form_equals_causal_parallel_form_with_broadcast_batch():
    generator = torch.Generator().manual_seed(2)
    q = torch.randn(2, 1, 23, 4, generator=generator, dtype=torch.float64)
    k = torch.randn(3, 23, 4, generator=generator, dtype=torch.float64)
    v = torch.randn(23, 2, generator=generator, dtype=torch.float64)
    recurrent = attnbook.linear_attention_recurrent(q, k, v)
    parallel = attnbook.linear_attention(q, k, v, causal=True, chunk_size=5)
    assert recurrent.shape == parallel.shape == (2, 3, 23, 2)
    torch.testing.assert_close(recurrent, parallel)
    torch.testing.assert_close(recurrent, quadratic_linear_attention(q, k, v, True))


def test_first_position_only_sees_itself_and_half_precision_round_trips():
    q, k, v = random_qkv((), 9, 9, seed=3)
    out = attnbook.linear_attention(q, k, v, causal=True)
    torch.testing.assert_close(out[0], v[0] * (1 - 1e-6 / (1e-6 + ((F.elu(q[0]) + 1) * (F.elu(k[0]) + 1)).sum())))
    half = attnbook.linear_attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), causal=True)
    assert half.dtype == torch.bfloat16 and (half.double() - out).abs().max() < 5e-2


def test_custom_feature_map_and_gradients_flow():
    q, k, v = (x.requires_grad_() for x in random_qkv((2,), 8, 8, seed=4))
    out = attnbook.linear_attention(q, k, v, causal=True, feature_map=lambda x: torch.exp(x))
    expected_weights = (torch.exp(q) @ torch.exp(k).transpose(-2, -1)) * torch.ones(8, 8, dtype=torch.bool).tril()
    expected = expected_weights @ v / (expected_weights.sum(-1, keepdim=True) + 1e-6)
    torch.testing.assert_close(out, expected)
    out.sum().backward()
    assert all(torch.isfinite(x.grad).all() for x in (q, k, v))


def test_linear_attention_rejects_bad_input():
    q, k, v = random_qkv((), 5, 7)
    with pytest.raises(ValueError, match=r"as many queries as keys.*\(5, 6\).*\(7, 6\)"):
        attnbook.linear_attention(q, k, v, causal=True)
    with pytest.raises(ValueError, match=r"as many queries as keys"):
        attnbook.linear_attention_recurrent(q, k, v)
    with pytest.raises(ValueError, match=r"feature_map must be one of \('elu\+1',\).*'softmax'"):
        attnbook.linear_attention(q, k, v, feature_map="softmax")
    with pytest.raises(ValueError, match="chunk_size must be a positive integer; got 0"):
        attnbook.linear_attention(q, k, v, chunk_size=0)
    with pytest.raises(ValueError, match=r"head dimension d"):
        attnbook.linear_attention(q, k[..., :3], v)
