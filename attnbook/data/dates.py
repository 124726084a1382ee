"""A toy translation task made in code: dates written in several formats → ISO 8601.

Each example is a pair of strings, for instance ``("Wednesday, 3 March 2021", "2021-03-03")``.
The formats (``DATE_FORMATS``) differ in word order, spelling and numbering, so a model must
learn to reorder and translate, not just copy:

==============  ==========================  ===============================================
key             example (3 March 2021)      convention
==============  ==========================  ===============================================
``dmy_long``    ``3 March 2021``            day, month name, year (British)
``mdy_long``    ``March 3, 2021``           month name, day, year (American)
``mdy_short``   ``Mar 3, 2021``             abbreviated month name
``ordinal``     ``the 3rd of March 2021``   ordinal day
``weekday``     ``Wednesday, 3 March 2021`` with the day of the week (redundant)
``us_slash``    ``03/03/2021``              MM/DD/YYYY, the United States' numeric order
``eu_dot``      ``03.03.2021``              DD.MM.YYYY, the German/European numeric order
``cjk``         ``2021年3月3日``            year 年 month 月 day 日 (Chinese and Japanese)
==============  ==========================  ===============================================

The two numeric formats are told apart by their separator: ``04/03/2021`` is 3 April (US) and
``04.03.2021`` is 4 March (European). The target is always ``YYYY-MM-DD``.

Tensors (``encode_pairs``), with one shared character vocabulary (``date_tokenizer``) whose
special tokens are ``PAD = 0``, ``BOS = 1``, ``EOS = 2``:

    sources   (batch, source_length)   int64, characters, padded with PAD at the end
    targets   (batch, 1 + 10 + 1)      int64, BOS, the ten ISO characters, EOS
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch

from .text import CharTokenizer

__all__ = [
    "BOS",
    "DATE_FORMATS",
    "EOS",
    "PAD",
    "date_tokenizer",
    "encode_pairs",
    "format_date",
    "length_bucketed_batches",
    "make_date_pairs",
    "make_date_splits",
    "pad_sequences",
]

DATE_FORMATS = {
    "dmy_long": "day month-name year (British): 3 March 2021",
    "mdy_long": "month-name day, year (American): March 3, 2021",
    "mdy_short": "abbreviated month name: Mar 3, 2021",
    "ordinal": "ordinal day: the 3rd of March 2021",
    "weekday": "with the weekday: Wednesday, 3 March 2021",
    "us_slash": "MM/DD/YYYY (United States): 03/03/2021",
    "eu_dot": "DD.MM.YYYY (European): 03.03.2021",
    "cjk": "year 年 month 月 day 日 (Chinese, Japanese): 2021年3月3日",
}
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
FIRST_DATE = datetime.date(1900, 1, 1)
LAST_DATE = datetime.date(2099, 12, 31)
SPECIALS = ("<pad>", "<bos>", "<eos>")
PAD, BOS, EOS = 0, 1, 2


def _ordinal(day: int) -> str:
    """1 → '1st', 2 → '2nd', 3 → '3rd', 11 → '11th', 22 → '22nd'."""
    suffix = "th" if 11 <= day <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def format_date(day: datetime.date, fmt: str) -> str:
    """``day`` written in format ``fmt`` (a key of ``DATE_FORMATS``)."""
    if not isinstance(day, datetime.date):
        raise ValueError(f"day must be a datetime.date; got {type(day).__name__}")
    d, m, y, month = day.day, day.month, day.year, MONTHS[day.month - 1]
    match fmt:
        case "dmy_long":
            return f"{d} {month} {y}"
        case "mdy_long":
            return f"{month} {d}, {y}"
        case "mdy_short":
            return f"{month[:3]} {d}, {y}"
        case "ordinal":
            return f"the {_ordinal(d)} of {month} {y}"
        case "weekday":
            return f"{WEEKDAYS[day.weekday()]}, {d} {month} {y}"
        case "us_slash":
            return f"{m:02d}/{d:02d}/{y:04d}"
        case "eu_dot":
            return f"{d:02d}.{m:02d}.{y:04d}"
        case "cjk":
            return f"{y}年{m}月{d}日"
    raise ValueError(f"unknown date format {fmt!r}; known: {list(DATE_FORMATS)}")


def _check_range(formats, start, end) -> tuple[tuple[str, ...], datetime.date, datetime.date]:
    formats = tuple(DATE_FORMATS) if formats is None else tuple(formats)
    unknown = [f for f in formats if f not in DATE_FORMATS]
    if unknown or not formats:
        raise ValueError(f"formats must be a non-empty list of {list(DATE_FORMATS)}; got {list(formats)}")
    start = FIRST_DATE if start is None else start
    end = LAST_DATE if end is None else end
    if start > end:
        raise ValueError(f"start {start} is after end {end}")
    return formats, start, end


def make_date_splits(sizes: dict[str, int], seed: int = 0, formats: Sequence[str] | None = None,
                     start: datetime.date | None = None, end: datetime.date | None = None,
                     return_formats: bool = False) -> dict[str, list[tuple[str, ...]]]:
    """Disjoint sets of (source, ISO target) pairs, e.g. ``make_date_splits({"train": 5000, "test": 500})``.

    Every pair has a different calendar date, drawn uniformly without replacement from
    ``start .. end`` (default 1900-01-01 to 2099-12-31), so no date of one split appears in another,
    in any format. Each pair's format is drawn uniformly from ``formats`` (default: all of
    ``DATE_FORMATS``). The same ``seed`` gives the same pairs on every machine.
    ``return_formats=True`` gives triples (source, target, format key) instead; the key is the
    format drawn (``mdy_long`` and ``mdy_short`` write May the same way).
    """
    formats, start, end = _check_range(formats, start, end)
    if not sizes or any(not isinstance(n, int) or n < 1 for n in sizes.values()):
        raise ValueError(f"sizes must map split names to positive integers; got {sizes}")
    n_total, n_days = sum(sizes.values()), (end - start).days + 1
    if n_total > n_days:
        raise ValueError(f"{n_total} distinct dates requested, but {start} .. {end} has only {n_days} days")
    rng = np.random.default_rng(seed)
    offsets = rng.choice(n_days, size=n_total, replace=False)  # distinct days
    format_ids = rng.integers(len(formats), size=n_total)
    pairs = []
    for offset, format_id in zip(offsets.tolist(), format_ids.tolist(), strict=True):
        day = start + datetime.timedelta(days=offset)
        fmt = formats[format_id]
        pairs.append((format_date(day, fmt), day.isoformat(), fmt) if return_formats else
                     (format_date(day, fmt), day.isoformat()))
    splits, first = {}, 0
    for name, n in sizes.items():
        splits[name] = pairs[first : first + n]
        first += n
    return splits


def make_date_pairs(n: int, seed: int = 0, formats: Sequence[str] | None = None,
                    start: datetime.date | None = None, end: datetime.date | None = None) -> list[tuple[str, str]]:
    """``n`` (source, ISO target) pairs with distinct dates (see ``make_date_splits``)."""
    return make_date_splits({"pairs": n}, seed, formats, start, end)["pairs"]


def date_tokenizer() -> CharTokenizer:
    """The character vocabulary of every date format and of ISO targets, with PAD, BOS, EOS first."""
    words = "".join(MONTHS + WEEKDAYS) + "the of st nd rd th"
    return CharTokenizer(words + "0123456789 ,./-" + "年月日", specials=SPECIALS)


def pad_sequences(sequences: Iterable[Sequence[int]], pad_id: int = PAD, length: int | None = None) -> torch.Tensor:
    """Stack id lists into one (batch, length) int64 tensor, padding each at the end with ``pad_id``.

    ``length`` defaults to the longest sequence; a sequence longer than ``length`` is an error.
    """
    sequences = [list(s) for s in sequences]
    if not sequences:
        raise ValueError("pad_sequences needs at least one sequence; got none")
    longest = max(len(s) for s in sequences)
    length = longest if length is None else length
    if longest > length:
        raise ValueError(f"a sequence of length {longest} does not fit in length={length}")
    out = torch.full((len(sequences), length), pad_id, dtype=torch.int64)  # (batch, length)
    for row, sequence in enumerate(sequences):
        out[row, : len(sequence)] = torch.tensor(sequence, dtype=torch.int64)
    return out


def length_bucketed_batches(sources: torch.Tensor, targets: torch.Tensor, batch_size: int, pad_id: int = PAD
                            ) -> Callable[[torch.Generator], tuple[torch.Tensor, torch.Tensor]]:
    """A batch function for ``attnbook.train`` whose batches hold sources of similar length.

    The pairs are sorted by source length (number of non-``pad_id`` tokens); each call picks a
    random run of ``batch_size`` consecutive pairs in that order, and cuts the padding columns
    that no source in the batch needs. Vaswani et al. (2017) batched sentence pairs "by
    approximate sequence length" for the same reason: less computation spent on padding.
    Returns ``batch_fn(generator) -> (sources (batch, n <= S), targets (batch, T))``.
    """
    if sources.ndim != 2 or targets.ndim != 2 or sources.shape[0] != targets.shape[0]:
        raise ValueError(f"need sources (N, S) and targets (N, T) with one N; got {tuple(sources.shape)} "
                         f"and {tuple(targets.shape)}")
    if not 1 <= batch_size <= sources.shape[0]:
        raise ValueError(f"batch_size must be in 1..{sources.shape[0]} (the number of pairs); got {batch_size}")
    lengths = (sources != pad_id).sum(dim=1)  # (N,)
    order = torch.argsort(lengths, stable=True)  # (N,) shortest first

    def batch_fn(generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        start = int(torch.randint(0, len(order) - batch_size + 1, (1,), generator=generator))
        index = order[start : start + batch_size]  # (batch,)
        n = int(lengths[index].max())
        return sources[index, :n], targets[index]

    return batch_fn


def encode_pairs(pairs: Sequence[tuple[str, str]], tokenizer: CharTokenizer | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Pairs of strings → (sources (batch, S), targets (batch, T)) int64 tensors.

    Sources are the characters padded with PAD; targets are BOS + characters + EOS, padded with
    PAD (all ISO targets have the same length, so there is no padding in them). Training feeds
    ``targets[:, :-1]`` to the decoder and predicts ``targets[:, 1:]`` (teacher forcing).
    """
    if len(pairs) == 0:
        raise ValueError("encode_pairs needs at least one (source, target) pair; got none")
    tokenizer = date_tokenizer() if tokenizer is None else tokenizer
    bos, eos = tokenizer.token_id("<bos>"), tokenizer.token_id("<eos>")
    pad = tokenizer.token_id("<pad>")
    sources = pad_sequences([tokenizer.encode(source) for source, _ in pairs], pad)
    targets = pad_sequences([[bos, *tokenizer.encode(target), eos] for _, target in pairs], pad)
    return sources, targets
