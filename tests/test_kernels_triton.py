"""Unit tests for attnbook/kernels/triton_flash.py: the Triton FlashAttention kernels.

Without a GPU the kernels run in Triton's CPU interpreter (the package turns it on), which
executes every program with NumPy: sizes stay small and the blocks are 16 or 32 wide so that
ragged last blocks and several blocks per row are both exercised. GPU-only tests skip without
CUDA. One test compiles the kernels for an NVIDIA H100 (sm_90) without a GPU, which checks that
the CUDA path (the same kernel code) is valid Triton.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import attnbook
from attnbook.kernels import triton_flash

triton = pytest.importorskip("triton", reason="Triton has wheels for Linux only")
ROOT = Path(__file__).resolve().parents[1]
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def random_qkv(batch_shape, n_q, n_k, d, d_v, dtype, seed, device=DEVICE):
    generator = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(*shape, generator=generator).to(device=device, dtype=dtype).requires_grad_()
                 for shape in ((*batch_shape, n_q, d), (*batch_shape, n_k, d), (*batch_shape, n_k, d_v)))


def exact(q, k, v, causal):
    """float64 output, log-sum-exp and a function giving float64 gradients, for comparisons."""
    leaves = tuple(x.detach().double().requires_grad_() for x in (q, k, v))
    out = F.scaled_dot_product_attention(*leaves, is_causal=causal)
    scores = leaves[0] @ leaves[1].transpose(-2, -1) / math.sqrt(q.shape[-1])
    if causal:
        scores = scores.masked_fill(~torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool,
                                                device=q.device).tril(), -math.inf)
    return out, torch.logsumexp(scores, dim=-1).detach(), lambda g: torch.autograd.grad(out, leaves, g.double())


# (batch shape, n_q, n_k, d, d_v, causal, block size): ragged, n_q != n_k, d below 16 (padded lanes).
FP32_CASES = [
    ((2,), 37, 53, 16, 8, False, 16),
    ((1, 2), 45, 30, 8, 16, True, (16, 32)),
]


@pytest.mark.parametrize("case", FP32_CASES, ids=["non-causal", "causal"])
def test_float32_matches_sdpa_tightly_in_output_lse_and_gradients(case):
    batch_shape, n_q, n_k, d, d_v, causal, block_size = case
    q, k, v = random_qkv(batch_shape, n_q, n_k, d, d_v, torch.float32, seed=n_q)
    out, lse = attnbook.triton_flash_attention(q, k, v, causal=causal, block_size=block_size, return_lse=True)
    want_out, want_lse, want_grads = exact(q, k, v, causal)
    assert out.dtype == torch.float32 and lse.shape == (*batch_shape, n_q)
    torch.testing.assert_close(out.double(), want_out, atol=2e-6, rtol=1e-5)
    torch.testing.assert_close(lse.double(), want_lse, atol=2e-6, rtol=1e-5)
    grad_output = torch.randn(out.shape, generator=torch.Generator().manual_seed(1)).to(out.device)
    got = torch.autograd.grad(out, (q, k, v), grad_output)
    for g, w in zip(got, want_grads(grad_output), strict=True):
        torch.testing.assert_close(g.double(), w, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_is_as_accurate_as_sdpa_in_that_precision(dtype):
    q, k, v = random_qkv((2,), 40, 40, 16, 16, dtype, seed=2)
    out = attnbook.triton_flash_attention(q, k, v, causal=True, block_size=32)
    want_out, _, want_grads = exact(q, k, v, causal=True)
    sdpa_error = (F.scaled_dot_product_attention(q, k, v, is_causal=True).double() - want_out).abs().max()
    assert out.dtype == dtype
    assert (out.double() - want_out).abs().max() <= 2 * sdpa_error + 1e-3
    grad_output = torch.randn(out.shape, generator=torch.Generator().manual_seed(3)).to(out.device, dtype)
    tolerance = 6e-2 if dtype == torch.bfloat16 else 8e-3
    for g, w in zip(torch.autograd.grad(out, (q, k, v), grad_output), want_grads(grad_output), strict=True):
        assert g.dtype == dtype and (g.double() - w).abs().max() < tolerance


def test_equals_the_pytorch_flash_attention_with_broadcast_batch():
    generator = torch.Generator().manual_seed(4)
    q = torch.randn(2, 1, 20, 16, generator=generator).to(DEVICE)
    k = torch.randn(3, 25, 16, generator=generator).to(DEVICE)
    v = torch.randn(25, 16, generator=generator).to(DEVICE)
    got = attnbook.triton_flash_attention(q, k, v, causal=True, block_size=16)
    torch.testing.assert_close(got, attnbook.flash_attention(q, k, v, causal=True), atol=2e-6, rtol=1e-5)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"block_size": 24}, r"powers of two >= 16.*got block_size 24"),
    ({"block_size": 8}, r"powers of two >= 16.*got block_size 8"),
    ({"block_size": (16, 48)}, r"powers of two >= 16.*\(16, 48\)"),
    ({"q": torch.randn(4, 8, dtype=torch.float64)}, r"float16, bfloat16 and float32; got dtype torch.float64"),
    ({"q": torch.randn(4, 6)}, r"same head dimension d.*\(4, 6\).*\(5, 8\)"),
    ({"q": torch.randn(4, 512), "k": torch.randn(5, 512), "v": torch.randn(5, 512)}, r"up to 256.*\(4, 512\)"),
    ({"input_precision": "tf16"}, "input_precision must be 'ieee' or 'tf32'; got 'tf16'"),
    ({"causal": 1}, "causal must be True or False"),
])
def test_bad_input_raises_value_error_naming_it(kwargs, message):
    arguments = {"q": torch.randn(4, 8), "k": torch.randn(5, 8), "v": torch.randn(5, 8), **kwargs}
    if "q" in kwargs and kwargs["q"].dtype == torch.float64:
        arguments["k"], arguments["v"] = arguments["k"].double(), arguments["v"].double()
    with pytest.raises(ValueError, match=message):
        attnbook.triton_flash_attention(**arguments)


def test_missing_triton_gives_a_clear_import_error(monkeypatch):
    monkeypatch.setattr(triton_flash, "_kernels", None)
    monkeypatch.setitem(sys.modules, "triton", None)  # what `import triton` sees where it is not installed
    with pytest.raises(ImportError, match=r"Triton is not installed \(it has wheels only for Linux\); "
                                          r"use attnbook.flash_attention instead"):
        attnbook.triton_flash_attention(torch.randn(4, 8), torch.randn(5, 8), torch.randn(5, 8))


def run_python(code: str, env_changes: dict, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "TRITON_INTERPRET"}
    env.update(env_changes)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the choice made without a GPU")
def test_import_does_not_load_triton_but_switches_the_interpreter_on():
    done = run_python("""
        import os, sys
        import torch
        import attnbook
        print("triton imported by import attnbook:", "triton" in sys.modules)
        print("TRITON_INTERPRET after import:", os.environ.get("TRITON_INTERPRET"))
        q = torch.randn(20, 16)
        out = attnbook.triton_flash_attention(q, q, q, block_size=16)
        print("close:", torch.allclose(out, torch.nn.functional.scaled_dot_product_attention(q, q, q), atol=1e-5))
    """, {})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split("\n")[:3] == [
        "triton imported by import attnbook: False",
        "TRITON_INTERPRET after import: 1",
        "close: True",
    ]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the choice made without a GPU")
def test_user_setting_is_respected_and_cpu_tensors_need_the_interpreter():
    done = run_python("""
        import torch, attnbook
        try:
            attnbook.triton_flash_attention(torch.randn(4, 16), torch.randn(4, 16), torch.randn(4, 16))
        except ValueError as error:
            print(error)
    """, {"TRITON_INTERPRET": "0"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "compiled Triton kernels need CUDA tensors" in done.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the choice made without a GPU")
def test_triton_imported_too_early_gives_a_clear_error():
    done = run_python("""
        import triton, torch, attnbook
        try:
            attnbook.triton_flash_attention(torch.randn(4, 16), torch.randn(4, 16), torch.randn(4, 16))
        except RuntimeError as error:
            print(error)
    """, {})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Triton was imported while TRITON_INTERPRET was unset" in done.stdout
    assert "import attnbook" in done.stdout


def test_kernels_compile_for_an_h100_without_a_gpu():
    """Triton compiles the same kernels to GPU code (PTX and a cubin, through ptxas) for sm_90."""
    done = run_python("""
        import triton
        from triton.backends.compiler import GPUTarget
        from triton.compiler import ASTSource
        from attnbook.kernels import _triton_kernels as kernels
        sizes = {"n_q": "i32", "n_k": "i32", "head_dim": "i32", "value_dim": "i32", "scale": "fp32"}
        constants = {"CAUSAL": True, "BLOCK_M": 64, "BLOCK_N": 64, "BLOCK_D": 64, "BLOCK_DV": 64,
                     "INPUT_PRECISION": "ieee", "UPCAST_DOT": False}
        pointers = {
            kernels.flash_forward_kernel: ["Q", "K", "V", "Out", "Lse"],
            kernels.flash_backward_dkdv_kernel: ["Q", "K", "V", "GradOut", "Lse", "Delta", "GradK", "GradV"],
            kernels.flash_backward_dq_kernel: ["Q", "K", "V", "GradOut", "Lse", "Delta", "GradQ"],
        }
        for kernel, names in pointers.items():
            signature = {name: "*fp32" if name in ("Lse", "Delta") else "*bf16" for name in names}
            signature.update(sizes)
            signature.update({name: "constexpr" for name in constants})
            compiled = triton.compile(ASTSource(kernel, signature, constexprs=constants),
                                      target=GPUTarget("cuda", 90, 32), options={"num_warps": 4, "num_stages": 2})
            print(kernel.__name__, "mma" in compiled.asm["ptx"], len(compiled.asm["cubin"]) > 0)
    """, {"TRITON_INTERPRET": "0"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["flash_forward_kernel", "True", "True", "flash_backward_dkdv_kernel", "True", "True",
                                   "flash_backward_dq_kernel", "True", "True"]


@needs_cuda
@pytest.mark.parametrize("causal", [False, True])
def test_gpu_float32_ieee_is_tight_and_tf32_is_loose(causal):
    q, k, v = random_qkv((2, 4), 1000, 1100, 64, 64, torch.float32, seed=5, device="cuda")
    want_out, _, want_grads = exact(q, k, v, causal)
    out = attnbook.triton_flash_attention(q, k, v, causal=causal, input_precision="ieee")
    torch.testing.assert_close(out.double(), want_out, atol=1e-5, rtol=1e-4)
    grad_output = torch.randn_like(out)
    for g, w in zip(torch.autograd.grad(out, (q, k, v), grad_output), want_grads(grad_output), strict=True):
        torch.testing.assert_close(g.double(), w, atol=1e-4, rtol=1e-3)
    loose = attnbook.triton_flash_attention(q, k, v, causal=causal, input_precision="tf32")
    assert (loose.double() - want_out).abs().max() < 2e-2


@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_gpu_half_precision_at_a_real_size(dtype):
    q, k, v = random_qkv((2, 8), 2048, 2048, 128, 128, dtype, seed=6, device="cuda")
    out = attnbook.triton_flash_attention(q, k, v, causal=True)
    want_out, _, _ = exact(q, k, v, causal=True)
    sdpa_error = (F.scaled_dot_product_attention(q, k, v, is_causal=True).double() - want_out).abs().max()
    assert (out.double() - want_out).abs().max() <= 2 * sdpa_error + 1e-3
