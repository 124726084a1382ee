"""attnbook.data: the date-translation generator, the character tokenizer, the shipped text, batches."""

from __future__ import annotations

import datetime
import re

import pytest
import torch

from attnbook.data import (
    DATE_FORMATS,
    TEXTS,
    CharTokenizer,
    date_tokenizer,
    encode_pairs,
    format_date,
    length_bucketed_batches,
    load_text,
    make_date_pairs,
    make_date_splits,
    pad_sequences,
    sample_batch,
    sequential_batches,
    split_ids,
)
from attnbook.data.dates import BOS, EOS, MONTHS, PAD

# ----------------------------------------------------------------------------- dates

PARSERS = {  # an independent reading of each format with the standard library
    "dmy_long": lambda s: datetime.datetime.strptime(s, "%d %B %Y").date(),
    "mdy_long": lambda s: datetime.datetime.strptime(s, "%B %d, %Y").date(),
    "mdy_short": lambda s: datetime.datetime.strptime(s, "%b %d, %Y").date(),
    "ordinal": lambda s: datetime.datetime.strptime(re.sub(r"(\d+)(st|nd|rd|th)", r"\1", s), "the %d of %B %Y").date(),
    "weekday": lambda s: datetime.datetime.strptime(s, "%A, %d %B %Y").date(),
    "us_slash": lambda s: datetime.datetime.strptime(s, "%m/%d/%Y").date(),
    "eu_dot": lambda s: datetime.datetime.strptime(s, "%d.%m.%Y").date(),
    "cjk": lambda s: datetime.date(*map(int, re.fullmatch(r"(\d+)年(\d+)月(\d+)日", s).groups())),
}


def test_every_format_has_an_independent_parser():
    assert set(PARSERS) == set(DATE_FORMATS)


@pytest.mark.parametrize("fmt", list(DATE_FORMATS))
def test_format_date_round_trips_through_the_standard_library(fmt):
    day = datetime.date(2021, 3, 3)
    for offset in range(0, 3000, 37):  # every month, weekday and ordinal suffix turns up
        d = day + datetime.timedelta(days=offset)
        assert PARSERS[fmt](format_date(d, fmt)) == d


def test_format_date_examples():
    day = datetime.date(2021, 3, 4)
    assert format_date(day, "us_slash") == "03/04/2021"  # month first
    assert format_date(day, "eu_dot") == "04.03.2021"  # day first
    assert format_date(day, "weekday") == "Thursday, 4 March 2021"
    assert format_date(datetime.date(2021, 3, 11), "ordinal") == "the 11th of March 2021"
    assert format_date(datetime.date(2021, 3, 22), "ordinal") == "the 22nd of March 2021"
    assert format_date(day, "cjk") == "2021年3月4日"


def test_pairs_follow_the_rule_and_use_every_format():
    pairs = make_date_pairs(800, seed=3)
    assert len(pairs) == 800
    used = set()
    for source, target in pairs:
        day = datetime.date.fromisoformat(target)
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", target)
        matching = [f for f, parse in PARSERS.items() if _parses_to(parse, source, day)]
        assert matching, f"{source!r} is not {target} in any format"
        used.update(matching)
    assert used == set(DATE_FORMATS)


def _parses_to(parse, source, day):
    try:
        return parse(source) == day
    except (ValueError, AttributeError):
        return False


def test_pairs_are_deterministic_under_a_seed():
    assert make_date_pairs(50, seed=1) == make_date_pairs(50, seed=1)
    assert make_date_pairs(50, seed=1) != make_date_pairs(50, seed=2)


def test_splits_have_the_asked_sizes_and_disjoint_dates():
    splits = make_date_splits({"train": 300, "valid": 50, "test": 100}, seed=0)
    assert {k: len(v) for k, v in splits.items()} == {"train": 300, "valid": 50, "test": 100}
    dates = [{target for _, target in pairs} for pairs in splits.values()]
    assert sum(len(d) for d in dates) == 450  # all distinct, within and across splits


def test_return_formats_names_the_format_of_each_pair():
    triples = make_date_splits({"a": 300}, seed=4, return_formats=True)["a"]
    pairs = make_date_splits({"a": 300}, seed=4)["a"]
    assert [t[:2] for t in triples] == pairs  # the same pairs, with the format added
    for source, target, fmt in triples:
        assert format_date(datetime.date.fromisoformat(target), fmt) == source


