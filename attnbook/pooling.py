"""Attention pooling as Nadaraya-Watson kernel regression (chapter 1).

A query ``x`` looks at training points ``(x_i, y_i)``: the keys are the ``x_i``, the values the
``y_i``. Each key gets the score ``-(x - x_i)^2 / (2 h^2)`` (a Gaussian kernel with bandwidth
``h``, in log space), the scores go through a softmax, and the prediction is the weighted
average of the values. Shapes:

    queries (n_queries,)     keys (n_keys,)     values (n_keys,) or (n_keys, d_v)
    weights (n_queries, n_keys), every row sums to 1
    output  (n_queries,) or (n_queries, d_v)

Every function accepts NumPy arrays or torch tensors (not a mix) and returns the same kind.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ._arrays import as_float_array, check_mask, is_torch, same_library
from .softmax import softmax

__all__ = [
    "LearnedBandwidthPooling",
    "gaussian_kernel_scores",
    "gaussian_kernel_weights",
    "leave_one_out_mask",
    "nadaraya_watson",
]


def _check_points(queries, keys):
    """Validate two 1-D float inputs of one library; return them as float arrays/tensors."""
    same_library({"queries": queries, "keys": keys})
    queries, keys = as_float_array(queries, "queries"), as_float_array(keys, "keys")
    for name, x in (("queries", queries), ("keys", keys)):
        if x.ndim != 1:
            raise ValueError(f"{name} must be 1-D (one number per point); got shape {tuple(x.shape)}")
    return queries, keys


def _check_bandwidth(bandwidth) -> float:
    bandwidth = float(bandwidth)
    if not (math.isfinite(bandwidth) and bandwidth > 0):
        raise ValueError(f"bandwidth must be a positive finite number; got {bandwidth}")
    return bandwidth


def gaussian_kernel_scores(queries, keys, bandwidth: float = 1.0):
    """Scores ``-(q_i - k_j)^2 / (2 h^2)``, shape (n_queries, n_keys): the log of a Gaussian kernel.

    A softmax over these scores (along the keys) gives the Nadaraya-Watson weights, because
    ``exp(score)`` is the unnormalised Gaussian kernel ``exp(-(q - k)^2 / (2 h^2))``.
    """
    queries, keys = _check_points(queries, keys)
    bandwidth = _check_bandwidth(bandwidth)
    differences = queries[:, None] - keys[None, :]  # (n_queries, n_keys)
    return -0.5 * (differences / bandwidth) ** 2


def gaussian_kernel_weights(queries, keys, bandwidth: float = 1.0, mask=None):
    """Attention weights of Gaussian-kernel pooling, shape (n_queries, n_keys); rows sum to 1.

    Args:
        queries: (n_queries,) points where we want a prediction.
        keys: (n_keys,) training inputs.
        bandwidth: kernel width ``h`` > 0; small ``h`` = sharp weights, large ``h`` = flat.
        mask: optional boolean (n_queries, n_keys), True where key j may take weight for query i
            (e.g. :func:`leave_one_out_mask`).
    """
    scores = gaussian_kernel_scores(queries, keys, bandwidth)  # (n_queries, n_keys)
    if mask is not None:
        mask = check_mask(mask, tuple(scores.shape), "the weights (n_queries, n_keys)", like=scores)
    return softmax(scores, axis=-1, mask=mask)


def nadaraya_watson(queries, keys, values, bandwidth: float = 1.0, mask=None, return_weights: bool = False):
    """Nadaraya-Watson prediction ``sum_j w_ij y_j`` with Gaussian-kernel weights.

    Args:
        queries: (n_queries,)
        keys: (n_keys,)
        values: (n_keys,) or (n_keys, d_v), the training targets.
        bandwidth: kernel width ``h`` > 0.
        mask: optional boolean (n_queries, n_keys), see :func:`gaussian_kernel_weights`.
        return_weights: also return the (n_queries, n_keys) weights.

    Returns:
        Predictions of shape (n_queries,) or (n_queries, d_v) (and the weights if asked).
    """
    same_library({"queries": queries, "keys": keys, "values": values})
    values = as_float_array(values, "values")
    if values.ndim not in (1, 2) or values.shape[0] != keys.shape[0]:
        raise ValueError(
            f"values must have shape (n_keys,) or (n_keys, d_v) with n_keys = {keys.shape[0]} "
            f"(the length of keys); got shape {tuple(values.shape)}"
        )
    weights = gaussian_kernel_weights(queries, keys, bandwidth, mask)  # (n_queries, n_keys)
    if values.dtype != weights.dtype:
        values = values.to(weights.dtype) if is_torch(values) else values.astype(weights.dtype)
    predictions = weights @ values  # (n_queries,) or (n_queries, d_v)
    return (predictions, weights) if return_weights else predictions


def leave_one_out_mask(n: int, device=None):
    """Boolean (n, n) mask, False on the diagonal: point i may not use its own value.

    Training a bandwidth on the training points themselves needs this, otherwise the best
    bandwidth is 0 (every point predicts its own value exactly). Returns a NumPy array, or a
    torch tensor when ``device`` is given.
    """
    if device is not None:
        return ~torch.eye(n, dtype=torch.bool, device=device)
    return ~np.eye(n, dtype=bool)


class LearnedBandwidthPooling(nn.Module):
    """Gaussian-kernel attention pooling with one learned parameter ``w`` (inverse bandwidth).

    ``weights = softmax_j(-((x - x_j) * w)^2 / 2)`` and ``prediction = sum_j weights_j y_j``.
    ``w`` plays the role of ``1 / h`` in :func:`gaussian_kernel_weights`: larger ``w``, sharper
    weights. It starts at ``initial_w``.
    """

    def __init__(self, initial_w: float = 1.0):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(float(initial_w)))

    def forward(self, queries, keys, values, mask=None, return_weights: bool = False):
        """queries (n_queries,), keys (n_keys,), values (n_keys,) -> predictions (n_queries,)."""
        if not all(is_torch(x) for x in (queries, keys, values)):
            raise ValueError("LearnedBandwidthPooling takes torch tensors for queries, keys and values")
        queries, keys = _check_points(queries, keys)
        if values.shape != keys.shape:
            raise ValueError(f"values must have shape {tuple(keys.shape)} like keys; got {tuple(values.shape)}")
        w = self.w.to(queries.dtype)
        scores = -0.5 * ((queries[:, None] - keys[None, :]) * w) ** 2  # (n_queries, n_keys)
        if mask is not None:
            mask = check_mask(mask, tuple(scores.shape), "the weights (n_queries, n_keys)", like=scores)
        weights = softmax(scores, axis=-1, mask=mask)  # (n_queries, n_keys)
        predictions = weights @ values.to(weights.dtype)  # (n_queries,)
        return (predictions, weights) if return_weights else predictions
