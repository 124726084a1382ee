"""Multi-head attention as a ``torch.nn.Module``, equal to ``torch.nn.MultiheadAttention``.

The forward pass, step by step (shapes for self-attention on ``(batch, n, d_model)``):

1. project: ``q = q_proj(query)``, ``k = k_proj(key)``, ``v = v_proj(value)``;
2. split heads: ``(batch, n, heads * d_head)`` → ``(batch, heads, n, d_head)``;
3. rotary positions (optional): rotate q and k by their positions;
4. KV cache (optional): append the new k and v to the keys and values of earlier tokens;
5. grouped-query attention: repeat each k/v head for the ``num_heads // num_kv_heads`` query
   heads that share it;
6. scores ``q k^T / sqrt(d_head)`` (+ an optional additive score bias), masked softmax,
   weights ``@ v``;
7. merge heads back to ``(batch, n, d_model)`` and project with ``out_proj``.

Masks are boolean, True = may attend (as ``F.scaled_dot_product_attention``), and broadcast to
``(batch, heads, n_queries, n_keys)``. A query with no allowed key gets zero weights and a zero
output, never NaN. ``torch.nn.MultiheadAttention`` uses the opposite convention (True = blocked):
convert its ``key_padding_mask`` with ``~key_padding_mask[:, None, None, :]`` and a boolean
``attn_mask`` with ``~attn_mask``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .._arrays import check_mask
from ..softmax import softmax
from .positions import apply_rope


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """``(batch, n, num_heads * d_head)`` → ``(batch, num_heads, n, d_head)``.

    The last axis is cut into ``num_heads`` consecutive blocks of ``d_head`` features (head h owns
    features ``h*d_head .. (h+1)*d_head - 1``), then the head axis moves in front of the tokens.
    """
    if x.ndim != 3:
        raise ValueError(f"split_heads expects (batch, n, features); got shape {tuple(x.shape)}")
    batch, n, features = x.shape
    if num_heads < 1 or features % num_heads != 0:
        raise ValueError(f"cannot split {features} features into {num_heads} heads: {features} % {num_heads} != 0")
    return x.view(batch, n, num_heads, features // num_heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """``(batch, num_heads, n, d_head)`` → ``(batch, n, num_heads * d_head)``, the inverse of :func:`split_heads`."""
    if x.ndim != 4:
        raise ValueError(f"merge_heads expects (batch, num_heads, n, d_head); got shape {tuple(x.shape)}")
    batch, num_heads, n, d_head = x.shape
    return x.transpose(1, 2).reshape(batch, n, num_heads * d_head)


class KVCache:
    """Keys and values of the tokens seen so far, for one attention layer during generation.

    ``keys`` and ``values`` have shape ``(batch, num_kv_heads, n_cached, d_head)``; they are
    stored after the rotary embedding (if any) and before grouped-query heads are repeated, so a
    model with fewer k/v heads stores proportionally less.
    """

    def __init__(self):
        self.keys: torch.Tensor | None = None
        self.values: torch.Tensor | None = None

    @property
    def length(self) -> int:
        """Number of cached tokens."""
        return 0 if self.keys is None else self.keys.shape[-2]

    @property
    def nbytes(self) -> int:
        """Memory held by the cached keys and values, in bytes."""
        if self.keys is None:
            return 0
        return self.keys.numel() * self.keys.element_size() + self.values.numel() * self.values.element_size()

    def append(self, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Add the new tokens' ``(batch, num_kv_heads, n_new, d_head)`` keys and values; return all of them."""
        if keys.shape != values.shape:
            raise ValueError(f"keys {tuple(keys.shape)} and values {tuple(values.shape)} must have one shape")
        if self.keys is None:
            self.keys, self.values = keys, values
        else:
            if keys.shape[:2] != self.keys.shape[:2] or keys.shape[-1] != self.keys.shape[-1]:
                raise ValueError(
                    f"new keys of shape {tuple(keys.shape)} do not fit the cached keys of shape "
                    f"{tuple(self.keys.shape)}: batch, heads and d_head must agree"
                )
            self.keys = torch.cat((self.keys, keys), dim=-2)  # (batch, kv_heads, n_cached + n_new, d_head)
            self.values = torch.cat((self.values, values), dim=-2)
        return self.keys, self.values

    def reset(self) -> None:
        """Forget every cached token."""
        self.keys = self.values = None

    def __repr__(self) -> str:
        return f"KVCache(length={self.length}, nbytes={self.nbytes})"


