"""Ring attention: exact attention over a sequence split across P processes (Liu et al. 2023).

Liu, Zaharia & Abbeel (2023), "Ring Attention with Blockwise Transformers for Near-Infinite
Context", arXiv:2310.01889.

Process ``r`` of the ring holds one contiguous block of the queries, keys and values (block ``r``
of ``tensor_split`` along the sequence). Attention of its queries needs *every* key block, so the
key/value blocks travel around the ring: at step ``t`` process ``r`` holds the block of process
``(r - t) mod P``, sends it on to ``r + 1`` and receives the next one from ``r - 1`` with
``torch.distributed.batch_isend_irecv`` (the transfer runs while the block is being used). Each
step gives a partial result over one key block: its output, normalised over that block only, and
its log-sum-exp. Partial results merge exactly with the online-softmax statistics of chapter 3
(:func:`merge_attention_partials`). After ``P`` steps every process has its queries' exact output
and the log-sum-exp over all the keys, and no process ever held more than two key blocks.

Backward (:class:`RingAttentionFunction`): the same ring again. Each process keeps its queries,
``dO``, ``O`` and the log-sum-exp, so FlashAttention's backward
(:func:`attnbook.kernels.flash.flash_backward_blocks`) gives the exact contribution of any key
block, wherever it came from. The key/value blocks travel as in the forward, now together with
their gradient accumulators ``(dK, dV)``: each process adds its contribution and passes the
accumulator on; after ``P`` hops each accumulator is back at its owner, complete. ``dQ`` stays
local.

Causal masking is top-left aligned over the *global* positions (as
``F.scaled_dot_product_attention(is_causal=True)`` on the whole sequence); a key block entirely in
the future of a process's queries is passed on without computing. With contiguous blocks the
last process then does most of the work; the "striped"/"zigzag" layouts used in practice give
each process a mix of early and late positions to balance it (not done here).

Communication per process and pass is counted in bytes of the ring's point-to-point messages
(``comm_log``); the one small exchange of block lengths at the start is not counted. The same
code runs with the NCCL backend when each process owns a GPU; at cluster scale the processes are
started by ``torchrun`` instead of :func:`run_ring_attention`.
"""

from __future__ import annotations

import io
import math
import os
import queue as queue_module
import socket
import time
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from .._arrays import finite_or_zero
from ..online import merge_softmax_stats
from ._checks import check_attention_inputs, check_causal, check_positive_int, check_scale
from .flash import choose_block_sizes, compute_dtype, flash_backward_blocks, flash_forward_blocks


def merge_attention_partials(out1, lse1, out2, lse2):
    """Merge two attention results over disjoint sets of keys into the result over their union.

    ``out_i (..., n_q, d_v)`` is normalised over its own keys and ``lse_i (..., n_q)`` is the
    log-sum-exp of its scores (``-inf`` when a query saw none of those keys). With the online
    softmax statistics ``(m, s)`` of chapter 3 (here ``m = lse_i`` and ``s = 1`` per part), the
    union has ``lse = m + log(s)`` and each part weighs ``exp(lse_i - lse)``. Returns ``(out, lse)``.
    """
    ones = torch.ones_like(lse1)
    row_max, row_sum = merge_softmax_stats(lse1, ones, lse2, ones)  # s = exp(lse1 - m) + exp(lse2 - m)
    shift = finite_or_zero(row_max)
    safe_sum = torch.where(row_sum > 0, row_sum, torch.ones_like(row_sum))
    weight1 = (torch.exp(lse1 - shift) / safe_sum).unsqueeze(-1)  # (..., n_q, 1): share of part 1
    weight2 = (torch.exp(lse2 - shift) / safe_sum).unsqueeze(-1)
    return weight1 * out1 + weight2 * out2, row_max + torch.log(row_sum)


def _global_rank(group, rank: int) -> int:
    return rank if group is None else dist.get_global_rank(group, rank)


KEY_VALUE_TAG, GRADIENT_TAG = 0, 1  # message tags: key/value blocks and (dK, dV) accumulators


def _exchange(send_tensor, recv_tensor, rank: int, world: int, group, tag: int = KEY_VALUE_TAG):
    """Start sending ``send_tensor`` to the next process and receiving ``recv_tensor`` from the previous."""
    operations = [
        dist.P2POp(dist.isend, send_tensor, _global_rank(group, (rank + 1) % world), group, tag),
        dist.P2POp(dist.irecv, recv_tensor, _global_rank(group, (rank - 1) % world), group, tag),
    ]
    return dist.batch_isend_irecv(operations)


