"""Character-level text data: a tokenizer, the shipped public-domain text, and seeded batches.

Used by chapter 4's language model (and by any task that works on characters, such as the date
translation in :mod:`attnbook.data.dates`). Shapes:

    ids            (n,)                       int64, the whole text encoded
    x, y           (batch, context_length)    int64, y is x shifted left by one character
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from importlib import resources

import torch

__all__ = ["TEXTS", "CharTokenizer", "load_text", "sample_batch", "sequential_batches", "split_ids"]

# name -> file in attnbook/data/texts/ (source and licence in the README.md beside it)
TEXTS = {"pride_and_prejudice": "pride_and_prejudice.txt"}


def load_text(name: str = "pride_and_prejudice") -> str:
    """The text of a file shipped in ``attnbook/data/texts/`` (see ``TEXTS`` for the names)."""
    if name not in TEXTS:
        raise ValueError(f"unknown text {name!r}; available: {sorted(TEXTS)}")
    return resources.files("attnbook.data").joinpath("texts", TEXTS[name]).read_text(encoding="utf-8")


class CharTokenizer:
    """One token per character, plus optional special tokens that come first.

    ``CharTokenizer("abc")`` has ids a=0, b=1, c=2; ``CharTokenizer("abc", specials=("<pad>",))``
    has <pad>=0, a=1, b=2, c=3. Characters are kept in sorted order, so the same set of characters
    always gives the same ids. ``encode`` raises a ``ValueError`` naming any character that is not
    in the vocabulary (and where it is); ``decode`` leaves special tokens out unless asked.
    """

    def __init__(self, chars: Iterable[str], specials: Sequence[str] = ()):
        chars = sorted(set(chars))
        if not chars:
            raise ValueError("a CharTokenizer needs at least one character; got none")
        long = [c for c in chars if len(c) != 1]
        if long:
            raise ValueError(f"characters must be strings of length 1; got {long[:5]}")
        if len(set(specials)) != len(specials) or set(specials) & set(chars):
            raise ValueError(f"special tokens must be distinct and not characters; got {list(specials)}")
        self.specials = tuple(specials)
        self.chars = tuple(chars)
        self.itos = self.specials + self.chars  # id -> token
        self.stoi = {token: i for i, token in enumerate(self.itos)}  # token -> id

    @classmethod
    def from_text(cls, text: str, specials: Sequence[str] = ()) -> CharTokenizer:
        """The tokenizer whose characters are exactly those that occur in ``text``."""
        return cls(text, specials)

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def __len__(self) -> int:
        return self.vocab_size

    def __repr__(self) -> str:
        return f"CharTokenizer({len(self.chars)} characters, specials={list(self.specials)})"

    def token_id(self, token: str) -> int:
        """The id of one character or special token."""
        if token not in self.stoi:
            raise ValueError(f"token {token!r} is not in the vocabulary")
        return self.stoi[token]

    def encode(self, text: str) -> list[int]:
        """Ids of the characters of ``text`` (special tokens are never produced)."""
        unknown = sorted({c for c in text if c not in self.stoi or c in self.specials})
        if unknown:
            first = min(text.index(c) for c in unknown)
            raise ValueError(
                f"characters not in the vocabulary: {unknown} (first at position {first} of a text "
                f"of length {len(text)}); the vocabulary has {len(self.chars)} characters"
            )
        return [self.stoi[c] for c in text]

    def decode(self, ids: Iterable[int] | torch.Tensor, keep_specials: bool = False) -> str:
        """The text of a sequence of ids; special tokens are dropped unless ``keep_specials``."""
        if isinstance(ids, torch.Tensor):
            if ids.ndim != 1:
                raise ValueError(f"decode takes one sequence of ids, shape (n,); got shape {tuple(ids.shape)}")
            ids = ids.tolist()
        ids = [int(i) for i in ids]
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(f"ids out of range [0, {self.vocab_size}): {bad[:5]}")
        n_special = len(self.specials)
        return "".join(self.itos[i] for i in ids if keep_specials or i >= n_special)


def split_ids(ids: torch.Tensor, valid_fraction: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a 1-D token sequence into a training head and a validation tail (no shuffling).

    A contiguous split keeps validation text unseen: random windows from one text would overlap.
    """
    if ids.ndim != 1:
        raise ValueError(f"ids must be 1-D (n,); got shape {tuple(ids.shape)}")
    if not 0.0 < valid_fraction < 1.0:
        raise ValueError(f"valid_fraction must be strictly between 0 and 1; got {valid_fraction}")
    n_valid = int(round(len(ids) * valid_fraction))
    if n_valid < 2 or len(ids) - n_valid < 2:
        raise ValueError(f"{len(ids)} tokens are too few to split with valid_fraction={valid_fraction}")
    return ids[: len(ids) - n_valid], ids[len(ids) - n_valid :]


def _check_ids(ids: torch.Tensor, context_length: int) -> None:
    if not isinstance(ids, torch.Tensor) or ids.ndim != 1 or ids.dtype != torch.int64:
        shape = tuple(ids.shape) if isinstance(ids, torch.Tensor) else type(ids).__name__
        dtype = getattr(ids, "dtype", None)
        raise ValueError(f"ids must be a 1-D int64 tensor; got shape {shape} and dtype {dtype}")
    if context_length < 1:
        raise ValueError(f"context_length must be positive; got {context_length}")
    if len(ids) < context_length + 1:
        raise ValueError(
            f"a window of context_length={context_length} needs at least {context_length + 1} tokens; got {len(ids)}"
        )


def sample_batch(ids: torch.Tensor, batch_size: int, context_length: int,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch_size`` random windows of the text: inputs ``x`` and next-character targets ``y``.

    ``x[b] = ids[s_b : s_b + context_length]`` and ``y[b] = ids[s_b + 1 : s_b + context_length + 1]``
    for start positions ``s_b`` drawn uniformly with ``generator`` (a CPU ``torch.Generator``;
    seed it for reproducible batches). Both are (batch_size, context_length) int64 on ids' device.
    """
    _check_ids(ids, context_length)
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive; got {batch_size}")
    starts = torch.randint(0, len(ids) - context_length, (batch_size,), generator=generator)  # (batch,)
    offsets = torch.arange(context_length)  # (context,)
    positions = (starts[:, None] + offsets[None, :]).to(ids.device)  # (batch, context)
    return ids[positions], ids[positions + 1]


def sequential_batches(ids: torch.Tensor, batch_size: int, context_length: int) -> Iterator[tuple[torch.Tensor, ...]]:
    """Every non-overlapping window of the text, in order, as (x, y) batches (for evaluation).

    Windows start at 0, context_length, 2 * context_length, ...; the last batch may be smaller and
    a tail shorter than one window is left out. Deterministic, so a validation loss computed on
    these batches is the same on every run.
    """
    _check_ids(ids, context_length)
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive; got {batch_size}")
    n_windows = (len(ids) - 1) // context_length
    starts = torch.arange(n_windows) * context_length  # (n_windows,)
    offsets = torch.arange(context_length)  # (context,)
    for first in range(0, n_windows, batch_size):
        positions = (starts[first : first + batch_size, None] + offsets[None, :]).to(ids.device)  # (b, context)
        yield ids[positions], ids[positions + 1]
