"""Numerically stable softmax, log-sum-exp and log-softmax for NumPy arrays and torch tensors.

Chapter 3 derives these step by step; this module is the single copy the rest of the book uses.

Half precision (float16, bfloat16) is computed in float32 and rounded back to the input's dtype
at the end, as ``torch.softmax(x, dim, dtype=torch.float32)`` does. Subtracting the maximum
keeps every exponential at most 1, but it does not protect the *sum*: in float16 a row of more
than 65 504 entries near the maximum sums to ``inf`` (then every weight is 0), and a float16 or
bfloat16 running sum stops growing long before that (at 2048 and 256 when every term is 1).
"""

from __future__ import annotations

import numpy as np
import torch

from ._arrays import as_float_array, check_axis, check_mask, finite_or_zero, is_torch

HALF_PRECISION = (np.float16, torch.float16, torch.bfloat16)  # accumulated in float32


def to_accumulation_dtype(x):
    """``x`` in float32 when it is float16 or bfloat16 (half precision), else ``x`` unchanged."""
    if is_torch(x):
        return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
    return x.astype(np.float32) if x.dtype == np.float16 else x


def to_input_dtype(result, x):
    """``result`` rounded back to the dtype of ``x`` (a no-op unless ``x`` is half precision)."""
    if is_torch(x):
        return result.to(x.dtype)
    return result.astype(x.dtype, copy=False)


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
        softmax gives) and not uniform weights (what filling with ``-1e9`` gives). Float16 and
        bfloat16 input is computed in float32 and rounded back at the end (module docstring).
    """
    x = as_float_array(x, "x")
    check_axis(x, axis)
    if mask is not None:
        mask = check_mask(mask, x.shape, "x", like=x)
    return to_input_dtype(_softmax(to_accumulation_dtype(x), axis, mask), x)


def _softmax(x, axis: int, mask):
    """The stable softmax itself, in the dtype of ``x``; ``mask`` is checked already."""
    if is_torch(x):
        if mask is not None:
            x = x.masked_fill(~mask, float("-inf"))
        x_max = finite_or_zero(x.amax(dim=axis, keepdim=True).detach())  # shift: same result
        exps = torch.exp(x - x_max)  # every entry <= 1
        totals = exps.sum(dim=axis, keepdim=True)  # >= 1, or 0 for a fully masked slice
        return exps / torch.where(totals == 0, torch.ones_like(totals), totals)
    if mask is not None:
        x = np.where(mask, x, -np.inf).astype(x.dtype, copy=False)
    x_max = finite_or_zero(np.max(x, axis=axis, keepdims=True) if x.size else np.zeros_like(x))
    exps = np.exp(x - x_max)  # every entry <= 1
    totals = np.sum(exps, axis=axis, keepdims=True)  # >= 1, or 0 for a fully masked slice
    return exps / np.where(totals == 0, 1, totals).astype(x.dtype, copy=False)


def logsumexp(x, axis: int = -1, keepdims: bool = False):
    """``log(sum(exp(x)))`` along ``axis``, computed as ``m + log(sum(exp(x - m)))``, m = max.

    Never overflows for finite input; an all ``-inf`` slice gives ``-inf``. Half-precision
    input is summed in float32 and the result rounded back to its dtype.
    """
    x = as_float_array(x, "x")
    check_axis(x, axis)
    return to_input_dtype(_logsumexp(to_accumulation_dtype(x), axis, keepdims), x)


def _logsumexp(x, axis: int, keepdims: bool):
    if is_torch(x):
        return torch.logsumexp(x, dim=axis, keepdim=keepdims)
    x_max = finite_or_zero(np.max(x, axis=axis, keepdims=True))
    with np.errstate(divide="ignore"):  # log(0) = -inf is the right answer for all -inf
        result = x_max + np.log(np.sum(np.exp(x - x_max), axis=axis, keepdims=True))
    return result if keepdims else np.squeeze(result, axis=axis)


def log_softmax(x, axis: int = -1):
    """``log(softmax(x))`` computed as ``x - logsumexp(x)``: stays finite where softmax underflows."""
    x = as_float_array(x, "x")
    check_axis(x, axis)
    work = to_accumulation_dtype(x)
    return to_input_dtype(work - _logsumexp(work, axis, keepdims=True), x)
