"""A small causal Transformer with attention layers only, for the experiments of chapter 6, part 2.

``attnbook.GPT`` always has an MLP in every block and no ALiBi; circuits are easier to read
without MLPs (Elhage et al. 2021 study such "attention-only" models), and the length experiment
needs ALiBi. Each layer is pre-norm: ``x = x + attention(norm(x))``; then a final norm and an
output layer. Positions, chosen by ``positions``:

- ``"learned"``: a trained table of ``max_positions`` rows added to the token embeddings (GPT-2);
  it has no row past ``max_positions - 1``, so longer inputs raise a ``ValueError``;
- ``"sinusoidal"``: the fixed sine/cosine table added to the embeddings (Vaswani et al. 2017),
  computed for any length;
- ``"rope"``: rotary embeddings on queries and keys in every layer (Su et al. 2021);
- ``"alibi"``: a linear distance penalty on the scores (Press et al. 2021), :func:`alibi_bias`;
- ``"none"``: nothing but the causal mask.

Training runs PyTorch's fused ``F.scaled_dot_product_attention`` (``use_sdpa=True``, the same
result); ``return_weights=True`` takes the book's own path, which also returns the weights.
The attention projections have no biases, so scaling a layer's query input by ``s`` scales its
content scores ``q . k / sqrt(d_head)`` by exactly ``s`` (``score_scale`` in :meth:`forward`).
"""

from __future__ import annotations

import torch
from torch import nn

from ..models.attention import MultiHeadAttention
from ..models.positions import LearnedPositions, sinusoidal_positions
from .alibi import alibi_bias

__all__ = ["POSITION_KINDS", "AttentionOnlyTransformer"]

POSITION_KINDS = ("learned", "sinusoidal", "rope", "alibi", "none")


class AttentionOnlyTransformer(nn.Module):
    """Token embedding, ``num_layers`` pre-norm causal attention layers (no MLPs), final norm, output layer.

    Args:
        vocab_size: number of token ids.
        d_model, num_heads, num_layers: sizes (``d_head = d_model // num_heads``).
        positions: one of ``POSITION_KINDS`` (see the module docstring).
        max_positions: length of the learned table (required for ``"learned"``, unused otherwise).
        norm: use LayerNorm before each attention layer and before the output layer.

    Submodules: ``token_embedding``, ``position_embedding`` (learned only), ``attention`` (a
    ``ModuleList`` of :class:`attnbook.MultiHeadAttention`), ``norms``, ``final_norm``, ``lm_head``.
    """

    def __init__(self, vocab_size: int, d_model: int = 64, num_heads: int = 4, num_layers: int = 2,
                 positions: str = "rope", max_positions: int | None = None, norm: bool = True):
        super().__init__()
        if positions not in POSITION_KINDS:
            raise ValueError(f"positions must be one of {POSITION_KINDS}; got {positions!r}")
        if positions == "learned" and (max_positions is None or max_positions < 1):
            raise ValueError(f"learned positions need max_positions >= 1 (the table size); got {max_positions}")
        if vocab_size < 1 or num_layers < 1:
            raise ValueError(f"need vocab_size >= 1 and num_layers >= 1; got {vocab_size} and {num_layers}")
        self.vocab_size, self.d_model, self.num_heads, self.num_layers = vocab_size, d_model, num_heads, num_layers
        self.positions = positions
        self.max_positions = max_positions if positions == "learned" else None
        self.token_embedding = nn.Embedding(vocab_size, d_model)
        if positions == "learned":
            self.position_embedding = LearnedPositions(max_positions, d_model)
        rope_theta = 10000.0 if positions == "rope" else None
        self.attention = nn.ModuleList(
            MultiHeadAttention(d_model, num_heads, bias=False, rope_theta=rope_theta, use_sdpa=True)
            for _ in range(num_layers)
        )
        make_norm = (lambda: nn.LayerNorm(d_model)) if norm else nn.Identity
        self.norms = nn.ModuleList(make_norm() for _ in range(num_layers))
        self.final_norm = make_norm()
        self.lm_head = nn.Linear(d_model, vocab_size, bias=False)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, idx: torch.Tensor, return_weights: bool = False, score_scale: float | torch.Tensor = 1.0):
        """Next-token logits ``(batch, n, vocab)`` for ``idx`` (batch, n); any n unless positions are learned.

        ``score_scale``: a number, or a ``(n,)`` tensor with one factor per query position, that
        multiplies every layer's content scores (the ALiBi bias is not scaled). With
        ``return_weights`` returns ``(logits, [weights (batch, heads, n, n) per layer])``.
        """
        if not isinstance(idx, torch.Tensor) or idx.ndim != 2 or idx.is_floating_point():
            shape = tuple(idx.shape) if isinstance(idx, torch.Tensor) else type(idx).__name__
            raise ValueError(f"idx must be an integer tensor (batch, n); got {shape}")
        if idx.numel() and (idx.min() < 0 or idx.max() >= self.vocab_size):
            raise ValueError(f"token ids must be in 0..{self.vocab_size - 1}; got {int(idx.min())}..{int(idx.max())}")
        n = idx.shape[1]
        scale = self._query_scale(score_scale, n, idx.device)  # (n, 1) or a number
        x = self.token_embedding(idx)  # (batch, n, d_model)
        if self.positions == "learned":
            x = x + self.position_embedding(n)
        elif self.positions == "sinusoidal":
            x = x + sinusoidal_positions(n, self.d_model).to(x)
        bias = alibi_bias(self.num_heads, n, n, device=idx.device) if self.positions == "alibi" else None
        all_weights = []
        for attention, norm in zip(self.attention, self.norms, strict=True):
            h = norm(x)  # (batch, n, d_model)
            result = attention(h * scale, h, h, is_causal=True, need_weights=return_weights, score_bias=bias)
            out, weights = result if return_weights else (result, None)
            x = x + out
            all_weights.append(weights)  # (batch, heads, n, n) when return_weights
        logits = self.lm_head(self.final_norm(x))  # (batch, n, vocab)
        return (logits, all_weights) if return_weights else logits

    @staticmethod
    def _query_scale(score_scale, n: int, device):
        if isinstance(score_scale, torch.Tensor):
            if score_scale.shape != (n,) or not score_scale.is_floating_point():
                raise ValueError(
                    f"score_scale must be a number or a float tensor of shape (n,) = ({n},); got "
                    f"{tuple(score_scale.shape)} {score_scale.dtype}"
                )
            return score_scale.to(device)[:, None]  # (n, 1): one factor per query position
        return float(score_scale)
