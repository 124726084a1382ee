"""ALiBi, attention with linear biases (Press et al. 2021): positions as a penalty on the scores.

No position vectors at all: each head ``h`` adds ``-m_h * distance`` to the score of a query and
a key that are ``distance`` tokens apart, so far-away keys lose weight linearly in the logits,
at a different rate (slope ``m_h``) in each head.

Slopes: for ``n`` heads with ``n`` a power of two, the geometric sequence
``m_h = 2^(-8h/n)`` for ``h = 1..n`` (8 heads: 1/2, 1/4, ..., 1/256). Otherwise, with ``p`` the
largest power of two below ``n``: the ``p`` slopes for ``p`` heads, followed by every other
slope of the ``2p``-head sequence (the odd-numbered ones, ``2^(-8h/(2p))`` for h = 1, 3, 5, ...)
until there are ``n``; this is the paper's rule (and its reference code).

Sign and alignment of :func:`alibi_bias`: ``bias[h, i, j] = -m_h * (pos_q(i) - j)``, where key
``j`` sits at position ``j`` and query ``i`` at position ``pos_q(i) = n_keys - n_queries + i``.
So the queries are the **last** ``n_queries`` positions (bottom-right alignment, the same as
``MultiHeadAttention(..., is_causal=True)`` and a KV cache: a single new query sees every key).
The bias is 0 for a query's own key and more negative the further back a key is. Entries with
``j > pos_q(i)`` (future keys) are positive; they are meant to be hidden by the causal mask.
Adding a constant to a row changes no weight (softmax is shift-invariant), which is why the
reference implementation can add ``m_h * j`` instead: the same weights under a causal mask.
"""

from __future__ import annotations

import math

import torch

__all__ = ["alibi_bias", "alibi_slopes"]


def _power_of_two_slopes(n: int) -> list[float]:
    """``2^(-8h/n)`` for h = 1..n (n a power of two)."""
    return [2.0 ** (-8.0 * h / n) for h in range(1, n + 1)]


def alibi_slopes(n_heads: int, dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """The ALiBi slope of each head, ``(n_heads,)`` (see the module docstring for the rule)."""
    if isinstance(n_heads, bool) or not isinstance(n_heads, int) or n_heads < 1:
        raise ValueError(f"n_heads must be a positive integer; got {n_heads!r}")
    if n_heads & (n_heads - 1) == 0:  # a power of two
        slopes = _power_of_two_slopes(n_heads)
    else:
        closest = 2 ** math.floor(math.log2(n_heads))
        slopes = _power_of_two_slopes(closest) + _power_of_two_slopes(2 * closest)[0::2][: n_heads - closest]
    return torch.tensor(slopes, dtype=dtype, device=device)


def alibi_bias(n_heads: int, n_queries: int, n_keys: int, dtype: torch.dtype = torch.float32,
               device=None) -> torch.Tensor:
    """ALiBi score bias ``(n_heads, n_queries, n_keys)``: ``-slope_h * (query position - key position)``.

    Queries are the last ``n_queries`` of the ``n_keys`` positions (bottom-right alignment; see the
    module docstring). Pass it as ``MultiHeadAttention(...)(x, is_causal=True, score_bias=bias)``;
    it broadcasts to ``(batch, heads, n_queries, n_keys)``.
    """
    for name, value in (("n_queries", n_queries), ("n_keys", n_keys)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}")
    if n_queries > n_keys:
        raise ValueError(
            f"n_queries={n_queries} > n_keys={n_keys}: the queries are the last n_queries of the key "
            "positions, so there cannot be more queries than keys"
        )
    slopes = alibi_slopes(n_heads, dtype=dtype, device=device)  # (heads,)
    query_positions = torch.arange(n_keys - n_queries, n_keys, device=device)  # (n_queries,)
    key_positions = torch.arange(n_keys, device=device)  # (n_keys,)
    offset = (key_positions[None, :] - query_positions[:, None]).to(dtype)  # (n_queries, n_keys): j - i, <= 0 in the past
    return slopes[:, None, None] * offset  # (heads, n_queries, n_keys) = -slope * (i - j), and exactly 0 on the diagonal
