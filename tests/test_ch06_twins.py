"""Chapter 6, sections 6.1-6.2: the notebooks' teaching versions (cells tagged ``twin``) equal the package.

6.1 builds the tensor-memory counter (``attnbook.memory``), 6.2 the NumPy FlashAttention forward
(``attnbook.flash_attention_numpy``). Each test loads a notebook's twin cells with
``nbcode.twin_namespace`` and compares them with the package on inputs of its own.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from nbcode import twin_namespace

import attnbook
from attnbook import memory

QUADRATIC_WALL = "chapters/06_challenges/01_quadratic_wall.ipynb"
FLASH = "chapters/06_challenges/02_flash_attention.ipynb"


@pytest.fixture(scope="module")
def wall_twin():
    return twin_namespace(QUADRATIC_WALL)


@pytest.fixture(scope="module")
def flash_twin():
    return twin_namespace(FLASH)


# ------------------------------------------------------------------ 6.1 the tensor-memory counter


def _attention_forward_backward(n: int, d: int, causal: bool):
    generator = torch.Generator().manual_seed(n + d)
    q, k, v = (torch.randn(n, d, generator=generator, requires_grad=True) for _ in range(3))
    mask = attnbook.causal_mask(n, device="cpu") if causal else None

    def run():
        for x in (q, k, v):
            x.grad = None  # fresh gradients every call, so every call does the same work
        out = attnbook.scaled_dot_product_attention(q, k, v, mask=mask)
        out.backward(torch.ones_like(out))

    return run


def _flash_forward(n: int, d: int):
    q, k, v = (torch.randn(n, d) for _ in range(3))
    return lambda: attnbook.flash_attention(q, k, v, block_size=32)


@pytest.mark.parametrize("make_call, args", [
    (_attention_forward_backward, (96, 16, False)),
    (_attention_forward_backward, (70, 8, True)),
    (_flash_forward, (100, 16)),
])
def test_memory_counter_equals_package(wall_twin, make_call, args):
    call = make_call(*args)
    ours = wall_twin["measure_tensor_memory"](call)
    package = memory.measure_tensor_memory(call)
    assert ours == package
    assert package["peak_bytes"] > 0 and package["bytes_read"] > 0 and package["bytes_written"] > 0


def test_memory_counter_class_counts_like_package(wall_twin):
    def steps(counter_class):
        with counter_class() as counter:
            x = torch.ones(1000)
            y = x.view(10, 100).t()
            after_view = (counter.live_bytes, counter.bytes_read, counter.bytes_written)
            x.add_(1.0)
            del x, y
            return after_view, counter.live_bytes, counter.peak_bytes, counter.bytes_read, counter.bytes_written

    assert steps(wall_twin["TensorMemoryCounter"]) == steps(memory.TensorMemoryCounter)


# ------------------------------------------------------------------ 6.2 FlashAttention forward in NumPy


@pytest.mark.parametrize("batch_shape, n_q, n_k, d, d_v, block_size, causal", [
    ((), 16, 16, 8, 8, 4, False),
    ((), 16, 16, 8, 8, 4, True),
    ((2, 3), 37, 91, 12, 5, 16, False),
    ((2,), 91, 37, 12, 5, 8, True),
    ((1, 2), 37, 91, 6, 7, 5, True),
    ((), 1, 1, 4, 4, 32, True),
    ((3,), 50, 50, 16, 16, 64, True),
])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_flash_numpy_equals_package(flash_twin, batch_shape, n_q, n_k, d, d_v, block_size, causal, dtype):
    rng = np.random.default_rng(n_q * 100 + n_k + block_size)
    q = rng.normal(size=(*batch_shape, n_q, d)).astype(dtype)
    k = (rng.normal(size=(*batch_shape, n_k, d)) * 2).astype(dtype)
    v = rng.normal(size=(*batch_shape, n_k, d_v)).astype(dtype)
    ours, our_lse = flash_twin["flash_attention_numpy"](q, k, v, causal=causal, block_size=block_size,
                                                        return_lse=True)
    package, package_lse = attnbook.flash_attention_numpy(q, k, v, causal=causal, block_size=block_size,
                                                           return_lse=True)
    assert ours.dtype == package.dtype and ours.shape == package.shape == (*batch_shape, n_q, d_v)
    assert our_lse.dtype == package_lse.dtype and our_lse.shape == package_lse.shape == (*batch_shape, n_q)
    np.testing.assert_allclose(ours, package, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(our_lse, package_lse, rtol=1e-12, atol=1e-12)
    mask = attnbook.causal_mask(n_q, n_k) if causal else None
    reference = attnbook.scaled_dot_product_attention(q.astype(np.float64), k.astype(np.float64),
                                                      v.astype(np.float64), mask=mask)
    tolerance = 1e-10 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(ours, reference, rtol=tolerance, atol=tolerance)


def test_flash_numpy_scale_and_default_output(flash_twin):
    rng = np.random.default_rng(7)
    q, k, v = rng.normal(size=(9, 4)), rng.normal(size=(13, 4)), rng.normal(size=(13, 3))
    ours = flash_twin["flash_attention_numpy"](q, k, v, block_size=4, scale=0.3)
    np.testing.assert_allclose(ours, attnbook.flash_attention_numpy(q, k, v, block_size=4, scale=0.3), atol=1e-12)
    np.testing.assert_allclose(ours, attnbook.scaled_dot_product_attention(q, k, v, scale=0.3), atol=1e-12)


def test_flash_numpy_trace_records_running_statistics(flash_twin):
    rng = np.random.default_rng(3)
    query, keys, values = rng.normal(size=(1, 8)), rng.normal(size=(10, 8)) * 2, rng.normal(size=(10, 3))
    trace = []
    flash_twin["flash_attention_numpy"](query, keys, values, block_size=4, trace=trace)
    scores = (query @ keys.T / np.sqrt(8))[0]
    assert [k_start for _, k_start, _, _ in trace] == [0, 4, 8]
    for _, k_start, m, ell in trace:
        seen = scores[:k_start + 4]
        assert np.isclose(m[0, 0], seen.max())
        assert np.isclose(ell[0, 0], np.exp(seen - seen.max()).sum())
