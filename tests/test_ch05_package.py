"""Chapter 5's package code: the data generators and the models (ViT, SASRec, TransformerClassifier)."""

from __future__ import annotations

import collections

import pytest
import torch
from nbcode import twin_namespace

import attnbook
from attnbook.data import (
    REORDERING_VOCABULARY,
    SENTIMENT_VOCABULARY,
    encode_reordering_pairs,
    make_digits_splits,
    make_forecast_windows,
    make_reordering_pairs,
    make_reordering_splits,
    make_seasonal_series,
    make_sentiment_data,
    make_sessions,
    next_item_examples,
    reordering_words,
    sentiment_label,
    sentiment_words,
)
from attnbook.data.reordering import ADJECTIVES, NOUNS, REORDERING_LEXICON, VERBS
from attnbook.data.sentiment import FIRST_FILLER, FIRST_NEGATIVE, FIRST_POSITIVE

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


def _loss_falls(model, data, loss_fn, steps=40, lr=3e-3) -> bool:
    """Train a few steps with attnbook.train; True when the loss on the whole dataset fell by more than 10%."""
    before = attnbook.training.evaluate_loss(model, [data], loss_fn)
    attnbook.train(model, data, steps=steps, batch_size=32, loss_fn=loss_fn, lr=lr, seed=0)
    after = attnbook.training.evaluate_loss(model, [data], loss_fn)
    return after < 0.9 * before


# ----------------------------------------------------------------------------- reordering grammar

def _independent_translation(source: tuple[str, ...]) -> tuple[str, ...]:
    """Language A → B written a second way: split clauses at 'and', find the verb, move words."""
    clauses, current = [], []
    for word in source:
        if word == "and":
            clauses.append(current)
            current = []
        else:
            current.append(word)
    clauses.append(current)
    out = []
    for number, clause in enumerate(clauses):
        verb_at = next(i for i, w in enumerate(clause) if w in VERBS)
        adverb = [clause[-1]] if clause[-1] not in NOUNS else []
        subject, obj = clause[:verb_at], clause[verb_at + 1 : len(clause) - len(adverb)]

        def phrase(words):
            det = [w for w in words if w in ("the", "a")]
            adjectives = [w for w in words if w in ADJECTIVES]
            noun = [w for w in words if w in NOUNS]
            assert len(noun) == 1 and noun[0] == words[-1]
            return [REORDERING_LEXICON[w] for w in det + noun + adjectives]

        if number:
            out.append("soshite")
        out += phrase(subject) + ["ga"] + phrase(obj) + ["o"]
        out += [REORDERING_LEXICON[w] for w in adverb] + [REORDERING_LEXICON[clause[verb_at]], "da"]
    return tuple(out)


def test_reordering_pairs_follow_the_rule_and_the_alignment_is_right():
    pairs = make_reordering_pairs(400, seed=5)
    lengths = collections.Counter(len(p.source) for p in pairs)
    assert min(lengths) <= 5 and max(lengths) >= 15  # varied lengths
    for pair in pairs:
        assert pair.target == _independent_translation(pair.source)
        assert len(pair.alignment) == len(pair.target)
        for word, aligned in zip(pair.target, pair.alignment, strict=True):
            if aligned < 0:
                assert word in ("ga", "o", "da")
            else:
                assert REORDERING_LEXICON[pair.source[aligned]] == word
        content = sorted(a for a in pair.alignment if a >= 0)
        assert content == list(range(len(pair.source)))  # every source word translated once


def test_reordering_really_reorders():
    pairs = make_reordering_pairs(200, seed=1)
    monotone = sum(all(a < b for a, b in zip(c, c[1:], strict=False)) for c in ([a for a in p.alignment if a >= 0] for p in pairs))
    assert monotone == 0  # the verb always moves past the object


def test_reordering_is_deterministic_and_splits_are_disjoint():
    assert make_reordering_pairs(30, seed=2) == make_reordering_pairs(30, seed=2)
    assert make_reordering_pairs(30, seed=2) != make_reordering_pairs(30, seed=3)
    splits = make_reordering_splits({"train": 500, "test": 200}, seed=0)
    sources = [p.source for split in splits.values() for p in split]
    assert len(sources) == len(set(sources)) == 700


