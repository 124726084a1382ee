"""Unit tests for attnbook/kernels/flash.py: FlashAttention in PyTorch (autograd Function) and NumPy.

References: ``F.scaled_dot_product_attention`` (output and, through autograd, gradients) and
``torch.logsumexp`` of the scaled scores (the saved log-sum-exp), in float64 unless the test is
about a lower precision.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import attnbook
from attnbook.kernels import flash


def random_qkv(batch_shape, n_q, n_k, d, d_v, dtype=torch.float64, seed=0, requires_grad=True):
    generator = torch.Generator().manual_seed(seed)

    def make(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64).to(dtype).requires_grad_(requires_grad)

    return make(*batch_shape, n_q, d), make(*batch_shape, n_k, d), make(*batch_shape, n_k, d_v)


def reference_scores(q, k, causal, scale=None):
    """Scaled, masked scores (..., n_q, n_k) in float64: -inf where a query may not look."""
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = q.double() @ k.double().transpose(-2, -1) * scale
    if causal:
        allowed = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool).tril()  # top-left, as is_causal
        scores = scores.masked_fill(~allowed, -math.inf)
    return scores


def grads(output, inputs, grad_output):
    return torch.autograd.grad(output, inputs, grad_output)


# (batch shape, n_q, n_k, d, d_v, causal, block_size): ragged lengths, n_q != n_k both ways,
# lengths below, equal to and above the block size, several batch shapes.
CASES = [
    ((), 1, 1, 4, 4, False, 8),
    ((), 37, 37, 16, 16, True, 8),
    ((2,), 37, 53, 16, 8, False, 8),
    ((2,), 53, 37, 8, 16, True, (8, 16)),
    ((2, 3), 19, 64, 8, 8, True, (16, 7)),
    ((3,), 100, 33, 32, 32, False, None),
    ((1, 2), 70, 70, 16, 16, True, None),
    ((2,), 65, 130, 8, 4, True, (64, 64)),
]


@pytest.mark.parametrize("case", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_output_lse_and_gradients_match_sdpa_float64(case):
    batch_shape, n_q, n_k, d, d_v, causal, block_size = case
    q, k, v = random_qkv(batch_shape, n_q, n_k, d, d_v, seed=len(str(case)))
    out, lse = attnbook.flash_attention_forward(q, k, v, causal=causal, block_size=block_size)
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    assert out.shape == expected.shape and lse.shape == (*batch_shape, n_q)
    torch.testing.assert_close(out, expected, atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(lse, torch.logsumexp(reference_scores(q, k, causal), dim=-1), atol=1e-12, rtol=1e-10)
    grad_output = torch.randn_like(out)
    for got, want in zip(grads(out, (q, k, v), grad_output), grads(expected, (q, k, v), grad_output), strict=True):
        torch.testing.assert_close(got, want, atol=1e-11, rtol=1e-9)


@pytest.mark.parametrize("causal", [False, True])
def test_float32_is_tight(causal):
    q, k, v = random_qkv((2, 2), 77, 91, 32, 32, dtype=torch.float32, seed=3)
    out = attnbook.flash_attention(q, k, v, causal=causal, block_size=(16, 32))
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, expected, atol=2e-6, rtol=1e-5)
    grad_output = torch.randn_like(out)
    for got, want in zip(grads(out, (q, k, v), grad_output), grads(expected, (q, k, v), grad_output), strict=True):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_is_close_to_float64(dtype):
    """Half precision in, half precision out; computed in float32, so no worse than F.sdpa's own rounding."""
    q, k, v = random_qkv((2,), 45, 60, 16, 16, dtype=dtype, seed=4)
    out, lse = attnbook.flash_attention_forward(q, k, v, causal=True, block_size=16)
    assert out.dtype == dtype and lse.dtype == torch.float32
    q64, k64, v64 = (x.detach().double().requires_grad_() for x in (q, k, v))
    exact = F.scaled_dot_product_attention(q64, k64, v64, is_causal=True)
    tolerance = 3e-2 if dtype == torch.bfloat16 else 4e-3
    assert (out.double() - exact).abs().max() < tolerance
    grad_output = torch.randn(out.shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    got = grads(out, (q, k, v), grad_output.to(dtype))
    want = grads(exact, (q64, k64, v64), grad_output)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == dtype
        assert (g.double() - w).abs().max() < 3 * tolerance


def test_lse_is_logsumexp_of_scaled_scores_with_custom_scale_and_is_differentiable():
    q, k, v = random_qkv((2,), 30, 41, 8, 8, seed=6)
    out, lse = attnbook.flash_attention_forward(q, k, v, causal=True, block_size=(8, 16), scale=0.3)
    scores = reference_scores(q, k, causal=True, scale=0.3)
    torch.testing.assert_close(lse, torch.logsumexp(scores, dim=-1))
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.3))
    weights = torch.randn_like(lse)
    got = torch.autograd.grad((lse * weights).sum() + out.sum(), (q, k, v))
    want = torch.autograd.grad((torch.logsumexp(scores, -1) * weights).sum()
                               + F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.3).sum(), (q, k, v))
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w)


