"""Scoring functions: how well does each query match each key?

Every scorer is a ``torch.nn.Module`` with the same contract::

    scores = scorer(queries, keys)
    # queries (..., n_queries, query_size)   keys (..., n_keys, key_size)
    # scores  (..., n_queries, n_keys)

The leading ``...`` dimensions (batch, heads) broadcast. A softmax over the last axis of the
scores turns them into attention weights; :class:`Attention` does that and takes the weighted
sum of the values.

==========================  ==============================================  ======================
scorer                      score(q, k)                                     parameters
==========================  ==============================================  ======================
DotProductScorer            q . k                                           0
ScaledDotProductScorer      q . k / sqrt(d)                                 0
MultiplicativeScorer        q^T W k               (Luong "general")         query_size * key_size
AdditiveScorer              v^T tanh(W_q q + W_k k)   (Bahdanau)            (query_size + key_size
                                                                            + 1) * hidden_size
CosineScorer                cos(q, k) / temperature                         0
==========================  ==============================================  ======================

Each scorer also has ``flops(n_queries, n_keys, query_size, key_size)``: the floating-point
operations of one forward pass for one batch item, split into ``"matmul"`` (what
``torch.utils.flop_counter.FlopCounterMode`` counts: 2 per multiply-add) and ``"elementwise"``
(scaling, adding, tanh, normalising; an estimate, one per element and operation).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ._arrays import check_mask
from .softmax import softmax

__all__ = [
    "AdditiveScorer",
    "Attention",
    "CosineScorer",
    "DotProductScorer",
    "MultiplicativeScorer",
    "ScaledDotProductScorer",
]


def _check_pair(queries, keys, query_size=None, key_size=None, same_size=False) -> tuple:
    """Validate (queries, keys); return the broadcast batch shape ``...``.

    Raises a ``ValueError`` naming the shapes when the inputs are not floating-point torch
    tensors of shape (..., n, size), when the sizes differ from what the scorer expects, or
    when the leading dimensions do not broadcast.
    """
    for name, x in (("queries", queries), ("keys", keys)):
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"{name} must be a torch tensor; got {type(x).__name__}")
        if x.ndim < 2:
            raise ValueError(f"{name} must have shape (..., n, size); got shape {tuple(x.shape)}")
        if not x.is_floating_point():
            raise ValueError(f"{name} must be floating point; got dtype {x.dtype}")
    shapes = f"queries {tuple(queries.shape)} and keys {tuple(keys.shape)}"
    if queries.dtype != keys.dtype:
        raise ValueError(f"queries and keys must share one dtype; got {queries.dtype} and {keys.dtype}")
    if same_size and queries.shape[-1] != keys.shape[-1]:
        raise ValueError(f"queries and keys need the same feature size d; got {shapes}")
    if query_size is not None and queries.shape[-1] != query_size:
        raise ValueError(f"this scorer expects query_size {query_size}; got {shapes}")
    if key_size is not None and keys.shape[-1] != key_size:
        raise ValueError(f"this scorer expects key_size {key_size}; got {shapes}")
    try:
        return np.broadcast_shapes(tuple(queries.shape[:-2]), tuple(keys.shape[:-2]))
    except ValueError:
        raise ValueError(f"the leading (batch) dimensions do not broadcast: {shapes}") from None


class DotProductScorer(nn.Module):
    """``score(q, k) = q . k``: no parameters; queries and keys need the same size d."""

    def forward(self, queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        _check_pair(queries, keys, same_size=True)
        return queries @ keys.transpose(-2, -1)  # (..., n_queries, n_keys)

    def flops(self, n_queries: int, n_keys: int, query_size: int, key_size: int) -> dict:
        return {"matmul": 2 * n_queries * n_keys * query_size, "elementwise": 0}


class ScaledDotProductScorer(nn.Module):
    """``score(q, k) = q . k / sqrt(d)``: the dot product with its variance brought back to ~1."""

    def forward(self, queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        _check_pair(queries, keys, same_size=True)
        scale = 1.0 / math.sqrt(queries.shape[-1])
        return queries @ keys.transpose(-2, -1) * scale  # (..., n_queries, n_keys)

    def flops(self, n_queries: int, n_keys: int, query_size: int, key_size: int) -> dict:
        return {"matmul": 2 * n_queries * n_keys * query_size, "elementwise": n_queries * n_keys}


class MultiplicativeScorer(nn.Module):
    """Luong's "general" score ``q^T W k`` with a learned (query_size, key_size) matrix ``W``.

    Queries and keys may have different sizes. The keys are projected once, ``W k`` of shape
    (..., n_keys, query_size), and then dotted with every query.
    """

    def __init__(self, query_size: int, key_size: int):
        super().__init__()
        self.query_size, self.key_size = query_size, key_size
        # nn.Linear(key_size, query_size) holds W of shape (query_size, key_size): W k.
        self.W = nn.Linear(key_size, query_size, bias=False)

    def forward(self, queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        _check_pair(queries, keys, self.query_size, self.key_size)
        projected_keys = self.W(keys)  # (..., n_keys, query_size)
        return queries @ projected_keys.transpose(-2, -1)  # (..., n_queries, n_keys)

    def flops(self, n_queries: int, n_keys: int, query_size: int, key_size: int) -> dict:
        project = 2 * n_keys * key_size * query_size
        return {"matmul": project + 2 * n_queries * n_keys * query_size, "elementwise": 0}


class AdditiveScorer(nn.Module):
    """Bahdanau's score ``v^T tanh(W_q q + W_k k)`` with a hidden layer of ``hidden_size`` units.

    Every (query, key) pair goes through its own ``tanh`` layer, so the forward pass holds a
    (..., n_queries, n_keys, hidden_size) tensor: ``hidden_size`` times the memory of the scores.
    """

    def __init__(self, query_size: int, key_size: int, hidden_size: int):
        super().__init__()
        self.query_size, self.key_size, self.hidden_size = query_size, key_size, hidden_size
        self.W_q = nn.Linear(query_size, hidden_size, bias=False)
        self.W_k = nn.Linear(key_size, hidden_size, bias=False)
        self.v = nn.Linear(hidden_size, 1, bias=False)

    def forward(self, queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        _check_pair(queries, keys, self.query_size, self.key_size)
        projected_queries = self.W_q(queries)  # (..., n_queries, hidden)
        projected_keys = self.W_k(keys)  # (..., n_keys, hidden)
        # (..., n_queries, 1, hidden) + (..., 1, n_keys, hidden) -> (..., n_queries, n_keys, hidden)
        hidden = torch.tanh(projected_queries.unsqueeze(-2) + projected_keys.unsqueeze(-3))
        return self.v(hidden).squeeze(-1)  # (..., n_queries, n_keys)

    def flops(self, n_queries: int, n_keys: int, query_size: int, key_size: int) -> dict:
        h = self.hidden_size
        project = 2 * n_queries * query_size * h + 2 * n_keys * key_size * h
        return {"matmul": project + 2 * n_queries * n_keys * h, "elementwise": 2 * n_queries * n_keys * h}


class CosineScorer(nn.Module):
    """``score(q, k) = cos(q, k) / temperature``: the dot product of the unit vectors.

    Cosine scores lie in [-1, 1] whatever the size d, so the temperature alone sets how sharp
    the softmax can get: weights of two keys differ by at most a factor ``exp(2 / temperature)``.
    ``eps`` keeps an all-zero vector from dividing by zero (its scores are 0).
    """

    def __init__(self, temperature: float = 0.1, eps: float = 1e-8):
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be positive; got {temperature}")
        self.temperature, self.eps = float(temperature), eps

    def forward(self, queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        _check_pair(queries, keys, same_size=True)
        unit_queries = queries / queries.norm(dim=-1, keepdim=True).clamp_min(self.eps)  # (..., n_q, d)
        unit_keys = keys / keys.norm(dim=-1, keepdim=True).clamp_min(self.eps)  # (..., n_k, d)
        return unit_queries @ unit_keys.transpose(-2, -1) / self.temperature  # (..., n_q, n_k)

    def flops(self, n_queries: int, n_keys: int, query_size: int, key_size: int) -> dict:
        normalise = 3 * (n_queries + n_keys) * query_size  # square, sum, divide
        return {"matmul": 2 * n_queries * n_keys * query_size, "elementwise": normalise + n_queries * n_keys}


class Attention(nn.Module):
    """Any scorer + masked softmax + weighted sum of the values.

    ``forward(queries, keys, values, mask=None)`` returns ``(output, weights)``::

        queries (..., n_queries, query_size)   keys (..., n_keys, key_size)
        values  (..., n_keys, d_v)              mask broadcasts to (..., n_queries, n_keys)
        output  (..., n_queries, d_v)           weights (..., n_queries, n_keys)

    The mask is boolean, ``True`` where a query may attend; a query with no allowed key gets
    zero weights and a zero output.
    """

    def __init__(self, scorer: nn.Module):
        super().__init__()
        self.scorer = scorer

    def forward(self, queries, keys, values, mask=None):
        if not isinstance(values, torch.Tensor) or values.ndim < 2:
            raise ValueError(f"values must be a torch tensor of shape (..., n_keys, d_v); got {values!r:.60}")
        if values.shape[-2] != keys.shape[-2]:
            raise ValueError(
                f"keys and values need the same number of items n_keys: got keys {tuple(keys.shape)} "
                f"and values {tuple(values.shape)}"
            )
        scores = self.scorer(queries, keys)  # (..., n_queries, n_keys)
        if mask is not None:
            mask = check_mask(mask, scores.shape, "the scores (..., n_queries, n_keys)", like=scores)
        weights = softmax(scores, axis=-1, mask=mask)  # (..., n_queries, n_keys)
        return weights @ values, weights  # (..., n_queries, d_v), (..., n_queries, n_keys)
