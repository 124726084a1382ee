"""Sequential recommendation with causal self-attention, in the style of SASRec (Kang & McAuley 2018).

A user's history of item ids is read left to right like a sentence: item embeddings plus learned
position embeddings, a stack of pre-norm causal :class:`attnbook.TransformerEncoderLayer` s
(position t sees items 0..t only), a final LayerNorm. The state at position t scores every
item by a dot product with the **same** item embedding table, so the logits say which item is
likely to come next, after item t.

Two simplifications against the paper: the loss is the full softmax cross-entropy over all items
(the paper samples one negative item per positive and uses a binary loss), and the layers are
the book's encoder layers with GELU feed-forwards.

Item id 0 is padding (histories are **left**-padded, so the newest item is always the last
column); real items are ``1 .. num_items``. Padding positions are masked out of attention.
Shapes:

    items     (batch, n)                  int64 in 0..num_items, 0 = padding
    logits    (batch, n, num_items + 1)   column 0 (padding) is meaningless; ``next_item_scores`` sets it to -inf
    weights   list over layers of (batch, heads, n, n)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .attention import bottom_right_causal_mask
from .blocks import TransformerEncoderLayer

__all__ = ["SASRec"]


class SASRec(nn.Module):
    """Item embeddings + learned positions + causal Transformer blocks + dot-product output.

    Args:
        num_items: number of real items (ids 1..num_items; 0 is padding).
        max_len: the longest history the model reads.
        d_model, num_heads, num_layers, dim_feedforward, dropout: the Transformer blocks.

    ``forward(items, return_weights=False)`` → logits (batch, n, num_items + 1), or
    ``(logits, weights)``. ``loss(items, targets)`` is the cross-entropy of predicting
    ``targets`` (batch, n) at every position (target 0 = padding, ignored).
    ``next_item_scores(items)`` → (batch, num_items + 1) scores of the item after the last column.
    """

    def __init__(self, num_items: int, max_len: int, d_model: int = 32, num_heads: int = 2, num_layers: int = 2,
                 dim_feedforward: int | None = None, dropout: float = 0.0):
        super().__init__()
        if num_items < 1 or max_len < 1 or num_layers < 1:
            raise ValueError(f"need num_items >= 1, max_len >= 1, num_layers >= 1; got {num_items}, {max_len}, "
                             f"{num_layers}")
        self.num_items, self.max_len, self.d_model = num_items, max_len, d_model
        dim_feedforward = 4 * d_model if dim_feedforward is None else dim_feedforward
        self.item_embedding = nn.Embedding(num_items + 1, d_model, padding_idx=0)
        self.position_embedding = nn.Embedding(max_len, d_model)
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            TransformerEncoderLayer(d_model, num_heads, dim_feedforward, dropout, activation="gelu", norm_first=True)
            for _ in range(num_layers)
        )
        self.final_norm = nn.LayerNorm(d_model)
        nn.init.normal_(self.item_embedding.weight, std=0.02)
        nn.init.normal_(self.position_embedding.weight, std=0.02)
        with torch.no_grad():
            self.item_embedding.weight[0].zero_()

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def _check_items(self, items: torch.Tensor) -> None:
        if not isinstance(items, torch.Tensor) or items.ndim != 2 or items.dtype != torch.int64:
            raise ValueError(f"items must be an int64 tensor (batch, n); got "
                             f"{getattr(items, 'shape', type(items).__name__)} {getattr(items, 'dtype', '')}")
        if not 1 <= items.shape[1] <= self.max_len:
            raise ValueError(f"history length {items.shape[1]} must be in 1..max_len={self.max_len}")
        if items.numel() and (items.min() < 0 or items.max() > self.num_items):
            raise ValueError(f"item ids must be in 0..{self.num_items} (0 = padding); got "
                             f"{int(items.min())}..{int(items.max())}")

    def forward(self, items: torch.Tensor, return_weights: bool = False):
        self._check_items(items)
        n = items.shape[1]
        # Left padding: the newest item sits in the last column, so positions count from the right
        # and the last column always has the same position embedding, whatever the history length.
        positions = torch.arange(self.max_len - n, self.max_len, device=items.device)  # (n,)
        x = self.item_embedding(items) + self.position_embedding(positions)  # (batch, n, d_model)
        x = self.dropout(x)
        real = items != 0  # (batch, n)
        causal = bottom_right_causal_mask(n, n, device=items.device)  # (n, n): key j <= query i
        mask = causal & real[:, None, None, :]  # (batch, 1, n, n): earlier real items only
        weights = []
        for layer in self.layers:
            x, layer_weights = layer(x, mask, need_weights=True)  # (batch, heads, n, n)
            weights.append(layer_weights)
        x = self.final_norm(x)  # (batch, n, d_model)
        logits = x @ self.item_embedding.weight.T  # (batch, n, num_items + 1): shared item table
        return (logits, weights) if return_weights else logits

    def loss(self, items: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of ``targets`` (batch, n) given ``items`` (batch, n); target 0 is ignored."""
        if not isinstance(targets, torch.Tensor) or targets.shape != items.shape:
            raise ValueError(f"targets must have the shape of items {tuple(items.shape)}; got "
                             f"{tuple(getattr(targets, 'shape', ()))}")
        if targets.numel() and (targets.min() < 0 or targets.max() > self.num_items):
            raise ValueError(f"target ids must be in 0..{self.num_items}; got {int(targets.min())}..{int(targets.max())}")
        logits = self(items)  # (batch, n, num_items + 1)
        return F.cross_entropy(logits.reshape(-1, self.num_items + 1), targets.reshape(-1), ignore_index=0)

    @torch.no_grad()
    def next_item_scores(self, items: torch.Tensor) -> torch.Tensor:
        """Scores (batch, num_items + 1) of the item that follows each history; padding scores -inf."""
        was_training = self.training
        self.eval()
        scores = self(items)[:, -1].clone()  # (batch, num_items + 1): the newest position
        self.train(was_training)
        scores[:, 0] = float("-inf")
        return scores
