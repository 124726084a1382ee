"""scikit-learn's 8×8 handwritten digits as tensors, with a fixed stratified split (chapter 5, section 3).

The data ship inside scikit-learn (``sklearn.datasets.load_digits``: 1,797 grey-scale images of
8×8 pixels with values 0..16, digits 0–9, from the UCI optical recognition of handwritten digits
data), so nothing is downloaded. Shapes:

    images   (n, 1, 8, 8)   float32 in [0, 1] (pixel value / 16)
    labels   (n,)           int64 in 0..9
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["load_digits_tensors", "make_digits_splits"]


def load_digits_tensors() -> tuple[torch.Tensor, torch.Tensor]:
    """All 1,797 digits: images (1797, 1, 8, 8) float32 in [0, 1] and labels (1797,) int64."""
    from sklearn.datasets import load_digits  # imported here: only this module needs scikit-learn

    digits = load_digits()
    images = torch.tensor(digits.images / 16.0, dtype=torch.float32)[:, None]  # (n, 1, 8, 8)
    labels = torch.tensor(digits.target, dtype=torch.int64)  # (n,)
    return images, labels


def make_digits_splits(test_fraction: float = 0.25, seed: int = 0
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A stratified train/test split: ``(train_images, train_labels, test_images, test_labels)``.

    Each digit class is shuffled with ``np.random.default_rng(seed)`` and its first
    ``round(test_fraction * class size)`` images go to the test set, so both sets hold every digit
    in the same proportion. The same seed gives the same split on every machine.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be strictly between 0 and 1; got {test_fraction}")
    images, labels = load_digits_tensors()
    rng = np.random.default_rng(seed)
    test_index, train_index = [], []
    for digit in range(10):
        members = np.flatnonzero(labels.numpy() == digit)
        members = members[rng.permutation(len(members))]
        n_test = int(round(test_fraction * len(members)))
        test_index.append(members[:n_test])
        train_index.append(members[n_test:])
    train_index = torch.from_numpy(np.sort(np.concatenate(train_index)))
    test_index = torch.from_numpy(np.sort(np.concatenate(test_index)))
    return images[train_index], labels[train_index], images[test_index], labels[test_index]
