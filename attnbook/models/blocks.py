"""The Transformer block: attention and a feed-forward network, each inside a residual connection.

Two ways to place the normalisation (``norm_first`` as in ``torch.nn``):

* post-norm, ``norm_first=False`` (Vaswani et al. 2017, the original Transformer and BERT):
  ``x = norm(x + sublayer(x))``;
* pre-norm, ``norm_first=True`` (GPT-2, GPT-3, Llama and most models since):
  ``x = x + sublayer(norm(x))``; the residual path is an identity from input to output, which
  keeps gradients well-scaled in deep stacks (Xiong et al. 2020).

:class:`TransformerEncoderLayer` and :class:`TransformerDecoderLayer` take ``torch.nn``'s argument
names, are always batch-first, use the book's masks (boolean, True = may attend, broadcasting to
``(batch, heads, n_queries, n_keys)``) and have ``from_torch`` to copy a ``torch.nn`` layer. Masks
translate from torch as: ``src_key_padding_mask`` (True = padding) → ``~pad[:, None, None, :]``;
a boolean ``src_mask`` / ``tgt_mask`` (True = blocked) → ``~mask``; a float additive mask
(0 / -inf) → ``mask == 0``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .attention import KVCache, MultiHeadAttention

ACTIVATIONS = ("relu", "gelu", "swiglu")
NORMS = ("layernorm", "rmsnorm")


class RMSNorm(nn.Module):
    """Root-mean-square normalisation (Zhang and Sennrich 2019): ``x / sqrt(mean(x^2) + eps) * weight``.

    Unlike LayerNorm it does not subtract the mean and has no bias. Equal to ``torch.nn.RMSNorm``
    with the same ``eps`` and a copied weight. Computed in at least float32.
    """

    def __init__(self, d_model: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        compute_dtype = torch.promote_types(x.dtype, torch.float32)
        x_wide = x.to(compute_dtype)
        mean_square = x_wide.pow(2).mean(dim=-1, keepdim=True)  # (..., 1)
        return (x_wide * torch.rsqrt(mean_square + self.eps)).to(x.dtype) * self.weight

    def extra_repr(self) -> str:
        return f"{self.weight.shape[0]}, eps={self.eps}"


class SwiGLU(nn.Module):
    """Gated feed-forward ``w2(silu(w1 x) * w3 x)`` (Shazeer 2020), as in Llama.

    ``w1`` (the gate) and ``w3`` map ``d_model → dim_feedforward``, ``w2`` maps back. Three
    matrices instead of two, so models using it shrink ``dim_feedforward`` (about 8/3·d_model
    instead of 4·d_model) to keep the parameter count.
    """

    def __init__(self, d_model: int, dim_feedforward: int, bias: bool = False):
        super().__init__()
        self.w1 = nn.Linear(d_model, dim_feedforward, bias=bias)
        self.w3 = nn.Linear(d_model, dim_feedforward, bias=bias)
        self.w2 = nn.Linear(dim_feedforward, d_model, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class FeedForward(nn.Module):
    """Position-wise feed-forward network: ``linear2(dropout(act(linear1(x))))``, as in ``torch.nn``'s layers.

    ``activation``: ``"relu"`` (the 2017 paper), ``"gelu"`` (exact erf form, as ``torch.nn``;
    GPT-2 used the tanh approximation) or ``"swiglu"``, which adds ``linear3`` and computes
    ``linear2(dropout(silu(linear1(x)) * linear3(x)))`` (:class:`SwiGLU` with
    w1 = linear1, w3 = linear3, w2 = linear2).
    """

    def __init__(
        self, d_model: int, dim_feedforward: int, activation: str = "relu", dropout: float = 0.0, bias: bool = True
    ):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}; got {activation!r}")
        self.activation = activation
        self.linear1 = nn.Linear(d_model, dim_feedforward, bias=bias)
        if activation == "swiglu":
            self.linear3 = nn.Linear(d_model, dim_feedforward, bias=bias)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.linear1(x)  # (..., dim_feedforward)
        if self.activation == "relu":
            hidden = F.relu(hidden)
        elif self.activation == "gelu":
            hidden = F.gelu(hidden)
        else:
            hidden = F.silu(hidden) * self.linear3(x)
        return self.linear2(self.dropout(hidden))  # (..., d_model)


def make_norm(norm: str, d_model: int, eps: float, bias: bool = True) -> nn.Module:
    """``nn.LayerNorm`` (``"layernorm"``, with a bias if ``bias``) or :class:`RMSNorm` (``"rmsnorm"``)."""
    if norm == "layernorm":
        return nn.LayerNorm(d_model, eps=eps, bias=bias)
    if norm == "rmsnorm":
        return RMSNorm(d_model, eps=eps)
    raise ValueError(f"norm must be one of {NORMS}; got {norm!r}")


def _torch_activation_name(layer: nn.Module) -> str:
    """``"relu"`` or ``"gelu"`` for a torch Transformer layer; ValueError for a custom activation."""
    code = getattr(layer, "activation_relu_or_gelu", 0)
    if code == 1 or layer.activation in (F.relu,) or isinstance(layer.activation, nn.ReLU):
        return "relu"
    if code == 2 or layer.activation in (F.gelu,) or isinstance(layer.activation, nn.GELU):
        return "gelu"
    raise ValueError(f"only relu and gelu activations can be copied; got {layer.activation!r}")


def _torch_layer_config(layer: nn.Module) -> dict:
    """The constructor arguments shared by our encoder and decoder layers, read off a torch layer."""
    return {
        "d_model": layer.self_attn.embed_dim,
        "nhead": layer.self_attn.num_heads,
        "dim_feedforward": layer.linear1.out_features,
        "dropout": layer.dropout.p,
        "activation": _torch_activation_name(layer),
        "layer_norm_eps": layer.norm1.eps,
        "norm_first": layer.norm_first,
        "bias": layer.linear1.bias is not None,
    }


def _copy_linear(target: nn.Linear, source: nn.Linear) -> None:
    target.weight.copy_(source.weight)
    if source.bias is not None:
        target.bias.copy_(source.bias)


def _copy_norm(target: nn.Module, source: nn.LayerNorm) -> None:
    target.weight.copy_(source.weight)
    if source.bias is not None:
        target.bias.copy_(source.bias)


class TransformerEncoderLayer(nn.Module):
    """Self-attention and feed-forward, each with a residual connection and a norm; like ``nn.TransformerEncoderLayer``.

    Arguments as ``torch.nn`` (always batch-first), plus: ``num_kv_heads`` (grouped-query
    attention), ``norm`` (``"layernorm"`` or ``"rmsnorm"``), ``activation="swiglu"``,
    ``rope_theta`` (rotary positions inside attention) and ``use_sdpa`` (PyTorch's fused
    attention kernel). With those extras at their defaults the layer has torch's submodules
    ``self_attn``, ``norm1``, ``norm2``, ``dropout1``, ``dropout2`` and ``ff`` (whose ``linear1``,
    ``dropout``, ``linear2`` are torch's ``linear1``, ``dropout``, ``linear2``). The decoder-only
    :class:`attnbook.GPT` is a stack of these layers with ``norm_first=True`` and a causal mask.

    ``forward(src, src_mask=None, is_causal=False)``: ``src`` (batch, n, d_model); ``src_mask``
    boolean, True = may attend. From torch: ``src_mask = ~src_key_padding_mask[:, None, None, :]``.
    Keyword-only ``positions``, ``cache`` and ``need_weights`` go to the attention layer (used by
    GPT); with ``need_weights=True`` the result is ``(output, weights (batch, heads, n, n))``.
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str = "relu",
        layer_norm_eps: float = 1e-5,
        norm_first: bool = False,
        bias: bool = True,
        num_kv_heads: int | None = None,
        norm: str = "layernorm",
        rope_theta: float | None = None,
        use_sdpa: bool = False,
    ):
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(
            d_model, nhead, num_kv_heads=num_kv_heads, bias=bias, dropout=dropout, rope_theta=rope_theta,
            use_sdpa=use_sdpa,
        )
        self.ff = FeedForward(d_model, dim_feedforward, activation, dropout, bias)
        self.norm1 = make_norm(norm, d_model, layer_norm_eps, bias)
        self.norm2 = make_norm(norm, d_model, layer_norm_eps, bias)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(
        self,
        src: torch.Tensor,
        src_mask: torch.Tensor | None = None,
        is_causal: bool = False,
        *,
        positions: torch.Tensor | None = None,
        cache: KVCache | None = None,
        need_weights: bool = False,
    ):
        x = src  # (batch, n, d_model)
        if self.norm_first:  # pre-norm: x + sublayer(norm(x))
            attended, weights = self._self_attention(self.norm1(x), src_mask, is_causal, positions, cache, need_weights)
            x = x + attended
            x = x + self.dropout2(self.ff(self.norm2(x)))
        else:  # post-norm: norm(x + sublayer(x))
            attended, weights = self._self_attention(x, src_mask, is_causal, positions, cache, need_weights)
            x = self.norm1(x + attended)
            x = self.norm2(x + self.dropout2(self.ff(x)))
        return (x, weights) if need_weights else x

    def _self_attention(self, x, mask, is_causal, positions, cache, need_weights):
        result = self.self_attn(
            x, mask=mask, is_causal=is_causal, positions=positions, cache=cache, need_weights=need_weights
        )
        output, weights = result if need_weights else (result, None)
        return self.dropout1(output), weights

    @classmethod
    def from_torch(cls, layer: nn.TransformerEncoderLayer) -> TransformerEncoderLayer:
        """A copy of a ``torch.nn.TransformerEncoderLayer`` (relu or gelu) whose output equals its output.

        Ours is batch-first: transpose the input when ``layer.self_attn.batch_first`` is False.
        """
        if not isinstance(layer, nn.TransformerEncoderLayer):
            raise ValueError(f"from_torch expects an nn.TransformerEncoderLayer; got {type(layer).__name__}")
        ours = cls(**_torch_layer_config(layer))
        ours.to(device=layer.linear1.weight.device, dtype=layer.linear1.weight.dtype)
        ours.self_attn = MultiHeadAttention.from_torch(layer.self_attn)
        with torch.no_grad():
            _copy_linear(ours.ff.linear1, layer.linear1)
            _copy_linear(ours.ff.linear2, layer.linear2)
            _copy_norm(ours.norm1, layer.norm1)
            _copy_norm(ours.norm2, layer.norm2)
        ours.train(layer.training)
        return ours


