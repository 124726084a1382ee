"""attnbook.train: the shared training loop (chapters 4 and 5)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import attnbook
from attnbook.training import cross_entropy_loss, evaluate_loss

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


def toy_dataset(n=256, seed=0):
    """Two Gaussian blobs in 4-D, labels 0 and 1: learnable in a few steps."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=generator)
    inputs = torch.randn(n, 4, generator=generator) + 2.0 * labels[:, None].float()
    return inputs, labels


def new_model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 2))


def test_a_few_steps_reduce_the_loss_on_a_dataset():
    data = toy_dataset()
    model = new_model()
    before = evaluate_loss(model, [data])
    history = attnbook.train(model, data, epochs=5, batch_size=32, lr=1e-2)
    assert history["steps"] == 5 * 8 and len(history["loss"]) == 40
    assert evaluate_loss(model, [data]) < 0.5 * before
    assert not model.training  # left in eval mode


def test_a_batch_function_and_a_sequence_model():
    # next-token prediction on a repeating pattern, with (batch, n) inputs and (batch, n, vocab) logits
    pattern = torch.tensor([0, 1, 2, 3, 4] * 40)

    def batch_fn(generator):
        return attnbook.data.sample_batch(pattern, 16, 8, generator)

    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(5, 16), nn.Linear(16, 5))
    history = attnbook.train(model, batch_fn, steps=60, lr=3e-2)
    assert sum(history["loss"][-5:]) / 5 < 0.2 * history["loss"][0]


def test_runs_are_identical_under_the_same_seed():
    data = toy_dataset()
    runs = []
    for _ in range(2):
        model = new_model()
        history = attnbook.train(model, data, steps=30, batch_size=16, seed=7)
        runs.append((history["loss"], [p.detach().clone() for p in model.parameters()]))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(a, b) for a, b in zip(runs[0][1], runs[1][1], strict=True))
    other = attnbook.train(new_model(), data, steps=30, batch_size=16, seed=8)
    assert other["loss"] != runs[0][0]  # a different seed gives different batches


def test_evaluation_early_stopping_and_restore_best():
    data = toy_dataset()
    values = iter([0.5, 0.4, 0.6, 0.7, 0.8, 0.9])  # best at the 2nd evaluation, then worse
    snapshots = []

    def eval_fn(model):
        assert not model.training  # evaluated in eval mode
        snapshots.append([p.detach().clone() for p in model.parameters()])
        return next(values)

    model = new_model()
    history = attnbook.train(model, data, steps=100, batch_size=16, eval_fn=eval_fn, eval_every=5,
                             patience=2, restore_best=True)
    assert history["eval_step"] == [5, 10, 15, 20] and history["stopped_early"] and history["steps"] == 20
    assert history["best_eval"] == 0.4 and history["best_step"] == 10
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), snapshots[1], strict=True))


def test_mode_max_and_evaluation_after_the_last_step():
    history = attnbook.train(new_model(), toy_dataset(), steps=12, eval_fn=lambda m: 1.0, eval_every=5, mode="max")
    assert history["eval_step"] == [5, 10, 12] and history["best_step"] == 5 and not history["stopped_early"]


def test_warmup_and_cosine_schedule():
    history = attnbook.train(new_model(), toy_dataset(), steps=20, lr=1e-2, warmup_steps=5,
                             schedule="cosine", min_lr=1e-4)
    lrs = history["lr"]
    assert lrs[:5] == pytest.approx([2e-3, 4e-3, 6e-3, 8e-3, 1e-2])
    assert lrs[-1] == pytest.approx(1e-4) and all(a >= b for a, b in zip(lrs[4:], lrs[5:], strict=False))


def test_progress_lines_are_plain_text(capsys):
    attnbook.train(new_model(), toy_dataset(), steps=10, log_every=5, eval_fn=lambda m: 0.25, eval_every=10)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("step     5/10 | train loss ")
    assert lines[1].endswith("| eval 0.250")


def test_cross_entropy_loss_accepts_tuple_outputs_and_label_smoothing():
    class TupleModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(4, 3)

        def forward(self, x):
            return self.linear(x), None

    model, inputs, targets = TupleModel(), torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1])
    plain = cross_entropy_loss(model, (inputs, targets))
    expected = nn.functional.cross_entropy(model.linear(inputs), targets)
    assert torch.allclose(plain, expected)
    smoothed = cross_entropy_loss(model, (inputs, targets), label_smoothing=0.1)
    assert not torch.allclose(plain, smoothed)


def test_non_finite_loss_is_reported():
    def nan_loss(model, batch):
        return model(batch[0]).sum() * float("nan")

    with pytest.raises(FloatingPointError, match="at step 0"):
        attnbook.train(new_model(), toy_dataset(), steps=3, loss_fn=nan_loss)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"data": (torch.zeros(0, 4), torch.zeros(0, dtype=torch.long)), "steps": 3}, "dataset is empty"),
        ({"data": (torch.zeros(5, 4), torch.zeros(4, dtype=torch.long)), "steps": 3}, "same first dimension"),
        ({"data": (), "steps": 3}, "non-empty tuple"),
        ({"data": [1, 2], "steps": 3}, "batch function or a tuple"),
        ({}, "give steps"),
        ({"steps": 0}, "steps must be positive"),
        ({"data": lambda g: toy_dataset(), "epochs": 2}, "needs a dataset"),
        ({"epochs": 0}, "epochs must be positive"),
        ({"steps": 3, "lr": 0.0}, "lr must be positive"),
        ({"steps": 3, "batch_size": 0}, "batch_size must be positive"),
        ({"steps": 3, "patience": 2}, "need an eval_fn"),
        ({"steps": 3, "schedule": "linear"}, "schedule must be"),
        ({"steps": 3, "mode": "best"}, "mode must be"),
        ({"steps": 3, "model": nn.ReLU()}, "no trainable parameters"),
        ({"data": (torch.zeros(5, 4), torch.tensor([0, 1, 2, 0, 1])), "steps": 3},
         r"class indices in 0\.\.1 \(the model has 2 outputs\); got values from 0 to 2"),
        ({"data": (torch.zeros(5, 4), torch.tensor([0, -1, 1, 0, 1])), "steps": 3}, "got values from -1 to 1"),
        ({"data": (torch.zeros(5, 4), torch.zeros(5)), "steps": 3}, "integer class indices; got dtype torch.float32"),
    ],
)
def test_bad_input(kwargs, message):
    arguments = {"model": new_model(), "data": toy_dataset()} | kwargs
    model, data = arguments.pop("model"), arguments.pop("data")
    with pytest.raises(ValueError, match=message):
        attnbook.train(model, data, **arguments)


