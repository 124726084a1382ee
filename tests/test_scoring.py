"""Unit tests for attnbook/scoring.py: the five scorers and the Attention module.

Each scorer is compared with a direct formula (a loop or an einsum written here), its parameter
count and FLOP formula with what PyTorch counts, and chapter 2.1's NumPy teaching versions
(cells tagged ``twin``) with the modules.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from nbcode import twin_namespace
from torch.utils.flop_counter import FlopCounterMode

import attnbook
from attnbook.scoring import (
    AdditiveScorer,
    Attention,
    CosineScorer,
    DotProductScorer,
    MultiplicativeScorer,
    ScaledDotProductScorer,
)

SCORING_NOTEBOOK = "chapters/02_scoring/01_scoring_functions.ipynb"


def randn(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def make_scorers(query_size=4, key_size=4, hidden_size=5):
    torch.manual_seed(0)
    return {
        "dot": DotProductScorer(),
        "scaled": ScaledDotProductScorer(),
        "multiplicative": MultiplicativeScorer(query_size, key_size).double(),
        "additive": AdditiveScorer(query_size, key_size, hidden_size).double(),
        "cosine": CosineScorer(temperature=0.5),
    }


def reference_scores(name, scorer, queries, keys):
    """The formula of each scorer, one (query, key) pair at a time: (..., n_q, n_k)."""
    n_q, n_k = queries.shape[-2], keys.shape[-2]
    scores = torch.empty(*queries.shape[:-2], n_q, n_k, dtype=queries.dtype)
    for i in range(n_q):
        for j in range(n_k):
            q, k = queries[..., i, :], keys[..., j, :]
            if name == "dot":
                score = (q * k).sum(-1)
            elif name == "scaled":
                score = (q * k).sum(-1) / math.sqrt(q.shape[-1])
            elif name == "multiplicative":
                score = (q * (k @ scorer.W.weight.T)).sum(-1)  # q^T W k
            elif name == "additive":
                hidden = torch.tanh(q @ scorer.W_q.weight.T + k @ scorer.W_k.weight.T)
                score = hidden @ scorer.v.weight[0]
            else:
                score = F.cosine_similarity(q, k, dim=-1) / scorer.temperature
            scores[..., i, j] = score
    return scores


@pytest.mark.parametrize("name", ["dot", "scaled", "multiplicative", "additive", "cosine"])
def test_scorer_matches_its_formula_with_batch_and_head_axes(name):
    scorer = make_scorers()[name]
    queries, keys = randn(2, 3, 4, 4, seed=1), randn(2, 3, 6, 4, seed=2)  # (batch, heads, n, d)
    with torch.no_grad():
        scores = scorer(queries, keys)
        assert scores.shape == (2, 3, 4, 6)
        torch.testing.assert_close(scores, reference_scores(name, scorer, queries, keys))
        shared = scorer(queries, keys[:1, :1])  # keys shared by every batch item and head
        torch.testing.assert_close(shared, scorer(queries, keys[:1, :1].expand_as(keys)))


def test_multiplicative_and_additive_accept_different_query_and_key_sizes():
    torch.manual_seed(0)
    queries, keys = randn(2, 3, 4), randn(2, 5, 7)
    multiplicative = MultiplicativeScorer(4, 7).double()
    additive = AdditiveScorer(4, 7, 8).double()
    with torch.no_grad():
        for name, scorer in (("multiplicative", multiplicative), ("additive", additive)):
            torch.testing.assert_close(scorer(queries, keys), reference_scores(name, scorer, queries, keys))


def test_multiplicative_with_identity_is_the_dot_product():
    scorer = MultiplicativeScorer(4, 4).double()
    with torch.no_grad():
        scorer.W.weight.copy_(torch.eye(4))
        queries, keys = randn(3, 4), randn(5, 4, seed=1)
        torch.testing.assert_close(scorer(queries, keys), DotProductScorer()(queries, keys))


def test_cosine_scores_are_bounded_scale_free_and_safe_for_zero_vectors():
    scorer = CosineScorer(temperature=0.25)
    queries, keys = randn(3, 8), randn(5, 8, seed=1)
    scores = scorer(queries, keys)
    assert scores.abs().max() <= 1 / 0.25 + 1e-12
    torch.testing.assert_close(scorer(100 * queries, 0.01 * keys), scores)
    zero = scorer(torch.zeros(1, 8, dtype=torch.float64), keys)
    assert not zero.isnan().any() and (zero == 0).all()
    for bad in (0.0, -1.0):
        with pytest.raises(ValueError, match="temperature"):
            CosineScorer(temperature=bad)


def test_parameter_counts():
    counts = {name: sum(p.numel() for p in scorer.parameters()) for name, scorer in make_scorers(4, 6, 5).items()}
    assert counts == {"dot": 0, "scaled": 0, "multiplicative": 4 * 6, "additive": (4 + 6 + 1) * 5, "cosine": 0}


@pytest.mark.parametrize("name", ["dot", "scaled", "multiplicative", "additive", "cosine"])
def test_matmul_flop_formula_matches_pytorch_flop_counter(name):
    n_queries, n_keys, size = 3, 7, 4
    scorer = make_scorers(size, size, 5)[name]
    queries, keys = randn(n_queries, size), randn(n_keys, size, seed=1)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        scorer(queries, keys)
    assert scorer.flops(n_queries, n_keys, size, size)["matmul"] == counter.get_total_flops()


@pytest.mark.parametrize("name", ["dot", "scaled", "multiplicative", "additive", "cosine"])
def test_bad_inputs_raise_value_error_naming_shapes(name):
    scorer = make_scorers()[name]
    with pytest.raises(ValueError, match=r"queries \(3, 4\).*keys \(5, 3\)"):
        scorer(randn(3, 4), randn(5, 3))
    with pytest.raises(ValueError, match="torch tensor"):
        scorer(np.zeros((3, 4)), randn(5, 4))
    with pytest.raises(ValueError, match="floating point"):
        scorer(torch.zeros(3, 4, dtype=torch.long), randn(5, 4))
    with pytest.raises(ValueError, match="shape"):
        scorer(randn(4), randn(5, 4))
    with pytest.raises(ValueError, match="broadcast"):
        scorer(randn(2, 3, 4), randn(3, 5, 4))


def test_scaled_scorer_in_attention_equals_pytorch_sdpa_with_masks():
    attention = Attention(ScaledDotProductScorer())
    queries, keys, values = randn(2, 3, 4), randn(2, 5, 4, seed=1), randn(2, 5, 6, seed=2)
    mask = attnbook.padding_mask(torch.tensor([2, 0]), 5) & attnbook.causal_mask(3, 5, device="cpu")
    output, weights = attention(queries, keys, values, mask)
    torch.testing.assert_close(output, F.scaled_dot_product_attention(queries, keys, values, attn_mask=mask))
    assert (weights[1] == 0).all() and (output[1] == 0).all()  # item 1 has no valid key
    torch.testing.assert_close(weights[0].sum(-1), torch.ones(3, dtype=torch.float64))


def test_attention_with_additive_scorer_passes_gradcheck():
    torch.manual_seed(0)
    attention = Attention(AdditiveScorer(4, 3, 5)).double()
    queries, keys, values = (x.requires_grad_() for x in (randn(2, 3, 4), randn(2, 5, 3, seed=1), randn(2, 5, 2, seed=2)))
    mask = attnbook.padding_mask(torch.tensor([3, 5]), 5)
    assert torch.autograd.gradcheck(lambda q, k, v: attention(q, k, v, mask)[0], (queries, keys, values))


def test_attention_rejects_mismatched_values_and_masks():
    attention = Attention(DotProductScorer())
    queries, keys = randn(2, 3, 4), randn(2, 5, 4)
    with pytest.raises(ValueError, match=r"keys \(2, 5, 4\) and values \(2, 4, 6\)"):
        attention(queries, keys, randn(2, 4, 6))
    with pytest.raises(ValueError, match=r"mask of shape \(2, 5\)"):
        attention(queries, keys, randn(2, 5, 6), torch.ones(2, 5, dtype=torch.bool))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ["dot", "scaled", "multiplicative", "additive", "cosine"])
def test_scorers_run_on_cuda_like_on_cpu(name):
    scorer = make_scorers()[name]
    queries, keys = randn(2, 3, 4), randn(2, 5, 4, seed=1)
    with torch.no_grad():
        expected = scorer(queries, keys)
        got = scorer.cuda()(queries.cuda(), keys.cuda())
    torch.testing.assert_close(got.cpu(), expected)


def test_teaching_versions_in_chapter_2_1_equal_the_modules():
    twin = twin_namespace(SCORING_NOTEBOOK)
    scorers = make_scorers(4, 6, 5)
    rng = np.random.default_rng(7)
    queries, keys = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 5, 6))
    same_size_keys = rng.normal(size=(2, 5, 4))
    q, k, k_same = (torch.from_numpy(x) for x in (queries, keys, same_size_keys))
    with torch.no_grad():
        expected = {
            "dot": scorers["dot"](q, k_same),
            "scaled": scorers["scaled"](q, k_same),
            "cosine": scorers["cosine"](q, k_same),
            "multiplicative": scorers["multiplicative"](q, k),
            "additive": scorers["additive"](q, k),
        }
    got = {
        "dot": twin["dot_product_scores"](queries, same_size_keys),
        "scaled": twin["scaled_dot_product_scores"](queries, same_size_keys),
        "cosine": twin["cosine_scores"](queries, same_size_keys, temperature=0.5),
        "multiplicative": twin["multiplicative_scores"](queries, keys, scorers["multiplicative"].W.weight.detach().numpy()),
        "additive": twin["additive_scores"](
            queries, keys,
            scorers["additive"].W_q.weight.detach().numpy(),
            scorers["additive"].W_k.weight.detach().numpy(),
            scorers["additive"].v.weight.detach().numpy()[0],
        ),
    }
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name].numpy(), atol=1e-12, err_msg=name)
