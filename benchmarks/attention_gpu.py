"""GPU attention benchmark: TFLOP/s of the book's Triton kernel, PyTorch's flash backend and naive PyTorch.

Usage: python benchmarks/attention_gpu.py [--sizes 512 1024 ... 16384] [--head-dims 64 128]
                                          [--dtypes fp16 bf16] [--modes fwd fwd+bwd] [--causal both]

Without a CUDA GPU it prints one line saying so and exits 0 (``--device cpu --tokens 64 --hidden 64
--sizes 32 64`` runs the same code in Triton's CPU interpreter, only to check the script itself:
its numbers mean nothing).

Implementations, on tensors of shape (batch, heads, n, d):

* ``triton``: :func:`attnbook.triton_flash_attention` (chapter 6),
* ``sdpa-flash``: ``F.scaled_dot_product_attention`` restricted to its FlashAttention backend
  (``torch.nn.attention.sdpa_kernel(SDPBackend.FLASH_ATTENTION)``),
* ``naive``: :func:`attnbook.scaled_dot_product_attention` on torch tensors (holds the
  ``n x n`` scores; ``OOM`` when they do not fit).

Shapes follow the FlashAttention-2 paper's benchmark: ``batch * n = tokens`` (16384) and
``heads * d = hidden`` (2048). FLOPs: the forward does ``4 * batch * heads * n**2 * d`` (two matrix
products of ``2 n**2 d``), half of that with a causal mask; forward + backward counts 3.5 times the
forward (the backward has five matrix products, four for the gradients and one that recomputes
the scores, against the forward's two). Time: median of CUDA-event timings after warm-up. The script prints what it
measured and claims nothing else; the book states a target (>= 0.8x of ``sdpa-flash`` at n = 4096,
d = 128, bf16 on an H100 or H200) that only a run on such a GPU can check.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

IMPLEMENTATIONS = ("triton", "sdpa-flash", "naive")
DTYPES = {"fp16": "float16", "bf16": "bfloat16", "fp32": "float32"}


def attention_flops(batch: int, heads: int, n: int, d: int, causal: bool, mode: str) -> float:
    """FLOPs of one call: ``4 b h n^2 d`` forward (halved when causal), times 3.5 for forward + backward."""
    forward = 4.0 * batch * heads * n * n * d / (2 if causal else 1)
    return forward * (3.5 if mode == "fwd+bwd" else 1.0)


def _timer(device):
    import torch

    if device.type == "cuda":
        def elapsed_ms(fn):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            return start.elapsed_time(end)
    else:
        def elapsed_ms(fn):
            start = time.perf_counter()
            fn()
            return 1000 * (time.perf_counter() - start)
    return elapsed_ms


def make_call(implementation: str, q, k, v, causal: bool, mode: str):
    """A zero-argument function running one forward (and backward) of ``implementation``."""
    import torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    import attnbook

    if implementation == "triton":
        def attend():
            return attnbook.triton_flash_attention(q, k, v, causal=causal)
    elif implementation == "sdpa-flash":
        def attend():
            with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    elif implementation == "naive":
        mask = attnbook.causal_mask(q.shape[-2], k.shape[-2], device=q.device) if causal else None

        def attend():
            return attnbook.scaled_dot_product_attention(q, k, v, mask=mask)
    else:
        raise ValueError(f"unknown implementation {implementation!r}; choose from {IMPLEMENTATIONS}")
    if mode == "fwd":
        def call():
            with torch.no_grad():
                attend()
        return call
    grad = torch.randn(q.shape[:-1] + v.shape[-1:], dtype=q.dtype, device=q.device)

    def call():
        torch.autograd.grad(attend(), (q, k, v), grad)
    return call


def measure(implementation: str, q, k, v, causal: bool, mode: str, repeats: int) -> float | None:
    """Median milliseconds per call, or None when the GPU runs out of memory."""
    import torch

    elapsed_ms = _timer(q.device)
    try:
        call = make_call(implementation, q, k, v, causal, mode)
        for _ in range(2):  # warm-up: Triton compiles, cuDNN/cuBLAS pick kernels
            call()
        if q.device.type == "cuda":
            torch.cuda.synchronize()
        return statistics.median(elapsed_ms(call) for _ in range(repeats))
    except torch.cuda.OutOfMemoryError:
        return None
    finally:
        if q.device.type == "cuda":
            torch.cuda.empty_cache()


def run(args) -> list[dict]:
    import torch

    device = torch.device(args.device)
    rows = []
    for dtype_name in args.dtypes:
        dtype = getattr(torch, DTYPES[dtype_name])
        for d in args.head_dims:
            heads = max(1, args.hidden // d)
            for causal in {"both": (False, True), "yes": (True,), "no": (False,)}[args.causal]:
                for n in args.sizes:
                    batch = max(1, args.tokens // n)
                    generator = torch.Generator(device=device).manual_seed(0)
                    q, k, v = (torch.randn(batch, heads, n, d, dtype=dtype, device=device, generator=generator)
                               .requires_grad_() for _ in range(3))
                    for mode in args.modes:
                        flops = attention_flops(batch, heads, n, d, causal, mode)
                        row = {"dtype": dtype_name, "d": d, "causal": causal, "mode": mode, "n": n,
                               "batch": batch, "heads": heads}
                        for implementation in args.implementations:
                            ms = measure(implementation, q, k, v, causal, mode, args.repeats)
                            row[implementation] = None if ms is None else flops / (ms * 1e-3) / 1e12
                        rows.append(row)
                        print(format_row(row, args.implementations), flush=True)
    return rows


def format_header(implementations) -> str:
    header = f"{'dtype':>5} {'d':>4} {'causal':>6} {'mode':>7} {'n':>6} {'b x h':>8}"
    header += "".join(f" {name + ' TFLOP/s':>19}" for name in implementations)
    if "triton" in implementations and "sdpa-flash" in implementations:
        header += f" {'triton/sdpa-flash':>18}"
    return header


def format_row(row: dict, implementations) -> str:
    text = (f"{row['dtype']:>5} {row['d']:>4} {str(row['causal']):>6} {row['mode']:>7} {row['n']:>6} "
            f"{str(row['batch']) + 'x' + str(row['heads']):>8}")
    for name in implementations:
        value = row.get(name)
        text += f" {'OOM':>19}" if value is None else f" {value:>19.1f}"
    if "triton" in implementations and "sdpa-flash" in implementations:
        ours, theirs = row.get("triton"), row.get("sdpa-flash")
        text += f" {ours / theirs:>17.2f}x" if ours and theirs else f" {'-':>18}"
    return text


def check_agreement(device, dtype_name: str) -> str:
    """Largest difference between the Triton kernel and F.sdpa on one small case (printed first)."""
    import torch
    import torch.nn.functional as F

    import attnbook

    dtype = getattr(torch, DTYPES[dtype_name])
    generator = torch.Generator(device=device).manual_seed(0)
    q, k, v = (torch.randn(2, 4, 200, 64, dtype=dtype, device=device, generator=generator) for _ in range(3))
    error = (attnbook.triton_flash_attention(q, k, v, causal=True).float()
             - F.scaled_dot_product_attention(q, k, v, is_causal=True).float()).abs().max().item()
    return f"check: max |triton - F.sdpa| = {error:.1e} ({dtype_name}, causal, n = 200, d = 64)"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="GPU attention benchmark (TFLOP/s): Triton kernel, "
                                                 "F.sdpa flash backend, naive PyTorch")
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048, 4096, 8192, 16384])
    parser.add_argument("--head-dims", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--dtypes", nargs="+", default=["fp16", "bf16"], choices=sorted(DTYPES))
    parser.add_argument("--modes", nargs="+", default=["fwd", "fwd+bwd"], choices=["fwd", "fwd+bwd"])
    parser.add_argument("--causal", default="both", choices=["both", "yes", "no"])
    parser.add_argument("--implementations", nargs="+", default=list(IMPLEMENTATIONS), choices=IMPLEMENTATIONS)
    parser.add_argument("--tokens", type=int, default=16384, help="batch * n (batch = tokens // n)")
    parser.add_argument("--hidden", type=int, default=2048, help="heads * d (heads = hidden // d)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"],
                        help="cpu: run the script in Triton's interpreter to check it (numbers mean nothing)")
    args = parser.parse_args(argv)

    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("attention_gpu.py: no CUDA GPU available, nothing measured (run it on a machine with an NVIDIA GPU)")
        return 0
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (Triton interpreter; not a measurement)"
    print(f"device: {name}; torch {torch.__version__}; shapes: batch * n = {args.tokens}, heads * d = {args.hidden}")
    if "triton" in args.implementations:
        print(check_agreement(device, args.dtypes[0]))
    print(format_header(args.implementations))
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