def test_encode_reordering_pairs_shapes_and_round_trip():
    pairs = make_reordering_pairs(20, seed=0)
    sources, targets, alignments = encode_reordering_pairs(pairs)
    assert sources.dtype == targets.dtype == alignments.dtype == torch.int64
    assert sources.shape == (20, max(len(p.source) for p in pairs))
    assert targets.shape == (20, 2 + max(len(p.target) for p in pairs))
    assert alignments.shape == (20, targets.shape[1] - 1)
    assert (targets[:, 0] == 1).all()
    for row, pair in enumerate(pairs):
        assert tuple(reordering_words(sources[row])) == pair.source
        assert tuple(reordering_words(targets[row])) == pair.target
        assert alignments[row, len(pair.target):].eq(-1).all()  # EOS and padding
    assert len(set(REORDERING_VOCABULARY)) == len(REORDERING_VOCABULARY)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: make_reordering_pairs(0), "positive integers"),
        (lambda: make_reordering_splits({}), "positive integers"),
        (lambda: make_reordering_pairs(5, max_clauses=0), "max_clauses"),
        (lambda: make_reordering_pairs(5, max_adjectives=9), "max_adjectives"),
        (lambda: encode_reordering_pairs([]), "at least one"),
        (lambda: reordering_words(torch.zeros(2, 3, dtype=torch.int64)), "one sequence"),
        (lambda: reordering_words([999]), "out of range"),
    ],
)
def test_reordering_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ----------------------------------------------------------------------------- sentiment

def test_sentiment_shapes_rule_and_deciding_positions():
    data = make_sentiment_data(500, length=40, seed=3)
    assert data.tokens.shape == data.deciding.shape == data.opinions.shape == (500, 40)
    assert data.tokens.dtype == data.labels.dtype == torch.int64 and data.deciding.dtype == torch.bool
    assert (data.tokens >= FIRST_POSITIVE).all() and (data.tokens < len(SENTIMENT_VOCABULARY)).all()  # no PAD/CLS
    assert data.deciding.sum(dim=1).eq(1).all() and (data.deciding <= data.opinions).all()
    is_opinion = data.tokens < FIRST_FILLER
    assert torch.equal(is_opinion, data.opinions)
    for row in range(500):  # the rule, by a loop over the words
        words = sentiment_words(data.tokens[row])
        last = max(i for i, w in enumerate(words) if data.tokens[row, i] < FIRST_FILLER)
        assert data.deciding[row, last]
        assert data.labels[row] == int(data.tokens[row, last] < FIRST_NEGATIVE)
    assert torch.equal(sentiment_label(data.tokens), data.labels)
    assert 0.4 < data.labels.float().mean() < 0.6


def test_sentiment_counting_is_not_enough():
    """Some reviews change their mind: the majority of opinions disagrees with the label."""
    data = make_sentiment_data(2000, seed=0)
    positive = ((data.tokens >= FIRST_POSITIVE) & (data.tokens < FIRST_NEGATIVE)).sum(dim=1)
    negative = ((data.tokens >= FIRST_NEGATIVE) & (data.tokens < FIRST_FILLER)).sum(dim=1)
    majority_disagrees = ((positive > negative) & (data.labels == 0)) | ((negative > positive) & (data.labels == 1))
    assert 0.05 < majority_disagrees.float().mean() < 0.3


def test_sentiment_is_deterministic_under_a_seed():
    a, b, c = make_sentiment_data(50, seed=1), make_sentiment_data(50, seed=1), make_sentiment_data(50, seed=2)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not torch.equal(a.tokens, c.tokens)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: make_sentiment_data(0), "empty dataset"),
        (lambda: make_sentiment_data(5, length=2, max_opinions=4), "length=2"),
        (lambda: make_sentiment_data(5, max_opinions=0), "max_opinions"),
        (lambda: sentiment_label(torch.zeros(4, dtype=torch.int64)), r"\(n, length\)"),
        (lambda: sentiment_label(torch.full((2, 5), FIRST_FILLER)), "at least one sentiment word"),
        (lambda: sentiment_words(torch.tensor([0, 500])), "token ids"),
    ],
)
def test_sentiment_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ----------------------------------------------------------------------------- digits