def test_gradcheck_with_causal_mask_window_and_broadcast_batch():
    generator = torch.Generator().manual_seed(7)
    q = torch.randn(2, 1, 7, 3, dtype=torch.float64, generator=generator, requires_grad=True)
    k = torch.randn(2, 9, 3, dtype=torch.float64, generator=generator, requires_grad=True)  # broadcasts
    v = torch.randn(9, 2, dtype=torch.float64, generator=generator, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, b, c: attnbook.flash_attention_forward(a, b, c, causal=True, block_size=(3, 4), window=4),
        (q, k, v))


def test_forward_saves_no_score_matrix():
    """What autograd keeps for the backward: inputs, output and one number per query, never n_q x n_k."""
    n_q, n_k = 300, 400
    q, k, v = random_qkv((2,), n_q, n_k, 8, 8, dtype=torch.float32)
    saved = []

    def pack(tensor):
        saved.append(tuple(tensor.shape))
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        attnbook.flash_attention(q, k, v, causal=True, block_size=64)
    assert saved, "nothing was saved for the backward"
    largest = max(math.prod(shape) for shape in saved)
    assert largest <= 2 * max(n_q, n_k) * 8, saved
    assert (2, n_q) in saved  # the log-sum-exp


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("window", [None, 1, 3, 20])
@pytest.mark.parametrize("lengths", [(37, 37), (20, 45), (45, 20)])
def test_key_tiles_cover_exactly_what_the_mask_needs(causal, window, lengths):
    n_q, n_k = lengths
    allowed = torch.ones(n_q, n_k, dtype=torch.bool)
    if causal:
        allowed &= torch.ones(n_q, n_k, dtype=torch.bool).tril()
    if window is not None:
        allowed &= torch.from_numpy(attnbook.sliding_window_mask(n_q, n_k, window, causal=False))
    block_q, block_k = 8, 6
    visited = torch.zeros(n_q, n_k, dtype=torch.int64)
    for q_start in range(0, n_q, block_q):
        rows = min(block_q, n_q - q_start)
        for k_start, k_stop, needs_mask in flash.key_tiles(q_start, rows, n_k, block_k, causal, window):
            assert 0 <= k_start < k_stop <= n_k and k_stop - k_start <= block_k
            tile = allowed[q_start:q_start + rows, k_start:k_stop]
            if not needs_mask:
                assert tile.all(), "an unmasked tile holds a forbidden pair"
            visited[q_start:q_start + rows, k_start:k_stop] += 1
    assert visited.max() <= 1, "a pair was visited twice"
    assert bool((visited[allowed] == 1).all()), "an allowed pair was never visited"
    if causal and window is None and n_q == n_k:  # skipping the upper triangle: about half the work
        assert visited.sum() <= n_q * (n_q + 1) / 2 + n_q * block_q


def test_tile_mask_matches_causal_and_sliding_window_masks():
    full = flash.tile_mask(0, 9, 0, 12, causal=True, window=3)
    assert torch.equal(full, torch.from_numpy(attnbook.sliding_window_mask(9, 12, 3, causal=True)))
    assert torch.equal(flash.tile_mask(0, 5, 0, 7, causal=True), attnbook.causal_mask(5, 7, device="cpu"))
    assert torch.equal(flash.tile_mask(4, 3, 2, 5, causal=True, window=3), full[4:7, 2:7])


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("window", [1, 4, 50])
@pytest.mark.parametrize("lengths", [(33, 33), (20, 41), (41, 20)])
def test_sliding_window_equals_masked_sdpa(causal, window, lengths):
    n_q, n_k = lengths
    q, k, v = random_qkv((2,), n_q, n_k, 8, 4, seed=n_q + window)
    mask = attnbook.sliding_window_mask(n_q, n_k, window, causal=causal, device="cpu")
    out = attnbook.flash_attention(q, k, v, causal=causal, window=window, block_size=(8, 4))
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    expected = torch.where(mask.any(dim=-1)[:, None], expected, 0.0)  # the book: no key -> zero output
    assert not out.isnan().any()
    torch.testing.assert_close(out, expected)
    grad_output = torch.randn_like(out)
    for got, want in zip(grads(out, (q, k, v), grad_output), grads(expected, (q, k, v), grad_output), strict=True):
        torch.testing.assert_close(got, want)


