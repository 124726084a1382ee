"""A small Transformer encoder for sequence classification (chapter 5, section 2; chapter 6 reuses it).

Tokens are embedded, learned positions added (or rotary positions inside attention, or none),
and a stack of pre-norm :class:`attnbook.TransformerEncoderLayer` s mixes them. One vector per sequence is then made by
one of three **poolings**, and a small head turns it into class logits:

* ``"cls"``: a learned ``[CLS]`` vector is put in front of the tokens (as BERT, Devlin et al.
  2018, and the Vision Transformer do); its output after the last layer is the summary. The
  pooling weights reported are that layer's attention from ``[CLS]`` to the tokens, averaged
  over the heads.
* ``"attention"``: attention pooling with one learned query ``w``: weights
  ``a = softmax(H w / sqrt(d_model))`` over the tokens' final states ``H``, summary ``a^T H``.
* ``"mean"``: the plain average of the final states (every token counts the same). With
  ``num_layers=0`` and ``positions="none"`` this is the bag-of-embeddings baseline: no attention
  anywhere and no information about word order (its output does not change when the tokens are
  shuffled). Keep ``positions="none"`` for that: with position embeddings, the per-position
  LayerNorm before the average is nonlinear, so order would leak in.

Shapes:

    tokens             (batch, n)              int64, ids in 0..vocab_size-1
    logits             (batch, num_classes)
    weights["layers"]  list over layers of (batch, heads, n', n'), n' = n + 1 with [CLS] (position 0)
    weights["pooling"] (batch, n)              weight of each input token in the summary
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..softmax import softmax
from .blocks import TransformerEncoderLayer
from .positions import LearnedPositions

__all__ = ["POOLINGS", "TransformerClassifier", "check_labels"]

POOLINGS = ("cls", "attention", "mean")
POSITIONS = ("learned", "rope", "none")


def check_labels(labels: torch.Tensor, batch: int, num_classes: int) -> None:
    """ValueError unless ``labels`` is an int64 tensor (batch,) with values in 0..num_classes-1."""
    if not isinstance(labels, torch.Tensor) or labels.dtype != torch.int64 or tuple(labels.shape) != (batch,):
        raise ValueError(f"labels must be an int64 tensor of shape ({batch},); got "
                         f"{tuple(getattr(labels, 'shape', ()))} {getattr(labels, 'dtype', type(labels).__name__)}")
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must be in 0..{num_classes - 1}; got {int(labels.min())}..{int(labels.max())}")


class TransformerClassifier(nn.Module):
    """Embeddings + learned positions + pre-norm encoder layers + pooling + MLP head.

    Args:
        vocab_size: number of token ids.
        num_classes: number of classes (at least 2).
        max_len: the longest input (without the [CLS] token).
        d_model, num_heads, num_layers, dim_feedforward, dropout: the encoder (``num_layers`` may
            be 0: embeddings only).
        pooling: ``"cls"``, ``"attention"`` or ``"mean"`` (module docstring).
        pad_id: a token id that marks padding (masked out of attention and pooling), or None.
        positions: ``"learned"`` (a trained vector per position, added to the embeddings),
            ``"rope"`` (rotary embeddings inside attention) or ``"none"``.

    ``forward(tokens, return_weights=False)`` returns logits, or ``(logits, weights)`` with the
    dict described in the module docstring. ``loss(tokens, labels)``: cross-entropy, with the
    labels checked (a ``ValueError`` names labels out of range).
    """

    def __init__(self, vocab_size: int, num_classes: int, max_len: int, d_model: int = 32, num_heads: int = 2,
                 num_layers: int = 2, dim_feedforward: int | None = None, dropout: float = 0.0,
                 pooling: str = "cls", pad_id: int | None = None, positions: str = "learned"):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}; got {pooling!r}")
        if num_classes < 2 or vocab_size < 1 or max_len < 1 or num_layers < 0:
            raise ValueError(f"need num_classes >= 2, vocab_size >= 1, max_len >= 1, num_layers >= 0; got "
                             f"{num_classes}, {vocab_size}, {max_len}, {num_layers}")
        if positions not in POSITIONS:
            raise ValueError(f"positions must be one of {POSITIONS}; got {positions!r}")
        if pad_id is not None and not 0 <= pad_id < vocab_size:
            raise ValueError(f"pad_id must be in 0..{vocab_size - 1}; got {pad_id}")
        self.vocab_size, self.num_classes, self.max_len = vocab_size, num_classes, max_len
        self.d_model, self.pooling, self.pad_id, self.positions = d_model, pooling, pad_id, positions
        dim_feedforward = 4 * d_model if dim_feedforward is None else dim_feedforward
        self.token_embedding = nn.Embedding(vocab_size, d_model)
        if positions == "learned":
            self.position_embedding = LearnedPositions(max_len + (pooling == "cls"), d_model)
        if pooling == "cls":
            self.cls_token = nn.Parameter(torch.zeros(1, 1, d_model))
        if pooling == "attention":
            self.pool_query = nn.Parameter(torch.zeros(d_model))
        self.layers = nn.ModuleList(
            TransformerEncoderLayer(d_model, num_heads, dim_feedforward, dropout, activation="gelu", norm_first=True,
                                    rope_theta=10000.0 if positions == "rope" else None)
            for _ in range(num_layers)
        )
        self.final_norm = nn.LayerNorm(d_model)
        self.head = nn.Sequential(nn.Linear(d_model, d_model), nn.GELU(), nn.Linear(d_model, num_classes))
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
                if isinstance(module, nn.Linear) and module.bias is not None:
                    nn.init.zeros_(module.bias)
        if self.pooling == "cls":
            nn.init.normal_(self.cls_token, std=0.02)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def _check_tokens(self, tokens: torch.Tensor) -> None:
        if not isinstance(tokens, torch.Tensor) or tokens.ndim != 2 or tokens.dtype != torch.int64:
            raise ValueError(f"tokens must be an int64 tensor (batch, n); got "
                             f"{getattr(tokens, 'shape', type(tokens).__name__)} {getattr(tokens, 'dtype', '')}")
        if not 1 <= tokens.shape[1] <= self.max_len:
            raise ValueError(f"sequence length {tokens.shape[1]} must be in 1..max_len={self.max_len}")
        if tokens.numel() and (tokens.min() < 0 or tokens.max() >= self.vocab_size):
            raise ValueError(f"token ids must be in 0..{self.vocab_size - 1}; got {int(tokens.min())}..{int(tokens.max())}")

    def forward(self, tokens: torch.Tensor, return_weights: bool = False):
        self._check_tokens(tokens)
        batch, n = tokens.shape
        x = self.token_embedding(tokens)  # (batch, n, d_model)
        keep = torch.ones(batch, n, dtype=torch.bool, device=tokens.device) if self.pad_id is None \
            else tokens != self.pad_id  # (batch, n): True = a real token
        if self.pooling == "cls":
            x = torch.cat([self.cls_token.expand(batch, 1, self.d_model), x], dim=1)  # (batch, n + 1, d_model)
            keep = torch.cat([torch.ones(batch, 1, dtype=torch.bool, device=tokens.device), keep], dim=1)
        if self.positions == "learned":
            x = x + self.position_embedding(x.shape[1])
        mask = keep[:, None, None, :]  # (batch, 1, 1, n'): every query may attend to the real tokens
        layer_weights = []
        for layer in self.layers:
            x, weights = layer(x, mask, need_weights=True)  # weights (batch, heads, n', n')
            layer_weights.append(weights)
        x = self.final_norm(x)  # (batch, n', d_model)
        summary, pooling_weights = self._pool(x, keep, layer_weights)
        logits = self.head(summary)  # (batch, num_classes)
        if not return_weights:
            return logits
        return logits, {"layers": layer_weights, "pooling": pooling_weights}

    def loss(self, tokens: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of ``labels`` (batch,) int64 in 0..num_classes-1 given ``tokens`` (batch, n)."""
        check_labels(labels, tokens.shape[0], self.num_classes)
        return F.cross_entropy(self(tokens), labels)

    def _pool(self, x: torch.Tensor, keep: torch.Tensor, layer_weights: list[torch.Tensor]):
        """Summary (batch, d_model) and each input token's weight in it (batch, n)."""
        if self.pooling == "cls":
            if layer_weights:
                weights = layer_weights[-1][:, :, 0, 1:].mean(dim=1)  # (batch, n): [CLS] row, heads averaged
            else:
                weights = torch.zeros_like(keep[:, 1:], dtype=x.dtype)  # no layer: [CLS] sees nothing
            return x[:, 0], weights
        if self.pooling == "attention":
            scores = x @ self.pool_query / math.sqrt(self.d_model)  # (batch, n)
            weights = softmax(scores, axis=-1, mask=keep)  # (batch, n); an all-padding row gets zeros
        else:
            weights = keep.to(x.dtype) / keep.sum(dim=1, keepdim=True).clamp(min=1)  # (batch, n)
        summary = (weights[:, :, None] * x).sum(dim=1)  # (batch, d_model)
        return summary, weights