def test_digits_split_is_stratified_disjoint_and_deterministic():
    train_x, train_y, test_x, test_y = make_digits_splits(0.25, seed=0)
    assert train_x.shape == (1347, 1, 8, 8) and test_x.shape == (450, 1, 8, 8)
    assert train_x.dtype == torch.float32 and train_y.dtype == torch.int64
    assert 0.0 <= float(train_x.min()) and float(train_x.max()) <= 1.0
    for digit in range(10):  # every class in both, in the same proportion (to within one image)
        n_train, n_test = int((train_y == digit).sum()), int((test_y == digit).sum())
        assert abs(n_test - 0.25 * (n_train + n_test)) <= 1
    flat_train, flat_test = {tuple(x.flatten().tolist()) for x in train_x}, {tuple(x.flatten().tolist()) for x in test_x}
    assert len(flat_train & flat_test) <= 2  # the data hold a few duplicate images, nothing more
    again = make_digits_splits(0.25, seed=0)
    assert torch.equal(again[2], test_x)
    assert not torch.equal(make_digits_splits(0.25, seed=1)[3], test_y)
    with pytest.raises(ValueError, match="test_fraction"):
        make_digits_splits(1.0)


# ----------------------------------------------------------------------------- time series

def test_seasonal_series_shapes_seasonality_and_regime_change():
    series = make_seasonal_series(n_steps=24 * 7 * 8, periods=(24, 168), amplitudes=(1.0, 0.5), noise_std=0.0,
                                  change_point=1000, change_shift=2.0, change_scale=1.5, seed=0)
    values, clean = series.values, series.clean
    assert values.shape == clean.shape == (1344,) and values.dtype == torch.float32
    assert torch.equal(values, clean)  # no noise
    before = clean[: 1000 - 168]
    assert torch.allclose(before[168:], before[:-168], atol=1e-4)  # both periods divide 168
    assert not torch.allclose(before[24:], before[:-24], atol=1e-2)  # the weekly cycle is there
    jump = clean[1000:1168].mean() - clean[1000 - 168 : 1000].mean()
    assert abs(float(jump) - 2.0) < 1e-3  # one full week on each side: only the level shift remains
    noisy = make_seasonal_series(n_steps=5000, noise_std=0.3, change_point=5000, seed=1)
    assert abs(float((noisy.values - noisy.clean).std()) - 0.3) < 0.02
    assert torch.equal(make_seasonal_series(seed=4).values, make_seasonal_series(seed=4).values)
    assert not torch.equal(make_seasonal_series(seed=4).values, make_seasonal_series(seed=5).values)


def test_forecast_windows_line_up_and_respect_the_split():
    values = torch.arange(100, dtype=torch.float32)
    inputs, targets, starts = make_forecast_windows(values, context_length=10, horizon=3, stride=5)
    assert inputs.shape == (len(starts), 10) and targets.shape == (len(starts), 3)
    assert torch.equal(inputs[:, -1] + 1, targets[:, 0]) and torch.equal(targets[:, 0], starts.float())
    _, train_targets, _ = make_forecast_windows(values, 10, 3, end=70)
    test_inputs, test_targets, _ = make_forecast_windows(values, 10, 3, start=70)
    assert train_targets.max() < 70 <= test_targets.min()  # no target on both sides
    assert test_inputs.min() < 70  # but a test context may look back into the training period


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: make_seasonal_series(periods=(24, 168), amplitudes=(1.0,)), "one amplitude per period"),
        (lambda: make_seasonal_series(periods=(1,), amplitudes=(1.0,)), "at least 2 steps"),
        (lambda: make_seasonal_series(n_steps=100, change_point=200), "change_point"),
        (lambda: make_seasonal_series(noise_std=-1.0), "noise_std"),
        (lambda: make_forecast_windows(torch.zeros(3, 4), 2), "1-D float"),
        (lambda: make_forecast_windows(torch.zeros(10), 8, 5), "no window fits"),
        (lambda: make_forecast_windows(torch.zeros(10), 0), "positive"),
        (lambda: make_forecast_windows(torch.zeros(10), 2, start=8, end=4), "start <= end"),
    ],
)
def test_time_series_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ----------------------------------------------------------------------------- sessions

