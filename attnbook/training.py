"""A small training loop shared by the chapters: ``attnbook.train``.

It does what every training loop in the book needs and nothing more: AdamW, optional warmup
and cosine decay, gradient clipping, plain-text progress lines, evaluation every few steps with
optional early stopping, and a history of the losses. Deterministic for a given ``seed`` on a
given machine (the data order comes from a seeded CPU ``torch.Generator``).

Data come in one of two forms:

* a **batch function** ``batch_fn(generator) -> batch``, called once per step (e.g. random
  windows of a text); give ``steps``;
* a **dataset**: a tuple of tensors with the same first dimension (e.g. ``(sources, targets)``),
  shuffled each epoch and cut into batches of ``batch_size``; give ``epochs`` or ``steps``.

A batch is a tuple of tensors; ``loss_fn(model, batch)`` turns it into a scalar loss. The
default, ``cross_entropy_loss``, reads the batch as ``(inputs, targets)``.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["cross_entropy_loss", "evaluate_loss", "train"]

Batch = tuple[torch.Tensor, ...]


def cross_entropy_loss(model: nn.Module, batch: Batch, label_smoothing: float = 0.0,
                       ignore_index: int = -100) -> torch.Tensor:
    """Mean cross-entropy of ``model(inputs)`` against ``targets`` for a batch ``(inputs, targets)``.

    The model's output may be logits ``(..., classes)`` for targets ``(...)``, or a tuple whose
    first element is such logits (as ``attnbook.GPT`` returns ``(logits, loss)``).
    """
    if len(batch) != 2:
        raise ValueError(f"cross_entropy_loss expects a batch (inputs, targets); got {len(batch)} tensors")
    inputs, targets = batch
    logits = model(inputs)
    if isinstance(logits, tuple):
        logits = logits[0]
    if logits.shape[:-1] != targets.shape:
        raise ValueError(f"logits {tuple(logits.shape)} do not match targets {tuple(targets.shape)} (..., classes)")
    _check_labels(targets, logits.shape[-1], ignore_index)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                           label_smoothing=label_smoothing, ignore_index=ignore_index)


def _check_labels(targets: torch.Tensor, n_classes: int, ignore_index: int) -> None:
    """ValueError unless every target is a class index in [0, n_classes) or ``ignore_index``."""
    if targets.dtype.is_floating_point or targets.dtype == torch.bool:
        raise ValueError(f"targets must be integer class indices; got dtype {targets.dtype}")
    labels = targets[targets != ignore_index]
    if labels.numel() and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"targets must be class indices in 0..{n_classes - 1} (the model has {n_classes} "
                         f"outputs); got values from {labels.min().item()} to {labels.max().item()}")


@torch.no_grad()
def evaluate_loss(model: nn.Module, batches: Iterable[Batch], loss_fn: Callable = cross_entropy_loss,
                  device: torch.device | str | None = None) -> float:
    """The mean of ``loss_fn`` over ``batches``, weighted by batch size, in eval mode (no dropout)."""
    was_training = model.training
    model.eval()
    device = _model_device(model) if device is None else torch.device(device)
    total, count = 0.0, 0
    for batch in batches:
        batch = tuple(t.to(device) for t in batch)
        n = batch[0].shape[0]
        total += loss_fn(model, batch).item() * n
        count += n
    model.train(was_training)
    if count == 0:
        raise ValueError("evaluate_loss got no batches")
    return total / count


def _model_device(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def _check_dataset(data: tuple) -> int:
    """Number of examples in a dataset (a tuple of tensors with one first dimension)."""
    if len(data) == 0 or not all(isinstance(t, torch.Tensor) for t in data):
        raise ValueError(f"a dataset must be a non-empty tuple of tensors; got {type(data).__name__} of {len(data)}")
    sizes = [t.shape[0] if t.ndim else 0 for t in data]
    if len(set(sizes)) != 1:
        raise ValueError(f"the tensors of a dataset need the same first dimension; got shapes "
                         f"{[tuple(t.shape) for t in data]}")
    if sizes[0] == 0:
        raise ValueError(f"the dataset is empty: shapes {[tuple(t.shape) for t in data]}")
    return sizes[0]


def _dataset_batches(data: tuple, batch_size: int, generator: torch.Generator):
    """Endless stream of shuffled minibatches; a new permutation each epoch (last batch may be smaller)."""
    n = data[0].shape[0]
    while True:
        order = torch.randperm(n, generator=generator)  # (n,)
        for first in range(0, n, batch_size):
            index = order[first : first + batch_size]
            yield tuple(t[index] for t in data)


def _learning_rate(step: int, lr: float, warmup_steps: int, total_steps: int, schedule: str, min_lr: float) -> float:
    """Linear warmup over ``warmup_steps``, then constant or cosine decay to ``min_lr`` at the last step."""
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    if schedule == "constant":
        return lr
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps - 1)  # 0 .. 1
    return min_lr + 0.5 * (lr - min_lr) * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def train(
    model: nn.Module,
    data: Callable[[torch.Generator], Batch] | tuple[torch.Tensor, ...],
    *,
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int = 64,
    loss_fn: Callable[[nn.Module, Batch], torch.Tensor] = cross_entropy_loss,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.99),
    warmup_steps: int = 0,
    schedule: str = "constant",
    min_lr: float = 0.0,
    grad_clip: float | None = 1.0,
    eval_fn: Callable[[nn.Module], float] | None = None,
    eval_every: int = 100,
    mode: str = "min",
    patience: int | None = None,
    restore_best: bool = False,
    log_every: int | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> dict:
    """Train ``model`` with AdamW; return a history dict.

    Args:
        model: any ``nn.Module``; trained in place, left in eval mode.
        data: a batch function ``batch_fn(generator) -> tuple of tensors`` (needs ``steps``), or a
            dataset, a tuple of tensors with one first dimension (``epochs`` or ``steps``;
            shuffled each epoch, batches of ``batch_size``).
        steps / epochs: how long to train (``epochs`` only with a dataset; ``steps`` wins if both).
        loss_fn: ``loss_fn(model, batch) -> scalar tensor``; default ``cross_entropy_loss``.
        lr, weight_decay, betas: AdamW settings. ``warmup_steps``: linear warmup from 0.
            ``schedule``: ``"constant"`` or ``"cosine"`` (decay to ``min_lr`` at the last step).
        grad_clip: clip the global gradient norm to this value (None: no clipping).
        eval_fn: ``eval_fn(model) -> float`` (e.g. validation loss or accuracy), called in eval mode
            every ``eval_every`` steps and after the last step; ``mode`` says whether lower
            (``"min"``) or higher (``"max"``) is better.
        patience: stop early after this many evaluations in a row without improvement.
        restore_best: load the weights of the best evaluation at the end.
        log_every: print one plain-text line every this many steps (None: silent).
        seed: seeds ``torch.manual_seed`` (initial dropout state) and the data generator.
        device: where batches go; default the model's device.

    Returns:
        ``{"loss": [training loss of every step], "lr": [...], "eval_step": [...],
        "eval": [...], "best_eval": float | None, "best_step": int | None, "steps": int,
        "stopped_early": bool, "seconds": float}``
    """
    is_dataset = isinstance(data, tuple)
    if not is_dataset and not callable(data):
        raise ValueError(f"data must be a batch function or a tuple of tensors; got {type(data).__name__}")
    if steps is None and epochs is None:
        raise ValueError("give steps (or epochs, for a dataset)")
    if steps is not None and steps < 1:
        raise ValueError(f"steps must be positive; got {steps}")
    if steps is None and (epochs < 1 or not is_dataset):
        raise ValueError(f"epochs must be positive and needs a dataset; got epochs={epochs} with "
                         f"{'a dataset' if is_dataset else 'a batch function'}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive; got {batch_size}")
    if not lr > 0:
        raise ValueError(f"lr must be positive; got {lr}")
    if schedule not in ("constant", "cosine"):
        raise ValueError(f"schedule must be 'constant' or 'cosine'; got {schedule!r}")
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max'; got {mode!r}")
    if (patience is not None or restore_best) and eval_fn is None:
        raise ValueError("patience and restore_best need an eval_fn")
    if eval_every < 1 or (log_every is not None and log_every < 1):
        raise ValueError(f"eval_every and log_every must be positive; got {eval_every} and {log_every}")
    parameters = [p for p in model.parameters() if p.requires_grad]
    if not parameters:
        raise ValueError("the model has no trainable parameters")

    device = _model_device(model) if device is None else torch.device(device)
    generator = torch.Generator().manual_seed(seed)  # data order: CPU generator, same on every device
    torch.manual_seed(seed)  # dropout
    if is_dataset:
        n_examples = _check_dataset(data)
        steps = steps if steps is not None else epochs * math.ceil(n_examples / batch_size)
        stream = _dataset_batches(data, batch_size, generator)
        next_batch = lambda: next(stream)  # noqa: E731
    else:
        next_batch = lambda: data(generator)  # noqa: E731

    # the fused AdamW kernel (one call for all parameters) saves per-parameter overhead on small models
    fused = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in parameters) or None
    optimizer = torch.optim.AdamW(parameters, lr=lr, betas=betas, weight_decay=weight_decay, fused=fused)
    history = {"loss": [], "lr": [], "eval_step": [], "eval": [], "best_eval": None, "best_step": None,
               "steps": 0, "stopped_early": False, "seconds": 0.0}
    better = (lambda a, b: a < b) if mode == "min" else (lambda a, b: a > b)
    best_state, bad_evaluations, started = None, 0, time.perf_counter()

    model.train()
    for step in range(steps):
        current_lr = _learning_rate(step, lr, warmup_steps, steps, schedule, min_lr)
        for group in optimizer.param_groups:
            group["lr"] = current_lr
        batch = tuple(t.to(device) for t in next_batch())
        loss = loss_fn(model, batch)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"the training loss is {loss.item()} at step {step}; try a smaller lr")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(parameters, grad_clip)
        optimizer.step()
        history["loss"].append(loss.item())
        history["lr"].append(current_lr)
        history["steps"] = step + 1

        is_last = step + 1 == steps
        line = None
        if eval_fn is not None and ((step + 1) % eval_every == 0 or is_last):
            model.eval()
            value = float(eval_fn(model))
            model.train()
            history["eval_step"].append(step + 1)
            history["eval"].append(value)
            if history["best_eval"] is None or better(value, history["best_eval"]):
                history["best_eval"], history["best_step"], bad_evaluations = value, step + 1, 0
                if restore_best:
                    best_state = copy.deepcopy(model.state_dict())
            else:
                bad_evaluations += 1
            line = f"eval {value:.3f}"
            if patience is not None and bad_evaluations >= patience:
                history["stopped_early"] = True
        if log_every is not None and ((step + 1) % log_every == 0 or is_last or history["stopped_early"]):
            window = history["loss"][-log_every:]
            text = f"step {step + 1:5d}/{steps} | train loss {sum(window) / len(window):.3f}"
            print(text + (f" | {line}" if line else ""), flush=True)
        if history["stopped_early"]:
            if log_every is not None:
                print(f"stopped early: no improvement in {patience} evaluations", flush=True)
            break

    if restore_best and best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    history["seconds"] = time.perf_counter() - started
    return history
