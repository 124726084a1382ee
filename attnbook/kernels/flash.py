"""FlashAttention: exact attention computed tile by tile, without the n_q x n_k matrix.

Dao et al. (2022), "FlashAttention: Fast and Memory-Efficient Exact Attention with IO-Awareness"
(arXiv:2205.14135) and Dao (2023), "FlashAttention-2" (arXiv:2307.08691).

Forward. The queries are cut into blocks of ``block_q`` rows and the keys into blocks of
``block_k``. For one query block the key blocks are read one after the other, and the online
softmax of chapter 3 (:mod:`attnbook.online`) keeps three running quantities per query row:
the maximum score ``m``, the sum ``l = sum_j exp(s_j - m)`` and the unnormalised output
``acc = sum_j exp(s_j - m) v_j``. When a key block raises the maximum from ``m`` to ``m_new``,
``l`` and ``acc`` are multiplied by ``exp(m - m_new)``. At the end ``out = acc / l`` and the
row's log-sum-exp ``lse = m + log(l)`` is kept: one number per query.

Backward. Only ``out`` and ``lse`` are saved (besides the inputs). The weights of any tile are
recomputed exactly as ``p = exp(s - lse)``. With ``dO`` the gradient of the output and
``D_i = sum_c dO_ic * O_ic`` (= ``rowsum(dO * O)``, which equals ``sum_j p_ij dP_ij``), the
softmax backward becomes local to the tile:

    dV += p^T dO        dP = dO V^T        dS = p * (dP - D)        dQ += dS K * scale
    dK += dS^T Q * scale

Memory. The largest temporaries are a few ``(batch, block_q, block_k)`` tiles, so memory grows
linearly in the sequence length (the output itself), not quadratically.

Causal masking is aligned at the **top left**, as :func:`attnbook.causal_mask` and
``F.scaled_dot_product_attention(is_causal=True)``: query ``i`` sees keys ``0..i`` whatever
``n_q`` and ``n_k`` are. (A KV cache, where the queries are the *last* ``n_q`` positions, needs
the bottom-right alignment instead, which chapter 4's ``MultiHeadAttention(is_causal=True)`` uses;
the two agree when ``n_q == n_k``. The internal helpers take explicit position offsets, as ring
attention needs.) Tiles entirely above the diagonal are skipped: a causal call does
about half the work. ``window=w`` restricts each query to keys less than ``w`` positions away
(:func:`attnbook.sliding_window_mask`) and skips every tile outside that band.

Half precision (float16, bfloat16) is computed in float32 and rounded back at the end; the
log-sum-exp is returned in float32 (float64 for float64 input).

``flash_attention_numpy`` is the teaching version (loops over blocks with NumPy) that the
chapter's notebook builds first.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._arrays import finite_or_zero  # -inf (a row that saw no key yet) -> 0: s - m is never NaN
from ._checks import check_attention_inputs, check_causal, check_positive_int, check_scale

DEFAULT_BLOCK_Q = 256  # query rows per tile
DEFAULT_BLOCK_K = 1024  # keys per tile; large key blocks keep the matrix products efficient on a CPU
MAX_TILE_ELEMENTS = 2**22  # cap on batch * block_q * block_k for the automatic choice (16 MiB in float32)


# ----------------------------------------------------------------------------------------------
# Block sizes and masks
# ----------------------------------------------------------------------------------------------


def choose_block_sizes(block_size, batch: int, n_q: int, n_k: int, function: str = "flash_attention"):
    """``(block_q, block_k)`` from the user's ``block_size``.

    ``None`` picks ``(256, 1024)`` (measured fastest on a CPU with ``benchmarks/attention_cpu.py``),
    with ``block_q`` shrunk (to no less than 16) while ``batch * block_q * block_k`` exceeds
    ``MAX_TILE_ELEMENTS``; an int uses the same size for both; a pair gives both explicitly.
    """
    if block_size is None:
        block_k = min(DEFAULT_BLOCK_K, n_k)
        block_q = min(DEFAULT_BLOCK_Q, max(n_q, 1))
        while block_q > 16 and batch * block_q * block_k > MAX_TILE_ELEMENTS:
            block_q //= 2
        return block_q, block_k
    if isinstance(block_size, tuple | list):
        if len(block_size) != 2:
            raise ValueError(f"{function}: block_size must be an int or a pair (block_q, block_k); got {block_size!r}")
        return (check_positive_int(block_size[0], "block_size[0] (block_q)", function),
                check_positive_int(block_size[1], "block_size[1] (block_k)", function))
    size = check_positive_int(block_size, "block_size", function)
    return size, size


def tile_mask(q_start: int, rows: int, k_start: int, cols: int, causal: bool, window=None, device=None):
    """Boolean ``(rows, cols)`` tile of the attention mask: True where the query may attend to the key.

    ``q_start`` and ``k_start`` are the *global* positions of the tile's first query and key. With
    ``causal`` a key may be seen when its position is not larger than the query's (top-left
    aligned, as :func:`attnbook.causal_mask`); with ``window`` only keys at distance
    ``|query - key| < window`` (as :func:`attnbook.sliding_window_mask`).
    """
    q_pos = torch.arange(q_start, q_start + rows, device=device)[:, None]  # (rows, 1)
    k_pos = torch.arange(k_start, k_start + cols, device=device)[None, :]  # (1, cols)
    allowed = torch.ones(rows, cols, dtype=torch.bool, device=device)
    if causal:
        allowed &= k_pos <= q_pos
    if window is not None:
        allowed &= (q_pos - k_pos).abs() < window
    return allowed


_FAR = 2**62  # "no limit" for a key range


def key_tiles(q_first: int, rows: int, n_k: int, block_k: int, causal: bool, window=None,
              q_offset: int = 0, k_offset: int = 0):
    """The key tiles ``(k_start, k_stop, needs_mask)`` that a block of ``rows`` queries must visit.

    Query ``i`` of the block sits at global position ``q_offset + q_first + i`` and key ``j`` at
    ``k_offset + j``. Without a mask: every block of ``block_k`` keys, unmasked. With ``causal``
    or a ``window``: the keys that *every* query of the block may see come in unmasked tiles, the
    keys that only *some* see in masked tiles, and keys that no query sees are skipped (for a
    causal mask, all the keys after the block's last query: about half the work).
    """
    first, last = q_offset + q_first, q_offset + q_first + rows - 1  # global positions

    def lowest_key(position):  # first key position a query at ``position`` may see
        return position - window + 1 if window is not None else -_FAR

    def highest_key(position):  # last key position it may see
        if causal:
            return position
        return position + window - 1 if window is not None else _FAR

    def to_index(position):  # global key position -> index into k, clipped to 0..n_k
        return min(n_k, max(0, position - k_offset))

    any_start, any_stop = to_index(lowest_key(first)), to_index(highest_key(last) + 1)  # seen by some query
    all_start = min(any_stop, max(any_start, to_index(lowest_key(last))))  # seen by every query
    all_stop = min(any_stop, max(all_start, to_index(highest_key(first) + 1)))

    def chunks(start, stop, needs_mask):
        return [(j, min(j + block_k, stop), needs_mask) for j in range(start, stop, block_k)]

    return chunks(any_start, all_start, True) + chunks(all_start, all_stop, False) + chunks(all_stop, any_stop, True)


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype the tiles are computed in: float32 for half precision, else the input's."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


# ----------------------------------------------------------------------------------------------
# The two loops (3-D tensors, no checks): used by the autograd Function and by ring attention
# ----------------------------------------------------------------------------------------------


def flash_forward_blocks(q, k, v, scale: float, causal: bool, block_q: int, block_k: int,
                         q_offset: int = 0, k_offset: int = 0, window=None):
    """Tiled forward on 3-D tensors. Returns ``(out (B, n_q, d_v), lse (B, n_q))``.

    ``q (B, n_q, d)``, ``k (B, n_k, d)``, ``v (B, n_k, d_v)``, all in one floating dtype (the
    computation runs in it). With ``causal``, query ``i`` sits at global position
    ``q_offset + i`` and key ``j`` at ``k_offset + j``; a key may be seen when its position is
    not larger. A query that sees no key gets ``out = 0`` and ``lse = -inf``.
    """
    batch, n_q, _ = q.shape
    n_k, d_v = k.shape[1], v.shape[2]
    out = torch.empty(batch, n_q, d_v, dtype=q.dtype, device=q.device)
    lse = torch.empty(batch, n_q, dtype=q.dtype, device=q.device)
    scores_buffer = torch.empty(batch * min(block_q, n_q) * min(block_k, n_k), dtype=q.dtype, device=q.device)
    for q_start in range(0, n_q, block_q):
        q_block = q[:, q_start:q_start + block_q] * scale  # (B, rows, d), scale folded into the queries
        rows = q_block.shape[1]
        row_max = torch.full((batch, rows, 1), -math.inf, dtype=q.dtype, device=q.device)  # m
        row_sum = torch.zeros(batch, rows, 1, dtype=q.dtype, device=q.device)  # l
        acc = torch.zeros(batch, rows, d_v, dtype=q.dtype, device=q.device)  # unnormalised output
        for k_start, k_stop, needs_mask in key_tiles(q_start, rows, n_k, block_k, causal, window, q_offset, k_offset):
            cols = k_stop - k_start
            k_block = k[:, k_start:k_stop]  # (B, cols, d)
            scores = scores_buffer[:batch * rows * cols].view(batch, rows, cols)
            torch.bmm(q_block, k_block.transpose(1, 2), out=scores)  # (B, rows, cols): one tile of scores
            if needs_mask:  # -inf where the query may not see the key
                allowed = tile_mask(q_offset + q_start, rows, k_offset + k_start, cols, causal, window, q.device)
                scores.masked_fill_(~allowed, -math.inf)
            new_max = torch.maximum(row_max, scores.amax(dim=-1, keepdim=True))  # (B, rows, 1)
            # An unmasked tile gives every row a finite maximum; only masked tiles can leave -inf.
            shift = finite_or_zero(new_max) if needs_mask else new_max
            rescale = torch.exp(row_max - shift)  # exp(m_old - m_new); 0 for a row that had nothing yet
            probs = scores.sub_(shift).exp_()  # (B, rows, cols), in place: exp(s - m_new)
            row_sum.mul_(rescale).add_(probs.sum(dim=-1, keepdim=True))
            acc.mul_(rescale).baddbmm_(probs, v[:, k_start:k_stop])  # += P V
            row_max = new_max
        safe_sum = torch.where(row_sum > 0, row_sum, torch.ones_like(row_sum))
        out[:, q_start:q_start + rows] = acc / safe_sum
        lse[:, q_start:q_start + rows] = (row_max + torch.log(row_sum)).squeeze(-1)  # -inf when nothing seen
    return out, lse


def flash_backward_blocks(q, k, v, lse, grad_out, delta, scale: float, causal: bool, block_q: int, block_k: int,
                          q_offset: int = 0, k_offset: int = 0, window=None):
    """Tiled backward on 3-D tensors. Returns ``(dq, dk, dv)`` in the dtype of ``q``.

    ``lse (B, n_q)`` is the log-sum-exp of each query's scaled scores over *all* the keys it
    attends to (it may include keys outside ``k``, as in ring attention), ``grad_out (B, n_q, d_v)``
    the gradient of the output and ``delta (B, n_q)`` = ``rowsum(grad_out * out)`` minus the
    gradient of ``lse`` if any. The weights of each tile are recomputed as ``exp(s - lse)``.
    """
    batch, n_q, _ = q.shape
    n_k = k.shape[1]
    dq = torch.empty_like(q)
    dk = torch.zeros_like(k)
    dv = torch.zeros_like(v)
    # A query that saw no key has lse = -inf; +inf instead makes its recomputed weights exp(s - inf) = 0.
    lse = torch.where(torch.isfinite(lse), lse, torch.full_like(lse, math.inf))
    tile_size = batch * min(block_q, n_q) * min(block_k, n_k)
    scores_buffer, grad_probs_buffer = torch.empty(2, tile_size, dtype=q.dtype, device=q.device)
    for q_start in range(0, n_q, block_q):
        q_block = q[:, q_start:q_start + block_q] * scale  # (B, rows, d)
        rows = q_block.shape[1]
        grad_out_block = grad_out[:, q_start:q_start + rows]  # (B, rows, d_v)
        lse_block = lse[:, q_start:q_start + rows, None]  # (B, rows, 1)
        delta_block = delta[:, q_start:q_start + rows, None]  # (B, rows, 1)
        dq_block = torch.zeros_like(q_block)
        for k_start, k_stop, needs_mask in key_tiles(q_start, rows, n_k, block_k, causal, window, q_offset, k_offset):
            cols = k_stop - k_start
            k_block, v_block = k[:, k_start:k_stop], v[:, k_start:k_stop]  # (B, cols, d), (B, cols, d_v)
            scores = scores_buffer[:batch * rows * cols].view(batch, rows, cols)
            torch.bmm(q_block, k_block.transpose(1, 2), out=scores)  # (B, rows, cols)
            if needs_mask:  # -inf where the query may not see the key
                allowed = tile_mask(q_offset + q_start, rows, k_offset + k_start, cols, causal, window, q.device)
                scores.masked_fill_(~allowed, -math.inf)
            probs = scores.sub_(lse_block).exp_()  # P = exp(s - lse): the weights, recomputed
            dv[:, k_start:k_stop].baddbmm_(probs.transpose(1, 2), grad_out_block)  # dV += P^T dO
            grad_probs = grad_probs_buffer[:batch * rows * cols].view(batch, rows, cols)
            torch.bmm(grad_out_block, v_block.transpose(1, 2), out=grad_probs)  # dP = dO V^T
            grad_scores = grad_probs.sub_(delta_block).mul_(probs)  # dS = P * (dP - D)
            dq_block.baddbmm_(grad_scores, k_block)  # dQ += dS K   (times scale below)
            dk[:, k_start:k_stop].baddbmm_(grad_scores.transpose(1, 2), q_block)  # dK += dS^T (Q scale)
        dq[:, q_start:q_start + rows] = dq_block * scale
    return dq, dk, dv


# ----------------------------------------------------------------------------------------------
# The autograd Function and the public functions
# ----------------------------------------------------------------------------------------------


class FlashAttentionFunction(torch.autograd.Function):
    """``(out, lse) = FlashAttentionFunction.apply(q, k, v, causal, scale, block_q, block_k, window)``, 3-D tensors."""

    @staticmethod
    def forward(ctx, q, k, v, causal: bool, scale: float, block_q: int, block_k: int, window=None):
        compute = compute_dtype(q.dtype)
        q_c, k_c, v_c = (x.to(compute).contiguous() for x in (q, k, v))
        out, lse = flash_forward_blocks(q_c, k_c, v_c, scale, causal, block_q, block_k, window=window)
        out = out.to(q.dtype)
        ctx.save_for_backward(q, k, v, out, lse)  # the inputs, O and one number per query: no n x n matrix
        ctx.settings = (causal, scale, block_q, block_k, window)
        return out, lse

    @staticmethod
    def backward(ctx, grad_out, grad_lse):
        q, k, v, out, lse = ctx.saved_tensors
        causal, scale, block_q, block_k, window = ctx.settings
        compute = lse.dtype
        grad_out = torch.zeros_like(out, dtype=compute) if grad_out is None else grad_out.to(compute)
        delta = (grad_out * out.to(compute)).sum(dim=-1)  # D = rowsum(dO * O), (B, n_q)
        if grad_lse is not None:  # d lse_i / d s_ij = p_ij: the same tile formula with D - dlse
            delta = delta - grad_lse.to(compute)
        q_c, k_c, v_c = (x.to(compute).contiguous() for x in (q, k, v))
        dq, dk, dv = flash_backward_blocks(q_c, k_c, v_c, lse, grad_out.contiguous(), delta, scale, causal,
                                           block_q, block_k, window=window)
        return dq.to(q.dtype), dk.to(k.dtype), dv.to(v.dtype), None, None, None, None, None


def flash_attention_forward(q, k, v, causal: bool = False, block_size=None, scale=None, window=None):
    """FlashAttention returning ``(out, lse)``; both are differentiable.

    Args:
        q: queries ``(..., n_q, d)``; k: keys ``(..., n_k, d)``; v: values ``(..., n_k, d_v)``.
            Leading (batch, head) dimensions broadcast. float16, bfloat16, float32 or float64.
        causal: query ``i`` sees keys ``0..i`` (top-left aligned, as
            ``F.scaled_dot_product_attention(is_causal=True)``), also when ``n_q != n_k``.
        block_size: ``None`` (automatic, fast on a CPU), an int for both block sizes, or a pair
            ``(block_q, block_k)``. Any positive sizes work; they need not divide the lengths.
        scale: factor on the scores, default ``1 / sqrt(d)``.
        window: optional sliding window: query ``i`` sees only keys ``j`` with ``|i - j| < window``
            (with ``causal``: the ``window`` keys ``i - window + 1 .. i``), the mask of
            :func:`attnbook.sliding_window_mask`. Tiles outside the band are skipped, so the
            work grows like ``n * window`` instead of ``n**2``.

    Returns:
        ``out (..., n_q, d_v)`` in the input dtype and ``lse (..., n_q)``: the log-sum-exp of each
        query's scaled (and masked) scores, ``logsumexp(q k^T * scale, dim=-1)``, in float32
        (float64 for float64 input). A query that may see no key (possible with ``window``)
        gets a zero output and ``lse = -inf``.

    Raises:
        ValueError: naming shapes or dtypes that do not fit, or a bad block size or scale.
    """
    function = "flash_attention"
    batch_shape = check_attention_inputs(q, k, v, function)
    causal = check_causal(causal, function)
    scale = check_scale(scale, q.shape[-1], function)
    if window is not None:
        window = check_positive_int(window, "window", function)
    n_q, n_k = q.shape[-2], k.shape[-2]
    batch = math.prod(batch_shape)
    block_q, block_k = choose_block_sizes(block_size, batch, n_q, n_k, function)
    q3, k3, v3 = (x.expand(*batch_shape, *x.shape[-2:]).reshape(batch, *x.shape[-2:]) for x in (q, k, v))
    out, lse = FlashAttentionFunction.apply(q3, k3, v3, causal, scale, block_q, block_k, window)
    return out.reshape(*batch_shape, n_q, v.shape[-1]), lse.reshape(*batch_shape, n_q)


def flash_attention(q, k, v, causal: bool = False, block_size=None, scale=None, window=None):
    """FlashAttention in PyTorch: equal to ``F.scaled_dot_product_attention(q, k, v, is_causal=causal)``.

    Forward tiles over query and key blocks with the online softmax; backward recomputes each
    tile's weights from the saved log-sum-exp. See :func:`flash_attention_forward` for the
    arguments; this returns only the output ``(..., n_q, d_v)``.
    """
    return flash_attention_forward(q, k, v, causal=causal, block_size=block_size, scale=scale, window=window)[0]


# ----------------------------------------------------------------------------------------------
# The teaching version: NumPy, loops over blocks
# ----------------------------------------------------------------------------------------------


def flash_attention_numpy(q, k, v, causal: bool = False, block_size: int = 32, scale=None, return_lse: bool = False):
    """FlashAttention forward in NumPy, one query block and one key block at a time.

    ``q (..., n_q, d)``, ``k (..., n_k, d)``, ``v (..., n_k, d_v)`` floating NumPy arrays. Returns
    the output ``(..., n_q, d_v)`` (and the log-sum-exp ``(..., n_q)`` with ``return_lse``).
    Causal masking is top-left aligned (query i sees keys 0..i).
    """
    function = "flash_attention_numpy"
    q, k, v = (np.asarray(x) for x in (q, k, v))
    for name, x in {"q": q, "k": k, "v": v}.items():
        if x.ndim < 2 or x.dtype.kind != "f":
            raise ValueError(f"{function}: {name} must be a float array of shape (..., n, d); "
                             f"got shape {x.shape} and dtype {x.dtype}")
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"{function}: shapes do not fit: q {q.shape}, k {k.shape}, v {v.shape}")
    block_size = check_positive_int(block_size, "block_size", function)
    n_q, n_k = q.shape[-2], k.shape[-2]
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    outputs, lses = [], []
    for q_start in range(0, n_q, block_size):  # one block of queries at a time
        q_block = q[..., q_start:q_start + block_size, :] * scale  # (..., bq, d)
        rows = q_block.shape[-2]
        row_max = np.full((*q_block.shape[:-1], 1), -np.inf)  # m: largest score seen so far
        row_sum = np.zeros((*q_block.shape[:-1], 1))  # l: sum of exp(score - m) so far
        acc = np.zeros((*q_block.shape[:-1], v.shape[-1]))  # sum of exp(score - m) * value so far
        for k_start in range(0, n_k, block_size):  # stream over the key blocks
            k_block = k[..., k_start:k_start + block_size, :]  # (..., bk, d)
            v_block = v[..., k_start:k_start + block_size, :]  # (..., bk, d_v)
            scores = q_block @ np.swapaxes(k_block, -1, -2)  # (..., bq, bk): one tile
            if causal:
                q_pos = np.arange(q_start, q_start + rows)[:, None]
                k_pos = np.arange(k_start, k_start + k_block.shape[-2])[None, :]
                scores = np.where(k_pos <= q_pos, scores, -np.inf)
            new_max = np.maximum(row_max, scores.max(axis=-1, keepdims=True))
            shift = np.where(np.isfinite(new_max), new_max, 0.0)  # a row with nothing allowed yet
            rescale = np.exp(row_max - shift)  # how much the old sums shrink
            probs = np.exp(scores - shift)  # (..., bq, bk)
            row_sum = row_sum * rescale + probs.sum(axis=-1, keepdims=True)
            acc = acc * rescale + probs @ v_block
            row_max = new_max
        outputs.append(acc / np.where(row_sum > 0, row_sum, 1.0))
        with np.errstate(divide="ignore"):
            lses.append((row_max + np.log(row_sum))[..., 0])
    dtype = np.result_type(q.dtype, np.float32)
    out = np.concatenate(outputs, axis=-2).astype(dtype)
    lse = np.concatenate(lses, axis=-1).astype(dtype)
    return (out, lse) if return_lse else out