def test_sessions_shapes_and_the_known_structure():
    s = make_sessions(n_users=300, n_items=60, n_clusters=6, clusters_per_user=2, min_length=5, max_length=20,
                      p_next=0.5, p_noise=0.0, seed=0)
    assert s.items.shape == s.is_next_episode.shape == (300, 20) and s.items.dtype == torch.int64
    assert s.user_clusters.shape == (300, 2) and s.item_cluster.shape == (61,)
    assert ((s.lengths >= 5) & (s.lengths <= 20)).all()
    assert torch.equal((s.items != 0).sum(dim=1), s.lengths)  # left padding, then real items only
    size = 10
    for user in range(300):
        history = s.items[user, 20 - int(s.lengths[user]):]
        assert (history >= 1).all() and (history <= 60).all()
        clusters = set(s.item_cluster[history].tolist())
        assert clusters <= set(s.user_clusters[user].tolist())  # no noise: only liked clusters
        for t in range(1, len(history)):
            if s.is_next_episode[user, 20 - int(s.lengths[user]) + t]:
                previous, current = int(history[t - 1]), int(history[t])
                assert s.item_cluster[previous] == s.item_cluster[current]
                assert (current - 1) % size == ((previous - 1) % size + 1) % size
    rate = s.is_next_episode.sum() / (s.lengths - 1).sum()
    assert abs(float(rate) - 0.5) < 0.05


def test_sessions_are_deterministic_and_next_item_examples_shift():
    a, b = make_sessions(50, seed=3), make_sessions(50, seed=3)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not torch.equal(a.items, make_sessions(50, seed=4).items)
    inputs, targets = next_item_examples(a.items)
    assert inputs.shape == targets.shape == (50, a.items.shape[1] - 1)
    real = inputs != 0
    assert torch.equal(targets[real], a.items[:, 1:][real]) and (targets[~real] == 0).all()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: make_sessions(0), "positive"),
        (lambda: make_sessions(5, n_items=55, n_clusters=10), "divisible"),
        (lambda: make_sessions(5, clusters_per_user=11), "clusters_per_user"),
        (lambda: make_sessions(5, min_length=10, max_length=5), "min_length"),
        (lambda: make_sessions(5, p_next=0.8, p_noise=0.3), "probabilities"),
        (lambda: next_item_examples(torch.zeros(0, 5, dtype=torch.int64)), "empty"),
        (lambda: next_item_examples(torch.zeros(4, dtype=torch.int64)), "int64 tensor"),
    ],
)
def test_sessions_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ----------------------------------------------------------------------------- ViT

def test_patchify_order_and_shapes():
    images = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).reshape(2, 3, 4, 6)
    patches = attnbook.patchify(images, 2)
    assert patches.shape == (2, 6, 12)  # (4/2)*(6/2) patches of 3*2*2 values
    for r in range(2):
        for c in range(3):
            expected = images[:, :, 2 * r : 2 * r + 2, 2 * c : 2 * c + 2].reshape(2, -1)
            assert torch.equal(patches[:, r * 3 + c], expected)
    assert torch.equal(attnbook.patchify(images, 1).reshape(2, 4, 6, 3).permute(0, 3, 1, 2), images)


def test_notebook_patchify_equals_the_package():
    twin = twin_namespace("chapters/05_applications/03_vision.ipynb")["patchify"]
    generator = torch.Generator().manual_seed(0)
    for shape, patch_size in (((2, 1, 8, 8), 2), ((3, 3, 12, 8), 4), ((1, 2, 6, 6), 1), ((2, 1, 8, 8), 8)):
        images = torch.randn(shape, generator=generator)
        assert torch.equal(twin(images, patch_size), attnbook.patchify(images, patch_size))
    with pytest.raises(ValueError):
        twin(torch.zeros(1, 1, 8, 8), 3)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: attnbook.patchify(torch.zeros(8, 8), 2), r"\(batch, channels, height, width\)"),
        (lambda: attnbook.patchify(torch.zeros(1, 1, 8, 8), 3), "not divisible"),
        (lambda: attnbook.patchify(torch.zeros(1, 1, 8, 8), 0), "positive integer"),
        (lambda: attnbook.VisionTransformer(image_size=8, patch_size=3), "must divide"),
        (lambda: attnbook.VisionTransformer()(torch.zeros(2, 1, 6, 6)), r"\(batch, 1, 8, 8\)"),
        (lambda: attnbook.VisionTransformer()(torch.zeros(2, 1, 8, 8, dtype=torch.int64)), "float"),
        (lambda: attnbook.VisionTransformer().loss(torch.zeros(2, 1, 8, 8), torch.tensor([3, 10])), r"0\.\.9"),
        (lambda: attnbook.VisionTransformer().loss(torch.zeros(2, 1, 8, 8), torch.tensor([3.0, 1.0])), "int64"),
    ],
)
def test_vit_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_vit_shapes_weights_and_learning():
    torch.manual_seed(0)
    model = attnbook.VisionTransformer(8, 2, 1, 10, d_model=16, num_heads=2, num_layers=2)
    images = torch.rand(5, 1, 8, 8)
    logits, weights = model(images, return_weights=True)
    assert logits.shape == (5, 10) and len(weights) == 2 and weights[0].shape == (5, 2, 17, 17)
    assert torch.allclose(weights[0].sum(-1), torch.ones(5, 2, 17))
    train_x, train_y, _, _ = make_digits_splits()
    assert _loss_falls(model, (train_x[:256], train_y[:256]), lambda m, b: m.loss(*b), steps=60)


