"""A translation-like task with real reordering, made in code (chapter 5, section 1).

Two invented languages share one meaning. **Language A** is English-like, subject–verb–object
(SVO), adjectives before the noun:

    the big cat sees a small red dog quickly

**Language B** is verb-final (SOV), with adjectives after the noun, a particle after the subject
(``ga``) and after the object (``o``), the adverb right before the verb, and a particle that
closes every clause (``da``). Its words are invented (loosely Japanese-sounding; this is not
Japanese grammar):

    sono neko ooki ga aru inu chiisa aka o hayaku miru da

A sentence is one or two clauses joined by ``and`` (``soshite``). Clause grammar, with
optional parts in brackets (each noun phrase has 0 to ``max_adjectives`` adjectives):

    A:  [det] adj* noun   verb   [det] adj* noun   [adverb]
    B:  [det] noun adj* ga   [det] noun adj* o   [adverb] verb da

Every word of B except the three particles translates exactly one word of A; ``alignment``
records which. The verb travels past the whole object, so the distance it moves grows with the
sentence, and the adjectives swap with their noun.

Shapes (``encode_reordering_pairs``), one shared word vocabulary (``REORDERING_VOCABULARY``) whose
first three tokens are ``PAD = 0``, ``BOS = 1``, ``EOS = 2``:

    sources      (batch, n_src)        int64, language A word ids, padded with PAD at the end
    targets      (batch, 1 + n + 1)    int64, BOS, language B word ids, EOS, then PAD
    alignments   (batch, n + 1)        int64, for each predicted target position (targets[:, 1:])
                                       the source position it translates, -1 for particles,
                                       EOS and padding
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch

from .dates import pad_sequences

__all__ = [
    "REORDERING_LEXICON",
    "REORDERING_VOCABULARY",
    "ReorderingPair",
    "encode_reordering_pairs",
    "make_reordering_pairs",
    "make_reordering_splits",
    "reordering_words",
]

DETERMINERS = {"the": "sono", "a": "aru"}
ADJECTIVES = {"big": "ooki", "small": "chiisa", "red": "aka", "old": "furu", "young": "waka",
              "happy": "ureshi", "tall": "taka", "quiet": "shizuka"}
NOUNS = {"cat": "neko", "dog": "inu", "bird": "tori", "child": "kodomo", "farmer": "nomin",
         "teacher": "sensei", "horse": "uma", "fox": "kitsune"}
VERBS = {"sees": "miru", "chases": "ou", "helps": "tasukeru", "finds": "mitsukeru", "follows": "shitagau",
         "likes": "konomu"}
ADVERBS = {"quickly": "hayaku", "slowly": "osoku", "often": "yoku", "quietly": "shizukani"}
CONJUNCTION = {"and": "soshite"}
SUBJECT_PARTICLE, OBJECT_PARTICLE, CLAUSE_PARTICLE = "ga", "o", "da"

REORDERING_LEXICON = {**DETERMINERS, **ADJECTIVES, **NOUNS, **VERBS, **ADVERBS, **CONJUNCTION}
SPECIALS = ("<pad>", "<bos>", "<eos>")
PAD, BOS, EOS = 0, 1, 2
REORDERING_VOCABULARY = (
    SPECIALS
    + tuple(REORDERING_LEXICON)
    + tuple(REORDERING_LEXICON.values())
    + (SUBJECT_PARTICLE, OBJECT_PARTICLE, CLAUSE_PARTICLE)
)
WORD_ID = {word: i for i, word in enumerate(REORDERING_VOCABULARY)}


class ReorderingPair(NamedTuple):
    """One sentence in both languages; ``alignment[j]`` is the source index of ``target[j]`` (-1: particle)."""

    source: tuple[str, ...]
    target: tuple[str, ...]
    alignment: tuple[int, ...]


def _noun_phrase(rng: np.random.Generator, max_adjectives: int) -> tuple[list[str], list[int]]:
    """Words of a language-A noun phrase and, for the B order, the indices of those words."""
    words = []
    if rng.random() < 0.5:
        words.append(str(rng.choice(list(DETERMINERS))))
    adjectives = rng.choice(list(ADJECTIVES), size=int(rng.integers(max_adjectives + 1)), replace=False)
    words += [str(a) for a in adjectives]
    words.append(str(rng.choice(list(NOUNS))))
    has_det = words[0] in DETERMINERS
    first_adjective = 1 if has_det else 0
    noun = len(words) - 1
    order_b = ([0] if has_det else []) + [noun] + list(range(first_adjective, noun))  # det noun adj*
    return words, order_b


def _clause(rng: np.random.Generator, max_adjectives: int, offset: int) -> tuple[list[str], list[str], list[int]]:
    """One clause: its A words, its B words, and each B word's source position (offset + index, or -1)."""
    subject, subject_order = _noun_phrase(rng, max_adjectives)
    verb = str(rng.choice(list(VERBS)))
    obj, object_order = _noun_phrase(rng, max_adjectives)
    adverb = [str(rng.choice(list(ADVERBS)))] if rng.random() < 0.5 else []
    source = subject + [verb] + obj + adverb
    verb_at, object_at = len(subject), len(subject) + 1
    aligned = (
        [i for i in subject_order] + [-1]  # subject, ga
        + [object_at + i for i in object_order] + [-1]  # object, o
        + ([len(source) - 1] if adverb else [])  # adverb
        + [verb_at, -1]  # verb, da
    )
    target = [REORDERING_LEXICON[source[i]] if i >= 0 else "" for i in aligned]
    particles = iter([SUBJECT_PARTICLE, OBJECT_PARTICLE, CLAUSE_PARTICLE])
    target = [word if word else next(particles) for word in target]
    alignment = [offset + i if i >= 0 else -1 for i in aligned]
    return source, target, alignment


