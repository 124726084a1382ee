"""FlashAttention as fused Triton kernels, wrapped in an autograd Function.

The kernels (:mod:`attnbook.kernels._triton_kernels`) do in one GPU program what
:func:`attnbook.flash_attention` does with many PyTorch calls: a program loads one block of
queries into fast on-chip memory, streams the key/value blocks past it with the online softmax,
and writes the output block and its log-sum-exp once. The backward runs two kernels (one program
per key block for ``dK, dV``, one per query block for ``dQ``) that recompute the weights from the
log-sum-exp; ``D = rowsum(dO * O)`` is one PyTorch line.

Where the kernels run:

* with a CUDA GPU: compiled by Triton for the GPU (tensors must be on it);
* without one: in Triton's interpreter, which runs each program with NumPy on the CPU. Slow (use
  small sizes) but the same kernel code, so the notebook and the tests check it anywhere.

The interpreter is chosen by the environment variable ``TRITON_INTERPRET=1``, which Triton reads
when a ``@triton.jit`` function is *created*, and Triton creates its own (``tl.zeros`` and the
rest of its standard library) when ``import triton`` runs. So the variable must be set before
Triton is imported at all. This module sets it when it is imported (that is, by ``import
attnbook``), only when there is no CUDA device and the variable is not set already; the kernels
and Triton itself are imported later, on the first call. Setting the variable yourself to ``0``
or ``1`` beforehand overrides the choice. If Triton was imported before the variable was set, the
call raises a RuntimeError that says so (restart Python and import ``attnbook`` first).

Triton has wheels for Linux (x86-64 and aarch64) only; elsewhere the call raises an ImportError
that says so, and :func:`attnbook.flash_attention` (PyTorch) is the portable equivalent. Importing
this module (and ``attnbook``) never imports Triton.
"""

from __future__ import annotations

import importlib
import math
import os

import torch

from ._checks import check_attention_inputs, check_causal, check_scale

TRITON_MISSING = "Triton is not installed (it has wheels only for Linux); use attnbook.flash_attention instead"
TRITON_DTYPES = (torch.float16, torch.bfloat16, torch.float32)
MAX_HEAD_DIM = 256
DEFAULT_BLOCK = 64  # queries per program (BLOCK_M) and keys per step (BLOCK_N), unless a GPU rule applies

_kernels = None


def configure_interpreter() -> bool:
    """Set ``TRITON_INTERPRET=1`` if there is no CUDA device and the variable is unset; return whether it is on."""
    if "TRITON_INTERPRET" not in os.environ and not torch.cuda.is_available():
        os.environ["TRITON_INTERPRET"] = "1"
    return interpreter_enabled()


def interpreter_enabled() -> bool:
    """True when ``TRITON_INTERPRET`` asks for Triton's CPU interpreter."""
    return os.environ.get("TRITON_INTERPRET", "0").strip().lower() not in ("", "0", "false", "off", "no")


def load_kernels():
    """Import the kernel module once. ImportError without Triton; RuntimeError if Triton was set up otherwise."""
    global _kernels
    if _kernels is None:
        wanted = configure_interpreter()
        try:
            import triton.language as tl
        except ImportError as error:
            raise ImportError(TRITON_MISSING) from error
        library_interpreted = type(tl.zeros).__name__ == "InterpretedFunction"
        if library_interpreted != wanted:
            raise RuntimeError(
                f"Triton was imported while TRITON_INTERPRET was {'unset' if wanted else 'set'}, and its "
                f"interpreter setting is fixed at import; now TRITON_INTERPRET={os.environ.get('TRITON_INTERPRET')!r}. "
                "Restart Python and import attnbook (or set TRITON_INTERPRET) before anything imports triton.")
        _kernels = importlib.import_module("attnbook.kernels._triton_kernels")
    return _kernels


configure_interpreter()  # before anything imports triton: see the module docstring


