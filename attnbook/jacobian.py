"""The softmax Jacobian and the backward pass of softmax and of attention, written out by hand.

For ``p = softmax(x)`` along the last axis, ``dp_i / dx_j = p_i (delta_ij - p_j)``, that is
``J = diag(p) - p p^T``. Backpropagation never builds ``J``: for an upstream gradient ``g``
(= dLoss/dp), ``J^T g = p * (g - sum(g * p))``, one multiply and one reduction per entry.
Chapter 3 checks these formulas against ``torch.autograd``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ._arrays import as_float_array, is_torch, same_library
from .softmax import softmax


def softmax_jacobian(x):
    """Jacobian of softmax along the last axis: ``(..., n) -> (..., n, n)``, ``diag(p) - p p^T``.

    Entry ``[..., i, j]`` is ``d softmax(x)_i / d x_j``.
    """
    x = as_float_array(x, "x")
    if x.ndim < 1:
        raise ValueError(f"softmax_jacobian needs at least one axis; got a scalar of shape {tuple(x.shape)}")
    p = softmax(x, axis=-1)  # (..., n)
    if is_torch(p):
        return torch.diag_embed(p) - p[..., :, None] * p[..., None, :]
    eye = np.eye(p.shape[-1], dtype=p.dtype)
    return p[..., :, None] * eye - p[..., :, None] * p[..., None, :]


def softmax_backward(p, grad_p):
    """Vector-Jacobian product of softmax along the last axis: ``p * (grad_p - sum(grad_p * p))``.

    Args:
        p: the softmax output (..., n).
        grad_p: dLoss/dp, same shape.

    Returns:
        dLoss/dx, same shape, without forming the (n, n) Jacobian.
    """
    use_torch = same_library({"p": p, "grad_p": grad_p})
    if tuple(p.shape) != tuple(grad_p.shape):
        raise ValueError(f"p and grad_p must have the same shape; got {tuple(p.shape)} and {tuple(grad_p.shape)}")
    if use_torch:
        return p * (grad_p - (grad_p * p).sum(dim=-1, keepdim=True))
    return p * (grad_p - np.sum(grad_p * p, axis=-1, keepdims=True))


def attention_backward(queries, keys, values, grad_output, scale=None):
    """Gradients of ``O = softmax(Q K^T * scale) V`` with respect to Q, K and V, by hand.

    Shapes: queries (..., n_q, d), keys (..., n_k, d), values (..., n_k, d_v),
    grad_output (..., n_q, d_v). Returns ``(grad_queries, grad_keys, grad_values)``.

    The chain rule, one matrix product at a time::

        S = Q K^T * scale        P = softmax(S)          O = P V
        dV = P^T dO              dP = dO V^T             dS = P * (dP - rowsum(dP * P))
        dQ = dS K * scale        dK = dS^T Q * scale
    """
    use_torch = same_library({"queries": queries, "keys": keys, "values": values, "grad_output": grad_output})
    if queries.shape[-1] != keys.shape[-1] or keys.shape[-2] != values.shape[-2]:
        raise ValueError(
            f"shapes do not fit: queries {tuple(queries.shape)}, keys {tuple(keys.shape)}, "
            f"values {tuple(values.shape)}"
        )
    if tuple(grad_output.shape[-2:]) != (queries.shape[-2], values.shape[-1]):
        raise ValueError(
            f"grad_output must have shape (..., n_q, d_v) = (..., {queries.shape[-2]}, {values.shape[-1]}); "
            f"got {tuple(grad_output.shape)}"
        )
    scale = 1.0 / math.sqrt(queries.shape[-1]) if scale is None else scale
    transpose = (lambda a: a.transpose(-2, -1)) if use_torch else (lambda a: np.swapaxes(a, -2, -1))
    scores = queries @ transpose(keys) * scale  # (..., n_q, n_k)
    weights = softmax(scores, axis=-1)  # (..., n_q, n_k)
    grad_values = transpose(weights) @ grad_output  # (..., n_k, d_v)
    grad_weights = grad_output @ transpose(values)  # (..., n_q, n_k)
    grad_scores = softmax_backward(weights, grad_weights)  # (..., n_q, n_k)
    grad_queries = grad_scores @ keys * scale  # (..., n_q, d)
    grad_keys = transpose(grad_scores) @ queries * scale  # (..., n_k, d)
    return grad_queries, grad_keys, grad_values
