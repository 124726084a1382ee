"""attnbook.seq2seq: the synthetic copy/reverse task, the GRU encoder-decoder and its training loop.

Also the twin test: the teaching ``Seq2Seq`` in chapters/01_background/03_bottleneck.ipynb (cell
tagged ``twin``) must compute what the package's class computes, given the same parameters.
"""

from __future__ import annotations

import pytest
import torch
from nbcode import twin_namespace

from attnbook.seq2seq import BOS, Seq2Seq, exact_match_accuracy, make_batch, shift_right, train_seq2seq

NOTEBOOK = "chapters/01_background/03_bottleneck.ipynb"


def generator(seed=0):
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------- data


@pytest.mark.parametrize("task", ["copy", "reverse"])
def test_make_batch_shapes_tokens_and_targets(task):
    sources, targets = make_batch(50, 7, vocab_size=6, task=task, generator=generator())
    assert sources.shape == targets.shape == (50, 7)
    assert sources.dtype == targets.dtype == torch.int64
    assert sources.min() >= 1 and sources.max() <= 5  # 0 is BOS and never appears in the data
    assert set(sources.unique().tolist()) == {1, 2, 3, 4, 5}
    expected = sources if task == "copy" else sources.flip(-1)
    assert torch.equal(targets, expected)


def test_make_batch_is_reproducible_with_a_seeded_generator():
    first = make_batch(4, 5, generator=generator(3))
    second = make_batch(4, 5, generator=generator(3))
    other = make_batch(4, 5, generator=generator(4))
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    assert not torch.equal(first[0], other[0])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"task": "sort"}, "task must be one of"),
        ({"length": 0}, "must be positive"),
        ({"batch_size": 0}, "must be positive"),
        ({"vocab_size": 1}, "vocab_size must be at least 2"),
    ],
)
def test_make_batch_bad_arguments(kwargs, message):
    arguments = {"batch_size": 2, "length": 3, "vocab_size": 10, "task": "copy"} | kwargs
    with pytest.raises(ValueError, match=message):
        make_batch(**arguments)


def test_shift_right_prepends_bos_and_drops_the_last_token():
    targets = torch.tensor([[4, 5, 6], [7, 8, 9]])
    assert torch.equal(shift_right(targets), torch.tensor([[BOS, 4, 5], [BOS, 7, 8]]))


# ----------------------------------------------------------------------------- model


@pytest.mark.parametrize("attention", [False, True])
def test_forward_and_greedy_shapes(attention):
    torch.manual_seed(0)
    model = Seq2Seq(vocab_size=7, hidden_size=8, attention=attention)
    sources, targets = make_batch(3, 5, 7, "copy", generator())
    assert model(sources, targets).shape == (3, 5, 7)
    tokens, weights = model.greedy_decode(sources, n_steps=4)
    assert tokens.shape == (3, 4) and tokens.dtype == torch.int64
    if attention:
        assert weights.shape == (3, 4, 5)
        torch.testing.assert_close(weights.sum(-1), torch.ones(3, 4))
    else:
        assert weights is None


def test_fixed_context_decoder_ignores_all_but_the_final_state():
    torch.manual_seed(0)
    model = Seq2Seq(vocab_size=7, hidden_size=8, attention=False)
    sources, targets = make_batch(2, 6, 7, "copy", generator())
    encoder_states, final = model.encode(sources)
    logits, _, _ = model.decode(shift_right(targets), encoder_states, final)
    scrambled, _, _ = model.decode(shift_right(targets), torch.randn_like(encoder_states), final)
    torch.testing.assert_close(logits, scrambled)


def test_attention_decoder_uses_every_encoder_state():
    torch.manual_seed(0)
    model = Seq2Seq(vocab_size=7, hidden_size=8, attention=True)
    sources, targets = make_batch(2, 6, 7, "copy", generator())
    encoder_states, final = model.encode(sources)
    changed = encoder_states.clone()
    changed[:, 0] += 1.0  # change only the first position, not the final state
    logits, _, _ = model.decode(shift_right(targets), encoder_states, final)
    other, _, _ = model.decode(shift_right(targets), changed, final)
    assert not torch.allclose(logits, other)


@pytest.mark.parametrize("attention", [False, True])
def test_greedy_decoding_agrees_with_teacher_forcing_on_its_own_output(attention):
    # Feeding the greedy tokens back with teacher forcing reproduces the same decoder states,
    # so the argmax of the teacher-forced logits must be the greedy output.
    torch.manual_seed(1)
    model = Seq2Seq(vocab_size=9, hidden_size=16, attention=attention)
    sources, _ = make_batch(5, 6, 9, "copy", generator())
    tokens, _ = model.greedy_decode(sources)
    with torch.no_grad():
        assert torch.equal(model(sources, tokens).argmax(-1), tokens)


def test_exact_match_accuracy_counts_whole_sequences_and_keeps_the_mode():
    torch.manual_seed(0)
    model = Seq2Seq(vocab_size=5, hidden_size=8)
    sources, _ = make_batch(6, 4, 5, "copy", generator())
    predicted, _ = model.greedy_decode(sources)
    targets = predicted.clone()
    targets[:2, -1] = (targets[:2, -1] % 4) + 1  # make two sequences wrong in their last token
    model.train()
    assert exact_match_accuracy(model, sources, targets) == pytest.approx(4 / 6)
    assert model.training
    assert exact_match_accuracy(model, sources, predicted) == 1.0


# ----------------------------------------------------------------------------- training


def test_training_is_deterministic_learns_and_restores_threads():
    threads = torch.get_num_threads()
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = Seq2Seq(vocab_size=5, hidden_size=16, attention=True)
        runs.append((model, train_seq2seq(model, [3], steps=150, batch_size=32, task="copy", lr=1e-2, seed=2)))
    (model, losses), (_, again) = runs
    assert losses == again
    assert len(losses) == 150
    assert sum(losses[-10:]) / 10 < 0.5 * losses[0]  # it learns
    sources, targets = make_batch(200, 3, 5, "copy", generator(9))
    assert exact_match_accuracy(model, sources, targets) > 0.5  # chance would be (1/4)^3
    assert torch.get_num_threads() == threads


def test_training_bad_lengths():
    model = Seq2Seq(vocab_size=5, hidden_size=4)
    with pytest.raises(ValueError, match="lengths must be a non-empty list"):
        train_seq2seq(model, [], steps=1)
    with pytest.raises(ValueError, match="lengths must be a non-empty list"):
        train_seq2seq(model, [0, 3], steps=1)


# ----------------------------------------------------------------------------- twin test


@pytest.mark.parametrize("attention", [False, True])
def test_notebook_twin_equals_package(attention):
    ns = twin_namespace(NOTEBOOK)
    assert ns["BOS"] == BOS
    targets = torch.tensor([[3, 1, 2]])
    assert torch.equal(ns["shift_right"](targets), shift_right(targets))
    torch.manual_seed(0)
    package = Seq2Seq(vocab_size=8, hidden_size=12, attention=attention)
    twin = ns["Seq2Seq"](vocab_size=8, hidden_size=12, attention=attention)
    twin.load_state_dict(package.state_dict())  # same parameter names and shapes
    sources, targets = make_batch(4, 7, 8, "reverse", generator())
    torch.testing.assert_close(twin(sources, targets), package(sources, targets))
    twin_tokens, twin_weights = twin.greedy_decode(sources, n_steps=5)
    tokens, weights = package.greedy_decode(sources, n_steps=5)
    assert torch.equal(twin_tokens, tokens)
    if attention:
        torch.testing.assert_close(twin_weights, weights)
    else:
        assert twin_weights is None and weights is None