def _sentence(rng: np.random.Generator, max_clauses: int, max_adjectives: int) -> ReorderingPair:
    n_clauses = int(rng.integers(1, max_clauses + 1))
    source, target, alignment = [], [], []
    for number in range(n_clauses):
        if number > 0:
            alignment.append(len(source))
            source.append("and")
            target.append(CONJUNCTION["and"])
        clause_source, clause_target, clause_alignment = _clause(rng, max_adjectives, offset=len(source))
        source += clause_source
        target += clause_target
        alignment += clause_alignment
    return ReorderingPair(tuple(source), tuple(target), tuple(alignment))


def make_reordering_splits(sizes: dict[str, int], seed: int = 0, max_clauses: int = 2,
                           max_adjectives: int = 2) -> dict[str, list[ReorderingPair]]:
    """Disjoint lists of sentence pairs, e.g. ``make_reordering_splits({"train": 8000, "test": 1000})``.

    Each sentence has 1 to ``max_clauses`` clauses (uniformly) and each noun phrase 0 to
    ``max_adjectives`` distinct adjectives (uniformly); determiners and the adverb appear with
    probability 1/2. Every source sentence is distinct, within and across splits. The same
    ``seed`` gives the same pairs on every machine.
    """
    if not sizes or any(not isinstance(n, int) or n < 1 for n in sizes.values()):
        raise ValueError(f"sizes must map split names to positive integers; got {sizes}")
    if not 1 <= max_clauses <= 4:
        raise ValueError(f"max_clauses must be in 1..4; got {max_clauses}")
    if not 0 <= max_adjectives <= len(ADJECTIVES):
        raise ValueError(f"max_adjectives must be in 0..{len(ADJECTIVES)}; got {max_adjectives}")
    n_total = sum(sizes.values())
    rng = np.random.default_rng(seed)
    seen, pairs = set(), []
    for _ in range(20 * n_total + 1000):  # duplicates are rare; give up rather than loop forever
        pair = _sentence(rng, max_clauses, max_adjectives)
        if pair.source not in seen:
            seen.add(pair.source)
            pairs.append(pair)
            if len(pairs) == n_total:
                break
    if len(pairs) < n_total:
        raise ValueError(f"could only make {len(pairs)} distinct sentences of the {n_total} requested with "
                         f"max_clauses={max_clauses}, max_adjectives={max_adjectives}")
    splits, first = {}, 0
    for name, n in sizes.items():
        splits[name] = pairs[first : first + n]
        first += n
    return splits


def make_reordering_pairs(n: int, seed: int = 0, max_clauses: int = 2, max_adjectives: int = 2) -> list[ReorderingPair]:
    """``n`` distinct sentence pairs (see :func:`make_reordering_splits`)."""
    return make_reordering_splits({"pairs": n}, seed, max_clauses, max_adjectives)["pairs"]


def encode_reordering_pairs(pairs: Sequence[ReorderingPair]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pairs → ``(sources (batch, n_src), targets (batch, n_tgt), alignments (batch, n_tgt - 1))`` int64.

    Sources are word ids padded with PAD; targets are BOS + word ids + EOS padded with PAD.
    ``alignments[b, j]`` is the source position translated by ``targets[b, j + 1]`` (-1 for the
    particles, EOS and padding), so it lines up with the decoder's predictions.
    """
    if len(pairs) == 0:
        raise ValueError("encode_reordering_pairs needs at least one pair; got none")
    unknown = sorted({w for pair in pairs for w in (*pair.source, *pair.target) if w not in WORD_ID})
    if unknown:
        raise ValueError(f"words not in REORDERING_VOCABULARY: {unknown[:5]}")
    sources = pad_sequences([[WORD_ID[w] for w in pair.source] for pair in pairs], PAD)
    targets = pad_sequences([[BOS, *(WORD_ID[w] for w in pair.target), EOS] for pair in pairs], PAD)
    alignments = torch.full((len(pairs), targets.shape[1] - 1), -1, dtype=torch.int64)  # (batch, n_tgt - 1)
    for row, pair in enumerate(pairs):
        alignments[row, : len(pair.alignment)] = torch.tensor(pair.alignment, dtype=torch.int64)
    return sources, targets, alignments


def reordering_words(ids: torch.Tensor | Sequence[int]) -> list[str]:
    """The words of a sequence of ids, without PAD, BOS and EOS (stops at the first EOS)."""
    if isinstance(ids, torch.Tensor):
        if ids.ndim != 1:
            raise ValueError(f"reordering_words takes one sequence of ids, shape (n,); got {tuple(ids.shape)}")
        ids = ids.tolist()
    words = []
    for i in ids:
        if not 0 <= int(i) < len(REORDERING_VOCABULARY):
            raise ValueError(f"id {i} out of range [0, {len(REORDERING_VOCABULARY)})")
        if int(i) == EOS:
            break
        if int(i) >= len(SPECIALS):
            words.append(REORDERING_VOCABULARY[int(i)])
    return words
