"""Chapter 4, sections 4.1-4.4: the notebooks' teaching versions (cells tagged ``twin``) equal the package.

Each test loads a notebook's twin cells with ``nbcode.twin_namespace`` (NumPy code) and compares
them with ``attnbook`` on inputs of its own, with weights copied between the two.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from nbcode import twin_namespace

import attnbook
from attnbook.models import counts

SELF_ATTENTION = "chapters/04_transformer/01_self_attention.ipynb"
MULTI_HEAD = "chapters/04_transformer/02_multi_head_attention.ipynb"
POSITIONS = "chapters/04_transformer/03_positions.ipynb"
BLOCK = "chapters/04_transformer/04_the_block.ipynb"


def copy_linear(linear: torch.nn.Linear, weight_in_out: np.ndarray, bias: np.ndarray | None = None) -> None:
    """Load a NumPy (in, out) matrix (the notebooks' x @ W convention) into an nn.Linear (out, in)."""
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(weight_in_out.T))
        if bias is not None:
            linear.bias.copy_(torch.from_numpy(bias))


@pytest.fixture(scope="module")
def self_attention_twin():
    return twin_namespace(SELF_ATTENTION)


@pytest.fixture(scope="module")
def multi_head_twin():
    return twin_namespace(MULTI_HEAD)


@pytest.fixture(scope="module")
def positions_twin():
    return twin_namespace(POSITIONS)


@pytest.fixture(scope="module")
def block_twin():
    return twin_namespace(BLOCK)


# ------------------------------------------------------------------ 4.1 one attention head


@pytest.mark.parametrize("n_q, n_k, cross", [(5, 5, False), (3, 7, True)])
@pytest.mark.parametrize("masked", [False, True])
def test_attention_head_equals_one_head_module(self_attention_twin, n_q, n_k, cross, masked):
    rng = np.random.default_rng(n_q + 10 * n_k + masked)
    d_model = 6
    x_query = rng.normal(size=(2, n_q, d_model))
    x_key_value = rng.normal(size=(2, n_k, d_model)) if cross else x_query
    weights = {name: rng.normal(size=(d_model, d_model)) / math.sqrt(d_model) for name in "qkvo"}
    mask = None
    if masked:  # item 1 padded to 2 keys, and query 0 of item 0 with no allowed key at all
        mask = np.ones((2, 1, n_q, n_k), dtype=bool)
        mask[1, ..., 2:] = False
        mask[0, 0, 0] = False
    output, attn = self_attention_twin["attention_head"](
        x_query, x_key_value, weights["q"], weights["k"], weights["v"], weights["o"],
        mask=None if mask is None else mask[:, 0],
    )
    layer = attnbook.MultiHeadAttention(d_model, num_heads=1, bias=False).double()
    for name, linear in zip("qkvo", (layer.q_proj, layer.k_proj, layer.v_proj, layer.out_proj), strict=True):
        copy_linear(linear, weights[name])
    with torch.no_grad():
        expected, expected_weights = layer(
            torch.from_numpy(x_query), torch.from_numpy(x_key_value),
            mask=None if mask is None else torch.from_numpy(mask), need_weights=True,
        )
    np.testing.assert_allclose(output, expected.numpy(), atol=1e-12)
    np.testing.assert_allclose(attn, expected_weights[:, 0].numpy(), atol=1e-12)
    if masked:
        assert np.all(attn[0, 0] == 0.0), "a query with no allowed key must get zero weights, not NaN"


def test_softmax_rows_equals_package_softmax(self_attention_twin, multi_head_twin):
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(3, 4, 5)) * 30
    mask = rng.random((3, 4, 5)) > 0.4
    mask[0, 1] = False
    for twin in (self_attention_twin, multi_head_twin):
        np.testing.assert_allclose(twin["softmax_rows"](scores, mask), attnbook.softmax(scores, mask=mask), atol=1e-12)
        np.testing.assert_allclose(twin["softmax_rows"](scores), attnbook.softmax(scores), atol=1e-12)


