"""A small Vision Transformer (Dosovitskiy et al. 2020, arXiv 2010.11929) for chapter 5, section 3.

The recipe of the paper, at toy size: cut the image into non-overlapping ``patch_size`` ×
``patch_size`` patches, flatten each patch and project it linearly to ``d_model`` (the "patch
embedding"), put a learned class token in front, add learned position embeddings (one per
token), run pre-norm Transformer encoder layers (the paper's layers are pre-norm, with GELU),
normalise, and classify from the class token's final state.

Shapes:

    images    (batch, channels, height, width)                    float
    patches   (batch, n_patches, channels * patch_size**2)        n_patches = (height/p) * (width/p), row-major
    logits    (batch, num_classes)
    weights   list over layers of (batch, heads, 1 + n_patches, 1 + n_patches), token 0 = class token
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import TransformerEncoderLayer
from .classifier import check_labels

__all__ = ["VisionTransformer", "patchify"]


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Cut images (batch, channels, H, W) into patches (batch, (H/p)·(W/p), channels·p·p), row by row.

    Patch ``r * (W/p) + c`` holds the pixels ``[r*p:(r+1)*p, c*p:(c+1)*p]``, flattened channel
    first, then row, then column (the order ``images[b, :, rows, cols].reshape(-1)`` gives).
    """
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise ValueError(f"images must be a tensor (batch, channels, height, width); got shape "
                         f"{tuple(getattr(images, 'shape', ()))}")
    if not isinstance(patch_size, int) or patch_size < 1:
        raise ValueError(f"patch_size must be a positive integer; got {patch_size!r}")
    batch, channels, height, width = images.shape
    if height % patch_size or width % patch_size:
        raise ValueError(f"image size {height}x{width} is not divisible by patch_size={patch_size}")
    rows, cols = height // patch_size, width // patch_size
    x = images.reshape(batch, channels, rows, patch_size, cols, patch_size)
    x = x.permute(0, 2, 4, 1, 3, 5)  # (batch, rows, cols, channels, p, p)
    return x.reshape(batch, rows * cols, channels * patch_size * patch_size)


class VisionTransformer(nn.Module):
    """Patch embedding + class token + learned positions + pre-norm encoder layers + linear head.

    Args:
        image_size: height and width of the (square) input images.
        patch_size: side of the square patches; must divide ``image_size``.
        in_channels: channels of the input (1 for grey-scale).
        num_classes: number of classes.
        d_model, num_heads, num_layers, dim_feedforward, dropout: the encoder (GELU, pre-norm).
        use_positions: add the learned position embeddings (False drops them: the model then sees
            the patches as an unordered set, an ablation).

    ``forward(images, return_weights=False)`` returns logits (batch, num_classes), or
    ``(logits, weights)`` with one attention tensor per layer. ``loss(images, labels,
    label_smoothing=0.0)``: cross-entropy, with the labels checked.
    """

    def __init__(self, image_size: int = 8, patch_size: int = 2, in_channels: int = 1, num_classes: int = 10,
                 d_model: int = 64, num_heads: int = 4, num_layers: int = 2, dim_feedforward: int | None = None,
                 dropout: float = 0.0, use_positions: bool = True):
        super().__init__()
        if image_size < 1 or patch_size < 1 or image_size % patch_size:
            raise ValueError(f"patch_size={patch_size} must divide image_size={image_size}")
        if num_classes < 2 or in_channels < 1 or num_layers < 1:
            raise ValueError(f"need num_classes >= 2, in_channels >= 1, num_layers >= 1; got {num_classes}, "
                             f"{in_channels}, {num_layers}")
        self.image_size, self.patch_size, self.in_channels = image_size, patch_size, in_channels
        self.num_classes, self.d_model, self.use_positions = num_classes, d_model, use_positions
        self.n_patches = (image_size // patch_size) ** 2
        dim_feedforward = 4 * d_model if dim_feedforward is None else dim_feedforward
        self.patch_embedding = nn.Linear(in_channels * patch_size * patch_size, d_model)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d_model))
        self.position_embedding = nn.Parameter(torch.zeros(1, 1 + self.n_patches, d_model))
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            TransformerEncoderLayer(d_model, num_heads, dim_feedforward, dropout, activation="gelu", norm_first=True)
            for _ in range(num_layers)
        )
        self.final_norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        nn.init.trunc_normal_(self.position_embedding, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, images: torch.Tensor, return_weights: bool = False):
        expected = (self.in_channels, self.image_size, self.image_size)
        if not isinstance(images, torch.Tensor) or images.ndim != 4 or tuple(images.shape[1:]) != expected:
            raise ValueError(f"images must have shape (batch, {', '.join(map(str, expected))}); got "
                             f"{tuple(getattr(images, 'shape', ()))}")
        if not images.is_floating_point():
            raise ValueError(f"images must be a float tensor; got {images.dtype}")
        patches = patchify(images, self.patch_size)  # (batch, n_patches, channels * p * p)
        x = self.patch_embedding(patches)  # (batch, n_patches, d_model)
        cls = self.cls_token.expand(x.shape[0], 1, self.d_model)  # (batch, 1, d_model)
        x = torch.cat([cls, x], dim=1)  # (batch, 1 + n_patches, d_model)
        if self.use_positions:
            x = x + self.position_embedding
        x = self.dropout(x)
        weights = []
        for layer in self.layers:
            x, layer_weights = layer(x, need_weights=True)  # (batch, heads, 1 + n_patches, 1 + n_patches)
            weights.append(layer_weights)
        logits = self.head(self.final_norm(x[:, 0]))  # (batch, num_classes): from the class token
        return (logits, weights) if return_weights else logits

    def loss(self, images: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
        """Mean cross-entropy of ``labels`` (batch,) int64 in 0..num_classes-1 given ``images``."""
        check_labels(labels, images.shape[0] if isinstance(images, torch.Tensor) and images.ndim else -1,
                     self.num_classes)
        return F.cross_entropy(self(images), labels, label_smoothing=label_smoothing)