def test_formats_and_range_are_respected():
    start, end = datetime.date(2000, 1, 1), datetime.date(2000, 12, 31)
    pairs = make_date_pairs(100, formats=["eu_dot"], start=start, end=end)
    assert all(re.fullmatch(r"\d{2}\.\d{2}\.2000", source) for source, _ in pairs)
    assert all(start <= datetime.date.fromisoformat(target) <= end for _, target in pairs)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: make_date_pairs(0), "positive integers"),
        (lambda: make_date_pairs(5, formats=["roman"]), "formats must be"),
        (lambda: make_date_pairs(5, formats=[]), "formats must be"),
        (lambda: make_date_pairs(400, start=datetime.date(2000, 1, 1), end=datetime.date(2000, 12, 31)),
         "only 366 days"),
        (lambda: make_date_pairs(5, start=datetime.date(2001, 1, 1), end=datetime.date(2000, 1, 1)), "is after"),
        (lambda: format_date(datetime.date(2000, 1, 1), "iso"), "unknown date format"),
        (lambda: format_date("2000-01-01", "cjk"), "datetime.date"),
        (lambda: encode_pairs([]), "at least one"),
        (lambda: pad_sequences([]), "at least one"),
        (lambda: pad_sequences([[1, 2, 3]], length=2), "length 3 does not fit in length=2"),
    ],
)
def test_date_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_date_tokenizer_covers_every_format_and_has_the_specials_first():
    tokenizer = date_tokenizer()
    assert tokenizer.itos[:3] == ("<pad>", "<bos>", "<eos>") and (PAD, BOS, EOS) == (0, 1, 2)
    every = "".join(format_date(datetime.date(2021, m, 20 + w), f) for m in range(1, 13) for w in range(7)
                    for f in DATE_FORMATS)
    tokenizer.encode(every + "2021-03-04")  # raises if any character is missing
    assert tokenizer.vocab_size == 3 + len(set(every + "-"))  # no unused characters


def test_encode_pairs_shapes_padding_and_round_trip():
    pairs = [("3 March 2021", "2021-03-03"), ("Wednesday, 30 September 2020", "2020-09-30")]
    sources, targets = encode_pairs(pairs)
    assert sources.dtype == targets.dtype == torch.int64
    assert sources.shape == (2, len("Wednesday, 30 September 2020")) and targets.shape == (2, 12)
    assert (targets[:, 0] == BOS).all() and (targets[:, -1] == EOS).all()
    assert (sources[0, len("3 March 2021"):] == PAD).all() and (sources[1] != PAD).all()
    tokenizer = date_tokenizer()
    for (source, target), s, t in zip(pairs, sources, targets, strict=True):
        assert tokenizer.decode(s) == source and tokenizer.decode(t) == target
    assert tokenizer.decode(targets[0], keep_specials=True) == "<bos>2021-03-03<eos>"


def test_pad_sequences():
    out = pad_sequences([[5, 6], [7]], pad_id=9, length=3)
    assert torch.equal(out, torch.tensor([[5, 6, 9], [7, 9, 9]]))


# ----------------------------------------------------------------------------- tokenizer and text


def test_char_tokenizer_round_trip_sorted_ids_and_specials():
    tokenizer = CharTokenizer.from_text("hello world")
    assert tokenizer.itos == tuple(sorted(set("hello world")))
    assert tokenizer.decode(tokenizer.encode("low herd")) == "low herd"
    with_specials = CharTokenizer("ab", specials=("<pad>",))
    assert with_specials.encode("ba") == [2, 1] and with_specials.decode([0, 1, 2]) == "ab"
    assert len(with_specials) == 3


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: CharTokenizer.from_text("abc").encode("abz"), r"\['z'\] \(first at position 2"),
        (lambda: CharTokenizer("abc", specials=("<s>",)).encode("<s>"), "not in the vocabulary"),
        (lambda: CharTokenizer.from_text("abc").decode([0, 3]), r"out of range \[0, 3\)"),
        (lambda: CharTokenizer.from_text("abc").decode(torch.zeros(2, 2, dtype=torch.long)), r"shape \(2, 2\)"),
        (lambda: CharTokenizer(""), "at least one character"),
        (lambda: CharTokenizer(["ab"]), "length 1"),
        (lambda: CharTokenizer("ab", specials=("a",)), "special tokens"),
        (lambda: load_text("hamlet"), "unknown text 'hamlet'"),
    ],
)
def test_tokenizer_and_text_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_shipped_text_is_small_ascii_and_documented():
    text = load_text("pride_and_prejudice")
    assert set(TEXTS) == {"pride_and_prejudice"}
    assert 150_000 < len(text.encode("utf-8")) <= 200_000
    assert text.isascii() and text.startswith("PRIDE AND PREJUDICE")
    from importlib import resources

    readme = resources.files("attnbook.data").joinpath("texts", "README.md").read_text(encoding="utf-8")
    assert "public domain" in readme and "Project Gutenberg" in readme


