"""Synthetic time series for forecasting (chapter 5, section 4): seasonalities, noise, a regime change.

``make_seasonal_series`` draws one long series, for example hourly data with a daily (24) and a
weekly (168) cycle:

    clean[t]  = level + trend * t + sum_k amplitude_k * sin(2 pi t / period_k + phase_k)
    values[t] = clean[t] + noise_std * standard normal noise

From ``change_point`` on, the **regime changes**: the level jumps by ``change_shift`` and the
first seasonality's amplitude is multiplied by ``change_scale``. A model fitted before the change
has never seen the new regime, which is the point of the test.

``make_forecast_windows`` cuts (context, horizon) pairs from a series. Give ``start``/``end`` to
keep every *target* inside one chronological segment, so training windows never contain a test
target (data leakage). Shapes:

    values, clean      (n_steps,)                     float32
    inputs             (n_windows, context_length)    float32, values[s : s + context_length]
    targets            (n_windows, horizon)           float32, the next ``horizon`` values
    target_start       (n_windows,)                   int64, index of each window's first target
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch

__all__ = ["SeasonalSeries", "make_forecast_windows", "make_seasonal_series"]


class SeasonalSeries(NamedTuple):
    """``values`` and ``clean`` (n_steps,) float32, the ``change_point`` index and the ``periods``."""

    values: torch.Tensor
    clean: torch.Tensor
    change_point: int
    periods: tuple[int, ...]


def make_seasonal_series(n_steps: int = 2016, periods: Sequence[int] = (24, 168),
                         amplitudes: Sequence[float] = (1.0, 0.5), noise_std: float = 0.2, level: float = 0.0,
                         trend: float = 0.0, change_point: int | None = None, change_shift: float = 1.0,
                         change_scale: float = 1.5, seed: int = 0) -> SeasonalSeries:
    """One seeded series of ``n_steps`` values (module docstring for the formula).

    Args:
        n_steps: length of the series.
        periods, amplitudes: one sine per period (in steps, at least 2), with its amplitude; the
            phases are drawn uniformly from the seed.
        noise_std: standard deviation of the Gaussian noise added to ``clean``.
        level, trend: constant offset and slope per step.
        change_point: first step of the new regime (default: 80% of the way); ``n_steps`` means
            no change.
        change_shift, change_scale: the new regime's level jump and first-amplitude factor.
        seed: the same seed gives the same series on every machine.
    """
    periods, amplitudes = tuple(int(p) for p in periods), tuple(float(a) for a in amplitudes)
    if n_steps < 2:
        raise ValueError(f"n_steps must be at least 2; got {n_steps}")
    if len(periods) == 0 or len(periods) != len(amplitudes):
        raise ValueError(f"need one amplitude per period, at least one; got {len(periods)} periods and "
                         f"{len(amplitudes)} amplitudes")
    if min(periods) < 2:
        raise ValueError(f"periods must be at least 2 steps; got {periods}")
    if noise_std < 0:
        raise ValueError(f"noise_std must be non-negative; got {noise_std}")
    change_point = int(0.8 * n_steps) if change_point is None else change_point
    if not 0 <= change_point <= n_steps:
        raise ValueError(f"change_point must be in 0..{n_steps}; got {change_point}")
    rng = np.random.default_rng(seed)
    t = np.arange(n_steps, dtype=np.float64)  # (n_steps,)
    phases = rng.uniform(0.0, 2 * math.pi, size=len(periods))
    after = t >= change_point  # (n_steps,) bool: the new regime
    clean = level + trend * t + np.where(after, change_shift, 0.0)
    for k, (period, amplitude, phase) in enumerate(zip(periods, amplitudes, phases, strict=True)):
        scale = np.where(after, change_scale, 1.0) if k == 0 else 1.0
        clean = clean + scale * amplitude * np.sin(2 * math.pi * t / period + phase)
    values = clean + noise_std * rng.standard_normal(n_steps)
    return SeasonalSeries(torch.tensor(values, dtype=torch.float32), torch.tensor(clean, dtype=torch.float32),
                          change_point, periods)


def make_forecast_windows(values: torch.Tensor, context_length: int, horizon: int = 1, stride: int = 1,
                          start: int | None = None, end: int | None = None
                          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sliding (context, target) windows of a 1-D series, with every target inside ``start .. end - 1``.

    A window whose first target is at index ``s`` has inputs ``values[s - context_length : s]``
    and targets ``values[s : s + horizon]``. Targets lie in ``[start, end)`` (default: the whole
    series); contexts may reach back before ``start`` (the past is known at forecast time).
    Consecutive windows are ``stride`` steps apart. Returns ``(inputs, targets, target_start)``.
    """
    if not isinstance(values, torch.Tensor) or values.ndim != 1 or not values.is_floating_point():
        raise ValueError(f"values must be a 1-D float tensor (n_steps,); got "
                         f"{tuple(getattr(values, 'shape', ()))} {getattr(values, 'dtype', type(values).__name__)}")
    if context_length < 1 or horizon < 1 or stride < 1:
        raise ValueError(f"context_length, horizon and stride must be positive; got {context_length}, {horizon}, {stride}")
    n = values.shape[0]
    start = context_length if start is None else start
    end = n if end is None else end
    if not 0 <= start <= end <= n:
        raise ValueError(f"need 0 <= start <= end <= n_steps={n}; got start={start}, end={end}")
    first = max(start, context_length)  # the first target index with a full context
    last = end - horizon  # the last target index a window may start at
    if last < first:
        raise ValueError(f"no window fits: targets in [{start}, {end}) with context_length={context_length}, "
                         f"horizon={horizon} in a series of {n} steps")
    starts = torch.arange(first, last + 1, stride)  # (n_windows,)
    context_index = starts[:, None] + torch.arange(-context_length, 0)[None, :]  # (n_windows, context_length)
    target_index = starts[:, None] + torch.arange(horizon)[None, :]  # (n_windows, horizon)
    return values[context_index], values[target_index], starts
