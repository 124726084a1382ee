"""Unit tests for attnbook/memory.py: the deterministic tensor-memory counter of chapter 6."""

from __future__ import annotations

import torch

import attnbook
from attnbook.memory import TensorMemoryCounter, measure_tensor_memory


def test_new_tensor_is_counted_and_released():
    with TensorMemoryCounter() as counter:
        x = torch.ones(1000)  # 4000 bytes written
        assert (counter.live_bytes, counter.peak_bytes, counter.bytes_written) == (4000, 4000, 4000)
        del x
        assert counter.live_bytes == 0
        y = torch.zeros(250, dtype=torch.float64)  # 2000 bytes, while 4000 were freed
        assert counter.live_bytes == 2000
        del y
    assert counter.peak_bytes == 4000


def test_views_move_nothing_and_share_storage():
    with TensorMemoryCounter() as counter:
        x = torch.ones(10, 100)
        before = (counter.live_bytes, counter.bytes_read, counter.bytes_written)
        views = [x.t(), x.view(1000), x[2:5], x.reshape(100, 10), x.transpose(0, 1).unsqueeze(0)]
        assert (counter.live_bytes, counter.bytes_read, counter.bytes_written) == before
        del views, x
    assert counter.live_bytes == 0


def test_in_place_and_out_operations_move_bytes_without_allocating():
    x = torch.ones(100)
    out = torch.empty(100)
    with TensorMemoryCounter() as counter:
        x.mul_(2.0)  # reads 400, writes 400
        torch.add(x, x, out=out)  # reads x twice and out's old contents (it is an argument), writes 400
    assert counter.peak_bytes == 0  # no new storage
    assert counter.bytes_written == 800
    assert counter.bytes_read == 400 + 3 * 400


def test_empty_allocates_but_writes_nothing():
    with TensorMemoryCounter() as counter:
        x = torch.empty(256)
        assert counter.live_bytes == 1024 and counter.bytes_written == 0
        del x


def test_matrix_product_traffic():
    a, b = torch.randn(8, 16), torch.randn(16, 4)
    counted = measure_tensor_memory(torch.mm, a, b)
    assert counted == {"peak_bytes": 8 * 4 * 4, "bytes_read": (8 * 16 + 16 * 4) * 4, "bytes_written": 8 * 4 * 4}


def test_backward_operators_are_counted():
    q, k, v = (torch.randn(64, 8, requires_grad=True) for _ in range(3))
    forward = measure_tensor_memory(lambda: attnbook.scaled_dot_product_attention(q, k, v))

    def forward_backward():
        out = attnbook.scaled_dot_product_attention(q, k, v)
        out.backward(torch.ones_like(out))

    both = measure_tensor_memory(forward_backward)
    assert both["bytes_written"] > 2 * forward["bytes_written"]
    assert both["peak_bytes"] > forward["peak_bytes"]
    assert q.grad is not None and q.grad.shape == q.shape


def test_unfused_attention_peak_grows_quadratically_flash_does_not():
    def peak(attention, n):
        q, k, v = (torch.randn(n, 16) for _ in range(3))
        with torch.no_grad():
            return measure_tensor_memory(attention, q, k, v)["peak_bytes"]

    unfused = [peak(attnbook.scaled_dot_product_attention, n) for n in (128, 256)]
    flash = [peak(lambda q, k, v: attnbook.flash_attention(q, k, v, block_size=32), n) for n in (128, 256)]
    assert unfused[1] > 3.5 * unfused[0]  # at least two 4 n^2-byte matrices each time
    assert unfused[0] >= 2 * 4 * 128 * 128
    assert flash[1] < 2.5 * flash[0]


def test_counts_are_deterministic():
    q, k, v = (torch.randn(100, 8) for _ in range(3))
    runs = [measure_tensor_memory(attnbook.flash_attention, q, k, v, block_size=16) for _ in range(3)]
    assert runs[0] == runs[1] == runs[2]