# ------------------------------------------------------------------ 4.2 multi-head attention


@pytest.mark.parametrize("batch, n, heads, d_head", [(1, 4, 2, 4), (3, 5, 4, 3), (2, 1, 1, 8)])
def test_split_and_merge_heads_equal_package(multi_head_twin, batch, n, heads, d_head):
    x = np.random.default_rng(batch * n).normal(size=(batch, n, heads * d_head))
    split = multi_head_twin["split_heads"](x, heads)
    expected = attnbook.split_heads(torch.from_numpy(x), heads).numpy()
    np.testing.assert_array_equal(split, expected)
    np.testing.assert_array_equal(multi_head_twin["merge_heads"](split), attnbook.merge_heads(torch.from_numpy(expected)).numpy())
    np.testing.assert_array_equal(multi_head_twin["merge_heads"](split), x)


@pytest.mark.parametrize("num_heads", [1, 2, 4])
@pytest.mark.parametrize("mask_kind", ["none", "causal", "padding with an empty row"])
def test_multi_head_attention_equals_package(multi_head_twin, num_heads, mask_kind):
    rng = np.random.default_rng(num_heads)
    batch, n_q, n_k, d_model = 2, 4, 6, 8
    x_query, x_key_value = rng.normal(size=(batch, n_q, d_model)), rng.normal(size=(batch, n_k, d_model))
    params = {f"w_{name}": rng.normal(size=(d_model, d_model)) / math.sqrt(d_model) for name in "qkvo"}
    params |= {f"b_{name}": rng.normal(size=d_model) for name in "qkvo"}
    mask = {
        "none": None,
        "causal": attnbook.models.bottom_right_causal_mask(n_q, n_k).numpy(),
        "padding with an empty row": np.array([[True] * 6, [True, True, True, False, False, False]])[:, None, None, :]
        & np.array([True, False, True, True])[None, None, :, None],
    }[mask_kind]
    output, weights = multi_head_twin["multi_head_attention"](x_query, x_key_value, params, num_heads, mask)
    layer = attnbook.MultiHeadAttention(d_model, num_heads).double()
    for name, linear in zip("qkvo", (layer.q_proj, layer.k_proj, layer.v_proj, layer.out_proj), strict=True):
        copy_linear(linear, params[f"w_{name}"], params[f"b_{name}"])
    with torch.no_grad():
        expected, expected_weights = layer(
            torch.from_numpy(x_query), torch.from_numpy(x_key_value),
            mask=None if mask is None else torch.from_numpy(mask), need_weights=True,
        )
    np.testing.assert_allclose(output, expected.numpy(), atol=1e-12)
    np.testing.assert_allclose(weights, expected_weights.numpy(), atol=1e-12)


@pytest.mark.parametrize("d_model, num_heads, num_kv_heads, bias",
                         [(16, 4, None, True), (64, 8, 2, False), (64, 8, 1, True), (96, 6, 3, True)])
def test_parameter_count_formula_equals_package_and_numel(multi_head_twin, d_model, num_heads, num_kv_heads, bias):
    formula = multi_head_twin["mha_parameter_count"](d_model, num_heads, num_kv_heads, bias)
    assert formula == counts.mha_parameter_count(d_model, num_heads, num_kv_heads, bias)
    module = attnbook.MultiHeadAttention(d_model, num_heads, num_kv_heads=num_kv_heads, bias=bias)
    assert formula == sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("n_q, n_k, d_model, num_heads, num_kv_heads",
                         [(16, 16, 64, 8, None), (7, 30, 32, 4, None), (12, 12, 48, 6, 2), (5, 9, 32, 8, 1)])
