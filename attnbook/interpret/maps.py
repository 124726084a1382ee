"""Reading attention maps: rollout across layers, gradient x input, and the entropy of attention rows.

Shapes: per-layer attention weights are ``(batch, heads, n, n)`` (rows = queries, each row a
probability distribution over the keys), as ``attnbook.GPT(..., return_weights=True)`` and
``MultiHeadAttention(..., need_weights=True)`` return them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

__all__ = ["attention_entropy", "attention_rollout", "gradient_x_input"]


def _as_tensor(x, name: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    try:
        return torch.as_tensor(x)
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(f"{name} must be a tensor or array; got {type(x).__name__}") from error


def attention_rollout(weights_per_layer: Sequence[torch.Tensor], add_residual: bool = True) -> torch.Tensor:
    """Attention rollout (Abnar & Zuidema 2020): how much each top-layer token draws on each input token.

    For every layer ``l`` (first to last): average the heads, ``A_l = mean_h W_l`` (n, n); with
    ``add_residual`` add the identity for the residual connection, ``A_l + I``; renormalise each
    row to sum to 1 (so ``A_l + I`` becomes ``(A_l + I) / 2`` when the rows of ``A_l`` sum to 1).
    Then multiply: ``rollout = A_L @ ... @ A_2 @ A_1`` (the last layer on the left). Row ``i`` of
    the result is a distribution over the input tokens that output token ``i`` "rolls out" to.

    Args:
        weights_per_layer: one tensor per layer, first layer first, each ``(batch, heads, n, n)``
            or ``(heads, n, n)`` (all the same shape, square in the last two axes).
        add_residual: add the identity before renormalising (the paper's method). Without it the
            product of raw attention maps ignores the residual stream, which in most Transformers
            carries most of a token's own information.

    Returns:
        ``(batch, n, n)`` (or ``(n, n)`` for unbatched input) float tensor; rows sum to 1 (rows
        with no weight at all, e.g. fully masked queries without the residual, stay 0).
    """
    if isinstance(weights_per_layer, torch.Tensor) or len(weights_per_layer) == 0:
        raise ValueError("weights_per_layer must be a non-empty list of per-layer weight tensors (batch, heads, n, n)")
    layers = [_as_tensor(w, f"weights_per_layer[{i}]") for i, w in enumerate(weights_per_layer)]
    first = layers[0]
    for i, w in enumerate(layers):
        if w.ndim not in (3, 4) or w.shape[-1] != w.shape[-2]:
            raise ValueError(
                f"weights_per_layer[{i}] must have shape (batch, heads, n, n) or (heads, n, n); got {tuple(w.shape)}"
            )
        if w.shape != first.shape:
            raise ValueError(
                f"every layer needs the same shape: layer 0 has {tuple(first.shape)}, layer {i} has {tuple(w.shape)}"
            )
    dtype = first.dtype if first.is_floating_point() else torch.float32
    n = first.shape[-1]
    identity = torch.eye(n, dtype=dtype, device=first.device)  # (n, n)
    rollout = None
    for w in layers:
        averaged = w.to(dtype).mean(dim=-3)  # (batch, n, n): heads averaged
        if add_residual:
            averaged = averaged + identity
        totals = averaged.sum(dim=-1, keepdim=True)  # (batch, n, 1)
        averaged = averaged / torch.where(totals == 0, torch.ones_like(totals), totals)
        rollout = averaged if rollout is None else averaged @ rollout  # later layer on the left
    return rollout


def gradient_x_input(
    forward_fn: Callable[[torch.Tensor], torch.Tensor],
    embeddings: torch.Tensor,
    target: torch.Tensor | None = None,
    reduce: str = "sum",
) -> torch.Tensor:
    """Gradient x input attribution of each input token (Shrikumar et al. 2017), on embedded inputs.

    The score of token ``t`` is ``sum_d  x[t, d] * d output / d x[t, d]``: the first-order Taylor
    estimate of how much the output would change if that token's embedding were set to zero.

    Args:
        forward_fn: maps embeddings ``(batch, n, d)`` to outputs ``(batch, classes)`` (logits) or
            ``(batch,)`` (one score per example). It is called once, with gradients enabled.
        embeddings: ``(batch, n, d)`` float tensor, the model's input after the embedding layer
            (not modified; a detached copy that requires grad is used).
        target: ``(batch,)`` integer class per example, whose logit is explained; required when
            the outputs have a class axis, ignored for ``(batch,)`` outputs.
        reduce: ``"sum"`` (signed sum over the features, the usual definition) or ``"norm"`` (the
            L2 norm of ``grad * input`` over the features, unsigned).

    Returns:
        ``(batch, n)`` attribution scores (detached).
    """
    if not isinstance(embeddings, torch.Tensor) or embeddings.ndim != 3 or not embeddings.is_floating_point():
        shape = tuple(embeddings.shape) if isinstance(embeddings, torch.Tensor) else type(embeddings).__name__
        raise ValueError(
            f"embeddings must be a float tensor (batch, n, d); got {shape} of dtype {getattr(embeddings, 'dtype', None)}"
        )
    if reduce not in ("sum", "norm"):
        raise ValueError(f"reduce must be 'sum' or 'norm'; got {reduce!r}")
    batch = embeddings.shape[0]
    inputs = embeddings.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        outputs = forward_fn(inputs)
        if isinstance(outputs, tuple):
            outputs = outputs[0]
        if outputs.ndim == 2 and outputs.shape[0] == batch:
            if target is None:
                raise ValueError(f"outputs of shape {tuple(outputs.shape)} have a class axis: give target (batch,)")
            target = torch.as_tensor(target, device=outputs.device)
            if target.shape != (batch,) or target.is_floating_point():
                raise ValueError(f"target must be integer of shape ({batch},); got {tuple(target.shape)} {target.dtype}")
            if target.numel() and (target.min() < 0 or target.max() >= outputs.shape[1]):
                raise ValueError(f"target classes must be in 0..{outputs.shape[1] - 1}; got {target.tolist()}")
            scores = outputs.gather(1, target[:, None]).squeeze(1)  # (batch,)
        elif outputs.ndim == 1 and outputs.shape[0] == batch:
            scores = outputs
        else:
            raise ValueError(
                f"forward_fn must return (batch, classes) or (batch,) with batch={batch}; got {tuple(outputs.shape)}"
            )
        (gradient,) = torch.autograd.grad(scores.sum(), inputs)  # (batch, n, d): examples are independent
    products = gradient * inputs.detach()  # (batch, n, d)
    return products.sum(dim=-1) if reduce == "sum" else products.norm(dim=-1)


def attention_entropy(weights: torch.Tensor, atol: float = 1e-3) -> torch.Tensor:
    """Entropy ``-sum_j w_j log w_j`` (nats) of each attention row; ``0 log 0 = 0``.

    Args:
        weights: ``(..., n_keys)`` non-negative float tensor whose last axis holds distributions
            (rows summing to 1; an all-zero row, a fully masked query, gets entropy 0).
        atol: tolerance for the row sums.

    Returns:
        ``(...)``: one entropy per row, between 0 (all weight on one key) and ``log n_keys``
        (uniform). For reference, a uniform row over ``k`` keys has entropy ``log k``.
    """
    weights = _as_tensor(weights, "weights")
    if weights.ndim < 1 or not weights.is_floating_point() or weights.shape[-1] == 0:
        raise ValueError(
            f"weights must be a float tensor (..., n_keys) with n_keys >= 1; got shape {tuple(weights.shape)} "
            f"and dtype {weights.dtype}"
        )
    if weights.numel() and weights.min() < 0:
        raise ValueError(f"attention weights must be non-negative; the smallest is {weights.min().item():.3g}")
    totals = weights.sum(dim=-1)  # (...)
    bad = ~((totals - 1).abs() <= atol) & ~(totals == 0)
    if bad.any():
        raise ValueError(
            f"each row of weights (last axis) must sum to 1 (or be all zero); {int(bad.sum())} rows do not, "
            f"e.g. one sums to {totals[bad][0].item():.4f}"
        )
    logs = torch.where(weights > 0, weights.log(), torch.zeros_like(weights))
    return -(weights * logs).sum(dim=-1)