def test_query_without_any_key_gets_zero_output_and_minus_inf_lse():
    q, k, v = random_qkv((), 6, 2, 4, 4)
    out, lse = attnbook.flash_attention_forward(q, k, v, causal=True, window=2, block_size=2)
    # query i sees keys i-1 and i: queries 3, 4, 5 see none of the 2 keys
    assert torch.equal(out[3:], torch.zeros(3, 4, dtype=out.dtype))
    assert torch.isinf(lse[3:]).all() and (lse[3:] < 0).all() and torch.isfinite(lse[:3]).all()
    (out.sum() + lse[:3].sum()).backward()
    assert all(torch.isfinite(x.grad).all() for x in (q, k, v))


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("block_size", [1, 5, 32, 200])
def test_numpy_teaching_version_equals_torch(causal, block_size):
    rng = np.random.default_rng(8)
    q, k, v = rng.normal(size=(2, 23, 8)), rng.normal(size=(2, 31, 8)), rng.normal(size=(2, 31, 5))
    out, lse = attnbook.flash_attention_numpy(q, k, v, causal=causal, block_size=block_size, return_lse=True)
    want_out, want_lse = attnbook.flash_attention_forward(*(torch.from_numpy(x) for x in (q, k, v)), causal=causal)
    assert out.shape == (2, 23, 5) and lse.shape == (2, 23)
    np.testing.assert_allclose(out, want_out.numpy(), atol=1e-12)
    np.testing.assert_allclose(lse, want_lse.numpy(), atol=1e-12)
    out32 = attnbook.flash_attention_numpy(*(x.astype(np.float32) for x in (q, k, v)), causal=causal)
    assert out32.dtype == np.float32


def test_automatic_block_sizes_stay_within_the_tile_budget():
    assert flash.choose_block_sizes(None, 1, 4096, 4096) == (256, 1024)
    assert flash.choose_block_sizes(None, 1, 10, 3) == (10, 3)
    block_q, block_k = flash.choose_block_sizes(None, 64, 4096, 4096)
    assert 64 * block_q * block_k <= flash.MAX_TILE_ELEMENTS and block_q >= 16
    assert flash.choose_block_sizes(12, 1, 100, 100) == (12, 12)
    assert flash.choose_block_sizes((3, 9), 1, 100, 100) == (3, 9)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"q": torch.randn(4, 8), "k": torch.randn(5, 6), "v": torch.randn(5, 6)}, r"head dimension d.*\(4, 8\).*\(5, 6\)"),
        ({"q": torch.randn(4, 8), "k": torch.randn(5, 8), "v": torch.randn(6, 8)}, r"number of keys.*\(5, 8\).*\(6, 8\)"),
        ({"q": torch.ones(4, 8, dtype=torch.int64), "k": torch.randn(5, 8), "v": torch.randn(5, 8)}, r"q must be float.*int64"),
        ({"q": torch.randn(4, 8), "k": torch.randn(5, 8).double(), "v": torch.randn(5, 8)}, r"share one dtype"),
        ({"q": torch.randn(2, 4, 8), "k": torch.randn(3, 5, 8), "v": torch.randn(3, 5, 8)}, r"do not broadcast.*\(2, 4, 8\)"),
        ({"q": torch.randn(8), "k": torch.randn(5, 8), "v": torch.randn(5, 8)}, r"shape \(\.\.\., n, d\).*\(8,\)"),
        ({"q": torch.randn(4, 8), "k": torch.randn(0, 8), "v": torch.randn(0, 8)}, r"at least one key"),
        ({"block_size": 0}, r"block_size must be a positive integer; got 0"),
        ({"block_size": 2.5}, r"block_size must be a positive integer; got 2.5"),
        ({"block_size": (4, 4, 4)}, r"pair \(block_q, block_k\)"),
        ({"scale": -1.0}, r"scale must be a positive finite number"),
        ({"window": 0}, r"window must be a positive integer; got 0"),
        ({"causal": "yes"}, r"causal must be True or False"),
    ],
)
def test_bad_input_raises_value_error_naming_it(kwargs, message):
    arguments = {"q": torch.randn(4, 8), "k": torch.randn(5, 8), "v": torch.randn(5, 8), **kwargs}
    with pytest.raises(ValueError, match=message):
        attnbook.flash_attention(**arguments)


def test_numpy_version_rejects_bad_input():
    with pytest.raises(ValueError, match=r"q must be a float array.*int64"):
        attnbook.flash_attention_numpy(np.ones((3, 4), dtype=np.int64), np.ones((3, 4)), np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"shapes do not fit.*\(3, 4\).*\(3, 5\)"):
        attnbook.flash_attention_numpy(np.ones((3, 4)), np.ones((3, 5)), np.ones((3, 4)))
    with pytest.raises(ValueError, match="block_size must be a positive integer"):
        attnbook.flash_attention_numpy(np.ones((3, 4)), np.ones((3, 4)), np.ones((3, 4)), block_size=0)