def bottom_right_causal_mask(n_queries: int, n_keys: int, device=None) -> torch.Tensor:
    """Boolean ``(n_queries, n_keys)``: query i sees keys ``0 .. n_keys - n_queries + i``.

    The last query sees every key. With ``n_queries == n_keys`` this is the usual lower
    triangle; with a KV cache (n_keys = cached + new tokens) it lets each new token see all
    earlier tokens and itself.
    """
    query_index = torch.arange(n_queries, device=device)[:, None]  # (n_queries, 1)
    key_index = torch.arange(n_keys, device=device)[None, :]  # (1, n_keys)
    return key_index <= query_index + (n_keys - n_queries)


class MultiHeadAttention(nn.Module):
    """Multi-head attention (Vaswani et al. 2017), with grouped-query heads, RoPE and a KV cache.

    Args:
        d_model: size of the query input and of the output; split into ``num_heads`` heads of
            ``d_head = d_model // num_heads`` features.
        num_heads: number of query heads.
        num_kv_heads: number of key/value heads. ``None`` = ``num_heads`` (classic multi-head
            attention); 1 = multi-query attention (Shazeer 2019); in between = grouped-query
            attention (Ainslie et al. 2023): each k/v head serves ``num_heads // num_kv_heads``
            consecutive query heads.
        bias: whether the four projections have biases.
        dropout: dropout probability on the attention weights (training mode only).
        kdim, vdim: feature sizes of the key and value inputs (default ``d_model``).
        rope_theta: if not None, rotary position embeddings with this base on q and k.
        use_sdpa: compute step 6 with ``F.scaled_dot_product_attention`` (fused kernels, same
            result) instead of the book's own masked softmax. Weights are not returned by that
            kernel, so ``need_weights=True`` always takes the book's path.

    Submodules ``q_proj``, ``k_proj``, ``v_proj``, ``out_proj`` are ``nn.Linear`` layers.

    Attribute ``edit_weights`` (default ``None``): a function from the attention weights
    (batch, heads, n_q, n_k) to weights of the same shape, applied after the softmax and before
    the weights multiply the values; for experiments that replace or permute attention (chapter
    6). While it is set, the book's path is used even with ``use_sdpa``, and the returned weights
    are the edited ones.
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        num_kv_heads: int | None = None,
        bias: bool = True,
        dropout: float = 0.0,
        kdim: int | None = None,
        vdim: int | None = None,
        rope_theta: float | None = None,
        use_sdpa: bool = False,
    ):
        super().__init__()
        num_kv_heads = num_heads if num_kv_heads is None else num_kv_heads
        if num_heads < 1 or d_model % num_heads != 0:
            raise ValueError(
                f"d_model must be divisible by num_heads: got d_model={d_model}, num_heads={num_heads} "
                f"({d_model} % {num_heads} = {d_model % num_heads if num_heads > 0 else 'undefined'})"
            )
        if num_kv_heads < 1 or num_heads % num_kv_heads != 0:
            raise ValueError(
                f"num_heads must be divisible by num_kv_heads: got num_heads={num_heads}, "
                f"num_kv_heads={num_kv_heads}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1); got {dropout}")
        self.d_model = d_model
        self.num_heads = num_heads
        self.num_kv_heads = num_kv_heads
        self.d_head = d_model // num_heads
        if rope_theta is not None and self.d_head % 2 != 0:
            raise ValueError(
                f"rotary embeddings need an even d_head; got d_head={self.d_head} "
                f"(d_model={d_model} / num_heads={num_heads})"
            )
        self.kdim = d_model if kdim is None else kdim
        self.vdim = d_model if vdim is None else vdim
        self.dropout = dropout
        self.rope_theta = rope_theta
        self.edit_weights: Callable[[torch.Tensor], torch.Tensor] | None = None
        self.use_sdpa = use_sdpa
        kv_features = num_kv_heads * self.d_head
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(self.kdim, kv_features, bias=bias)
        self.v_proj = nn.Linear(self.vdim, kv_features, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def extra_repr(self) -> str:
        return (
            f"d_model={self.d_model}, num_heads={self.num_heads}, num_kv_heads={self.num_kv_heads}, "
            f"d_head={self.d_head}, dropout={self.dropout}, rope_theta={self.rope_theta}, use_sdpa={self.use_sdpa}"
        )

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor | None = None,
        value: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        *,
        is_causal: bool = False,
        need_weights: bool = False,
        positions: torch.Tensor | None = None,
        cache: KVCache | None = None,
        score_bias: torch.Tensor | None = None,
    ):
        """Attend from ``query`` (batch, n_q, d_model) to ``key`` (batch, n_k, kdim) / ``value`` (batch, n_k, vdim).

        ``key`` defaults to ``query`` and ``value`` to ``key`` (self-attention). ``mask``: boolean,
        True = may attend, broadcasting to (batch, heads, n_q, n_k). ``is_causal``: also hide
        future keys, aligned at the bottom right (see :func:`bottom_right_causal_mask`).
        ``positions``: (n_q,) integer positions for RoPE (default: ``cache.length + arange(n_q)``).
        ``cache``: a :class:`KVCache` the new keys and values are appended to and attended over.
        ``score_bias``: float tensor added to the scaled scores, broadcasting to
        (batch, heads, n_q, n_k) (ALiBi, relative position biases).

        Returns ``output`` (batch, n_q, d_model), or ``(output, weights)`` with weights
        (batch, heads, n_q, n_k) when ``need_weights`` (before dropout).
        """
        key = query if key is None else key
        value = key if value is None else value
        self._check_inputs(query, key, value)
        n_cached = 0 if cache is None else cache.length

        q = split_heads(self.q_proj(query), self.num_heads)  # (batch, heads, n_q, d_head)
        k = split_heads(self.k_proj(key), self.num_kv_heads)  # (batch, kv_heads, n_new, d_head)
        v = split_heads(self.v_proj(value), self.num_kv_heads)  # (batch, kv_heads, n_new, d_head)

        if self.rope_theta is not None:
            q_positions, k_positions = self._rope_positions(positions, q.shape[-2], k.shape[-2], n_cached, q.device)
            q = apply_rope(q, q_positions, self.rope_theta)
            k = apply_rope(k, k_positions, self.rope_theta)

        if cache is not None:
            k, v = cache.append(k, v)  # (batch, kv_heads, n_k = n_cached + n_new, d_head)

        group_size = self.num_heads // self.num_kv_heads
        if group_size > 1:  # grouped-query: kv head j serves query heads j*group_size .. (j+1)*group_size - 1
            k = k.repeat_interleave(group_size, dim=1)  # (batch, heads, n_k, d_head)
            v = v.repeat_interleave(group_size, dim=1)

        n_q, n_k = q.shape[-2], k.shape[-2]
        scores_shape = (query.shape[0], self.num_heads, n_q, n_k)
        causal_only = is_causal and mask is None and n_q == n_k  # PyTorch's kernel can build this mask itself
        mask = self._combine_masks(mask, is_causal, scores_shape, q.device)  # None or bool, broadcasts
        if score_bias is not None:
            score_bias = self._check_score_bias(score_bias, scores_shape, q)

        if self.use_sdpa and not need_weights and self.edit_weights is None:
            heads = self._sdpa_core(q, k, v, mask, score_bias, causal_only)
            weights = None
        else:
            heads, weights = self._attention_core(q, k, v, mask, score_bias)  # (batch, heads, n_q, d_head)

        output = self.out_proj(merge_heads(heads))  # (batch, n_q, d_model)
        return (output, weights) if need_weights else output

    def _attention_core(self, q, k, v, mask, score_bias):
        """The book's step 6: ``softmax(q k^T / sqrt(d_head) + bias, masked) @ v``."""
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_head)  # (batch, heads, n_q, n_k)
        if score_bias is not None:
            scores = scores + score_bias
        if mask is None:  # nothing hidden, no empty row: PyTorch's softmax gives the same weights
            weights = torch.softmax(scores, dim=-1)
        else:  # the book's masked softmax: a fully masked row gets zero weights, not NaN
            weights = softmax(scores, axis=-1, mask=mask)
        if self.edit_weights is not None:
            weights = self._edited(weights)
        dropped = F.dropout(weights, p=self.dropout, training=self.training)
        return dropped @ v, weights  # (batch, heads, n_q, d_head), (batch, heads, n_q, n_k)

    def _edited(self, weights: torch.Tensor) -> torch.Tensor:
        edited = self.edit_weights(weights)
        if not isinstance(edited, torch.Tensor) or edited.shape != weights.shape:
            got = tuple(edited.shape) if isinstance(edited, torch.Tensor) else type(edited).__name__
            raise ValueError(f"edit_weights must return a tensor of shape {tuple(weights.shape)}; got {got}")
        return edited

    def _sdpa_core(self, q, k, v, mask, score_bias, causal_only):
        """Step 6 with PyTorch's fused kernel; rows with no allowed key are set to zero, as in the book."""
        dropout_p = self.dropout if self.training else 0.0
        if causal_only and score_bias is None:  # is_causal=True is aligned top left: equal when n_q == n_k
            return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
        empty_rows = None
        if mask is not None:
            empty_rows = ~mask.any(dim=-1, keepdim=True)  # (..., n_q, 1): queries with no allowed key
            mask = mask | empty_rows  # let them attend anywhere (finite result), then zero them below
        attn_mask = mask
        if score_bias is not None:
            attn_mask = score_bias if mask is None else score_bias.masked_fill(~mask, float("-inf"))
        heads = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p)
        if empty_rows is not None:
            heads = heads.masked_fill(empty_rows, 0.0)
        return heads

    def _check_inputs(self, query, key, value) -> None:
        expected = {"query": (query, self.d_model), "key": (key, self.kdim), "value": (value, self.vdim)}
        for name, (x, features) in expected.items():
            if x.ndim != 3 or x.shape[-1] != features:
                raise ValueError(
                    f"{name} must have shape (batch, n, {features}) (batch-first); got shape {tuple(x.shape)}"
                )
        if not (query.shape[0] == key.shape[0] == value.shape[0]):
            raise ValueError(
                f"query, key and value need one batch size: got {tuple(query.shape)}, {tuple(key.shape)}, "
                f"{tuple(value.shape)}"
            )
        if key.shape[1] != value.shape[1]:
            raise ValueError(f"key {tuple(key.shape)} and value {tuple(value.shape)} need the same number of tokens")

    def _rope_positions(self, positions, n_q, n_new, n_cached, device):
        """Positions of the queries and of the new keys: given, or ``n_cached + arange``."""
        if positions is None:
            return (
                torch.arange(n_cached, n_cached + n_q, device=device),
                torch.arange(n_cached, n_cached + n_new, device=device),
            )
        if n_new != n_q:
            raise ValueError(
                f"positions are shared by queries and keys, so they need the same length: n_q={n_q}, n_k={n_new}"
            )
        return positions, positions

    @staticmethod
    def _combine_masks(mask, is_causal, scores_shape, device):
        """``mask`` and the causal mask combined (logical and), checked to broadcast to the scores."""
        if mask is not None:
            if not isinstance(mask, torch.Tensor):
                raise ValueError(f"mask must be a boolean torch tensor; got {type(mask).__name__}")
            mask = check_mask(mask, scores_shape, "the scores (batch, heads, n_queries, n_keys)", like=mask)
            mask = mask.to(device)
        if is_causal and scores_shape[-2] > 1:  # one query (the newest token) may see every key: nothing to hide
            causal = bottom_right_causal_mask(scores_shape[-2], scores_shape[-1], device=device)
            mask = causal if mask is None else mask & causal
        return mask

    @staticmethod
    def _check_score_bias(score_bias, scores_shape, like):
        if not isinstance(score_bias, torch.Tensor) or not score_bias.is_floating_point():
            raise ValueError(f"score_bias must be a float tensor; got {getattr(score_bias, 'dtype', type(score_bias))}")
        try:
            broadcast = torch.broadcast_shapes(score_bias.shape, scores_shape)
        except RuntimeError:
            broadcast = None
        if tuple(broadcast or ()) != tuple(scores_shape):
            raise ValueError(
                f"score_bias of shape {tuple(score_bias.shape)} does not broadcast to the scores "
                f"(batch, heads, n_queries, n_keys) = {tuple(scores_shape)}"
            )
        return score_bias.to(device=like.device, dtype=like.dtype)

    @classmethod
    def from_torch(cls, m: nn.MultiheadAttention) -> MultiHeadAttention:
        """A copy of ``m`` whose output equals m's (on batch-first input; transpose if ``m.batch_first`` is False).

        Copies the packed ``in_proj_weight`` (or the separate ``q/k/v_proj_weight`` when kdim or
        vdim differ from embed_dim), ``in_proj_bias`` and ``out_proj``. Masks translate as
        ``mask = ~key_padding_mask[:, None, None, :]`` and ``mask = ~attn_mask`` (boolean; a float
        additive mask becomes ``attn_mask == 0``). ``m``'s ``need_weights`` averages over heads by
        default; ours returns every head (compare with ``average_attn_weights=False``).
        """
        if not isinstance(m, nn.MultiheadAttention):
            raise ValueError(f"from_torch expects an nn.MultiheadAttention; got {type(m).__name__}")
        if m.bias_k is not None or m.add_zero_attn:
            raise ValueError("add_bias_kv and add_zero_attn are not supported (they add an extra key)")
        reference = m.out_proj.weight
        ours = cls(
            m.embed_dim,
            m.num_heads,
            bias=m.in_proj_bias is not None,
            dropout=m.dropout,
            kdim=m.kdim,
            vdim=m.vdim,
        ).to(device=reference.device, dtype=reference.dtype)
        d = m.embed_dim
        with torch.no_grad():
            if m._qkv_same_embed_dim:
                q_weight, k_weight, v_weight = m.in_proj_weight.split(d, dim=0)  # each (d, d)
            else:
                q_weight, k_weight, v_weight = m.q_proj_weight, m.k_proj_weight, m.v_proj_weight
            ours.q_proj.weight.copy_(q_weight)
            ours.k_proj.weight.copy_(k_weight)
            ours.v_proj.weight.copy_(v_weight)
            ours.out_proj.weight.copy_(m.out_proj.weight)
            if m.in_proj_bias is not None:
                q_bias, k_bias, v_bias = m.in_proj_bias.split(d)
                ours.q_proj.bias.copy_(q_bias)
                ours.k_proj.bias.copy_(k_bias)
                ours.v_proj.bias.copy_(v_bias)
                ours.out_proj.bias.copy_(m.out_proj.bias)
        ours.train(m.training)
        return ours