def test_flop_formula_equals_package_and_flop_counter(multi_head_twin, n_q, n_k, d_model, num_heads, num_kv_heads):
    from torch.utils.flop_counter import FlopCounterMode

    formula = multi_head_twin["mha_flops"](n_q, n_k, d_model, num_heads, num_kv_heads)
    assert formula == counts.mha_flops(n_q, n_k, d_model, num_heads, num_kv_heads)
    layer = attnbook.MultiHeadAttention(d_model, num_heads, num_kv_heads=num_kv_heads)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        layer(torch.randn(1, n_q, d_model), torch.randn(1, n_k, d_model))
    assert formula == counter.get_total_flops()


# ------------------------------------------------------------------ 4.3 positions


@pytest.mark.parametrize("n_positions, d_model", [(1, 2), (50, 16), (128, 64), (10, 7)])
def test_sinusoidal_positions_equal_package(positions_twin, n_positions, d_model):
    table = positions_twin["sinusoidal_positions"](n_positions, d_model)
    expected = attnbook.sinusoidal_positions(n_positions, d_model).numpy()
    assert table.shape == expected.shape == (n_positions, d_model)
    np.testing.assert_allclose(table, expected, atol=1e-6)


@pytest.mark.parametrize("shape, theta", [((5, 8), 10000.0), ((2, 3, 7, 16), 10000.0), ((1, 4, 64), 500.0)])
def test_apply_rope_equals_package(positions_twin, shape, theta):
    rng = np.random.default_rng(len(shape))
    x = rng.normal(size=shape)
    positions = rng.integers(0, 100, size=shape[-2])
    got = positions_twin["apply_rope"](x, positions, theta)
    expected = attnbook.apply_rope(torch.from_numpy(x), torch.from_numpy(positions), theta=theta).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_apply_rope_twin_scores_depend_only_on_the_offset(positions_twin):
    rng = np.random.default_rng(5)
    q, k = rng.normal(size=(1, 32)), rng.normal(size=(1, 32))
    rope = positions_twin["apply_rope"]
    score = lambda m, n: (rope(q, [m]) @ rope(k, [n]).T).item()  # noqa: E731
    assert score(3, 0) == pytest.approx(score(40, 37), abs=1e-10)
    assert score(0, 3) == pytest.approx(score(17, 20), abs=1e-10)
    assert score(3, 0) != pytest.approx(score(0, 3), abs=1e-6)


# ------------------------------------------------------------------ 4.4 the block


@pytest.mark.parametrize("shape", [(4,), (3, 8), (2, 5, 16)])
def test_norms_equal_package_and_torch(block_twin, shape):
    rng = np.random.default_rng(len(shape))
    x = rng.normal(size=shape) * 3 + 1
    d = shape[-1]
    weight, bias = rng.normal(size=d), rng.normal(size=d)
    rms = attnbook.RMSNorm(d, eps=1e-6).double()
    with torch.no_grad():
        rms.weight.copy_(torch.from_numpy(weight))
        np.testing.assert_allclose(block_twin["rms_norm"](x, weight), rms(torch.from_numpy(x)).numpy(), atol=1e-12)
    expected_ln = F.layer_norm(torch.from_numpy(x), (d,), torch.from_numpy(weight), torch.from_numpy(bias), eps=1e-5)
    np.testing.assert_allclose(block_twin["layer_norm"](x, weight, bias), expected_ln.numpy(), atol=1e-12)


@pytest.mark.parametrize("d_model, d_ff", [(4, 8), (12, 32), (16, 40)])
def test_swiglu_equals_package(block_twin, d_model, d_ff):
    rng = np.random.default_rng(d_ff)
    w1, w3, w2 = rng.normal(size=(d_model, d_ff)), rng.normal(size=(d_model, d_ff)), rng.normal(size=(d_ff, d_model))
    x = rng.normal(size=(2, 3, d_model)) * 2
    module = attnbook.SwiGLU(d_model, d_ff).double()
    for linear, w in ((module.w1, w1), (module.w3, w3), (module.w2, w2)):
        copy_linear(linear, w)
    with torch.no_grad():
        expected = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(block_twin["swiglu"](x, w1, w3, w2), expected, atol=1e-10)
