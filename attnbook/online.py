"""Online (streaming) softmax: the normaliser in one pass over blocks, and merging two blocks.

Softmax needs two numbers per slice before it can normalise anything: the maximum ``m`` (for
stability) and the sum ``s = sum_j exp(x_j - m)``. Both can be built block by block. When a new
block raises the running maximum from ``m_old`` to ``m_new``, the sum collected so far was
shifted by the old maximum and is rescaled by ``exp(m_old - m_new)``:

    m_new = max(m_old, max(block))
    s_new = s_old * exp(m_old - m_new) + sum(exp(block - m_new))

(Milakov & Gimelshein 2018, arXiv:1805.02867). FlashAttention (Dao et al. 2022,
arXiv:2205.14135) applies the same rescaling to the attention output, so that the full score
matrix is never stored. Functions here accept NumPy arrays and torch tensors.
"""

from __future__ import annotations

import numpy as np
import torch

from ._arrays import as_float_array, check_axis, check_mask, finite_or_zero, is_torch
from .softmax import to_accumulation_dtype, to_input_dtype


def merge_softmax_stats(m1, s1, m2, s2):
    """Merge the softmax statistics of two blocks of the same slice.

    Args:
        m1, s1: maximum of block 1 and ``sum(exp(block1 - m1))``.
        m2, s2: the same for block 2 (same shapes as ``m1``, or broadcastable).

    Returns:
        ``(m, s)`` for the two blocks together: ``m = max(m1, m2)`` and
        ``s = s1 * exp(m1 - m) + s2 * exp(m2 - m)``. An empty or fully masked block has
        ``m = -inf, s = 0`` and leaves the other block's statistics unchanged.
    """
    use_torch = is_torch(m1)
    if any(is_torch(t) != use_torch for t in (s1, m2, s2)):
        raise ValueError("merge_softmax_stats: m1, s1, m2, s2 must all be NumPy arrays or all torch tensors")
    if use_torch:
        m = torch.maximum(m1, m2)
        shift = finite_or_zero(m)
        return m, s1 * torch.exp(m1 - shift) + s2 * torch.exp(m2 - shift)
    m1, s1, m2, s2 = (np.asarray(t) for t in (m1, s1, m2, s2))
    m = np.maximum(m1, m2)
    shift = finite_or_zero(m)
    return m, s1 * np.exp(m1 - shift) + s2 * np.exp(m2 - shift)


def _block_stats(block, axis: int):
    """(max, sum of exp(block - max)) along ``axis``, keeping the axis (size 1)."""
    if is_torch(block):
        m = block.amax(dim=axis, keepdim=True)
        return m, torch.exp(block - finite_or_zero(m)).sum(dim=axis, keepdim=True)
    m = np.max(block, axis=axis, keepdims=True)
    return m, np.sum(np.exp(block - finite_or_zero(m)), axis=axis, keepdims=True)


def online_softmax_stats(x, axis: int = -1, block_size: int = 128, mask=None):
    """Running maximum and sum of ``x`` along ``axis``, reading ``block_size`` entries at a time.

    Returns ``(m, s)`` with the axis kept (size 1): ``m = max x`` and ``s = sum exp(x - m)``
    over the allowed entries (``mask`` True), so that ``softmax(x) = exp(x - m) / s``.
    For float16 or bfloat16 input both come back in float32, the dtype they are accumulated in
    (a float16 running sum would stop growing at 2048 and overflow past 65 504).
    """
    x, axis, mask = _prepare(x, axis, block_size, mask)
    x = to_accumulation_dtype(x)
    n = x.shape[axis]
    stat_shape = tuple(1 if i == axis else size for i, size in enumerate(x.shape))
    if is_torch(x):
        m = torch.full(stat_shape, float("-inf"), dtype=x.dtype, device=x.device)
        s = torch.zeros(stat_shape, dtype=x.dtype, device=x.device)
    else:
        m = np.full(stat_shape, -np.inf, dtype=x.dtype)
        s = np.zeros(stat_shape, dtype=x.dtype)
    for start in range(0, n, block_size):
        block = _take(x, axis, start, start + block_size)  # (..., block, ...)
        m_block, s_block = _block_stats(block, axis)
        m, s = merge_softmax_stats(m, s, m_block, s_block)
    return m, s


def online_softmax(x, axis: int = -1, block_size: int = 128, mask=None):
    """Softmax of ``x`` along ``axis`` from statistics gathered in one pass over blocks.

    Equal (to rounding) to :func:`attnbook.softmax` with the same arguments, including its
    conventions: masked entries get weight 0 and a slice with no allowed entry gets all
    zeros. The first pass over the blocks keeps only the running maximum and sum (one number
    each per slice); the second step ``exp(x - m) / s`` normalises.

    Args:
        x: NumPy array or torch tensor of scores.
        axis: the axis that is normalised.
        block_size: how many entries along ``axis`` are read at a time (a positive integer;
            it need not divide the length).
        mask: optional boolean, True where an entry may take weight, broadcastable to ``x``.

    Returns:
        Weights with the shape and dtype of ``x`` (half precision is computed in float32).

    Raises:
        ValueError: for a bad axis, block size, dtype or mask shape.
    """
    x, axis, mask = _prepare(x, axis, block_size, mask)
    work = to_accumulation_dtype(x)
    m, s = online_softmax_stats(work, axis=axis, block_size=block_size)
    if is_torch(work):
        s = torch.where(s == 0, torch.ones_like(s), s)
        return to_input_dtype(torch.exp(work - finite_or_zero(m)) / s, x)
    s = np.where(s == 0, 1, s).astype(work.dtype, copy=False)
    return to_input_dtype(np.exp(work - finite_or_zero(m)) / s, x)


def _prepare(x, axis, block_size, mask):
    """Validate; return float ``x`` with masked entries set to -inf, axis >= 0, and None."""
    x = as_float_array(x, "x")
    axis = check_axis(x, axis)
    if isinstance(block_size, bool) or not isinstance(block_size, int | np.integer) or block_size < 1:
        raise ValueError(f"block_size must be a positive integer; got {block_size!r}")
    if mask is not None:
        mask = check_mask(mask, x.shape, "x", like=x)
        if is_torch(x):
            x = x.masked_fill(~mask, float("-inf"))
        else:
            x = np.where(mask, x, -np.inf).astype(x.dtype, copy=False)
    return x, axis, None


def _take(x, axis: int, start: int, stop: int):
    index = [slice(None)] * x.ndim
    index[axis] = slice(start, stop)
    return x[tuple(index)]
