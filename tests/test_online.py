"""Unit tests for attnbook.online (online softmax, block merging) and the chapter 3 notebook twin."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from nbcode import twin_namespace

import attnbook
from attnbook import online

NOTEBOOK = "chapters/03_softmax/04_online_softmax.ipynb"


@pytest.mark.parametrize("block_size", [1, 2, 3, 7, 10, 1000])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_equals_direct_softmax_numpy_and_torch(block_size, axis):
    x = np.random.default_rng(0).normal(size=(4, 5, 10)) * 100
    assert np.allclose(online.online_softmax(x, axis=axis, block_size=block_size), attnbook.softmax(x, axis=axis))
    t = torch.from_numpy(x)
    assert torch.allclose(online.online_softmax(t, axis=axis, block_size=block_size), attnbook.softmax(t, axis=axis))


def test_mask_and_fully_masked_rows_follow_softmax_convention():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 4, 9)).astype(np.float32) * 50
    mask = rng.random((3, 4, 9)) < 0.5
    mask[1, 2] = False
    got = online.online_softmax(x, block_size=4, mask=mask)
    assert got.dtype == np.float32
    assert np.allclose(got, attnbook.softmax(x, mask=mask), atol=1e-6)
    assert np.array_equal(got[1, 2], np.zeros(9, dtype=np.float32))
    got_t = online.online_softmax(torch.from_numpy(x), block_size=4, mask=torch.from_numpy(mask))
    assert torch.allclose(got_t, attnbook.softmax(torch.from_numpy(x), mask=torch.from_numpy(mask)), atol=1e-6)


def test_float16_large_logits_stay_finite():
    x = np.array([10.0, 11.0, 12.0, 30.0], dtype=np.float16)
    got = online.online_softmax(x, block_size=1)
    assert np.isfinite(got).all() and abs(float(got.sum()) - 1) < 1e-2


@pytest.mark.parametrize("block_size", [1, 1000])
def test_half_precision_rows_longer_than_float16_can_count(block_size):
    # 70 000 equal scores: a float16 running sum would stop at 2048 (block_size 1) or overflow.
    x = np.zeros(70_000, dtype=np.float16)
    got = online.online_softmax(x, block_size=block_size)
    assert got.dtype == np.float16
    assert np.array_equal(got, attnbook.softmax(x))
    m, s = online.online_softmax_stats(x, block_size=block_size)
    assert m.dtype == s.dtype == np.float32 and s[0] == 70_000
    t = torch.zeros(5000, dtype=torch.bfloat16)
    got_t = online.online_softmax(t, block_size=7)
    assert got_t.dtype == torch.bfloat16 and torch.equal(got_t, attnbook.softmax(t))


def test_stats_match_direct_max_and_sum():
    x = np.random.default_rng(2).normal(size=(3, 11)) * 30
    m, s = online.online_softmax_stats(x, block_size=4)
    assert m.shape == (3, 1) and np.allclose(m, x.max(axis=1, keepdims=True))
    assert np.allclose(s, np.exp(x - m).sum(axis=1, keepdims=True))


def test_merge_is_commutative_associative_and_has_identity():
    rng = np.random.default_rng(3)
    blocks = [rng.normal(size=5) * 20 for _ in range(3)]
    stats = [(b.max(), np.exp(b - b.max()).sum()) for b in blocks]
    whole = np.concatenate(blocks)
    direct = (whole.max(), np.exp(whole - whole.max()).sum())
    left = online.merge_softmax_stats(*online.merge_softmax_stats(*stats[0], *stats[1]), *stats[2])
    right = online.merge_softmax_stats(*stats[2], *online.merge_softmax_stats(*stats[1], *stats[0]))
    assert np.allclose(left, direct) and np.allclose(right, direct)
    assert np.allclose(online.merge_softmax_stats(-np.inf, 0.0, *direct), direct)
    m, s = online.merge_softmax_stats(np.array(-np.inf), np.array(0.0), np.array(-np.inf), np.array(0.0))
    assert m == -np.inf and s == 0.0
    mt, st = online.merge_softmax_stats(*(torch.tensor(v) for v in (-np.inf, 0.0, -np.inf, 0.0)))
    assert mt == -torch.inf and st == 0.0


def test_torch_gradient_matches_softmax():
    x = torch.randn(3, 8, dtype=torch.float64, requires_grad=True)
    weights = torch.arange(8.0, dtype=torch.float64)
    (online.online_softmax(x, block_size=3) * weights).sum().backward()
    grad_online = x.grad.clone()
    x.grad = None
    (torch.softmax(x, dim=-1) * weights).sum().backward()
    assert torch.allclose(grad_online, x.grad)


@pytest.mark.parametrize(
    "kwargs, words",
    [({"block_size": 0}, "block_size"), ({"block_size": 2.5}, "block_size"), ({"block_size": True}, "block_size"),
     ({"axis": 2}, "axis 2"), ({"mask": np.ones((2, 4), dtype=bool)}, "(2, 4)")],
)
def test_bad_input_raises_value_error(kwargs, words):
    with pytest.raises(ValueError) as error:
        online.online_softmax(np.zeros((2, 3)), **kwargs)
    assert words in str(error.value)
    with pytest.raises(ValueError):
        online.online_softmax(np.array([True, False]))
    with pytest.raises(ValueError, match="NumPy arrays or all torch tensors"):
        online.merge_softmax_stats(torch.tensor(0.0), 1.0, 0.0, 1.0)


def test_notebook_twin_equals_package():
    ns = twin_namespace(NOTEBOOK)
    x = np.random.default_rng(4).normal(size=(2, 3, 13)) * 60
    for block_size in (1, 4, 13, 20):
        assert np.allclose(ns["online_softmax"](x, block_size), online.online_softmax(x, block_size=block_size))
    pairs = [(1.0, 2.0, 3.0, 0.5), (-np.inf, 0.0, 2.0, 1.5), (-np.inf, 0.0, -np.inf, 0.0)]
    for args in pairs:
        assert np.allclose(ns["merge_softmax_stats"](*args), online.merge_softmax_stats(*args))
