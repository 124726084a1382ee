"""Cheaper attention: a sliding-window mask and linear attention with its recurrent form.

Sliding window (local) attention lets each query see only nearby keys, as in Longformer
(Beltagy et al. 2020, arXiv:2004.05150). :func:`sliding_window_mask` builds the boolean mask
(True = may attend) for any attention function; ``attnbook.flash_attention(..., window=w)``
computes the same attention while skipping the tiles outside the band, so its cost grows like
``n * w``.

Linear attention (Katharopoulos et al. 2020, "Transformers are RNNs", arXiv:2006.16236) replaces
``exp(q . k)`` by ``phi(q) . phi(k)`` with a positive feature map ``phi(x) = elu(x) + 1``. Then

    out_i = phi(q_i)^T S / (phi(q_i)^T z),   S = sum_j phi(k_j) v_j^T  (d x d_v),   z = sum_j phi(k_j)  (d,)

and the sums over keys are computed once, in ``O(n d d_v)`` instead of ``O(n^2 d)``. With a causal
mask ``S`` and ``z`` become running sums over ``j <= i``: an RNN whose state is ``(S, z)``
(:func:`linear_attention_recurrent`). :func:`linear_attention` computes the causal case in chunks:
inside a chunk of ``chunk_size`` positions the masked quadratic form, across chunks the running
state; all three agree to rounding.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ._checks import check_attention_inputs, check_causal, check_positive_int

FEATURE_MAPS = ("elu+1",)


def sliding_window_mask(n_queries: int, n_keys: int | None = None, window: int = 1, causal: bool = True,
                        device=None):
    """Boolean ``(n_queries, n_keys)`` mask of local attention, True = may attend.

    Query ``i`` may attend key ``j`` when their distance is below ``window``:

    * ``causal=True``: ``0 <= i - j < window``, the ``window`` most recent keys including key ``i``
      (as in Mistral-style sliding windows);
    * ``causal=False``: ``|i - j| < window``, up to ``2 * window - 1`` keys centred on ``i``.

    Positions are aligned at the top left, like :func:`attnbook.causal_mask` (query ``i`` and key
    ``i`` are the same position). ``window >= n_keys`` with ``causal=True`` gives the causal mask.
    Returns a NumPy array unless ``device`` is given, then a torch tensor on that device.

    Raises:
        ValueError: for a size or window that is not a positive integer.
    """
    function = "sliding_window_mask"
    n_keys = n_queries if n_keys is None else n_keys
    n_queries = check_positive_int(n_queries, "n_queries", function)
    n_keys = check_positive_int(n_keys, "n_keys", function)
    window = check_positive_int(window, "window", function)
    causal = check_causal(causal, function)
    distance = np.arange(n_queries)[:, None] - np.arange(n_keys)[None, :]  # (n_queries, n_keys): i - j
    allowed = (distance >= 0) & (distance < window) if causal else np.abs(distance) < window
    return torch.from_numpy(allowed).to(device) if device is not None else allowed


def elu_plus_one(x: torch.Tensor) -> torch.Tensor:
    """The feature map of Katharopoulos et al. (2020): ``elu(x) + 1``, positive everywhere."""
    return F.elu(x) + 1


def _feature_map(feature_map, function: str):
    if callable(feature_map):
        return feature_map
    if feature_map == "elu+1":
        return elu_plus_one
    raise ValueError(f"{function}: feature_map must be one of {FEATURE_MAPS} or a callable; got {feature_map!r}")


def _prepare(q, k, v, causal, feature_map, function):
    """Checks shared by both forms; returns ``phi(q), phi(k), v`` in the computation dtype."""
    check_attention_inputs(q, k, v, function)
    causal = check_causal(causal, function)
    if causal and q.shape[-2] != k.shape[-2]:
        raise ValueError(f"{function}: causal linear attention needs as many queries as keys; "
                         f"got q {tuple(q.shape)} and k {tuple(k.shape)}")
    phi = _feature_map(feature_map, function)
    compute = torch.float32 if q.dtype in (torch.float16, torch.bfloat16) else q.dtype
    return phi(q.to(compute)), phi(k.to(compute)), v.to(compute), causal


def linear_attention(q, k, v, causal: bool = False, feature_map="elu+1", chunk_size: int = 64, eps: float = 1e-6):
    """Linear attention ``phi(Q) (phi(K)^T V) / (phi(Q) phi(K)^T 1 + eps)`` (Katharopoulos et al. 2020).

    Args:
        q: ``(..., n_q, d)``; k: ``(..., n_k, d)``; v: ``(..., n_k, d_v)``; leading dimensions broadcast.
        causal: query ``i`` uses keys ``0..i`` only (needs ``n_q == n_k``).
        feature_map: ``"elu+1"`` or a callable applied to ``q`` and ``k`` (it must return
            positive values for the denominator to stay positive).
        chunk_size: positions per chunk of the causal computation (memory ``~ n * chunk_size``).
        eps: added to the denominator.

    Returns:
        ``(..., n_q, d_v)`` in the input dtype (half precision is computed in float32).

    Raises:
        ValueError: naming shapes or dtypes that do not fit, an unknown feature map, or a causal
            call with ``n_q != n_k``.
    """
    function = "linear_attention"
    chunk_size = check_positive_int(chunk_size, "chunk_size", function)
    phi_q, phi_k, values, causal = _prepare(q, k, v, causal, feature_map, function)
    if not causal:
        state = phi_k.transpose(-2, -1) @ values  # (..., d, d_v): sum_j phi(k_j) v_j^T
        normaliser = phi_k.sum(dim=-2)  # (..., d): sum_j phi(k_j)
        numerator = phi_q @ state  # (..., n_q, d_v)
        denominator = (phi_q @ normaliser.unsqueeze(-1))  # (..., n_q, 1)
        return (numerator / (denominator + eps)).to(q.dtype)
    return _causal_chunked(phi_q, phi_k, values, chunk_size, eps).to(q.dtype)


def _causal_chunked(phi_q, phi_k, values, chunk_size: int, eps: float):
    """Causal linear attention, chunk by chunk: masked quadratic form inside, running state across."""
    n = phi_q.shape[-2]
    chunks = -(-n // chunk_size)
    pad = chunks * chunk_size - n  # padded positions come after every real query: the mask hides them

    def split(x):  # (..., n, c) -> (..., chunks, chunk_size, c)
        x = F.pad(x, (0, 0, 0, pad))
        return x.reshape(*x.shape[:-2], chunks, chunk_size, x.shape[-1])

    phi_q, phi_k, values = split(phi_q), split(phi_k), split(values)
    chunk_state = phi_k.transpose(-2, -1) @ values  # (..., chunks, d, d_v): this chunk's sum of phi(k) v^T
    chunk_normaliser = phi_k.sum(dim=-2)  # (..., chunks, d)
    state_before = chunk_state.cumsum(dim=-3) - chunk_state  # sums over all *earlier* chunks
    normaliser_before = chunk_normaliser.cumsum(dim=-2) - chunk_normaliser
    causal = torch.ones(chunk_size, chunk_size, dtype=torch.bool, device=phi_q.device).tril()
    within = (phi_q @ phi_k.transpose(-2, -1)) * causal  # (..., chunks, chunk, chunk): masked phi(q) . phi(k)
    numerator = phi_q @ state_before + within @ values  # (..., chunks, chunk, d_v)
    denominator = (phi_q @ normaliser_before.unsqueeze(-1)) + within.sum(dim=-1, keepdim=True)
    out = numerator / (denominator + eps)
    out = out.reshape(*out.shape[:-3], chunks * chunk_size, out.shape[-1])
    return out[..., :n, :]


def linear_attention_recurrent(q, k, v, feature_map="elu+1", eps: float = 1e-6):
    """Causal linear attention as an RNN: one position at a time, with the state ``(S, z)``.

    ``S_i = S_{i-1} + phi(k_i) v_i^T`` (``(..., d, d_v)``), ``z_i = z_{i-1} + phi(k_i)`` (``(..., d)``),
    ``out_i = phi(q_i)^T S_i / (phi(q_i)^T z_i + eps)``. The state has a fixed size whatever the
    length: generation costs ``O(d d_v)`` per token. Equal to
    ``linear_attention(q, k, v, causal=True)``; needs ``n_q == n_k``.
    """
    function = "linear_attention_recurrent"
    phi_q, phi_k, values, _ = _prepare(q, k, v, True, feature_map, function)
    batch_shape = torch.broadcast_shapes(phi_q.shape[:-2], phi_k.shape[:-2], values.shape[:-2])
    state = torch.zeros(*batch_shape, phi_k.shape[-1], values.shape[-1], dtype=phi_q.dtype, device=phi_q.device)
    normaliser = torch.zeros(*batch_shape, phi_k.shape[-1], dtype=phi_q.dtype, device=phi_q.device)
    outputs = []
    for i in range(phi_q.shape[-2]):
        state = state + phi_k[..., i, :, None] * values[..., i, None, :]  # += phi(k_i) v_i^T
        normaliser = normaliser + phi_k[..., i, :]
        numerator = (phi_q[..., i, :, None] * state).sum(dim=-2)  # (..., d_v)
        denominator = (phi_q[..., i, :] * normaliser).sum(dim=-1, keepdim=True)  # (..., 1)
        outputs.append(numerator / (denominator + eps))
    return torch.stack(outputs, dim=-2).to(q.dtype)
