"""Unit tests for attnbook.softmax (softmax, logsumexp, log_softmax) and its notebook twin."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from nbcode import twin_namespace

import attnbook

BASICS = "chapters/03_softmax/01_softmax_basics.ipynb"


def reference_softmax(x, axis=-1):
    return torch.softmax(torch.as_tensor(x, dtype=torch.float64), dim=axis).numpy()


@pytest.mark.parametrize("axis", [0, 1, -1, -2])
def test_matches_torch_along_any_axis(axis):
    x = np.random.default_rng(0).normal(size=(3, 4, 5)) * 10
    assert np.allclose(attnbook.softmax(x, axis=axis), reference_softmax(x, axis))
    assert torch.allclose(attnbook.softmax(torch.from_numpy(x), axis=axis), torch.from_numpy(reference_softmax(x, axis)))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_large_logits_do_not_overflow_and_dtype_is_kept(dtype):
    x = np.array([[88.0, 89.0, 90.0], [10.0, 11.0, 12.0], [-1000.0, -1000.0, -999.0]]).astype(dtype)
    expected = reference_softmax(x.astype(np.float64))
    for got in (attnbook.softmax(x), attnbook.softmax(torch.from_numpy(x)).numpy()):
        assert got.dtype == dtype
        assert np.isfinite(got).all()
        assert np.allclose(got, expected, atol=2e-3 if dtype == np.float16 else 1e-6)


LONG_ROW = 70_000  # more entries than float16 can count: its largest finite value is 65 504


def test_float16_sum_of_a_long_row_overflows_without_float32_accumulation():
    """The failure the package avoids: summed in float16, the exponentials of the row are inf."""
    exps = np.exp(np.zeros(LONG_ROW, dtype=np.float16))
    with np.errstate(over="ignore"):
        assert np.isinf(exps.sum())


@pytest.mark.parametrize("library", ["numpy", "torch"])
def test_float16_long_row_is_accumulated_in_float32(library):
    x = np.zeros(LONG_ROW, dtype=np.float16)
    x[:3] = [1.0, 2.0, 3.0]  # a few larger scores, the rest equal
    reference = torch.softmax(torch.from_numpy(x), dim=-1, dtype=torch.float32).to(torch.float16).numpy()
    got = attnbook.softmax(x) if library == "numpy" else attnbook.softmax(torch.from_numpy(x)).numpy()
    assert got.dtype == np.float16
    assert np.isfinite(got).all() and (got > 0).all()
    # Weights near 1 / 70 000 are below float16's smallest normal number (6.1e-5) and keep only
    # about 8 significant bits each, so their sum misses 1 by a little; summed in float16 it is 0.
    assert abs(got.astype(np.float64).sum() - 1) < 1e-2
    assert np.allclose(got.astype(np.float64), reference.astype(np.float64), rtol=2e-3, atol=0)


def test_bfloat16_is_accumulated_in_float32_and_keeps_its_dtype():
    # A bfloat16 running sum stops at 256 (256 + 1 rounds back to 256); its range is float32's.
    x = torch.zeros(1000, dtype=torch.bfloat16)
    got = attnbook.softmax(x)
    assert got.dtype == torch.bfloat16
    expected = torch.softmax(x, dim=-1, dtype=torch.float32).to(torch.bfloat16)
    assert torch.equal(got, expected)
    assert abs(got.double().sum().item() - 1) < 1e-2


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_gradient_and_log_functions(dtype):
    x = (torch.randn(3, 2000, generator=torch.Generator().manual_seed(5)) * 4).to(dtype).requires_grad_()
    weights = attnbook.softmax(x)
    (weights * torch.arange(2000.0).to(dtype)).sum().backward()
    assert x.grad.dtype == dtype and torch.isfinite(x.grad).all()
    x64 = x.detach().double()
    assert torch.allclose(attnbook.logsumexp(x.detach()).double(), torch.logsumexp(x64, dim=-1), rtol=1e-2)
    log_weights = attnbook.log_softmax(x.detach())
    assert log_weights.dtype == dtype
    assert torch.allclose(log_weights.double(), torch.log_softmax(x64, dim=-1), atol=0.1, rtol=1e-2)
    numpy_x = x.detach().float().numpy().astype(np.float16) if dtype == torch.float16 else None
    if numpy_x is not None:
        assert attnbook.log_softmax(numpy_x).dtype == np.float16
        assert np.allclose(attnbook.logsumexp(np.zeros(LONG_ROW, dtype=np.float16)), np.log(LONG_ROW), rtol=1e-3)


def test_integers_and_lists_become_float():
    assert np.allclose(attnbook.softmax([1, 2, 3]), reference_softmax([1.0, 2.0, 3.0]))
    assert attnbook.softmax(torch.tensor([1, 2, 3])).dtype == torch.get_default_dtype()


def test_mask_zero_weights_and_fully_masked_row_is_zero():
    scores = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    mask = np.array([[True, True, False], [False, False, False]])
    for got in (attnbook.softmax(scores, mask=mask),
                attnbook.softmax(torch.from_numpy(scores), mask=torch.from_numpy(mask)).numpy()):
        assert np.allclose(got[0], [0.26894142, 0.73105858, 0.0])
        assert np.array_equal(got[1], np.zeros(3))  # not NaN, not uniform


def test_padding_mask_broadcasts():
    x = np.random.default_rng(1).normal(size=(2, 3, 4))
    mask = np.array([[[True, True, False, False]], [[True] * 4]])  # (2, 1, 4)
    got = attnbook.softmax(x, mask=mask)
    assert np.allclose(got.sum(axis=-1), 1.0)
    assert np.all(got[0, :, 2:] == 0)
    assert np.allclose(got[0, :, :2], reference_softmax(x[0, :, :2]))


def test_torch_gradient_of_fully_masked_row_is_finite():
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[True, False, True], [False, False, False]])
    (attnbook.softmax(x, mask=mask) * torch.arange(3.0, dtype=torch.float64)).sum().backward()
    assert torch.isfinite(x.grad).all()
    assert torch.equal(x.grad[1], torch.zeros(3, dtype=torch.float64))


def test_logsumexp_and_log_softmax_match_torch_and_stay_finite():
    x = np.random.default_rng(2).normal(size=(4, 6)) * 300
    t = torch.from_numpy(x)
    assert np.allclose(attnbook.logsumexp(x), torch.logsumexp(t, dim=-1).numpy())
    assert np.allclose(attnbook.logsumexp(x, axis=0, keepdims=True), torch.logsumexp(t, dim=0, keepdim=True).numpy())
    assert np.allclose(attnbook.log_softmax(x), torch.log_softmax(t, dim=-1).numpy())
    assert torch.allclose(attnbook.log_softmax(t), torch.log_softmax(t, dim=-1))
    assert np.allclose(attnbook.log_softmax(np.array([0.0, -1000.0])), [0.0, -1000.0])
    assert attnbook.logsumexp(np.array([-np.inf, -np.inf])) == -np.inf


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: attnbook.softmax(np.array([True, False])), "dtype bool"),
        (lambda: attnbook.softmax(np.array([1 + 2j])), "complex"),
        (lambda: attnbook.softmax(torch.tensor([True])), "torch.bool"),
        (lambda: attnbook.softmax(np.zeros((2, 3)), axis=2), "axis 2"),
        (lambda: attnbook.softmax(np.zeros((2, 3)), mask=np.ones((2, 4), dtype=bool)), "(2, 4)"),
        (lambda: attnbook.softmax(np.zeros((2, 3)), mask=np.ones((2, 3))), "boolean"),
        (lambda: attnbook.softmax(np.zeros((2, 3)), mask=torch.ones(2, 3, dtype=torch.bool)), "one library"),
        (lambda: attnbook.logsumexp(np.zeros(3), axis=1), "axis 1"),
    ],
)
def test_bad_input_raises_value_error_naming_the_problem(call, words):
    with pytest.raises(ValueError, match=None) as error:
        call()
    assert words in str(error.value)


def test_notebook_twin_equals_package():
    ns = twin_namespace(BASICS)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 4, 6)) * 40
    mask = rng.random((3, 4, 6)) < 0.5
    mask[0, 0] = False
    for axis in (-1, 0, 1):
        assert np.allclose(ns["softmax"](x, axis=axis), attnbook.softmax(x, axis=axis))
        assert np.allclose(ns["logsumexp"](x, axis=axis), attnbook.logsumexp(x, axis=axis))
        assert np.allclose(ns["log_softmax"](x, axis=axis), attnbook.log_softmax(x, axis=axis))
    assert np.array_equal(ns["softmax"](x, mask=mask), attnbook.softmax(x, mask=mask))
