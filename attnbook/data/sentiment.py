"""A sentiment-like classification task with a known rule (chapter 5, section 2; chapter 6 reuses it).

Each example is a "review" of ``length`` words, mostly neutral filler. A few **sentiment words**
(``good``, ``awful``, ...) are scattered anywhere in it, and the reviewer may change their mind:
the **last** sentiment word is the verdict.

    label = 1 (positive) if the last sentiment word is positive, else 0 (negative)

So the **deciding position** of each review is one known position: that last sentiment word.
The other sentiment words are distractors. Counting words is some help (most reviews do not
change their mind) but cannot be exact: which opinion comes last is a question of **order**, and
a model that averages its word embeddings has no order.

Token ids (``SENTIMENT_VOCABULARY``): ``PAD = 0`` and ``CLS = 1`` are reserved for models (the
generator never emits them), then the positive words, the negative words and the filler words.
Shapes:

    tokens     (n, length)   int64
    labels     (n,)          int64, 0 = negative, 1 = positive
    deciding   (n, length)   bool, True at the last sentiment word (exactly one per review)
    opinions   (n, length)   bool, True at every sentiment word
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

__all__ = [
    "NEGATIVE_WORDS",
    "POSITIVE_WORDS",
    "SENTIMENT_VOCABULARY",
    "SentimentData",
    "make_sentiment_data",
    "sentiment_label",
    "sentiment_words",
]

POSITIVE_WORDS = ("good", "great", "superb", "lovely", "brilliant", "fun")
NEGATIVE_WORDS = ("bad", "awful", "poor", "dull", "boring", "terrible")
FILLER_WORDS = (
    "the", "a", "movie", "film", "plot", "actor", "story", "was", "is", "and", "it", "this", "scene",
    "music", "ending", "with", "of", "to", "in", "very", "quite", "really", "character", "director",
    "camera", "script", "i", "we", "they", "saw", "watched", "thought", "about", "long", "new", "first",
    "last", "two", "three", "at", "cinema", "on", "sunday", "night", "my", "friend", "then", "later",
    "but", "so", "too", "all",
)
SENTIMENT_VOCABULARY = ("<pad>", "<cls>") + POSITIVE_WORDS + NEGATIVE_WORDS + FILLER_WORDS
PAD, CLS = 0, 1
FIRST_POSITIVE = 2
FIRST_NEGATIVE = FIRST_POSITIVE + len(POSITIVE_WORDS)
FIRST_FILLER = FIRST_NEGATIVE + len(NEGATIVE_WORDS)


class SentimentData(NamedTuple):
    """``tokens (n, length)`` int64, ``labels (n,)`` int64, ``deciding`` and ``opinions (n, length)`` bool."""

    tokens: torch.Tensor
    labels: torch.Tensor
    deciding: torch.Tensor
    opinions: torch.Tensor


def make_sentiment_data(n: int, length: int = 48, seed: int = 0, max_opinions: int = 4) -> SentimentData:
    """``n`` seeded reviews of ``length`` words with their labels, deciding positions and opinion positions.

    Each review holds between 1 and ``max_opinions`` sentiment words (uniformly), at distinct
    positions drawn uniformly, each positive or negative with probability 1/2 and a word drawn
    uniformly from its list; all other words are filler drawn uniformly. The label is the
    polarity of the last sentiment word. The same ``seed`` gives the same data on every machine.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer (an empty dataset is no use); got {n}")
    if not isinstance(max_opinions, int) or max_opinions < 1:
        raise ValueError(f"max_opinions must be a positive integer; got {max_opinions}")
    if not isinstance(length, int) or length < max_opinions:
        raise ValueError(f"length={length} must be an integer of at least max_opinions={max_opinions}")
    rng = np.random.default_rng(seed)
    tokens = rng.integers(FIRST_FILLER, len(SENTIMENT_VOCABULARY), size=(n, length))  # (n, length) filler
    opinions = np.zeros((n, length), dtype=bool)
    deciding = np.zeros((n, length), dtype=bool)
    labels = np.zeros(n, dtype=np.int64)
    counts = rng.integers(1, max_opinions + 1, size=n)  # (n,)
    for row, count in enumerate(counts.tolist()):
        positions = np.sort(rng.choice(length, size=count, replace=False))  # (count,) increasing
        positive = rng.random(count) < 0.5  # (count,)
        words = np.where(positive, FIRST_POSITIVE, FIRST_NEGATIVE) + rng.integers(len(POSITIVE_WORDS), size=count)
        tokens[row, positions] = words
        opinions[row, positions] = True
        deciding[row, positions[-1]] = True
        labels[row] = int(positive[-1])
    return SentimentData(torch.from_numpy(tokens).to(torch.int64), torch.from_numpy(labels),
                         torch.from_numpy(deciding), torch.from_numpy(opinions))


def sentiment_label(tokens: torch.Tensor) -> torch.Tensor:
    """The rule, recomputed from the tokens alone: labels (n,) int64 for tokens (n, length).

    The polarity of the last sentiment word; an independent check of the generator (and of a
    model's mistakes). A review without any sentiment word is an error.
    """
    if not isinstance(tokens, torch.Tensor) or tokens.ndim != 2 or tokens.dtype != torch.int64:
        raise ValueError(f"tokens must be an int64 tensor (n, length); got "
                         f"{getattr(tokens, 'shape', type(tokens).__name__)} {getattr(tokens, 'dtype', '')}")
    is_opinion = (tokens >= FIRST_POSITIVE) & (tokens < FIRST_FILLER)  # (n, length)
    if not is_opinion.any(dim=1).all():
        raise ValueError("every review needs at least one sentiment word")
    positions = torch.arange(tokens.shape[1], device=tokens.device).expand_as(tokens)  # (n, length)
    last = torch.where(is_opinion, positions, -1).max(dim=1).values  # (n,)
    last_word = tokens.gather(1, last[:, None])[:, 0]  # (n,)
    return (last_word < FIRST_NEGATIVE).long()


def sentiment_words(tokens: torch.Tensor) -> list[str]:
    """The words of one review, tokens (length,) → list of strings (PAD and CLS shown as <pad>, <cls>)."""
    if not isinstance(tokens, torch.Tensor) or tokens.ndim != 1:
        raise ValueError(f"sentiment_words takes one review, shape (length,); got "
                         f"{tuple(getattr(tokens, 'shape', ()))}")
    if tokens.numel() and (tokens.min() < 0 or tokens.max() >= len(SENTIMENT_VOCABULARY)):
        raise ValueError(f"token ids must be in 0..{len(SENTIMENT_VOCABULARY) - 1}; got "
                         f"{int(tokens.min())}..{int(tokens.max())}")
    return [SENTIMENT_VOCABULARY[i] for i in tokens.tolist()]