def test_vit_position_embeddings_matter():
    torch.manual_seed(0)
    model = attnbook.VisionTransformer(8, 2, d_model=16, num_heads=2, num_layers=1)
    images = torch.rand(3, 1, 8, 8)
    shuffled = attnbook.patchify(images, 2)[:, torch.randperm(16)]
    # Rebuild images from shuffled patches: without positions the logits do not change, with them they do.
    rebuilt = shuffled.reshape(3, 4, 4, 1, 2, 2).permute(0, 3, 1, 4, 2, 5).reshape(3, 1, 8, 8)
    assert torch.equal(attnbook.patchify(rebuilt, 2), shuffled)
    assert not torch.allclose(model(images), model(rebuilt), atol=1e-6)
    model.use_positions = False
    assert torch.allclose(model(images), model(rebuilt), atol=1e-5)


# ----------------------------------------------------------------------------- TransformerClassifier

@pytest.mark.parametrize("pooling", ["cls", "attention", "mean"])
def test_classifier_shapes_and_pooling_weights(pooling):
    torch.manual_seed(0)
    model = attnbook.TransformerClassifier(20, 3, max_len=12, d_model=16, num_heads=2, num_layers=2, pooling=pooling,
                                           pad_id=0)
    tokens = torch.randint(1, 20, (4, 12))
    tokens[1, 8:] = 0  # padding at the end of one sequence
    logits, weights = model(tokens, return_weights=True)
    n_prime = 13 if pooling == "cls" else 12
    assert logits.shape == (4, 3)
    assert [w.shape for w in weights["layers"]] == [(4, 2, n_prime, n_prime)] * 2
    assert weights["pooling"].shape == (4, 12)
    assert torch.allclose(weights["pooling"][1, 8:], torch.zeros(4))  # padding takes no weight
    assert weights["layers"][0][1, :, :, -4:].abs().max() == 0
    if pooling != "cls":
        assert torch.allclose(weights["pooling"].sum(-1), torch.ones(4))
    if pooling == "mean":
        assert torch.allclose(weights["pooling"][1, :8], torch.full((8,), 1 / 8))
    assert torch.equal(model(tokens), logits)


def test_classifier_padding_does_not_change_the_result():
    torch.manual_seed(0)
    for pooling in ("cls", "attention", "mean"):
        model = attnbook.TransformerClassifier(20, 2, max_len=10, d_model=16, num_heads=2, num_layers=1,
                                               pooling=pooling, pad_id=0, positions="rope")
        tokens = torch.randint(1, 20, (2, 6))
        padded = torch.cat([tokens, torch.zeros(2, 4, dtype=torch.int64)], dim=1)
        assert torch.allclose(model(tokens), model(padded), atol=1e-5), pooling


def test_bag_of_embeddings_is_order_blind_and_positions_are_not():
    torch.manual_seed(0)
    tokens = torch.randint(0, 20, (3, 10))
    shuffled = tokens[:, torch.randperm(10)]
    bag = attnbook.TransformerClassifier(20, 2, max_len=10, d_model=16, num_layers=0, pooling="mean", positions="none")
    assert torch.allclose(bag(tokens), bag(shuffled), atol=1e-6)
    with_positions = attnbook.TransformerClassifier(20, 2, max_len=10, d_model=16, num_layers=0, pooling="mean")
    assert not torch.allclose(with_positions(tokens), with_positions(shuffled), atol=1e-6)  # LayerNorm lets order in


