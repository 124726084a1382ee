"""Unit tests for attnbook.sparsemax against a brute-force simplex projection, and the notebook twin."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from nbcode import twin_namespace

from attnbook.sparsemax import sparsemax, sparsemax_threshold

NOTEBOOK = "chapters/03_softmax/05_sparsemax.ipynb"


def brute_force_projection(z):
    """Projection of z onto the simplex by trying every support set (small n only).

    For a support S the minimiser over {p_S free, sum = 1} is p_i = z_i - (sum_S z - 1)/|S|; the
    projection is the feasible (all >= 0) candidate closest to z.
    """
    best, best_distance = None, np.inf
    n = len(z)
    for size in range(1, n + 1):
        for support in itertools.combinations(range(n), size):
            p = np.zeros(n)
            idx = list(support)
            p[idx] = z[idx] - (z[idx].sum() - 1) / size
            if (p >= -1e-12).all() and np.linalg.norm(p - z) < best_distance:
                best, best_distance = p, np.linalg.norm(p - z)
    return best


def test_matches_brute_force_projection():
    rng = np.random.default_rng(0)
    for _ in range(200):
        z = rng.normal(size=rng.integers(1, 6)) * rng.choice([0.1, 1.0, 5.0])
        assert np.allclose(sparsemax(z), brute_force_projection(z), atol=1e-9)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_simplex_properties_numpy_and_torch(axis):
    z = np.random.default_rng(1).normal(size=(4, 5, 6)) * 3
    for p in (sparsemax(z, axis=axis), sparsemax(torch.from_numpy(z), axis=axis).numpy()):
        assert p.shape == z.shape
        assert (p >= 0).all()
        assert np.allclose(p.sum(axis=axis), 1.0)
    moved = np.moveaxis(z, axis, -1)
    assert np.allclose(np.moveaxis(sparsemax(z, axis=axis), axis, -1), sparsemax(moved))


def test_exact_zeros_and_known_values():
    assert np.array_equal(sparsemax(np.array([1.0, 2.0, 3.0])), [0.0, 0.0, 1.0])
    assert np.allclose(sparsemax(np.array([0.9, 0.7, 0.1, -0.5])), [0.6, 0.4, 0.0, 0.0])
    assert np.allclose(sparsemax(np.zeros(4)), 0.25)
    assert np.allclose(sparsemax_threshold(np.array([0.9, 0.7, 0.1])), [0.3])


def test_mask_and_fully_masked_row():
    z = np.array([[1.0, 0.8, 5.0, 0.2], [1.0, 0.8, 5.0, 0.2]])
    mask = np.array([[True, True, False, True], [False, False, False, False]])
    for p in (sparsemax(z, mask=mask), sparsemax(torch.from_numpy(z), mask=torch.from_numpy(mask)).numpy()):
        assert np.allclose(p[0], [0.6, 0.4, 0.0, 0.0])
        assert np.array_equal(p[1], np.zeros(4))


def test_torch_gradient_is_the_closed_form_jacobian():
    z = torch.tensor([0.9, 0.7, 0.1, -0.5], dtype=torch.float64)
    jacobian = torch.autograd.functional.jacobian(sparsemax, z)
    support = (sparsemax(z) > 0).to(torch.float64)
    assert torch.allclose(jacobian, torch.diag(support) - torch.outer(support, support) / support.sum())


def test_bad_input_raises_value_error():
    with pytest.raises(ValueError, match="dtype bool"):
        sparsemax(np.array([True, False]))
    with pytest.raises(ValueError, match="axis 2"):
        sparsemax(np.zeros((2, 3)), axis=2)
    with pytest.raises(ValueError, match="does not broadcast"):
        sparsemax(np.zeros((2, 3)), mask=np.ones((3, 2), dtype=bool))


def test_notebook_twin_equals_package():
    ns = twin_namespace(NOTEBOOK)
    z = np.random.default_rng(2).normal(size=(50, 7)) * 2
    assert np.allclose(ns["sparsemax"](z), sparsemax(z))