def _wait(requests):
    for request in requests:
        request.wait()


class RingAttentionFunction(torch.autograd.Function):
    """``out = RingAttentionFunction.apply(q, k, v, causal, scale, block_q, block_k, group, comm_log)``.

    3-D local blocks ``q (B, n_q_r, d)``, ``k (B, n_k_r, d)``, ``v (B, n_k_r, d_v)``; every process
    of ``group`` calls it at the same time with its own block.
    """

    @staticmethod
    def forward(ctx, q, k, v, causal, scale, block_q, block_k, group, comm_log):
        rank, world = dist.get_rank(group), dist.get_world_size(group)
        compute = compute_dtype(q.dtype)
        # Block lengths of every process, to know the global positions and the shapes to receive.
        lengths = torch.tensor([q.shape[1], k.shape[1]], dtype=torch.int64, device=q.device)
        gathered = [torch.empty_like(lengths) for _ in range(world)]
        dist.all_gather(gathered, lengths, group=group)
        q_lengths = [int(x[0]) for x in gathered]
        k_lengths = [int(x[1]) for x in gathered]
        q_offset = sum(q_lengths[:rank])
        k_offsets = [sum(k_lengths[:r]) for r in range(world)]
        batch, _, d = k.shape
        d_v = v.shape[2]

        q_c = q.to(compute).contiguous()
        out = torch.zeros(batch, q.shape[1], d_v, dtype=compute, device=q.device)
        lse = torch.full((batch, q.shape[1]), -math.inf, dtype=compute, device=q.device)
        key_values = torch.cat([k, v], dim=-1).contiguous()  # one message per hop: (B, n_k_r, d + d_v)
        sent = 0
        for step in range(world):
            source = (rank - step) % world  # the process whose key block we hold now
            requests = []
            if step < world - 1:  # pass our block on while we use it
                incoming = torch.empty(batch, k_lengths[(source - 1) % world], d + d_v, dtype=k.dtype, device=k.device)
                requests = _exchange(key_values, incoming, rank, world, group)
                sent += key_values.numel() * key_values.element_size()
            in_future = causal and k_offsets[source] > q_offset + q.shape[1] - 1
            if not in_future:
                k_block = key_values[..., :d].to(compute).contiguous()
                v_block = key_values[..., d:].to(compute).contiguous()
                block_out, block_lse = flash_forward_blocks(q_c, k_block, v_block, scale, causal, block_q, block_k,
                                                            q_offset=q_offset, k_offset=k_offsets[source])
                out, lse = merge_attention_partials(out, lse, block_out, block_lse)
            _wait(requests)
            if step < world - 1:
                key_values = incoming
        if comm_log is not None:
            comm_log["forward"] = comm_log.get("forward", 0) + sent
        out = out.to(q.dtype)
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.settings = (causal, scale, block_q, block_k, group, comm_log, q_offset, k_offsets, k_lengths)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, out, lse = ctx.saved_tensors
        causal, scale, block_q, block_k, group, comm_log, q_offset, k_offsets, k_lengths = ctx.settings
        rank, world = dist.get_rank(group), dist.get_world_size(group)
        compute = lse.dtype
        batch, _, d = k.shape
        d_v = v.shape[2]
        grad_out = grad_out.to(compute).contiguous()
        delta = (grad_out * out.to(compute)).sum(dim=-1)  # D = rowsum(dO * O) over our queries
        q_c = q.to(compute).contiguous()
        dq = torch.zeros_like(q_c)
        key_values = torch.cat([k, v], dim=-1).contiguous()
        grads = torch.zeros(batch, k.shape[1], d + d_v, dtype=compute, device=k.device)  # (dK, dV) accumulator
        sent = 0
        for step in range(world):
            source = (rank - step) % world  # owner of the key block and of the accumulator we hold
            previous = (source - 1) % world  # owner of the next ones
            requests = []
            if step < world - 1:
                incoming = torch.empty(batch, k_lengths[previous], d + d_v, dtype=k.dtype, device=k.device)
                requests = _exchange(key_values, incoming, rank, world, group)
                sent += key_values.numel() * key_values.element_size()
            if not (causal and k_offsets[source] > q_offset + q.shape[1] - 1):
                k_block = key_values[..., :d].to(compute).contiguous()
                v_block = key_values[..., d:].to(compute).contiguous()
                dq_part, dk_part, dv_part = flash_backward_blocks(
                    q_c, k_block, v_block, lse, grad_out, delta, scale, causal, block_q, block_k,
                    q_offset=q_offset, k_offset=k_offsets[source])
                dq += dq_part
                grads += torch.cat([dk_part, dv_part], dim=-1)
            incoming_grads = torch.empty(batch, k_lengths[previous], d + d_v, dtype=compute, device=k.device)
            requests += _exchange(grads, incoming_grads, rank, world, group, GRADIENT_TAG)  # the accumulator moves on
            sent += grads.numel() * grads.element_size()
            _wait(requests)
            grads = incoming_grads
            if step < world - 1:
                key_values = incoming
        # After P hops the accumulator we hold is our own block's, with every process's contribution.
        if comm_log is not None:
            comm_log["backward"] = comm_log.get("backward", 0) + sent
        dk, dv = grads[..., :d], grads[..., d:]
        return dq.to(q.dtype), dk.to(k.dtype), dv.to(v.dtype), None, None, None, None, None, None