@pytest.mark.parametrize("pooling", ["cls", "attention", "mean"])
def test_classifier_learns_the_sentiment_task(pooling):
    torch.manual_seed(0)
    data = make_sentiment_data(512, length=24, seed=0)
    model = attnbook.TransformerClassifier(len(SENTIMENT_VOCABULARY), 2, max_len=24, d_model=16, num_heads=2,
                                           num_layers=1, pooling=pooling)
    assert _loss_falls(model, (data.tokens, data.labels), lambda m, b: m.loss(*b), steps=120, lr=3e-3)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: attnbook.TransformerClassifier(10, 2, 8, pooling="max"), "pooling must be"),
        (lambda: attnbook.TransformerClassifier(10, 1, 8), "num_classes"),
        (lambda: attnbook.TransformerClassifier(10, 2, 8, pad_id=10), "pad_id"),
        (lambda: attnbook.TransformerClassifier(10, 2, 8, positions="sinusoidal"), "positions"),
        (lambda: attnbook.TransformerClassifier(10, 2, 8)(torch.zeros(2, 9, dtype=torch.int64)), "max_len=8"),
        (lambda: attnbook.TransformerClassifier(10, 2, 8)(torch.full((2, 4), 10)), r"0\.\.9"),
        (lambda: attnbook.TransformerClassifier(10, 2, 8)(torch.zeros(2, 4)), "int64"),
        (lambda: attnbook.TransformerClassifier(10, 2, 8).loss(torch.zeros(2, 4, dtype=torch.int64),
                                                               torch.tensor([0, 2])), r"labels must be in 0\.\.1"),
        (lambda: attnbook.TransformerClassifier(10, 2, 8).loss(torch.zeros(2, 4, dtype=torch.int64),
                                                               torch.tensor([0, 1, 1])), r"shape \(2,\)"),
        (lambda: attnbook.train(attnbook.TransformerClassifier(10, 2, 8),
                                (torch.zeros(0, 4, dtype=torch.int64), torch.zeros(0, dtype=torch.int64)), steps=1),
         "empty"),
    ],
)
def test_classifier_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ----------------------------------------------------------------------------- SASRec

def test_sasrec_shapes_causality_and_padding():
    torch.manual_seed(0)
    model = attnbook.SASRec(num_items=30, max_len=10, d_model=16, num_heads=2, num_layers=2).eval()
    items = torch.randint(1, 31, (3, 10))
    items[0, :4] = 0  # left padding
    logits, weights = model(items, return_weights=True)
    assert logits.shape == (3, 10, 31) and [w.shape for w in weights] == [(3, 2, 10, 10)] * 2
    future = torch.triu(torch.ones(10, 10, dtype=torch.bool), diagonal=1)
    assert all(w[..., future].abs().max() == 0 for w in weights)  # no query sees a later item
    assert weights[0][0, :, :, :4].abs().max() == 0  # nobody attends to padding
    changed = items.clone()
    changed[:, 7] = items[:, 7] % 30 + 1  # change one item: earlier positions must not move
    assert torch.allclose(model(changed)[:, :7], logits[:, :7], atol=1e-6)
    assert not torch.allclose(model(changed)[:, 7:], logits[:, 7:], atol=1e-6)
    # a shorter history, left-padded or not, gives the same next-item scores
    assert torch.allclose(model.next_item_scores(items[:1, 4:]), model.next_item_scores(items[:1]), atol=1e-5)
    scores = model.next_item_scores(items)
    assert scores.shape == (3, 31) and torch.isinf(scores[:, 0]).all()


def test_sasrec_learns_next_items():
    sessions = make_sessions(n_users=200, n_items=40, n_clusters=4, max_length=15, p_next=0.9, p_noise=0.0, seed=0)
    inputs, targets = next_item_examples(sessions.items)
    torch.manual_seed(0)
    model = attnbook.SASRec(num_items=40, max_len=14, d_model=16, num_heads=2, num_layers=1)
    assert _loss_falls(model, (inputs, targets), lambda m, b: m.loss(*b), steps=120, lr=3e-3)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: attnbook.SASRec(0, 10), "num_items"),
        (lambda: attnbook.SASRec(10, 5)(torch.zeros(2, 6, dtype=torch.int64)), "max_len=5"),
        (lambda: attnbook.SASRec(10, 5)(torch.full((2, 3), 11)), r"0\.\.10"),
        (lambda: attnbook.SASRec(10, 5)(torch.zeros(3, dtype=torch.int64)), r"\(batch, n\)"),
        (lambda: attnbook.SASRec(10, 5).loss(torch.ones(2, 3, dtype=torch.int64), torch.ones(2, 4, dtype=torch.int64)),
         "shape of items"),
        (lambda: attnbook.SASRec(10, 5).loss(torch.ones(2, 3, dtype=torch.int64), torch.full((2, 3), 12)),
         "target ids"),
    ],
)
def test_sasrec_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()