def _is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def _block_sizes(block_size, function: str):
    """``(block_m, block_n)`` from the user's ``block_size``, or None for the default rule."""
    if block_size is None:
        return None
    sizes = tuple(block_size) if isinstance(block_size, tuple | list) else (block_size, block_size)
    if len(sizes) != 2:
        raise ValueError(f"{function}: block_size must be an int or a pair (block_m, block_n); got {block_size!r}")
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, int) or size < 16 or not _is_power_of_two(size):
            raise ValueError(f"{function}: Triton block sizes must be powers of two >= 16 (tl.arange and tl.dot "
                             f"need them); got block_size {block_size!r}")
    return sizes


def _next_power_of_two(n: int) -> int:
    return max(16, 1 << (n - 1).bit_length())


def launch_configs(dtype: torch.dtype, head_dim: int, block_sizes, interpreting: bool) -> tuple[dict, dict]:
    """Block sizes, warps and pipeline stages of the forward and of the backward kernels.

    Given ``block_sizes`` are used for both. Otherwise: in the interpreter 64 x 64 (warps and
    stages mean nothing there); on a GPU a fixed rule, no autotuning: for float16/bfloat16 the
    forward takes 128 queries per program (the configuration of Triton's fused-attention tutorial
    for NVIDIA GPUs), float32 (which cannot use half-precision tensor cores) and the backward
    (which holds more tiles per program) take 64 x 64.
    """
    small = {"BLOCK_M": DEFAULT_BLOCK, "BLOCK_N": DEFAULT_BLOCK, "num_warps": 4, "num_stages": 2}
    if block_sizes is not None:
        chosen = {**small, "BLOCK_M": block_sizes[0], "BLOCK_N": block_sizes[1]}
        return chosen, chosen
    if interpreting or dtype == torch.float32:
        return small, small
    forward = {"BLOCK_M": 128, "BLOCK_N": 64, "num_warps": 4 if head_dim <= 64 else 8, "num_stages": 3}
    return forward, small


class TritonFlashAttentionFunction(torch.autograd.Function):
    """``(out, lse) = apply(q, k, v, causal, scale, block_sizes, input_precision)`` on contiguous 3-D tensors."""

    @staticmethod
    def forward(ctx, q, k, v, causal, scale, block_sizes, input_precision):
        kernels = load_kernels()
        heads, n_q, d = q.shape
        n_k, d_v = k.shape[1], v.shape[2]
        out = torch.empty(heads, n_q, d_v, dtype=q.dtype, device=q.device)
        lse = torch.empty(heads, n_q, dtype=torch.float32, device=q.device)
        interpreting = interpreter_enabled()
        forward_config, backward_config = launch_configs(q.dtype, max(d, d_v), block_sizes, interpreting)
        settings = {"CAUSAL": causal, "BLOCK_D": _next_power_of_two(d), "BLOCK_DV": _next_power_of_two(d_v),
                    "INPUT_PRECISION": input_precision, "UPCAST_DOT": interpreting}
        if n_q > 0:
            grid = (math.ceil(n_q / forward_config["BLOCK_M"]), heads)  # one program per (query block, batch-head)
            kernels.flash_forward_kernel[grid](q, k, v, out, lse, n_q, n_k, d, d_v, scale, **settings,
                                               **forward_config)
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.settings = (scale, settings, backward_config)
        return out, lse

    @staticmethod
    def backward(ctx, grad_out, grad_lse):
        kernels = load_kernels()
        q, k, v, out, lse = ctx.saved_tensors
        scale, settings, config = ctx.settings
        heads, n_q, d = q.shape
        n_k, d_v = k.shape[1], v.shape[2]
        grad_out = grad_out.contiguous()
        delta = (grad_out.float() * out.float()).sum(dim=-1)  # D = rowsum(dO * O), (heads, n_q), float32
        if grad_lse is not None:  # d lse_i / d s_ij = p_ij: fold it into D
            delta = delta - grad_lse.float()
        grad_q, grad_k, grad_v = torch.zeros_like(q), torch.zeros_like(k), torch.zeros_like(v)
        if n_q > 0:
            arguments = (q, k, v, grad_out, lse, delta.contiguous())
            sizes = (n_q, n_k, d, d_v, scale)
            grid_keys = (math.ceil(n_k / config["BLOCK_N"]), heads)  # one program per key block
            kernels.flash_backward_dkdv_kernel[grid_keys](*arguments, grad_k, grad_v, *sizes, **settings, **config)
            grid_queries = (math.ceil(n_q / config["BLOCK_M"]), heads)  # one program per query block
            kernels.flash_backward_dq_kernel[grid_queries](*arguments, grad_q, *sizes, **settings, **config)
        return grad_q, grad_k, grad_v, None, None, None, None


