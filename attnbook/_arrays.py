"""Small helpers that let one function accept NumPy arrays and torch tensors.

Every public function of the package validates its input here, so a learner who passes the
wrong thing gets one ``ValueError`` that names the shapes or dtypes involved, instead of a
traceback from deep inside NumPy or PyTorch.
"""

from __future__ import annotations

import numpy as np
import torch


def is_torch(x) -> bool:
    return isinstance(x, torch.Tensor)


def as_float_array(x, name: str = "x"):
    """Return ``x`` as a floating-point NumPy array or torch tensor.

    Lists and integer arrays become float64 (NumPy) or the default float dtype (torch);
    booleans, complex numbers and objects are refused, because a softmax of them is a bug.
    """
    if is_torch(x):
        if x.dtype == torch.bool or x.is_complex():
            raise ValueError(f"{name} must hold real numbers; got a tensor of dtype {x.dtype}")
        if not x.is_floating_point():
            x = x.to(torch.get_default_dtype())
        return x
    array = np.asarray(x)
    if array.dtype == np.bool_ or array.dtype.kind not in "fiu":
        raise ValueError(f"{name} must hold real numbers; got an array of dtype {array.dtype}")
    if array.dtype.kind in "iu":
        array = array.astype(np.float64)
    return array


def check_axis(x, axis: int, name: str = "x") -> int:
    """Return ``axis`` as a non-negative index, or raise naming the shape when it is out of range."""
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis {axis} is out of range for {name} of shape {tuple(x.shape)}")
    return axis % x.ndim


def finite_or_zero(row_max):
    """``row_max`` with -inf (a fully masked slice) replaced by 0, so ``x - row_max`` is never NaN."""
    if is_torch(row_max):
        return torch.where(torch.isfinite(row_max), row_max, torch.zeros_like(row_max))
    return np.where(np.isfinite(row_max), row_max, 0).astype(row_max.dtype, copy=False)


def check_mask(mask, target_shape: tuple, target_name: str, like):
    """Check that ``mask`` is boolean and broadcasts to ``target_shape``; return it.

    The mask follows ``torch.nn.functional.scaled_dot_product_attention``: ``True`` marks a
    position that may take weight. It is converted to the same library as ``like``.
    """
    if is_torch(mask) != is_torch(like):
        mask_kind = "torch tensor" if is_torch(mask) else "NumPy array"
        like_kind = "torch tensor" if is_torch(like) else "NumPy array"
        raise ValueError(f"mask is a {mask_kind} but {target_name} is a {like_kind}; use one library")
    if not is_torch(mask):
        mask = np.asarray(mask)
    dtype_is_bool = mask.dtype == torch.bool if is_torch(mask) else mask.dtype == np.bool_
    if not dtype_is_bool:
        raise ValueError(
            f"mask must be boolean (True where attention is allowed); got dtype {mask.dtype}. "
            "An additive float mask (0 / -inf) is a different convention: convert it with mask == 0"
        )
    mask_shape = tuple(mask.shape)
    try:
        broadcast = np.broadcast_shapes(mask_shape, tuple(target_shape))
    except ValueError:
        broadcast = None
    if broadcast != tuple(target_shape):
        raise ValueError(
            f"mask of shape {mask_shape} does not broadcast to {target_name} of shape "
            f"{tuple(target_shape)}"
        )
    if is_torch(mask) and mask.device != like.device:
        mask = mask.to(like.device)
    return mask


def same_library(named_arrays: dict) -> bool:
    """Raise if the values mix NumPy arrays and torch tensors; return True for torch."""
    kinds = {name: is_torch(value) for name, value in named_arrays.items()}
    if len(set(kinds.values())) > 1:
        description = ", ".join(
            f"{name} is a {'torch tensor' if flag else 'NumPy array'}" for name, flag in kinds.items()
        )
        raise ValueError(f"inputs must all be NumPy arrays or all torch tensors: {description}")
    return next(iter(kinds.values()))