def test_sample_batch_shapes_shift_and_determinism():
    ids = torch.arange(100)
    x, y = sample_batch(ids, 6, 10, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (6, 10) and x.dtype == torch.int64
    assert torch.equal(y, x + 1)  # targets are the next token (ids[i] == i here)
    assert torch.equal(x[:, 1:], x[:, :-1] + 1)  # each row is a contiguous window
    assert x.max() + 1 <= 99
    again, _ = sample_batch(ids, 6, 10, torch.Generator().manual_seed(0))
    other, _ = sample_batch(ids, 6, 10, torch.Generator().manual_seed(1))
    assert torch.equal(x, again) and not torch.equal(x, other)


def test_sequential_batches_cover_the_text_once():
    ids = torch.arange(53)
    batches = list(sequential_batches(ids, batch_size=2, context_length=10))
    x = torch.cat([b[0] for b in batches])
    y = torch.cat([b[1] for b in batches])
    assert [len(b[0]) for b in batches] == [2, 2, 1]
    assert torch.equal(x.flatten(), torch.arange(50)) and torch.equal(y, x + 1)


def test_split_ids_is_contiguous():
    train, valid = split_ids(torch.arange(100), valid_fraction=0.1)
    assert torch.equal(train, torch.arange(90)) and torch.equal(valid, torch.arange(90, 100))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: sample_batch(torch.arange(5), 2, 5), "at least 6 tokens; got 5"),
        (lambda: sample_batch(torch.arange(50).float(), 2, 5), "int64"),
        (lambda: sample_batch(torch.arange(50).view(5, 10), 2, 5), r"shape \(5, 10\)"),
        (lambda: sample_batch(torch.arange(50), 0, 5), "batch_size must be positive"),
        (lambda: list(sequential_batches(torch.arange(50), 2, 0)), "context_length must be positive"),
        (lambda: split_ids(torch.arange(100), 1.5), "valid_fraction"),
        (lambda: split_ids(torch.arange(10), 0.05), "too few"),
    ],
)
def test_batch_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_months_are_the_calendar_names():
    assert MONTHS == tuple(datetime.date(2000, m, 1).strftime("%B") for m in range(1, 13))


def test_length_bucketed_batches_group_similar_lengths_and_cut_padding():
    sources, targets = encode_pairs(make_date_pairs(2000, seed=0))
    lengths = (sources != PAD).sum(1)
    batch_fn = length_bucketed_batches(sources, targets, 64)
    spreads = []
    for _ in range(20):
        s, t = batch_fn(torch.Generator().manual_seed(len(spreads)))
        batch_lengths = (s != PAD).sum(1)
        assert s.shape[0] == t.shape[0] == 64 and s.shape[1] == batch_lengths.max()
        assert t.shape == (64, 12)
        spreads.append(int(batch_lengths.max() - batch_lengths.min()))
    assert max(spreads) <= 2 < int(lengths.max() - lengths.min())  # similar lengths in a batch
    first, _ = batch_fn(torch.Generator().manual_seed(5))
    again, _ = batch_fn(torch.Generator().manual_seed(5))
    assert torch.equal(first, again)


def test_length_bucketed_batches_bad_input():
    sources, targets = encode_pairs(make_date_pairs(10))
    with pytest.raises(ValueError, match=r"batch_size must be in 1\.\.10"):
        length_bucketed_batches(sources, targets, 11)
    with pytest.raises(ValueError, match="one N"):
        length_bucketed_batches(sources, targets[:5], 4)
