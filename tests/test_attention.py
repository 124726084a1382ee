"""Unit tests for attnbook/attention.py: scaled dot-product attention, causal and padding masks.

The reference is PyTorch's own ``torch.nn.functional.scaled_dot_product_attention``, whose mask
convention (boolean, True = may attend) and fully-masked-row behaviour (zero output) the package
follows. Chapter 2.3's teaching version (cells tagged ``twin``) is kept equal to the package here.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from nbcode import twin_namespace

import attnbook
from attnbook import causal_mask, padding_mask, scaled_dot_product_attention

MASKS_NOTEBOOK = "chapters/02_scoring/03_masks_and_batches.ipynb"


def random_qkv(batch_shape=(2,), n_queries=3, n_keys=5, d=4, d_v=6, dtype=torch.float64, seed=0):
    generator = torch.Generator().manual_seed(seed)
    make = lambda *shape: torch.randn(*shape, generator=generator, dtype=dtype)  # noqa: E731
    return (make(*batch_shape, n_queries, d), make(*batch_shape, n_keys, d), make(*batch_shape, n_keys, d_v))


def mixed_mask():
    """(2, 3, 5) mask: item 0 row 1 fully masked, item 1 padded to 2 keys and causal."""
    mask = torch.ones(2, 3, 5, dtype=torch.bool)
    mask[0, 1] = False
    mask[1] = torch.ones(3, 5, dtype=torch.bool).tril() & (torch.arange(5) < 2)
    return mask


MASKS = {
    "none": lambda: None,
    "padding (batch, 1, n_keys)": lambda: padding_mask(torch.tensor([2, 5]), 5),
    "causal (n_queries, n_keys)": lambda: causal_mask(3, 5, device="cpu"),
    "per key (n_keys,)": lambda: torch.tensor([True, False, True, True, False]),
    "full (batch, n_queries, n_keys) with an empty row": mixed_mask,
}


@pytest.mark.parametrize("mask_name", MASKS)
def test_matches_pytorch_sdpa(mask_name):
    queries, keys, values = random_qkv()
    mask = MASKS[mask_name]()
    got = scaled_dot_product_attention(queries, keys, values, mask)
    expected = F.scaled_dot_product_attention(queries, keys, values, attn_mask=mask)
    assert got.shape == (2, 3, 6)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mask_name", MASKS)
def test_numpy_equals_torch(mask_name):
    queries, keys, values = random_qkv()
    mask = MASKS[mask_name]()
    numpy_mask = None if mask is None else mask.numpy()
    got = scaled_dot_product_attention(queries.numpy(), keys.numpy(), values.numpy(), numpy_mask)
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got, scaled_dot_product_attention(queries, keys, values, mask).numpy(), atol=1e-12)


def test_multi_head_shapes_and_broadcast_batch():
    queries, keys, values = random_qkv(batch_shape=(2, 4), n_queries=3, n_keys=5)  # (batch, heads, n, d)
    mask = padding_mask(torch.tensor([5, 3]), 5)[:, None]  # (batch, 1, 1, n_keys)
    got = scaled_dot_product_attention(queries, keys, values, mask)
    assert got.shape == (2, 4, 3, 6)
    torch.testing.assert_close(got, F.scaled_dot_product_attention(queries, keys, values, attn_mask=mask))
    shared_keys = scaled_dot_product_attention(queries, keys[:1, :1], values[:1, :1])  # keys broadcast
    torch.testing.assert_close(
        shared_keys, F.scaled_dot_product_attention(queries, keys[:1, :1].expand_as(keys), values[:1, :1].expand_as(values))
    )


def test_fully_masked_row_gives_zero_weights_and_zero_output():
    queries, keys, values = random_qkv()
    mask = mixed_mask()
    for q, k, v, m in ((queries, keys, values, mask), (queries.numpy(), keys.numpy(), values.numpy(), mask.numpy())):
        output, weights = scaled_dot_product_attention(q, k, v, m, return_weights=True)
        assert not np.isnan(np.asarray(weights)).any() and not np.isnan(np.asarray(output)).any()
        assert (np.asarray(weights[0, 1]) == 0).all() and (np.asarray(output[0, 1]) == 0).all()
        row_sums = np.asarray(weights.sum(-1))
        np.testing.assert_allclose(np.delete(row_sums.reshape(-1), 1), 1.0)
        assert (np.asarray(weights)[~np.asarray(m)] == 0).all(), "masked keys must get zero weight"


def test_the_two_naive_fills_fail_where_the_package_does_not():
    scores = torch.tensor([[1.0, 2.0, 3.0]])
    blocked = torch.zeros(1, 3, dtype=torch.bool)
    assert torch.softmax(scores.masked_fill(~blocked, float("-inf")), -1).isnan().all()
    torch.testing.assert_close(torch.softmax(scores.masked_fill(~blocked, -1e9), -1), torch.full((1, 3), 1 / 3))
    assert (attnbook.softmax(scores, mask=blocked) == 0).all()


def test_gradcheck_float64_with_mask_and_empty_row():
    queries, keys, values = (x.requires_grad_() for x in random_qkv())
    mask = mixed_mask()
    assert torch.autograd.gradcheck(lambda q, k, v: scaled_dot_product_attention(q, k, v, mask), (queries, keys, values))
    scaled_dot_product_attention(queries, keys, values, mask).sum().backward()
    assert not queries.grad.isnan().any() and (queries.grad[0, 1] == 0).all()


def test_gradients_match_pytorch_sdpa():
    inputs = [x.requires_grad_() for x in random_qkv()]
    reference = [x.detach().clone().requires_grad_() for x in inputs]
    mask = mixed_mask()
    upstream = torch.randn(2, 3, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    (scaled_dot_product_attention(*inputs, mask) * upstream).sum().backward()
    (F.scaled_dot_product_attention(*reference, attn_mask=mask) * upstream).sum().backward()
    for got, expected in zip(inputs, reference, strict=True):
        torch.testing.assert_close(got.grad, expected.grad)


def test_scale_argument_matches_pytorch():
    queries, keys, values = random_qkv()
    torch.testing.assert_close(
        scaled_dot_product_attention(queries, keys, values, scale=0.3),
        F.scaled_dot_product_attention(queries, keys, values, scale=0.3),
    )


def test_float32_numpy_stays_float32():
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((3, 4), dtype=np.float32) for _ in range(3))
    assert scaled_dot_product_attention(q, k, v, causal_mask(3)).dtype == np.float32


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda q, k, v: (q[..., :3], k, v), ["queries (2, 3, 3)", "keys (2, 5, 4)"]),
        (lambda q, k, v: (q, k, v[:, :4]), ["keys (2, 5, 4)", "values (2, 4, 6)"]),
        (lambda q, k, v: (q.float(), k, v), ["dtype"]),
        (lambda q, k, v: (q.long(), k.long(), v.long()), ["floating point", "int64"]),
        (lambda q, k, v: (q.numpy(), k, v), ["NumPy array", "torch tensor"]),
        (lambda q, k, v: (q[0, 0], k, v), ["queries", "(4,)"]),
        (lambda q, k, v: (q.expand(3, 2, 3, 4)[:, 0], k, v), ["(3, 3, 4)", "(2, 5, 4)"]),
    ],
    ids=["d differs", "n_keys differs", "mixed dtypes", "integers", "mixed libraries", "1-D", "batch"],
)
def test_bad_inputs_raise_value_error_naming_them(change, words):
    queries, keys, values = change(*random_qkv())
    with pytest.raises(ValueError) as error:
        scaled_dot_product_attention(queries, keys, values)
    for word in words:
        assert word in str(error.value), f"{word!r} not in {error.value}"


@pytest.mark.parametrize(
    ("mask", "words"),
    [
        (torch.ones(2, 5, dtype=torch.bool), ["(2, 5)", "(2, 3, 5)"]),  # (batch, n_keys): queries axis missing
        (torch.ones(2, 5, 1, dtype=torch.bool), ["(2, 5, 1)"]),  # keys on the queries axis
        (torch.ones(2, 3, 5), ["boolean", "float32"]),  # additive float mask
        (np.ones((2, 3, 5), dtype=bool), ["NumPy array", "torch tensor"]),
    ],
    ids=["missing axis", "wrong axis", "float mask", "numpy mask"],
)
def test_bad_masks_raise_value_error_naming_shapes(mask, words):
    with pytest.raises(ValueError) as error:
        scaled_dot_product_attention(*random_qkv(), mask=mask)
    for word in words:
        assert word in str(error.value), f"{word!r} not in {error.value}"


def test_causal_mask_matches_pytorch_is_causal():
    assert causal_mask(3).tolist() == [[True, False, False], [True, True, False], [True, True, True]]
    assert causal_mask(2, 4).tolist() == [[True, False, False, False], [True, True, False, False]]
    mask = causal_mask(4, device="cpu")
    assert mask.dtype == torch.bool and mask.tolist() == causal_mask(4).tolist()
    queries, keys, values = random_qkv(n_queries=5, n_keys=5)
    torch.testing.assert_close(
        scaled_dot_product_attention(queries, keys, values, causal_mask(5, device="cpu")),
        F.scaled_dot_product_attention(queries, keys, values, is_causal=True),
    )


def test_padding_mask_values_shapes_and_errors():
    mask = padding_mask([1, 3, 0], 4)
    assert mask.shape == (3, 1, 4) and mask.dtype == np.bool_
    assert mask[:, 0].tolist() == [[True, False, False, False], [True, True, True, False], [False] * 4]
    torch_mask = padding_mask(torch.tensor([1, 3, 0]), 4)
    assert torch_mask.dtype == torch.bool and torch_mask.tolist() == mask.tolist()
    for bad in (3, [[1, 2]], torch.tensor(2), torch.tensor([[1, 2]])):
        with pytest.raises(ValueError, match="1-D"):
            padding_mask(bad, 4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_cuda_like_on_cpu():
    queries, keys, values = random_qkv()
    mask = mixed_mask()
    expected = scaled_dot_product_attention(queries, keys, values, mask)
    got = scaled_dot_product_attention(queries.cuda(), keys.cuda(), values.cuda(), mask)  # mask moves along
    assert got.device.type == "cuda"
    torch.testing.assert_close(got.cpu(), expected)


def test_teaching_version_in_chapter_2_3_equals_the_package():
    twin = twin_namespace(MASKS_NOTEBOOK)
    rng = np.random.default_rng(3)
    queries, keys, values = rng.normal(size=(2, 4, 8)), rng.normal(size=(2, 6, 8)), rng.normal(size=(2, 6, 3))
    masks = [None, padding_mask([6, 2], 6), causal_mask(4, 6), np.zeros((2, 4, 6), dtype=bool)]
    for mask in masks:
        expected = scaled_dot_product_attention(queries, keys, values, mask)
        np.testing.assert_allclose(twin["attention"](queries, keys, values, mask), expected, atol=1e-12)
    scores = rng.normal(size=(2, 4, 6)) * 50
    np.testing.assert_allclose(twin["masked_softmax"](scores, masks[1]), attnbook.softmax(scores, mask=masks[1]), atol=1e-12)
