"""Input checks shared by the kernels of chapter 6: one ``ValueError`` that names shapes and dtypes."""

from __future__ import annotations

import numpy as np
import torch

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def check_attention_inputs(q, k, v, function: str) -> tuple:
    """Validate torch ``q (..., n_q, d)``, ``k (..., n_k, d)``, ``v (..., n_k, d_v)``.

    Returns the broadcast batch shape ``...``. Raises ``ValueError`` naming the offending shapes,
    dtypes or devices.
    """
    named = {"q": q, "k": k, "v": v}
    for name, x in named.items():
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"{function}: {name} must be a torch tensor; got {type(x).__name__}")
        if x.ndim < 2:
            raise ValueError(f"{function}: {name} must have shape (..., n, d); got shape {tuple(x.shape)}")
        if x.dtype not in FLOAT_DTYPES:
            raise ValueError(f"{function}: {name} must be float16, bfloat16, float32 or float64; got dtype {x.dtype}")
    dtypes = {name: x.dtype for name, x in named.items()}
    if len(set(dtypes.values())) > 1:
        raise ValueError(f"{function}: q, k and v must share one dtype; got {dtypes}")
    devices = {name: str(x.device) for name, x in named.items()}
    if len(set(devices.values())) > 1:
        raise ValueError(f"{function}: q, k and v must be on one device; got {devices}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"{function}: q and k need the same head dimension d: got q {tuple(q.shape)} and k {tuple(k.shape)}"
        )
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"{function}: k and v need the same number of keys n_k: got k {tuple(k.shape)} and v {tuple(v.shape)}"
        )
    if k.shape[-2] == 0:
        raise ValueError(f"{function}: need at least one key; got k {tuple(k.shape)}")
    try:
        return tuple(np.broadcast_shapes(*(tuple(x.shape[:-2]) for x in named.values())))
    except ValueError:
        shapes = ", ".join(f"{name} {tuple(x.shape)}" for name, x in named.items())
        raise ValueError(f"{function}: the leading (batch) dimensions do not broadcast: {shapes}") from None


def check_scale(scale, d: int, function: str) -> float:
    """``1 / sqrt(d)`` when ``scale`` is None, else ``scale`` as a positive finite float."""
    if scale is None:
        return float(d) ** -0.5
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"{function}: scale must be a positive finite number or None; got {scale!r}")
    return float(scale)


def check_causal(causal, function: str) -> bool:
    if not isinstance(causal, bool | np.bool_):
        raise ValueError(f"{function}: causal must be True or False; got {causal!r}")
    return bool(causal)


def check_positive_int(value, name: str, function: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{function}: {name} must be a positive integer; got {value!r}")
    return int(value)
