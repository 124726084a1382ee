"""The induction-head experiment: sequences with a repeated random segment, and per-head scores.

An induction head (Elhage et al. 2021; Olsson et al. 2022) completes ``[A][B] ... [A] -> [B]``:
at a token ``A`` it attends to the token that **followed** the previous occurrence of ``A`` and
copies it. On random tokens with one segment repeated, the first copy is unpredictable (loss about
``log vocab_size``) while the second copy can be predicted token by token, from its second token
on, by such a head. It needs a helper in an earlier layer, a **previous-token head** (each
position attends to the one before it), so that position ``k + 1`` of the first copy "knows" it
follows token ``A``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["RepeatedSegments", "induction_score", "previous_token_score", "repeated_segment_batch"]


@dataclass
class RepeatedSegments:
    """A batch of random sequences in which one segment occurs twice.

    ``tokens`` (batch, seq_len) int64; the segment ``tokens[b, first_start[b] : first_start[b] +
    segment_len]`` is repeated exactly at ``second_start[b]``; ``first_start``, ``second_start``
    are (batch,) int64 with ``second_start >= first_start + segment_len`` (the copies do not overlap).
    """

    tokens: torch.Tensor
    first_start: torch.Tensor
    second_start: torch.Tensor
    segment_len: int

    def target_mask(self, copy: str = "second") -> torch.Tensor:
        """Boolean (batch, seq_len): the tokens of one copy ("first" or "second"), except its first token.

        These are the tokens an induction head can predict in the second copy (the first token of
        a copy follows a random token, so nothing predicts it). Use it on next-token targets:
        ``mask[:, 1:]`` lines up with ``logits[:, :-1]``.
        """
        if copy not in ("first", "second"):
            raise ValueError(f"copy must be 'first' or 'second'; got {copy!r}")
        starts = self.first_start if copy == "first" else self.second_start  # (batch,)
        positions = torch.arange(self.tokens.shape[1], device=self.tokens.device)[None, :]  # (1, seq_len)
        return (positions > starts[:, None]) & (positions < starts[:, None] + self.segment_len)


def repeated_segment_batch(
    n_sequences: int,
    seq_len: int,
    segment_len: int,
    vocab_size: int,
    generator: torch.Generator | None = None,
    min_gap: int = 0,
) -> RepeatedSegments:
    """Random token sequences with one random segment of ``segment_len`` tokens repeated.

    Every token is uniform over ``0..vocab_size-1`` (drawn with ``generator``, a CPU
    ``torch.Generator``; seed it for reproducible data). Per sequence, the first copy starts at a
    uniform ``first_start`` in ``0 .. seq_len - 2*segment_len - min_gap`` and the second at a
    uniform ``second_start`` in ``first_start + segment_len + min_gap .. seq_len - segment_len``;
    the second copy overwrites the random tokens there.
    """
    for name, value in (("n_sequences", n_sequences), ("seq_len", seq_len), ("segment_len", segment_len),
                        ("vocab_size", vocab_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}")
    if min_gap < 0 or 2 * segment_len + min_gap > seq_len:
        raise ValueError(
            f"two copies of segment_len={segment_len} with min_gap={min_gap} do not fit in seq_len={seq_len} "
            f"(need 2 * {segment_len} + {min_gap} <= {seq_len})"
        )
    tokens = torch.randint(0, vocab_size, (n_sequences, seq_len), generator=generator)  # (batch, seq_len)
    first_room = seq_len - 2 * segment_len - min_gap + 1  # choices for first_start
    first_start = torch.randint(0, first_room, (n_sequences,), generator=generator)  # (batch,)
    earliest_second = first_start + segment_len + min_gap  # (batch,)
    second_room = seq_len - segment_len - earliest_second + 1  # (batch,), >= 1
    second_start = earliest_second + (torch.rand(n_sequences, generator=generator) * second_room).long()
    second_start = torch.minimum(second_start, torch.full_like(second_start, seq_len - segment_len))
    offsets = torch.arange(segment_len)  # (segment_len,)
    rows = torch.arange(n_sequences)[:, None]  # (batch, 1)
    tokens[rows, second_start[:, None] + offsets] = tokens[rows, first_start[:, None] + offsets]
    return RepeatedSegments(tokens, first_start, second_start, segment_len)


def _check_weights(weights: torch.Tensor) -> None:
    if not isinstance(weights, torch.Tensor) or weights.ndim != 4 or weights.shape[-1] != weights.shape[-2]:
        shape = tuple(weights.shape) if isinstance(weights, torch.Tensor) else type(weights).__name__
        raise ValueError(f"weights must be a tensor (batch, heads, n, n) of self-attention; got {shape}")
    if weights.shape[-1] < 2:
        raise ValueError(f"need at least 2 positions; got weights of shape {tuple(weights.shape)}")


def previous_token_score(weights: torch.Tensor) -> torch.Tensor:
    """Per head: the mean weight a query puts on the token just before it, ``w[i, i-1]`` for i >= 1.

    ``weights`` (batch, heads, n, n) → ``(heads,)``, averaged over the batch and queries 1..n-1.
    1 means a pure previous-token head; a uniform causal head gives the mean of ``1/(i+1)``.
    """
    _check_weights(weights)
    below_diagonal = torch.diagonal(weights, offset=-1, dim1=-2, dim2=-1)  # (batch, heads, n-1): w[i+1, i]
    return below_diagonal.float().mean(dim=(0, 2))


def induction_score(weights: torch.Tensor, first_start: torch.Tensor, second_start: torch.Tensor,
                    segment_len: int) -> torch.Tensor:
    """Per head: the mean weight from a token of the second copy to the token after its first occurrence.

    For ``k = 0 .. segment_len - 2``, query ``second_start + k`` (token ``A``) and key
    ``first_start + k + 1`` (what followed ``A`` the first time). ``weights`` (batch, heads, n, n),
    starts (batch,) as returned by :func:`repeated_segment_batch` → ``(heads,)``.
    """
    _check_weights(weights)
    batch, _, n, _ = weights.shape
    first_start = torch.as_tensor(first_start).to(weights.device).long()
    second_start = torch.as_tensor(second_start).to(weights.device).long()
    if first_start.shape != (batch,) or second_start.shape != (batch,):
        raise ValueError(
            f"first_start {tuple(first_start.shape)} and second_start {tuple(second_start.shape)} must have "
            f"shape (batch,) = ({batch},)"
        )
    if segment_len < 2:
        raise ValueError(f"segment_len must be >= 2 (the score looks at segment_len - 1 pairs); got {segment_len}")
    if (second_start < first_start + segment_len).any() or (second_start + segment_len > n).any() or (first_start < 0).any():
        raise ValueError(
            f"copies out of place for n={n}, segment_len={segment_len}: need 0 <= first_start, "
            f"first_start + segment_len <= second_start, second_start + segment_len <= n"
        )
    k = torch.arange(segment_len - 1, device=weights.device)  # (segment_len - 1,)
    queries = second_start[:, None] + k  # (batch, segment_len - 1)
    keys = first_start[:, None] + k + 1  # (batch, segment_len - 1)
    rows = torch.arange(batch, device=weights.device)[:, None]  # (batch, 1)
    picked = weights.transpose(0, 1)[:, rows, queries, keys]  # (heads, batch, segment_len - 1)
    return picked.float().mean(dim=(1, 2))