def ring_attention(q, k, v, causal: bool = False, scale=None, block_size=None, group=None, comm_log=None):
    """Attention of this process's query block over the keys of *all* processes of ``group``.

    Call it on every process of an initialised process group (``torch.distributed``), each with
    its own contiguous block, in rank order, of the sequence: ``q (..., n_q_r, d)``,
    ``k (..., n_k_r, d)``, ``v (..., n_k_r, d_v)``; blocks may have different lengths. Returns this
    process's block of the output ``(..., n_q_r, d_v)``, equal to the matching rows of
    ``F.scaled_dot_product_attention`` on the whole sequence; differentiable (the backward is a
    second ring pass). ``causal`` is top-left aligned on the global positions. ``comm_log``, a
    dict, receives the bytes this process sent under ``"forward"`` and ``"backward"``.
    """
    function = "ring_attention"
    if not dist.is_available() or not dist.is_initialized():
        raise ValueError(f"{function}: needs an initialised torch.distributed process group "
                         "(dist.init_process_group); run_ring_attention starts one for you")
    batch_shape = check_attention_inputs(q, k, v, function)
    causal = check_causal(causal, function)
    scale = check_scale(scale, q.shape[-1], function)
    batch = math.prod(batch_shape)
    block_q, block_k = choose_block_sizes(block_size, batch, q.shape[-2], k.shape[-2], function)
    q3, k3, v3 = (x.expand(*batch_shape, *x.shape[-2:]).reshape(batch, *x.shape[-2:]) for x in (q, k, v))
    out = RingAttentionFunction.apply(q3, k3, v3, causal, scale, block_q, block_k, group, comm_log)
    return out.reshape(*batch_shape, q.shape[-2], v.shape[-1])


# ----------------------------------------------------------------------------------------------
# Running a ring on this machine: one process per block, spawned from Python (or a notebook)
# ----------------------------------------------------------------------------------------------


@dataclass
class RingResult:
    """What :func:`run_ring_attention` returns: the pieces put back together, and the traffic."""

    out: torch.Tensor  # (..., n_q, d_v)
    grad_q: torch.Tensor | None  # (..., n_q, d)
    grad_k: torch.Tensor | None  # (..., n_k, d)
    grad_v: torch.Tensor | None  # (..., n_k, d_v)
    bytes_forward: list[int]  # bytes sent by each process in the forward ring pass
    bytes_backward: list[int]  # and in the backward pass (0 without a backward)
    world_size: int


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _to_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def ring_worker(rank: int, world_size: int, port: int, backend: str, blocks: dict, settings: dict, results):
    """One process of the ring (the target of ``torch.multiprocessing``; it must live in a module).

    Joins the process group at 127.0.0.1:``port``, runs :func:`ring_attention` on its blocks (and
    the backward when ``blocks["grad_out"]`` is given) and puts its results, serialised with
    ``torch.save``, on the ``results`` queue.
    """
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)  # P processes share the machine's cores
    device = torch.device(f"cuda:{rank}") if backend == "nccl" else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend, rank=rank, world_size=world_size,
                            timeout=timedelta(seconds=settings["timeout"]))
    try:
        q, k, v = (blocks[name][rank].to(device).requires_grad_(blocks["grad_out"] is not None)
                   for name in ("q", "k", "v"))
        comm_log = {}
        out = ring_attention(q, k, v, causal=settings["causal"], scale=settings["scale"],
                             block_size=settings["block_size"], comm_log=comm_log)
        grads = (None, None, None)
        if blocks["grad_out"] is not None:
            out.backward(blocks["grad_out"][rank].to(device))
            grads = tuple(x.grad.cpu() for x in (q, k, v))
        dist.barrier()
        results.put((rank, _to_bytes({"out": out.detach().cpu(), "grads": grads, "comm": comm_log})))
    finally:
        dist.destroy_process_group()