def triton_flash_attention(q, k, v, causal: bool = False, block_size=None, scale=None,
                           input_precision: str = "ieee", return_lse: bool = False):
    """FlashAttention with Triton kernels, forward and backward; equal to ``F.scaled_dot_product_attention``.

    Args:
        q: ``(..., n_q, d)``; k: ``(..., n_k, d)``; v: ``(..., n_k, d_v)``; leading dimensions
            broadcast; float16, bfloat16 or float32; ``d, d_v <= 256``. On the GPU when there is
            one (else in Triton's CPU interpreter: small sizes only, it is slow).
        causal: query ``i`` sees keys ``0..i`` (top-left aligned, as ``is_causal=True``).
        block_size: queries per program and keys per step: ``None`` (the rule of
            :func:`launch_configs`), an int or a pair ``(block_m, block_n)``; powers of two >= 16.
            Lengths need not be multiples.
        scale: factor on the scores, default ``1 / sqrt(d)``.
        input_precision: for float32 inputs on an NVIDIA GPU, ``"ieee"`` (true float32 products,
            the default) or ``"tf32"`` (TensorFloat-32 tensor cores: faster, about 3 correct
            decimal digits per product). Ignored for float16/bfloat16 and in the interpreter.
        return_lse: also return the log-sum-exp of each query's scores ``(..., n_q)`` (float32).

    Raises:
        ValueError: naming shapes, dtypes, devices or block sizes that are not supported.
        ImportError: when Triton is not installed (macOS, Windows).
    """
    function = "triton_flash_attention"
    batch_shape = check_attention_inputs(q, k, v, function)
    if q.dtype not in TRITON_DTYPES:
        raise ValueError(f"{function}: supports float16, bfloat16 and float32; got dtype {q.dtype} "
                         "(attnbook.flash_attention handles float64)")
    if max(q.shape[-1], v.shape[-1]) > MAX_HEAD_DIM:
        raise ValueError(f"{function}: head dimensions up to {MAX_HEAD_DIM} are supported; got q "
                         f"{tuple(q.shape)} and v {tuple(v.shape)}")
    causal = check_causal(causal, function)
    scale = check_scale(scale, q.shape[-1], function)
    block_sizes = _block_sizes(block_size, function)
    if input_precision not in ("ieee", "tf32"):
        raise ValueError(f"{function}: input_precision must be 'ieee' or 'tf32'; got {input_precision!r}")
    load_kernels()
    if q.device.type != "cuda" and not interpreter_enabled():
        raise ValueError(f"{function}: the tensors are on {q.device}; compiled Triton kernels need CUDA tensors "
                         "(without a GPU, leave TRITON_INTERPRET unset or set it to 1 to use the interpreter)")
    batch = math.prod(batch_shape)
    q3, k3, v3 = (x.expand(*batch_shape, *x.shape[-2:]).reshape(batch, *x.shape[-2:]).contiguous()
                  for x in (q, k, v))
    out, lse = TritonFlashAttentionFunction.apply(q3, k3, v3, causal, scale, block_sizes, input_precision)
    out = out.reshape(*batch_shape, q.shape[-2], v.shape[-1])
    return (out, lse.reshape(*batch_shape, q.shape[-2])) if return_lse else out
