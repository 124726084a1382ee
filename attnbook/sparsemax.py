"""Sparsemax (Martins & Astudillo 2016, arXiv:1602.02068): a softmax replacement with exact zeros.

``sparsemax(z)`` is the Euclidean projection of ``z`` onto the probability simplex,
``argmin_p ||p - z||^2`` over ``p >= 0, sum(p) = 1``. The solution is ``p_i = max(z_i - tau, 0)``
for one threshold ``tau``, found by sorting: with ``z`` sorted in decreasing order, the support
size is the largest ``k`` with ``1 + k z_(k) > z_(1) + ... + z_(k)``, and
``tau = (z_(1) + ... + z_(k) - 1) / k``. Every score at or below ``tau`` gets exactly 0.
"""

from __future__ import annotations

import numpy as np
import torch

from ._arrays import as_float_array, check_axis, check_mask, is_torch


def sparsemax_threshold(z, axis: int = -1):
    """The threshold ``tau`` of sparsemax along ``axis`` (axis kept with size 1).

    Entries equal to ``-inf`` (masked) are never in the support; a slice that is all ``-inf``
    gets ``tau = 0``.
    """
    z = as_float_array(z, "z")
    check_axis(z, axis, "z")
    n = z.shape[axis]
    if is_torch(z):
        z_sorted = torch.sort(z, dim=axis, descending=True).values  # decreasing along axis
        cumulative = torch.cumsum(z_sorted, dim=axis)
        shape = [1] * z.ndim
        shape[axis] = n
        k = torch.arange(1, n + 1, dtype=z.dtype, device=z.device).reshape(shape)
        in_support = 1 + k * z_sorted > cumulative  # a prefix of True along axis
        support_size = in_support.sum(dim=axis, keepdim=True)  # (..., 1, ...)
        last = torch.clamp(support_size - 1, min=0)
        tau = (torch.gather(cumulative, axis, last) - 1) / torch.clamp(support_size, min=1).to(z.dtype)
        return torch.where(support_size > 0, tau, torch.zeros_like(tau))
    z_sorted = -np.sort(-z, axis=axis)  # decreasing along axis
    cumulative = np.cumsum(z_sorted, axis=axis)
    shape = [1] * z.ndim
    shape[axis] = n
    k = np.arange(1, n + 1, dtype=z.dtype).reshape(shape)
    in_support = 1 + k * z_sorted > cumulative  # a prefix of True along axis
    support_size = in_support.sum(axis=axis, keepdims=True)
    last = np.maximum(support_size - 1, 0)
    tau = (np.take_along_axis(cumulative, last, axis=axis) - 1) / np.maximum(support_size, 1)
    return np.where(support_size > 0, tau, 0).astype(z.dtype, copy=False)


def sparsemax(z, axis: int = -1, mask=None):
    """Sparsemax of ``z`` along ``axis``: ``max(z - tau, 0)``, nonnegative, sums to 1, often exact 0.

    Args:
        z: NumPy array or torch tensor of scores (torch: differentiable by autograd).
        axis: the axis that is normalised.
        mask: optional boolean, True where an entry may take weight, broadcastable to ``z``.
            Masked entries get 0; a slice with no allowed entry gets all zeros.

    Raises:
        ValueError: naming the dtype, axis or mask shape that is wrong.
    """
    z = as_float_array(z, "z")
    if mask is not None:
        mask = check_mask(mask, z.shape, "z", like=z)
        z = z.masked_fill(~mask, float("-inf")) if is_torch(z) else np.where(mask, z, -np.inf).astype(z.dtype)
    tau = sparsemax_threshold(z, axis=axis)
    if is_torch(z):
        return torch.clamp(z - tau, min=0)
    return np.maximum(z - tau, 0)