def test_evaluate_loss_needs_batches():
    with pytest.raises(ValueError, match="no batches"):
        evaluate_loss(new_model(), [])


# ----------------------------------------------------------------------------- Seq2SeqTransformer (chapter 4.5)


def date_batch(n=16, seed=0):
    return attnbook.data.encode_pairs(attnbook.data.make_date_pairs(n, seed=seed))


def small_translator(seed=0, **kwargs):
    torch.manual_seed(seed)
    settings = dict(d_model=32, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=64, max_len=32)
    return attnbook.Seq2SeqTransformer(attnbook.data.date_tokenizer().vocab_size, **(settings | kwargs))


@pytest.mark.parametrize("norm_first", [False, True])
def test_translator_shapes_and_tied_embedding(norm_first):
    model = small_translator(norm_first=norm_first)
    sources, targets = date_batch()
    logits = model(sources, targets[:, :-1])
    assert logits.shape == (16, targets.shape[1] - 1, model.vocab_size)
    assert model.output.weight is model.embedding.weight
    tokens, weights = model.greedy_decode(sources, max_len=5, need_weights=True)
    assert tokens.shape == (16, 5) and weights.shape == (16, 2, 5, sources.shape[1])
    assert torch.allclose(weights.sum(-1), torch.ones(16, 2, 5), atol=1e-5)


def test_translator_padding_changes_nothing_and_gets_no_attention():
    model = small_translator().eval()
    sources, targets = date_batch(4)
    padded = torch.cat([sources, torch.zeros(4, 5, dtype=torch.long)], dim=1)  # 5 more PAD columns
    with torch.no_grad():
        assert torch.allclose(model(sources, targets[:, :-1]), model(padded, targets[:, :-1]), atol=1e-5)
    _, weights = model.greedy_decode(padded, max_len=3, need_weights=True)
    assert weights[..., sources.shape[1]:].abs().max() == 0  # no weight on the padding


def test_translator_is_causal():
    model = small_translator().eval()
    sources, targets = date_batch(4)
    changed = targets.clone()
    changed[:, 6] = 5  # change one decoder input: earlier positions must not notice
    with torch.no_grad():
        before, after = model(sources, targets[:, :-1]), model(sources, changed[:, :-1])
    assert torch.allclose(before[:, :6], after[:, :6], atol=1e-6) and not torch.allclose(before[:, 6:], after[:, 6:])


def test_translator_training_reduces_the_loss_with_label_smoothing():
    model = small_translator()
    sources, targets = date_batch(128)
    loss_fn = lambda m, batch: m.loss(*batch, label_smoothing=0.1)  # noqa: E731
    history = attnbook.train(model, (sources, targets), steps=25, batch_size=16, lr=3e-3, loss_fn=loss_fn)
    assert sum(history["loss"][-5:]) / 5 < 0.6 * history["loss"][0]


def test_translator_greedy_decode_pads_after_eos():
    model = small_translator()
    tokens = model.greedy_decode(date_batch(8)[0], max_len=12)
    for row in tokens.tolist():
        if 2 in row:  # EOS
            assert all(t == 0 for t in row[row.index(2) + 1 :])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: m(torch.zeros(2, 40, dtype=torch.long), torch.ones(2, 3, dtype=torch.long)), "max_len=32"),
        (lambda m: m(torch.full((2, 4), 99), torch.ones(2, 3, dtype=torch.long)), r"ids must be in 0\.\.50"),
        (lambda m: m(torch.zeros(2, 4), torch.ones(2, 3, dtype=torch.long)), "int64"),
        (lambda m: m.loss(torch.ones(2, 4, dtype=torch.long), torch.ones(3, 3, dtype=torch.long)), "one batch size"),
        (lambda m: m.greedy_decode(torch.ones(2, 4, dtype=torch.long), max_len=32), "max_len must be in 1..31"),
        (lambda m: attnbook.Seq2SeqTransformer(10, pad_id=0, bos_id=0), "distinct"),
    ],
)
def test_translator_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call(small_translator())


def test_translator_use_sdpa_gives_the_same_logits():
    book, fused = small_translator().eval(), small_translator(use_sdpa=True).eval()
    sources, targets = date_batch(4)
    padded = torch.cat([sources, torch.zeros(4, 3, dtype=torch.long)], dim=1)
    with torch.no_grad():
        assert torch.allclose(book(padded, targets[:, :-1]), fused(padded, targets[:, :-1]), atol=1e-5)
    assert all(m.use_sdpa for m in fused.modules() if isinstance(m, attnbook.MultiHeadAttention))