def run_ring_attention(q, k, v, world_size: int, causal: bool = False, backend: str = "gloo", scale=None,
                       grad_output="ones", block_size=None, timeout: float = 120.0) -> RingResult:
    """Run :func:`ring_attention` on ``world_size`` local processes and put the results together.

    Splits ``q``, ``k``, ``v`` (``(..., n, d)``, on the CPU) into ``world_size`` contiguous blocks
    along the sequence (``torch.tensor_split``: lengths may differ by one), spawns one process per
    block on 127.0.0.1 (a free port, ``MASTER_ADDR=127.0.0.1``), runs the forward and, unless
    ``grad_output`` is None, the backward of ``(out * grad_output).sum()`` (``"ones"``: of
    ``out.sum()``), and returns a :class:`RingResult` with the output, the gradients and the bytes
    each process sent. ``backend="nccl"`` needs ``world_size`` GPUs (process ``r`` uses ``cuda:r``).

    Raises:
        ValueError: for a bad world size or backend, or fewer queries or keys than processes.
    """
    import torch.multiprocessing as mp

    function = "run_ring_attention"
    check_attention_inputs(q, k, v, function)
    world_size = check_positive_int(world_size, "world_size", function)
    causal = check_causal(causal, function)
    if backend not in ("gloo", "nccl"):
        raise ValueError(f"{function}: backend must be 'gloo' (CPU) or 'nccl' (GPUs); got {backend!r}")
    if backend == "nccl" and torch.cuda.device_count() < world_size:
        raise ValueError(f"{function}: backend 'nccl' needs one GPU per process: world_size {world_size}, "
                         f"GPUs {torch.cuda.device_count()}")
    if q.shape[-2] < world_size or k.shape[-2] < world_size:
        raise ValueError(f"{function}: every process needs at least one query and one key: world_size "
                         f"{world_size}, q {tuple(q.shape)}, k {tuple(k.shape)}")
    out_shape = (*torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2]), q.shape[-2], v.shape[-1])
    if isinstance(grad_output, str) and grad_output == "ones":
        grad_output = torch.ones(out_shape, dtype=q.dtype)
    if grad_output is not None and tuple(grad_output.shape) != out_shape:
        raise ValueError(f"{function}: grad_output must have the output's shape {out_shape}; "
                         f"got {tuple(grad_output.shape)}")

    def split(x):
        return [block.detach().cpu().contiguous() for block in torch.tensor_split(x, world_size, dim=-2)]

    blocks = {"q": split(q), "k": split(k), "v": split(v),
              "grad_out": None if grad_output is None else split(grad_output)}
    settings = {"causal": causal, "scale": scale, "block_size": block_size, "timeout": timeout}
    context = mp.get_context("spawn")
    results = context.Queue()
    processes = mp.start_processes(ring_worker, args=(world_size, free_port(), backend, blocks, settings, results),
                                   nprocs=world_size, join=False, start_method="spawn")
    received = {}
    deadline = time.monotonic() + timeout
    while len(received) < world_size:
        try:
            rank, payload = results.get(timeout=0.5)
            received[rank] = torch.load(io.BytesIO(payload))
        except queue_module.Empty:
            processes.join(timeout=0)  # raises with the worker's traceback if one failed
            if time.monotonic() > deadline:
                for process in processes.processes:
                    process.terminate()
                raise RuntimeError(f"{function}: no result after {timeout} s") from None
    while not processes.join(timeout=timeout):
        pass
    parts = [received[r] for r in range(world_size)]
    grads = [None, None, None]
    if grad_output is not None:
        grads = [torch.cat([part["grads"][i] for part in parts], dim=-2) for i in range(3)]
    return RingResult(
        out=torch.cat([part["out"] for part in parts], dim=-2),
        grad_q=grads[0], grad_k=grads[1], grad_v=grads[2],
        bytes_forward=[part["comm"].get("forward", 0) for part in parts],
        bytes_backward=[part["comm"].get("backward", 0) for part in parts],
        world_size=world_size,
    )
