"""Ways to tell attention where each token sits: sinusoidal, learned and rotary positions.

Self-attention alone is blind to order (permute the tokens and the outputs permute the same
way), so a Transformer adds position information:

* :func:`sinusoidal_positions`: fixed sines and cosines added to the token embeddings
  (Vaswani et al. 2017, the original Transformer);
* :class:`LearnedPositions`: one trained vector per position, added the same way (GPT-2);
* :func:`apply_rope`: rotary embeddings (Su et al. 2021, RoFormer; used by Llama) rotate the
  queries and keys inside attention, so the score of a query at position m and a key at
  position n depends only on m - n.
"""

from __future__ import annotations

import torch
from torch import nn


def sinusoidal_positions(n_positions: int, d_model: int) -> torch.Tensor:
    """Fixed position encodings of Vaswani et al. (2017), float32 of shape ``(n_positions, d_model)``.

    ``PE[p, 2i] = sin(p / 10000^(2i / d_model))`` and ``PE[p, 2i + 1] = cos(p / 10000^(2i / d_model))``:
    column pair i is a sine and a cosine of one frequency, from 1 (i = 0) down to about 1/10000.
    An odd ``d_model`` keeps the sine of the last pair and drops its cosine.
    """
    if n_positions < 0 or d_model < 1:
        raise ValueError(f"need n_positions >= 0 and d_model >= 1; got n_positions={n_positions}, d_model={d_model}")
    positions = torch.arange(n_positions, dtype=torch.float64)[:, None]  # (n_positions, 1)
    even_columns = torch.arange(0, d_model, 2, dtype=torch.float64)  # 2i = 0, 2, 4, ...
    frequencies = 10000.0 ** (-even_columns / d_model)  # (ceil(d_model / 2),)
    angles = positions * frequencies  # (n_positions, ceil(d_model / 2))
    encoding = torch.zeros(n_positions, d_model, dtype=torch.float64)
    encoding[:, 0::2] = torch.sin(angles)
    encoding[:, 1::2] = torch.cos(angles[:, : d_model // 2])
    return encoding.to(torch.float32)


def rope_angles(positions: torch.Tensor, d_head: int, theta: float = 10000.0, dtype=torch.float32) -> torch.Tensor:
    """Rotation angles ``positions[..., None] * theta^(-2i / d_head)``, shape ``(*positions.shape, d_head // 2)``."""
    pair_index = torch.arange(0, d_head, 2, device=positions.device, dtype=dtype)  # 2i = 0, 2, 4, ...
    frequencies = theta ** (-pair_index / d_head)  # (d_head // 2,)
    return positions.to(dtype)[..., None] * frequencies


def apply_rope(x: torch.Tensor, positions: torch.Tensor, theta: float = 10000.0) -> torch.Tensor:
    """Rotary position embedding (Su et al. 2021) of queries or keys ``x`` of shape ``(..., n, d_head)``.

    Feature pairs ``(x[2i], x[2i+1])`` (interleaved, as in the RoFormer paper) are rotated by the
    angle ``p * theta^(-2i / d_head)`` for the token at position ``p``. A rotation keeps lengths,
    and the dot product of a query rotated by angle ``m*f`` with a key rotated by ``n*f`` depends
    only on ``(m - n) * f``: the attention score sees relative positions.

    Args:
        x: (..., n, d_head) float tensor, ``d_head`` even.
        positions: integer tensor of shape ``(n,)`` (or broadcasting to ``x.shape[:-1]``), the
            position of each of the n tokens.
        theta: base of the frequencies (10000 in the paper and in Llama 1 and 2).

    Returns:
        Tensor of the shape and dtype of ``x``.
    """
    if x.ndim < 2:
        raise ValueError(f"x must have shape (..., n, d_head); got shape {tuple(x.shape)}")
    d_head = x.shape[-1]
    if d_head % 2 != 0:
        raise ValueError(f"rotary embeddings rotate pairs of features: d_head must be even, got d_head={d_head}")
    positions = torch.as_tensor(positions, device=x.device)
    if positions.is_floating_point() or positions.dtype == torch.bool:
        raise ValueError(f"positions must be an integer tensor; got dtype {positions.dtype}")
    if positions.ndim == 0 or positions.shape[-1] != x.shape[-2]:
        raise ValueError(
            f"positions of shape {tuple(positions.shape)} do not give one position for each of the "
            f"n={x.shape[-2]} tokens of x with shape {tuple(x.shape)}"
        )
    angle_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    angles = rope_angles(positions, d_head, theta, dtype=angle_dtype)  # (n, d_head // 2)
    cos, sin = torch.cos(angles).to(x.dtype), torch.sin(angles).to(x.dtype)
    x_even, x_odd = x[..., 0::2], x[..., 1::2]  # (..., n, d_head // 2) each
    rotated_even = x_even * cos - x_odd * sin
    rotated_odd = x_even * sin + x_odd * cos
    return torch.stack((rotated_even, rotated_odd), dim=-1).flatten(-2)  # interleave back: (..., n, d_head)


class LearnedPositions(nn.Module):
    """One trained vector per position (GPT-2's ``wpe``): ``forward(n, offset)`` → ``(n, d_model)``."""

    def __init__(self, n_positions: int, d_model: int):
        super().__init__()
        self.n_positions = n_positions
        self.embedding = nn.Embedding(n_positions, d_model)

    def forward(self, n: int, offset: int = 0) -> torch.Tensor:
        if offset < 0 or offset + n > self.n_positions:
            raise ValueError(
                f"positions {offset}..{offset + n - 1} are out of range: this table has "
                f"{self.n_positions} positions (0..{self.n_positions - 1})"
            )
        return self.embedding.weight[offset : offset + n]  # (n, d_model)
