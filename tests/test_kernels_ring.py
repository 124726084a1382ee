"""Unit tests for attnbook/kernels/ring.py: ring attention on torch.distributed (gloo, spawned processes).

Each ring test spawns P processes (each imports torch: a few seconds), so there are only two,
P = 2 and P = 4, both with ragged blocks; they compare the output and the gradients with
single-process ``F.scaled_dot_product_attention`` and the bytes sent with the ring's schedule.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import attnbook


def random_qkv(batch_shape, n_q, n_k, d, d_v, seed):
    generator = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(*shape, generator=generator, dtype=torch.float64)
                 for shape in ((*batch_shape, n_q, d), (*batch_shape, n_k, d), (*batch_shape, n_k, d_v)))


def expected_bytes(k_lengths, rank, batch, d, d_v, item_size, with_backward):
    """The ring's schedule: at step t process r forwards the key/value block of process r - t."""
    world = len(k_lengths)
    block_bytes = [n * batch * (d + d_v) * item_size for n in k_lengths]
    forward = sum(block_bytes[(rank - t) % world] for t in range(world - 1))
    backward = forward + sum(block_bytes[(rank - t) % world] for t in range(world)) if with_backward else 0
    return forward, backward


@pytest.mark.parametrize(("world_size", "causal", "n_q", "n_k"), [(2, False, 13, 17), (4, True, 22, 19)])
def test_ring_equals_single_process_attention_in_output_and_gradients(world_size, causal, n_q, n_k):
    q, k, v = random_qkv((2,), n_q, n_k, 8, 5, seed=world_size)
    grad_output = torch.randn(2, n_q, 5, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    result = attnbook.run_ring_attention(q, k, v, world_size, causal=causal, grad_output=grad_output,
                                         block_size=4, timeout=240)
    leaves = tuple(x.clone().requires_grad_() for x in (q, k, v))
    expected = F.scaled_dot_product_attention(*leaves, is_causal=causal)
    expected_grads = torch.autograd.grad(expected, leaves, grad_output)
    torch.testing.assert_close(result.out, expected.detach(), atol=1e-12, rtol=1e-10)
    for got, want in zip((result.grad_q, result.grad_k, result.grad_v), expected_grads, strict=True):
        torch.testing.assert_close(got, want, atol=1e-11, rtol=1e-9)
    k_lengths = [block.shape[-2] for block in torch.tensor_split(k, world_size, dim=-2)]
    assert len(set(k_lengths)) > 1, "the test should use blocks of different lengths"
    for rank in range(world_size):
        forward, backward = expected_bytes(k_lengths, rank, 2, 8, 5, 8, with_backward=True)
        assert result.bytes_forward[rank] == forward
        assert result.bytes_backward[rank] == backward


def test_merge_attention_partials_over_two_key_halves_equals_whole():
    q, k, v = random_qkv((3,), 6, 10, 4, 3, seed=1)
    first = attnbook.flash_attention_forward(q, k[:, :4], v[:, :4])
    second = attnbook.flash_attention_forward(q, k[:, 4:], v[:, 4:])
    out, lse = attnbook.merge_attention_partials(*first, *second)
    whole_out, whole_lse = attnbook.flash_attention_forward(q, k, v)
    torch.testing.assert_close(out, whole_out)
    torch.testing.assert_close(lse, whole_lse)
    empty_out, empty_lse = torch.zeros_like(out), torch.full_like(lse, -math.inf)  # a part with no keys
    again_out, again_lse = attnbook.merge_attention_partials(empty_out, empty_lse, whole_out, whole_lse)
    torch.testing.assert_close(again_out, whole_out)
    torch.testing.assert_close(again_lse, whole_lse)
    both_out, both_lse = attnbook.merge_attention_partials(empty_out, empty_lse, empty_out, empty_lse)
    assert torch.equal(both_out, empty_out) and torch.isneginf(both_lse).all()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"world_size": 0}, "world_size must be a positive integer; got 0"),
    ({"world_size": 6}, r"at least one query and one key: world_size 6, q \(5, 4\)"),
    ({"world_size": 2, "backend": "mpi"}, "backend must be 'gloo' \\(CPU\\) or 'nccl' \\(GPUs\\); got 'mpi'"),
    ({"world_size": 2, "grad_output": torch.ones(3, 3)}, r"grad_output must have the output's shape \(5, 4\)"),
])
def test_run_ring_attention_rejects_bad_arguments_before_spawning(kwargs, message):
    q, k, v = torch.randn(5, 4), torch.randn(7, 4), torch.randn(7, 4)
    with pytest.raises(ValueError, match=message):
        attnbook.run_ring_attention(q, k, v, **kwargs)


def test_ring_attention_needs_a_process_group():
    with pytest.raises(ValueError, match="initialised torch.distributed process group"):
        attnbook.ring_attention(torch.randn(3, 4), torch.randn(3, 4), torch.randn(3, 4))
