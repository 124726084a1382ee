"""attnbook.pooling (Nadaraya-Watson attention pooling) and attnbook.plotting.show_heatmap.

Also the twin test: the teaching versions in chapters/01_background/02_nadaraya_watson.ipynb
(cells tagged ``twin``) must compute what the package computes.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from nbcode import twin_namespace

from attnbook import softmax
from attnbook.pooling import (
    LearnedBandwidthPooling,
    gaussian_kernel_scores,
    gaussian_kernel_weights,
    leave_one_out_mask,
    nadaraya_watson,
)

NOTEBOOK = "chapters/01_background/02_nadaraya_watson.ipynb"


@pytest.fixture
def points():
    rng = np.random.default_rng(0)
    keys = np.sort(rng.uniform(0, 5, 12))
    queries = np.linspace(-1, 6, 9)
    values = np.sin(keys) + rng.normal(0, 0.1, 12)
    return queries, keys, values


def literal_weights(queries, keys, bandwidth):
    kernel = np.exp(-((queries[:, None] - keys[None, :]) ** 2) / (2 * bandwidth**2))
    return kernel / kernel.sum(axis=1, keepdims=True)


# ----------------------------------------------------------------------------- the weights


@pytest.mark.parametrize("bandwidth", [0.3, 1.0, 4.0])
def test_weights_are_the_normalised_gaussian_kernel(points, bandwidth):
    queries, keys, _ = points
    weights = gaussian_kernel_weights(queries, keys, bandwidth)
    assert weights.shape == (9, 12)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    np.testing.assert_allclose(weights, literal_weights(queries, keys, bandwidth), rtol=1e-10, atol=1e-12)


def test_weights_are_softmax_of_the_scores(points):
    queries, keys, _ = points
    scores = gaussian_kernel_scores(queries, keys, 0.7)
    np.testing.assert_allclose(scores, -((queries[:, None] - keys[None, :]) ** 2) / (2 * 0.49))
    np.testing.assert_allclose(gaussian_kernel_weights(queries, keys, 0.7), softmax(scores, axis=-1))


def test_far_query_with_small_bandwidth_is_nearest_neighbour_not_nan(points):
    _, keys, values = points
    far = np.array([50.0])
    with np.errstate(over="raise", divide="raise", invalid="raise"):  # underflow to 0 is fine
        prediction = nadaraya_watson(far, keys, values, bandwidth=0.01)
    assert np.isfinite(prediction).all()
    np.testing.assert_allclose(prediction, values[np.argmax(keys)])


def test_limits_average_pooling_and_nearest_neighbour(points):
    queries, keys, values = points
    np.testing.assert_allclose(nadaraya_watson(queries, keys, values, 1e8), np.full(9, values.mean()))
    inside = np.linspace(0.2, 4.8, 7)
    nearest = np.abs(inside[:, None] - keys[None, :]).argmin(axis=1)
    np.testing.assert_allclose(nadaraya_watson(inside, keys, values, 1e-4), values[nearest])


def test_leave_one_out_mask_zeroes_the_diagonal(points):
    _, keys, values = points
    mask = leave_one_out_mask(12)
    assert mask.dtype == np.bool_ and mask.shape == (12, 12) and not mask.diagonal().any()
    weights = gaussian_kernel_weights(keys, keys, 0.5, mask=mask)
    assert np.all(weights.diagonal() == 0.0)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    # Removing column i and renormalising row i is the same thing.
    full = gaussian_kernel_weights(keys, keys, 0.5)
    row = np.delete(full[3], 3)
    np.testing.assert_allclose(np.delete(weights[3], 3), row / row.sum())
    torch_mask = leave_one_out_mask(4, device="cpu")
    assert torch_mask.dtype == torch.bool and torch.equal(torch_mask, torch.tensor(leave_one_out_mask(4)))


def test_values_with_a_feature_axis(points):
    queries, keys, values = points
    stacked = np.stack([values, 2 * values + 1], axis=1)  # (12, 2)
    out = nadaraya_watson(queries, keys, stacked, 0.5)
    assert out.shape == (9, 2)
    np.testing.assert_allclose(out[:, 1], 2 * nadaraya_watson(queries, keys, values, 0.5) + 1)


def test_return_weights_and_integer_input():
    predictions, weights = nadaraya_watson(np.array([1, 2]), np.array([0, 1, 2, 3]), np.array([0, 1, 2, 3]),
                                           bandwidth=1.0, return_weights=True)
    assert weights.dtype == np.float64 and weights.shape == (2, 4)
    np.testing.assert_allclose(predictions, weights @ np.arange(4.0))


def test_torch_matches_numpy_and_has_gradients(points):
    queries, keys, values = points
    keys_t = torch.tensor(keys, requires_grad=True)
    out = nadaraya_watson(torch.tensor(queries), keys_t, torch.tensor(values), 0.5)
    assert isinstance(out, torch.Tensor)
    np.testing.assert_allclose(out.detach().numpy(), nadaraya_watson(queries, keys, values, 0.5))
    out.sum().backward()
    assert keys_t.grad is not None and torch.isfinite(keys_t.grad).all() and keys_t.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: gaussian_kernel_weights(np.ones((2, 2)), np.ones(3)), "queries must be 1-D"),
        (lambda: gaussian_kernel_weights(np.ones(2), np.ones((3, 1))), "keys must be 1-D"),
        (lambda: gaussian_kernel_weights(np.ones(2), np.ones(3), bandwidth=0.0), "bandwidth must be a positive"),
        (lambda: gaussian_kernel_weights(np.ones(2), np.ones(3), bandwidth=-1.0), "bandwidth must be a positive"),
        (lambda: gaussian_kernel_weights(np.ones(2), np.ones(3), bandwidth=float("nan")), "bandwidth must be"),
        (lambda: gaussian_kernel_weights(np.ones(2), torch.ones(3)), "must all be NumPy arrays or all torch tensors"),
        (lambda: gaussian_kernel_weights(np.ones(2), np.ones(3), mask=np.ones((3, 2), bool)), "does not broadcast"),
        (lambda: gaussian_kernel_weights(np.ones(2), np.ones(3), mask=np.ones((2, 3))), "mask must be boolean"),
        (lambda: nadaraya_watson(np.ones(2), np.ones(3), np.ones(4)), "values must have shape"),
        (lambda: nadaraya_watson(np.ones(2), np.ones(3), np.ones((3, 2, 1))), "values must have shape"),
        (lambda: gaussian_kernel_weights(np.array(["a"]), np.ones(3)), "queries must hold real numbers"),
    ],
)
def test_bad_input_is_a_clear_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ----------------------------------------------------------------------------- learned bandwidth


def test_learned_pooling_with_w_equals_nadaraya_watson(points):
    queries, keys, values = points
    model = LearnedBandwidthPooling(initial_w=2.0).double()
    out, weights = model(torch.tensor(queries), torch.tensor(keys), torch.tensor(values), return_weights=True)
    np.testing.assert_allclose(out.detach().numpy(), nadaraya_watson(queries, keys, values, bandwidth=0.5))
    np.testing.assert_allclose(weights.detach().numpy(), gaussian_kernel_weights(queries, keys, 0.5))


def test_learned_pooling_gradient_matches_finite_differences(points):
    _, keys, values = points
    keys_t, values_t = torch.tensor(keys), torch.tensor(values)
    mask = leave_one_out_mask(12, device="cpu")

    def loss_at(w):
        model = LearnedBandwidthPooling().double()
        with torch.no_grad():
            model.w.fill_(w)  # in float64: w +- 1e-6 is not exact in float32
        loss = torch.mean((model(keys_t, keys_t, values_t, mask=mask) - values_t) ** 2)
        return model, loss

    model, loss = loss_at(1.5)
    loss.backward()
    eps = 1e-6
    numeric = (loss_at(1.5 + eps)[1].item() - loss_at(1.5 - eps)[1].item()) / (2 * eps)
    assert model.w.grad.item() == pytest.approx(numeric, rel=1e-5, abs=1e-9)


def test_learned_pooling_training_reaches_the_leave_one_out_minimum(points):
    _, keys, values = points
    keys_t, values_t = torch.tensor(keys), torch.tensor(values)
    mask = leave_one_out_mask(12, device="cpu")
    model = LearnedBandwidthPooling(1.0).double()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.2)
    for _ in range(300):
        loss = torch.mean((model(keys_t, keys_t, values_t, mask=mask) - values_t) ** 2)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    grid = np.arange(0.2, 10, 0.01)
    errors = [np.mean((nadaraya_watson(keys, keys, values, 1 / w, mask=leave_one_out_mask(12)) - values) ** 2)
              for w in grid]
    assert abs(model.w.item()) == pytest.approx(grid[int(np.argmin(errors))], abs=0.05)


def test_learned_pooling_rejects_numpy_and_mismatched_values():
    model = LearnedBandwidthPooling()
    with pytest.raises(ValueError, match="takes torch tensors"):
        model(np.ones(2), np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="values must have shape"):
        model(torch.ones(2), torch.ones(3), torch.ones(4))


# ----------------------------------------------------------------------------- twin test


def test_notebook_twin_equals_package(points):
    ns = twin_namespace(NOTEBOOK)
    queries, keys, values = points
    for bandwidth in (0.05, 0.3, 2.0):
        np.testing.assert_allclose(ns["gaussian_kernel_weights"](queries, keys, bandwidth),
                                   gaussian_kernel_weights(queries, keys, bandwidth), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(ns["nadaraya_watson"](queries, keys, values, bandwidth),
                                   nadaraya_watson(queries, keys, values, bandwidth), rtol=1e-12, atol=1e-14)
    twin_model = ns["LearnedBandwidthPooling"](initial_w=3.0).double()
    package_model = LearnedBandwidthPooling(initial_w=3.0).double()
    keys_t, values_t = torch.tensor(keys), torch.tensor(values)
    mask = leave_one_out_mask(12, device="cpu")
    for queries_t, m in ((torch.tensor(queries), None), (keys_t, mask)):
        twin_out = twin_model(queries_t, keys_t, values_t, mask=m)
        package_out = package_model(queries_t, keys_t, values_t, mask=m)
        torch.testing.assert_close(twin_out, package_out)
        twin_out.sum().backward()
        package_out.sum().backward()
    torch.testing.assert_close(twin_model.w.grad, package_model.w.grad)


# ----------------------------------------------------------------------------- show_heatmap


def test_show_heatmap_draws_labels_and_colorbar():
    plt = pytest.importorskip("matplotlib.pyplot")
    fig, ax = plt.subplots()
    try:
        weights = torch.softmax(torch.randn(3, 4, requires_grad=True), dim=-1)  # grad is ignored
        returned = pytest.importorskip("attnbook.plotting").show_heatmap(
            weights, "keys", "queries", "title", ax=ax, xticklabels="abcd", yticklabels=[1, 2, 3]
        )
        assert returned is ax
        assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("keys", "queries", "title")
        assert [t.get_text() for t in ax.get_xticklabels()] == list("abcd")
        assert len(fig.axes) == 2  # the axes and its colour bar
        np.testing.assert_allclose(ax.images[0].get_array(), weights.detach().numpy())
    finally:
        plt.close(fig)


def test_show_heatmap_rejects_bad_input():
    plt = pytest.importorskip("matplotlib.pyplot")
    from attnbook.plotting import show_heatmap

    fig, ax = plt.subplots()
    try:
        with pytest.raises(ValueError, match="2-D matrix"):
            show_heatmap(np.ones((2, 3, 4)), "x", "y", "t", ax=ax)
        with pytest.raises(ValueError, match="xticklabels has 2 labels for 3"):
            show_heatmap(np.ones((2, 3)), "x", "y", "t", ax=ax, xticklabels=["a", "b"])
        with pytest.raises(ValueError, match="real numbers"):
            show_heatmap(np.ones((2, 3), dtype=bool), "x", "y", "t", ax=ax)
    finally:
        plt.close(fig)
