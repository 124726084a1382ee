"""Numerically stable softmax, log-sum-exp and log-softmax for NumPy arrays and torch tensors.

Chapter 3 derives these step by step; this module is the single copy the rest of the book uses.
"""

from __future__ import annotations

import numpy as np
import torch

from ._arrays import as_float_array, check_axis, check_mask, finite_or_zero, is_torch


def softmax(x, axis: int = -1, mask=None):
    """Softmax of ``x`` along ``axis``: ``exp(x_i - max x) / sum_j exp(x_j - max x)``.

    Args:
        x: NumPy array or torch tensor of scores (integers are converted to float).
        axis: the axis that is normalised; every slice along it sums to 1.
        mask: optional boolean array, ``True`` where an entry may take weight. It must
            broadcast to ``x.shape`` (for attention scores of shape
            ``(..., n_queries, n_keys)`` a padding mask of shape ``(..., 1, n_keys)`` works).

    Returns:
        Weights with the shape and dtype of ``x``. Masked entries get weight 0. A slice with
        no allowed entry gets all-zero weights: not NaN (what ``masked_fill(-inf)`` followed by
        softmax gives) and not uniform weights (what filling with ``-1e9`` gives).
    """
    x = as_float_array(x, "x")
    check_axis(x, axis)
    if is_torch(x):
        if mask is not None:
            mask = check_mask(mask, x.shape, "x", like=x)
            x = x.masked_fill(~mask, float("-inf"))
        x_max = finite_or_zero(x.amax(dim=axis, keepdim=True).detach())  # shift: same result
        exps = torch.exp(x - x_max)
        totals = exps.sum(dim=axis, keepdim=True)
        return exps / torch.where(totals == 0, torch.ones_like(totals), totals)
    if mask is not None:
        mask = check_mask(mask, x.shape, "x", like=x)
        x = np.where(mask, x, -np.inf).astype(x.dtype, copy=False)
    x_max = finite_or_zero(np.max(x, axis=axis, keepdims=True) if x.size else np.zeros_like(x))
    exps = np.exp(x - x_max)
    totals = np.sum(exps, axis=axis, keepdims=True)
    return exps / np.where(totals == 0, 1, totals).astype(x.dtype, copy=False)


def logsumexp(x, axis: int = -1, keepdims: bool = False):
    """``log(sum(exp(x)))`` along ``axis``, computed as ``m + log(sum(exp(x - m)))``, m = max.

    Never overflows for finite input; an all ``-inf`` slice gives ``-inf``.
    """
    x = as_float_array(x, "x")
    check_axis(x, axis)
    if is_torch(x):
        return torch.logsumexp(x, dim=axis, keepdim=keepdims)
    x_max = finite_or_zero(np.max(x, axis=axis, keepdims=True))
    with np.errstate(divide="ignore"):  # log(0) = -inf is the right answer for all -inf
        result = x_max + np.log(np.sum(np.exp(x - x_max), axis=axis, keepdims=True))
    return result if keepdims else np.squeeze(result, axis=axis)


def log_softmax(x, axis: int = -1):
    """``log(softmax(x))`` computed as ``x - logsumexp(x)``: stays finite where softmax underflows."""
    x = as_float_array(x, "x")
    return x - logsumexp(x, axis=axis, keepdims=True)
