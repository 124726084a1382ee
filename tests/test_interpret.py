"""Chapter 6, part 2: attnbook.interpret (rollout, gradient x input, ALiBi, induction data and scores, ablation)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import attnbook
from attnbook.interpret import AttentionOnlyTransformer


def random_weights(shape, seed=0):
    """Random attention weights: softmax of random scores along the last axis."""
    generator = torch.Generator().manual_seed(seed)
    return torch.softmax(torch.randn(shape, generator=generator), dim=-1)


# ---------------------------------------------------------------- attention rollout

def test_rollout_of_identity_attention_is_identity():
    identity = torch.eye(5).expand(2, 3, 5, 5)  # (batch, heads, n, n): every token attends to itself
    for add_residual in (True, False):
        rollout = attnbook.attention_rollout([identity, identity, identity], add_residual=add_residual)
        assert rollout.shape == (2, 5, 5)
        torch.testing.assert_close(rollout, torch.eye(5).expand(2, 5, 5))


def test_rollout_without_residual_of_one_layer_is_head_average():
    weights = random_weights((2, 4, 6, 6))
    rollout = attnbook.attention_rollout([weights], add_residual=False)
    torch.testing.assert_close(rollout, weights.mean(dim=1))


def test_rollout_matches_the_papers_recipe_and_rows_sum_to_one():
    layers = [random_weights((3, 2, 5, 5), seed=s) for s in range(3)]
    expected = None
    for w in layers:  # (W + I) / 2 per layer, later layers multiplied on the left
        a = 0.5 * (w.mean(dim=1) + torch.eye(5))
        expected = a if expected is None else a @ expected
    rollout = attnbook.attention_rollout(layers)
    torch.testing.assert_close(rollout, expected)
    torch.testing.assert_close(rollout.sum(dim=-1), torch.ones(3, 5))
    unbatched = attnbook.attention_rollout([w[0] for w in layers])  # (heads, n, n) per layer
    torch.testing.assert_close(unbatched, expected[0])


def test_rollout_order_matters():
    first, second = random_weights((1, 1, 4, 4), seed=1), random_weights((1, 1, 4, 4), seed=2)
    forward = attnbook.attention_rollout([first, second], add_residual=False)
    torch.testing.assert_close(forward, (second @ first)[:, 0])
    assert not torch.allclose(forward, (first @ second)[:, 0])


@pytest.mark.parametrize(
    "layers, message",
    [
        ([], "non-empty"),
        ([torch.ones(2, 3, 4, 5) / 5], r"\(2, 3, 4, 5\)"),
        ([torch.ones(4, 4) / 4], r"\(4, 4\)"),
        ([torch.ones(1, 2, 4, 4) / 4, torch.ones(1, 2, 3, 3) / 3], r"layer 1 has \(1, 2, 3, 3\)"),
    ],
)
def test_rollout_rejects_bad_shapes(layers, message):
    with pytest.raises(ValueError, match=message):
        attnbook.attention_rollout(layers)


# ---------------------------------------------------------------- gradient x input

def test_gradient_x_input_of_a_linear_model_is_weight_times_input():
    generator = torch.Generator().manual_seed(0)
    embeddings = torch.randn(3, 5, 4, generator=generator)  # (batch, n, d)
    weight = torch.randn(2, 5, 4, generator=generator)  # (classes, n, d): logit_c = sum w[c] * x
    forward = lambda x: torch.einsum("bnd,cnd->bc", x, weight)  # noqa: E731
    target = torch.tensor([0, 1, 1])
    scores = attnbook.gradient_x_input(forward, embeddings, target)
    expected = (weight[target] * embeddings).sum(dim=-1)  # (batch, n)
    torch.testing.assert_close(scores, expected)
    # for a linear model, the scores add up to the logit (completeness)
    torch.testing.assert_close(scores.sum(dim=1), forward(embeddings).gather(1, target[:, None])[:, 0])
    norms = attnbook.gradient_x_input(forward, embeddings, target, reduce="norm")
    torch.testing.assert_close(norms, (weight[target] * embeddings).norm(dim=-1))
    assert not embeddings.requires_grad


def test_gradient_x_input_errors():
    embeddings = torch.randn(2, 3, 4)
    forward = lambda x: x.sum(dim=(1, 2))  # noqa: E731  (batch,) outputs need no target
    assert attnbook.gradient_x_input(forward, embeddings).shape == (2, 3)
    with pytest.raises(ValueError, match=r"\(batch, n, d\)"):
        attnbook.gradient_x_input(forward, torch.randn(3, 4))
    with pytest.raises(ValueError, match="give target"):
        attnbook.gradient_x_input(lambda x: x.sum(dim=1), embeddings)  # (2, 4): a class axis
    with pytest.raises(ValueError, match=r"0\.\.3"):
        attnbook.gradient_x_input(lambda x: x.sum(dim=1), embeddings, torch.tensor([0, 4]))
    with pytest.raises(ValueError, match=r"\(batch, classes\) or \(batch,\)"):
        attnbook.gradient_x_input(lambda x: x, embeddings)


# ---------------------------------------------------------------- entropy

def test_attention_entropy_of_uniform_and_one_hot_rows():
    rows = torch.tensor([[0.25, 0.25, 0.25, 0.25], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    torch.testing.assert_close(attnbook.attention_entropy(rows), torch.tensor([math.log(4), 0.0, 0.0]))
    weights = random_weights((2, 3, 5, 7))
    expected = -(weights * weights.log()).sum(dim=-1)
    torch.testing.assert_close(attnbook.attention_entropy(weights), expected)


def test_attention_entropy_errors():
    with pytest.raises(ValueError, match="sum to 1"):
        attnbook.attention_entropy(torch.tensor([[0.5, 0.6]]))
    with pytest.raises(ValueError, match="non-negative"):
        attnbook.attention_entropy(torch.tensor([[1.5, -0.5]]))
    with pytest.raises(ValueError, match="float"):
        attnbook.attention_entropy(torch.tensor([[1, 0]]))


# ---------------------------------------------------------------- ALiBi

def test_alibi_slopes_for_8_heads_are_the_papers():
    slopes = attnbook.alibi_slopes(8)
    expected = torch.tensor([2.0 ** (-8 * h / 8) for h in range(1, 9)])  # 1/2, 1/4, ..., 1/256
    torch.testing.assert_close(slopes, expected)
    torch.testing.assert_close(slopes, torch.tensor([1 / 2, 1 / 4, 1 / 8, 1 / 16, 1 / 32, 1 / 64, 1 / 128, 1 / 256]))


def test_alibi_slopes_for_other_head_counts():
    torch.testing.assert_close(attnbook.alibi_slopes(16), torch.tensor([2.0 ** (-h / 2) for h in range(1, 17)]))
    # 12 heads: the 8-head slopes, then the odd-numbered slopes of the 16-head sequence
    eight, sixteen = attnbook.alibi_slopes(8), attnbook.alibi_slopes(16)
    torch.testing.assert_close(attnbook.alibi_slopes(12), torch.cat([eight, sixteen[0::2][:4]]))
    assert attnbook.alibi_slopes(1).tolist() == [2.0 ** -8]
    with pytest.raises(ValueError, match="positive integer"):
        attnbook.alibi_slopes(0)


def test_alibi_bias_sign_and_alignment():
    bias = attnbook.alibi_bias(8, 5, 5)  # (heads, n_q, n_k)
    slopes = attnbook.alibi_slopes(8)
    i, j = torch.arange(5)[:, None], torch.arange(5)[None, :]
    torch.testing.assert_close(bias, -slopes[:, None, None] * (i - j).float())
    assert (bias.diagonal(dim1=-2, dim2=-1) == 0).all()
    assert bias[0, 4, 0] == -4 * 0.5  # four tokens back, slope 1/2
    # queries are the LAST n_queries positions (as with a KV cache)
    torch.testing.assert_close(attnbook.alibi_bias(8, 2, 5), bias[:, 3:, :])
    with pytest.raises(ValueError, match="n_queries=6 > n_keys=5"):
        attnbook.alibi_bias(8, 6, 5)


def test_alibi_bias_works_as_score_bias():
    torch.manual_seed(0)
    attention = attnbook.MultiHeadAttention(16, 4)
    x = torch.randn(2, 6, 16)
    _, plain = attention(x, is_causal=True, need_weights=True)
    _, biased = attention(x, is_causal=True, need_weights=True, score_bias=attnbook.alibi_bias(4, 6, 6))
    assert biased.shape == plain.shape == (2, 4, 6, 6)
    # the bias multiplies weight j of query i by exp(-m (i - j)) before renormalising
    factor = torch.exp(attnbook.alibi_bias(4, 6, 6)).tril()
    expected = plain * factor
    torch.testing.assert_close(biased, expected / expected.sum(dim=-1, keepdim=True))


# ---------------------------------------------------------------- induction data and scores

def test_repeated_segment_is_where_it_says():
    data = attnbook.repeated_segment_batch(200, 30, 7, 11, generator=torch.Generator().manual_seed(0), min_gap=2)
    assert data.tokens.shape == (200, 30) and data.tokens.dtype == torch.int64
    assert data.tokens.min() >= 0 and data.tokens.max() < 11
    assert (data.second_start >= data.first_start + 7 + 2).all() and (data.second_start + 7 <= 30).all()
    for b in range(200):
        f, s = int(data.first_start[b]), int(data.second_start[b])
        assert torch.equal(data.tokens[b, f : f + 7], data.tokens[b, s : s + 7])
    assert len(set(data.first_start.tolist())) > 5 and len(set(data.second_start.tolist())) > 5  # placements vary
    mask = data.target_mask("second")
    assert mask.sum(dim=1).eq(6).all()  # every copy token but the first
    assert mask[torch.arange(200), data.second_start].logical_not().all()
    assert mask[torch.arange(200), data.second_start + 6].all()
    again = attnbook.repeated_segment_batch(200, 30, 7, 11, generator=torch.Generator().manual_seed(0), min_gap=2)
    assert torch.equal(again.tokens, data.tokens)


def test_repeated_segment_errors():
    with pytest.raises(ValueError, match="do not fit"):
        attnbook.repeated_segment_batch(4, 10, 6, 5)
    with pytest.raises(ValueError, match="segment_len"):
        attnbook.repeated_segment_batch(4, 10, 0, 5)
    with pytest.raises(ValueError, match="copy"):
        attnbook.repeated_segment_batch(4, 10, 3, 5).target_mask("third")


def test_previous_token_and_induction_scores_on_ideal_heads():
    data = attnbook.repeated_segment_batch(8, 20, 5, 50, generator=torch.Generator().manual_seed(1))
    n = 20
    previous = torch.zeros(n, n)
    previous[0, 0] = 1.0
    previous[torch.arange(1, n), torch.arange(n - 1)] = 1.0  # every query on the token before it
    induction = torch.eye(n).expand(8, n, n).clone()  # queries attend to themselves ...
    for b in range(8):  # ... except in the second copy, where they attend to the token after the first occurrence
        f, s = int(data.first_start[b]), int(data.second_start[b])
        for k in range(4):
            induction[b, s + k] = 0.0
            induction[b, s + k, f + k + 1] = 1.0
    weights = torch.stack([previous.expand(8, n, n), induction], dim=1)  # (batch, 2 heads, n, n)
    prev_scores = attnbook.previous_token_score(weights)
    ind_scores = attnbook.induction_score(weights, data.first_start, data.second_start, 5)
    torch.testing.assert_close(prev_scores[0], torch.tensor(1.0))
    torch.testing.assert_close(ind_scores[1], torch.tensor(1.0))
    assert prev_scores[1] < 0.2 and ind_scores[0] < 0.2
    with pytest.raises(ValueError, match=r"\(batch, heads, n, n\)"):
        attnbook.previous_token_score(weights[0])
    with pytest.raises(ValueError, match=r"shape \(batch,\)"):
        attnbook.induction_score(weights, data.first_start[:3], data.second_start, 5)
    with pytest.raises(ValueError, match="out of place"):
        attnbook.induction_score(weights, data.first_start, data.first_start, 5)


# ---------------------------------------------------------------- ablation

@pytest.fixture
def tiny_model():
    torch.manual_seed(0)
    return AttentionOnlyTransformer(vocab_size=12, d_model=16, num_heads=4, num_layers=2, positions="rope")


def test_ablating_no_heads_changes_nothing_and_all_heads_changes_the_output(tiny_model):
    tokens = torch.randint(0, 12, (3, 9), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        reference = tiny_model(tokens)
        with attnbook.ablate_heads(tiny_model, []):
            unchanged = tiny_model(tokens)
        every_head = [(layer, head) for layer in range(2) for head in range(4)]
        with attnbook.ablate_heads(tiny_model, every_head):
            ablated = tiny_model(tokens)
        restored = tiny_model(tokens)  # hooks are gone after the block
    torch.testing.assert_close(unchanged, reference)
    assert (ablated - reference).abs().max() > 1e-3
    torch.testing.assert_close(restored, reference)
    # with every head zeroed (no biases), the output depends on each token alone, not on its context
    shuffled = tokens.clone()
    shuffled[:, :4] = tokens[:, :4].flip(1)
    with torch.no_grad(), attnbook.ablate_heads(tiny_model, every_head):
        context_free = tiny_model(shuffled)
    torch.testing.assert_close(context_free[:, 4:], ablated[:, 4:])


def test_zero_ablation_removes_exactly_one_heads_slice(tiny_model):
    layer = attnbook.attention_layers(tiny_model)[1]
    tokens = torch.randint(0, 12, (2, 7), generator=torch.Generator().manual_seed(1))
    captured = {}
    record_input = layer.out_proj.register_forward_pre_hook(lambda module, args: captured.update(merged=args[0].clone()))
    with torch.no_grad():
        tiny_model(tokens)  # out_proj's input (batch, n, heads * d_head) without ablation
    record_input.remove()
    features = captured["merged"].unflatten(-1, (4, 4)).clone()  # (batch, n, heads, d_head)
    features[..., 2, :] = 0.0  # head 2 zeroed by hand
    record_output = layer.out_proj.register_forward_hook(lambda module, args, out: captured.update(out=out.clone()))
    with torch.no_grad():
        with attnbook.ablate_heads(tiny_model, [(1, 2)]):
            tiny_model(tokens)
        record_output.remove()
        torch.testing.assert_close(captured["out"], layer.out_proj(features.flatten(-2)))


def test_mean_ablation_uses_the_given_means(tiny_model):
    tokens = torch.randint(0, 12, (4, 8), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        means = attnbook.head_output_means(tiny_model, lambda: tiny_model(tokens))
        assert [tuple(m.shape) for m in means] == [(4, 4), (4, 4)]
        reference = tiny_model(tokens)
        with attnbook.ablate_heads(tiny_model, [(0, 1)], mode="mean", means=means):
            mean_ablated = tiny_model(tokens)
        with attnbook.ablate_heads(tiny_model, [(0, 1)], mode="mean"):  # batch mean of the same call
            batch_mean_ablated = tiny_model(tokens)
    assert (mean_ablated - reference).abs().max() > 1e-4
    torch.testing.assert_close(mean_ablated, batch_mean_ablated)  # same batch: same mean


def test_ablation_errors(tiny_model):
    with pytest.raises(ValueError, match="layer 2 is out of range"):
        with attnbook.ablate_heads(tiny_model, [(2, 0)]):
            pass
    with pytest.raises(ValueError, match="head 4 is out of range"):
        with attnbook.ablate_heads(tiny_model, [(0, 4)]):
            pass
    with pytest.raises(ValueError, match="mode"):
        with attnbook.ablate_heads(tiny_model, [(0, 0)], mode="random"):
            pass
    with pytest.raises(ValueError, match=r"means\[0\] must have shape"):
        with attnbook.ablate_heads(tiny_model, [(0, 0)], mode="mean", means=[torch.zeros(4, 3), torch.zeros(4, 4)]):
            pass
    with pytest.raises(ValueError, match="no attnbook.MultiHeadAttention"):
        attnbook.attention_layers(torch.nn.Linear(2, 2))


def test_ablation_hooks_work_on_gpt():
    torch.manual_seed(0)
    config = attnbook.GPTConfig(vocab_size=10, context_length=8, d_model=16, num_heads=2, num_layers=2)
    model = attnbook.GPT(config)
    tokens = torch.randint(0, 10, (2, 8), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        reference, _ = model(tokens)
        with attnbook.ablate_heads(model, [(1, 0)]):
            ablated, _ = model(tokens)
    assert len(attnbook.attention_layers(model)) == 2
    assert (ablated - reference).abs().max() > 1e-5


# ---------------------------------------------------------------- the attention-only model

@pytest.mark.parametrize("positions", ["learned", "sinusoidal", "rope", "alibi", "none"])
def test_attention_only_model_is_causal(positions):
    torch.manual_seed(0)
    model = AttentionOnlyTransformer(vocab_size=9, d_model=16, num_heads=2, num_layers=2, positions=positions,
                                     max_positions=10)
    tokens = torch.randint(0, 9, (2, 10), generator=torch.Generator().manual_seed(0))
    changed = tokens.clone()
    changed[:, 6:] = (tokens[:, 6:] + 1) % 9
    with torch.no_grad():
        logits, weights = model(tokens, return_weights=True)
        fast = model(tokens)  # PyTorch's fused kernel, no weights
        other = model(changed)
    assert logits.shape == (2, 10, 9) and len(weights) == 2 and weights[0].shape == (2, 2, 10, 10)
    torch.testing.assert_close(fast, logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(other[:, :6], logits[:, :6], atol=1e-5, rtol=1e-5)  # the future cannot leak back
    assert torch.triu(weights[1], diagonal=1).abs().max() == 0


def test_attention_only_model_lengths_and_score_scale():
    torch.manual_seed(0)
    learned = AttentionOnlyTransformer(vocab_size=5, d_model=8, num_heads=2, positions="learned", max_positions=6)
    with pytest.raises(ValueError, match="out of range"):
        learned(torch.zeros(1, 7, dtype=torch.long))
    rope = AttentionOnlyTransformer(vocab_size=5, d_model=8, num_heads=2, positions="rope")
    tokens = torch.randint(0, 5, (1, 40), generator=torch.Generator().manual_seed(0))
    assert rope(tokens).shape == (1, 40, 5)  # any length
    with torch.no_grad():
        _, plain = rope(tokens, return_weights=True)
        _, sharp = rope(tokens, return_weights=True, score_scale=3.0)
        _, per_query = rope(tokens, return_weights=True, score_scale=torch.full((40,), 3.0))
    first_layer_entropy = [attnbook.attention_entropy(w[0]).mean() for w in (plain, sharp)]
    assert first_layer_entropy[1] < first_layer_entropy[0]  # larger scores: sharper first-layer weights
    torch.testing.assert_close(per_query[1], sharp[1])
    with pytest.raises(ValueError, match=r"shape \(n,\) = \(40,\)"):
        rope(tokens, score_scale=torch.ones(39))
    with pytest.raises(ValueError, match="positions must be one of"):
        AttentionOnlyTransformer(vocab_size=5, positions="relative")
    with pytest.raises(ValueError, match="max_positions"):
        AttentionOnlyTransformer(vocab_size=5, positions="learned")


def test_numpy_input_to_rollout_and_entropy():
    weights = np.full((1, 1, 3, 3), 1 / 3)
    rollout = attnbook.attention_rollout([weights], add_residual=False)
    torch.testing.assert_close(rollout, torch.full((1, 3, 3), 1 / 3, dtype=torch.float64))
    torch.testing.assert_close(attnbook.attention_entropy(weights[0, 0]), torch.full((3,), math.log(3), dtype=torch.float64))


# ---------------------------------------------------------------- the notebooks' teaching versions

INDUCTION_NOTEBOOK = "chapters/06_challenges/08_induction_heads.ipynb"


def test_induction_notebook_scores_equal_the_package():
    from nbcode import twin_namespace

    twin = twin_namespace(INDUCTION_NOTEBOOK)
    data = attnbook.repeated_segment_batch(5, 15, 4, 6, generator=torch.Generator().manual_seed(3))
    weights = random_weights((5, 3, 15, 15), seed=4)
    torch.testing.assert_close(twin["previous_token_score"](weights), attnbook.previous_token_score(weights))
    torch.testing.assert_close(
        twin["induction_score"](weights, data.first_start, data.second_start, 4),
        attnbook.induction_score(weights, data.first_start, data.second_start, 4),
    )
