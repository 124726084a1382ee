"""Plot helpers shared by the chapters. Matplotlib is imported when a function is called."""

from __future__ import annotations

import numpy as np

__all__ = ["show_heatmap"]


def show_heatmap(weights, xlabel: str, ylabel: str, title: str, ax=None, *, cmap: str = "Reds",
                 colorbar: bool = True, xticklabels=None, yticklabels=None, vmin=None, vmax=None):
    """Draw a 2-D weight matrix (e.g. attention weights, rows = queries) as a heatmap.

    Args:
        weights: (n_rows, n_cols) NumPy array or torch tensor (any device, grad is ignored).
        xlabel, ylabel, title: axis labels and title; rows run down the y axis.
        ax: Matplotlib axes to draw on; a new figure is made when None.
        cmap: colour map name.
        colorbar: add a colour bar next to the axes.
        xticklabels, yticklabels: optional labels, one per column / row.
        vmin, vmax: colour range; by default the data's own range.

    Returns:
        The axes. The caller ends the cell with ``plt.show()``.
    """
    import matplotlib.pyplot as plt

    if hasattr(weights, "detach"):
        weights = weights.detach().cpu().numpy()
    weights = np.asarray(weights)
    if weights.ndim != 2:
        raise ValueError(f"show_heatmap needs a 2-D matrix (rows, columns); got shape {weights.shape}")
    if weights.dtype == np.bool_ or weights.dtype.kind not in "fiu":
        raise ValueError(f"show_heatmap needs real numbers; got dtype {weights.dtype}")
    for name, labels, size in (("xticklabels", xticklabels, weights.shape[1]),
                               ("yticklabels", yticklabels, weights.shape[0])):
        if labels is not None and len(labels) != size:
            raise ValueError(f"{name} has {len(labels)} labels for {size} {name[0]}-positions")
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3.5))
    image = ax.imshow(weights, cmap=cmap, aspect="auto", interpolation="nearest", vmin=vmin, vmax=vmax)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if xticklabels is not None:
        ax.set_xticks(range(weights.shape[1]), labels=[str(label) for label in xticklabels])
    if yticklabels is not None:
        ax.set_yticks(range(weights.shape[0]), labels=[str(label) for label in yticklabels])
    if colorbar:
        ax.figure.colorbar(image, ax=ax, shrink=0.85)
    return ax
