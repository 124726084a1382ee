"""Scaled dot-product attention and the two masks every model needs (padding and causal).

Shapes follow ``torch.nn.functional.scaled_dot_product_attention``:

    queries (..., n_queries, d)     keys (..., n_keys, d)     values (..., n_keys, d_v)
    mask    broadcasts to (..., n_queries, n_keys), boolean, True = may attend
    output  (..., n_queries, d_v)
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ._arrays import check_mask, same_library
from .softmax import softmax


def _describe(name: str, x) -> str:
    return f"{name} {tuple(x.shape)}"


def _check_qkv(queries, keys, values) -> tuple:
    """Validate the three inputs; return the broadcast batch shape ``...``."""
    use_torch = same_library({"queries": queries, "keys": keys, "values": values})
    named = {"queries": queries, "keys": keys, "values": values}
    for name, x in named.items():
        if x.ndim < 2:
            raise ValueError(f"{name} must have shape (..., n, d); got shape {tuple(x.shape)}")
        is_float = x.is_floating_point() if use_torch else x.dtype.kind == "f"
        if not is_float:
            raise ValueError(f"{name} must be floating point; got dtype {x.dtype}")
    dtypes = {name: x.dtype for name, x in named.items()}
    if len(set(dtypes.values())) > 1:
        raise ValueError(f"queries, keys and values must share one dtype; got {dtypes}")
    if queries.shape[-1] != keys.shape[-1]:
        raise ValueError(
            f"queries and keys need the same feature size d: got {_describe('queries', queries)} "
            f"and {_describe('keys', keys)}"
        )
    if keys.shape[-2] != values.shape[-2]:
        raise ValueError(
            f"keys and values need the same number of items n_keys: got {_describe('keys', keys)} "
            f"and {_describe('values', values)}"
        )
    batch_shapes = [tuple(x.shape[:-2]) for x in named.values()]
    try:
        return np.broadcast_shapes(*batch_shapes)
    except ValueError:
        shapes = ", ".join(_describe(name, x) for name, x in named.items())
        raise ValueError(f"the leading (batch) dimensions do not broadcast: {shapes}") from None


def scaled_dot_product_attention(queries, keys, values, mask=None, scale=None, return_weights=False):
    """Attention output ``softmax(Q K^T * scale, masked) V`` for NumPy arrays or torch tensors.

    Args:
        queries: (..., n_queries, d)
        keys: (..., n_keys, d)
        values: (..., n_keys, d_v)
        mask: optional boolean, True where query i may attend to key j; broadcasts to
            (..., n_queries, n_keys). A query with no allowed key gets zero weights and a
            zero output, as PyTorch's own function does.
        scale: factor applied to the scores; default ``1 / sqrt(d)``.
        return_weights: also return the attention weights (..., n_queries, n_keys).

    Raises:
        ValueError: naming the shapes or dtypes, when the inputs do not fit together.
    """
    batch_shape = _check_qkv(queries, keys, values)
    d = queries.shape[-1]
    scale = 1.0 / math.sqrt(d) if scale is None else scale
    if isinstance(queries, torch.Tensor):
        scores = queries @ keys.transpose(-2, -1) * scale  # (..., n_queries, n_keys)
    else:
        scores = queries @ np.swapaxes(keys, -2, -1) * scale  # (..., n_queries, n_keys)
    scores_shape = (*batch_shape, queries.shape[-2], keys.shape[-2])
    if mask is not None:
        mask = check_mask(mask, scores_shape, "the scores (..., n_queries, n_keys)", like=queries)
    weights = softmax(scores, axis=-1, mask=mask)  # (..., n_queries, n_keys)
    output = weights @ values  # (..., n_queries, d_v)
    return (output, weights) if return_weights else output


def causal_mask(n_queries: int, n_keys: int | None = None, device=None):
    """Boolean (n_queries, n_keys) mask, True on and below the diagonal: query i sees keys 0..i.

    Aligned at the top left, like ``is_causal=True`` in PyTorch. Returns a NumPy array unless
    ``device`` is given, in which case a torch tensor on that device.
    """
    n_keys = n_queries if n_keys is None else n_keys
    if device is not None:
        return torch.ones(n_queries, n_keys, dtype=torch.bool, device=device).tril()
    return np.tril(np.ones((n_queries, n_keys), dtype=bool))


def padding_mask(valid_lengths, n_keys: int):
    """Boolean (batch, 1, n_keys) mask, True for the first ``valid_lengths[b]`` keys of item b.

    The middle axis of size 1 broadcasts over the queries. ``valid_lengths`` may be a list,
    a NumPy array or a torch tensor; the mask comes back in the same library.
    """
    if not isinstance(valid_lengths, torch.Tensor):
        valid_lengths = np.asarray(valid_lengths)
    if valid_lengths.ndim != 1:
        raise ValueError(
            f"valid_lengths must be 1-D (one length per batch item); got shape {tuple(valid_lengths.shape)}"
        )
    if isinstance(valid_lengths, torch.Tensor):
        positions = torch.arange(n_keys, device=valid_lengths.device)  # (n_keys,)
        return (positions[None, :] < valid_lengths[:, None])[:, None, :]
    positions = np.arange(n_keys)  # (n_keys,)
    return (positions[None, :] < valid_lengths[:, None])[:, None, :]
