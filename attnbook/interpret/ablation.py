"""Switch attention heads off during a forward pass, without editing the model's code.

A head's contribution to the residual stream is ``out_proj`` applied to its slice of the merged
head outputs: ``MultiHeadAttention`` computes ``out_proj(merge_heads(heads))`` and head ``h``
owns features ``h*d_head .. (h+1)*d_head - 1`` of ``out_proj``'s input. :func:`ablate_heads`
registers a forward pre-hook on ``out_proj`` that overwrites those features:

- ``mode="zero"``: with zeros (the head contributes only ``out_proj``'s bias share, nothing else);
- ``mode="mean"``: with the head's mean output (e.g. over a reference batch, from
  :func:`head_output_means`), which removes what the head says about *this* input while keeping
  its average effect. Zero ablation can push a model off the activations it was trained on;
  mean ablation is the gentler test.

The hooks are removed when the ``with`` block ends, also after an exception.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from ..models.attention import MultiHeadAttention

__all__ = ["ablate_heads", "attention_layers", "head_output_means"]


def attention_layers(model: nn.Module) -> list[MultiHeadAttention]:
    """Every :class:`attnbook.MultiHeadAttention` inside ``model``, in registration (= layer) order."""
    layers = [module for module in model.modules() if isinstance(module, MultiHeadAttention)]
    if not layers:
        raise ValueError(f"{type(model).__name__} contains no attnbook.MultiHeadAttention module")
    return layers


def _check_heads(layers: Sequence[MultiHeadAttention], heads: Iterable[tuple[int, int]]) -> dict[int, list[int]]:
    """``{layer index: sorted head indices}`` from (layer, head) pairs, checked against the layers."""
    chosen: dict[int, set[int]] = {}
    for pair in heads:
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise ValueError(f"heads must be (layer, head) pairs; got {pair!r}")
        layer, head = (int(v) for v in pair)
        if not 0 <= layer < len(layers):
            raise ValueError(f"layer {layer} is out of range: there are {len(layers)} attention layers")
        if not 0 <= head < layers[layer].num_heads:
            raise ValueError(f"head {head} is out of range: layer {layer} has {layers[layer].num_heads} heads")
        chosen.setdefault(layer, set()).add(head)
    return {layer: sorted(hs) for layer, hs in chosen.items()}


@contextmanager
def ablate_heads(
    layers: Sequence[MultiHeadAttention] | nn.Module,
    heads: Iterable[tuple[int, int]],
    mode: str = "zero",
    means: Sequence[torch.Tensor] | None = None,
):
    """Context manager: inside it, the given heads' outputs are replaced (zero or mean) in every forward.

    Args:
        layers: the attention layers, e.g. ``attention_layers(model)``, or a model (its layers are
            found with :func:`attention_layers`).
        heads: ``(layer index, head index)`` pairs; an empty list ablates nothing.
        mode: ``"zero"`` or ``"mean"``.
        means: for ``mode="mean"``, one ``(num_heads, d_head)`` tensor per layer
            (:func:`head_output_means`). Without it, each forward uses the mean of the head's output
            over the batch and positions of that same call.

    Example::

        with attnbook.ablate_heads(model, [(0, 1), (1, 3)]):
            logits = model(tokens)
    """
    if isinstance(layers, nn.Module):
        layers = attention_layers(layers)
    layers = list(layers)
    if not all(isinstance(layer, MultiHeadAttention) for layer in layers):
        raise ValueError("layers must be attnbook.MultiHeadAttention modules (or a model containing them)")
    if mode not in ("zero", "mean"):
        raise ValueError(f"mode must be 'zero' or 'mean'; got {mode!r}")
    chosen = _check_heads(layers, heads)
    if means is not None:
        if mode != "mean":
            raise ValueError("means are only used with mode='mean'")
        if len(means) != len(layers):
            raise ValueError(f"means needs one tensor per layer: got {len(means)} for {len(layers)} layers")
        for i, (mean, layer) in enumerate(zip(means, layers, strict=True)):
            if tuple(mean.shape) != (layer.num_heads, layer.d_head):
                raise ValueError(
                    f"means[{i}] must have shape (num_heads, d_head) = ({layer.num_heads}, {layer.d_head}); "
                    f"got {tuple(mean.shape)}"
                )
    handles = []
    try:
        for index, head_list in chosen.items():
            layer = layers[index]
            mean = None if means is None else means[index]
            handles.append(layer.out_proj.register_forward_pre_hook(_make_hook(layer, head_list, mode, mean)))
        yield
    finally:
        for handle in handles:
            handle.remove()


def _make_hook(layer: MultiHeadAttention, head_list: list[int], mode: str, mean: torch.Tensor | None) -> Callable:
    def hook(module, args):
        (merged,) = args  # (batch, n, heads * d_head): the input of out_proj
        per_head = merged.unflatten(-1, (layer.num_heads, layer.d_head)).clone()  # (batch, n, heads, d_head)
        if mode == "zero":
            per_head[..., head_list, :] = 0.0
        elif mean is not None:
            per_head[..., head_list, :] = mean[head_list].to(per_head)
        else:
            batch_mean = per_head[..., head_list, :].mean(dim=(0, 1), keepdim=True)  # (1, 1, len(heads), d_head)
            per_head[..., head_list, :] = batch_mean.expand_as(per_head[..., head_list, :])
        return (per_head.flatten(-2),)

    return hook


@torch.no_grad()
def head_output_means(model: nn.Module, run: Callable[[], object],
                      layers: Sequence[MultiHeadAttention] | None = None) -> list[torch.Tensor]:
    """Each head's output averaged over a reference run: one ``(num_heads, d_head)`` tensor per layer.

    ``run`` is a function without arguments that calls the model (e.g. ``lambda: model(tokens)``);
    the inputs of every ``out_proj`` it triggers are averaged over the batch and the positions.
    """
    layers = attention_layers(model) if layers is None else list(layers)
    sums: list[torch.Tensor | None] = [None] * len(layers)
    counts = [0] * len(layers)
    handles = []

    def make_recorder(i: int, layer: MultiHeadAttention):
        def record(module, args):
            per_head = args[0].unflatten(-1, (layer.num_heads, layer.d_head))  # (batch, n, heads, d_head)
            total = per_head.sum(dim=(0, 1)).float()  # (heads, d_head)
            sums[i] = total if sums[i] is None else sums[i] + total
            counts[i] += per_head.shape[0] * per_head.shape[1]

        return record

    try:
        for i, layer in enumerate(layers):
            handles.append(layer.out_proj.register_forward_pre_hook(make_recorder(i, layer)))
        run()
    finally:
        for handle in handles:
            handle.remove()
    if any(count == 0 for count in counts):
        raise ValueError("run() did not call every attention layer; nothing to average for some layers")
    return [total / count for total, count in zip(sums, counts, strict=True)]