class TransformerDecoderLayer(nn.Module):
    """Causal self-attention, cross-attention to the encoder's memory, feed-forward; like ``nn.TransformerDecoderLayer``.

    Submodules ``self_attn``, ``cross_attn`` (torch's ``multihead_attn``), ``ff`` (``linear1``,
    ``linear2``), ``norm1``, ``norm2``, ``norm3``. Arguments as :class:`TransformerEncoderLayer`.

    ``forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_is_causal=False)``: ``tgt``
    (batch, n_tgt, d_model), ``memory`` (batch, n_src, d_model); ``tgt_mask`` broadcasts to
    (batch, heads, n_tgt, n_tgt), ``memory_mask`` to (batch, heads, n_tgt, n_src), True = may
    attend. From torch: ``tgt_mask = ~tgt_mask_torch`` (or ``tgt_is_causal=True`` for the causal
    one), ``memory_mask = ~memory_key_padding_mask[:, None, None, :]``. With keyword-only
    ``need_weights=True`` the result is ``(output, (self_weights, cross_weights))``, each
    (batch, heads, n_tgt, n_keys).
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str = "relu",
        layer_norm_eps: float = 1e-5,
        norm_first: bool = False,
        bias: bool = True,
        num_kv_heads: int | None = None,
        norm: str = "layernorm",
        use_sdpa: bool = False,
    ):
        super().__init__()
        self.norm_first = norm_first
        attention = dict(num_kv_heads=num_kv_heads, bias=bias, dropout=dropout, use_sdpa=use_sdpa)
        self.self_attn = MultiHeadAttention(d_model, nhead, **attention)
        self.cross_attn = MultiHeadAttention(d_model, nhead, **attention)
        self.ff = FeedForward(d_model, dim_feedforward, activation, dropout, bias)
        self.norm1 = make_norm(norm, d_model, layer_norm_eps, bias)
        self.norm2 = make_norm(norm, d_model, layer_norm_eps, bias)
        self.norm3 = make_norm(norm, d_model, layer_norm_eps, bias)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)

    def forward(
        self,
        tgt: torch.Tensor,
        memory: torch.Tensor,
        tgt_mask: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
        tgt_is_causal: bool = False,
        *,
        need_weights: bool = False,
    ):
        x = tgt  # (batch, n_tgt, d_model)
        if self.norm_first:  # pre-norm
            attended, self_weights = self._self_block(self.norm1(x), tgt_mask, tgt_is_causal, need_weights)
            x = x + attended
            attended, cross_weights = self._cross_block(self.norm2(x), memory, memory_mask, need_weights)
            x = x + attended
            x = x + self.dropout3(self.ff(self.norm3(x)))
        else:  # post-norm
            attended, self_weights = self._self_block(x, tgt_mask, tgt_is_causal, need_weights)
            x = self.norm1(x + attended)
            attended, cross_weights = self._cross_block(x, memory, memory_mask, need_weights)
            x = self.norm2(x + attended)
            x = self.norm3(x + self.dropout3(self.ff(x)))
        return (x, (self_weights, cross_weights)) if need_weights else x

    def _self_block(self, x, mask, is_causal, need_weights):
        result = self.self_attn(x, mask=mask, is_causal=is_causal, need_weights=need_weights)
        output, weights = result if need_weights else (result, None)
        return self.dropout1(output), weights

    def _cross_block(self, x, memory, mask, need_weights):
        result = self.cross_attn(x, memory, memory, mask=mask, need_weights=need_weights)
        output, weights = result if need_weights else (result, None)
        return self.dropout2(output), weights

    @classmethod
    def from_torch(cls, layer: nn.TransformerDecoderLayer) -> TransformerDecoderLayer:
        """A copy of a ``torch.nn.TransformerDecoderLayer`` (relu or gelu) whose output equals its output."""
        if not isinstance(layer, nn.TransformerDecoderLayer):
            raise ValueError(f"from_torch expects an nn.TransformerDecoderLayer; got {type(layer).__name__}")
        ours = cls(**_torch_layer_config(layer))
        ours.to(device=layer.linear1.weight.device, dtype=layer.linear1.weight.dtype)
        ours.self_attn = MultiHeadAttention.from_torch(layer.self_attn)
        ours.cross_attn = MultiHeadAttention.from_torch(layer.multihead_attn)
        with torch.no_grad():
            _copy_linear(ours.ff.linear1, layer.linear1)
            _copy_linear(ours.ff.linear2, layer.linear2)
            for name in ("norm1", "norm2", "norm3"):
                _copy_norm(getattr(ours, name), getattr(layer, name))
        ours.train(layer.training)
        return ours
