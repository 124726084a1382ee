"""Tests of the benchmark code (attnbook/bench.py, benchmarks/attention_gpu.py): what is called and printed.

No timing is asserted: the benchmarks print figures, these tests only check that each measured
call computes attention and that the tables are put together correctly.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import attnbook
from attnbook import bench

ROOT = Path(__file__).resolve().parents[1]


def load_gpu_script():
    spec = importlib.util.spec_from_file_location("attention_gpu", ROOT / "benchmarks" / "attention_gpu.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("implementation", bench.IMPLEMENTATIONS)
def test_every_benchmarked_call_computes_attention(implementation):
    result = bench._make_call(implementation, 40, 8, seed=1)()
    reference_inputs = bench._make_call("F.sdpa", 40, 8, seed=1)()
    result = torch.as_tensor(result).reshape(40, 8)
    torch.testing.assert_close(result, torch.as_tensor(reference_inputs), atol=1e-5, rtol=1e-5)


def test_defaults_keep_chapter_two_small_and_the_script_adds_flash_and_16384():
    assert bench.DEFAULT_IMPLEMENTATIONS == ("numpy", "torch", "F.sdpa")
    assert set(bench.DEFAULT_IMPLEMENTATIONS) < set(bench.IMPLEMENTATIONS)
    assert {"flash", "F.sdpa4d"} <= set(bench.IMPLEMENTATIONS)
    assert 16384 in bench.SCRIPT_SIZES and 4096 in bench.SCRIPT_SIZES


def test_measure_here_reports_time_and_memory_for_flash():
    result = bench.measure_here("flash", 64, d=8, repeats=1)
    assert result["implementation"] == "flash" and result["n"] == 64
    assert result["median_ms"] > 0 and result["median_cpu_ms"] > 0 and result["peak_mib"] >= 0


RESULTS_4096 = [
    {"implementation": "flash", "n": 4096, "d": 64, "threads": 1, "median_ms": 60.0, "median_cpu_ms": 50.0,
     "peak_mib": 3.0},
    {"implementation": "F.sdpa4d", "n": 4096, "d": 64, "threads": 1, "median_ms": 40.0, "median_cpu_ms": 40.0,
     "peak_mib": 2.0},
]


def test_format_table_shows_ratio_and_missing_entries():
    results = [
        *RESULTS_4096,
        {"implementation": "flash", "n": 16384, "d": 64, "threads": 1, "median_ms": 900.0, "median_cpu_ms": 800.0,
         "peak_mib": 6.0},
    ]
    lines = bench.format_table(results).splitlines()
    row_4096 = next(line for line in lines if line.lstrip().startswith("4096"))
    row_16384 = next(line for line in lines if line.lstrip().startswith("16384"))
    assert "1.50x t" in row_4096 and "1.25x cpu" in row_4096 and "1.50x m" in row_4096
    assert row_16384.split()[-2:] == ["-", "-"]
    header = next(line for line in lines if line.split()[:2] == ["n", "scores"])
    assert header.split()[-1] == "flash/sdpa4d"


def test_gpu_flop_count():
    gpu = load_gpu_script()
    assert gpu.attention_flops(2, 3, 100, 64, causal=False, mode="fwd") == 4 * 2 * 3 * 100**2 * 64
    assert gpu.attention_flops(2, 3, 100, 64, causal=True, mode="fwd") == 2 * 2 * 3 * 100**2 * 64
    assert gpu.attention_flops(1, 1, 10, 8, causal=False, mode="fwd+bwd") == 3.5 * 4 * 100 * 8


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the behaviour without a GPU")
def test_gpu_benchmark_without_cuda_prints_one_line_and_exits_zero(capsys):
    assert load_gpu_script().main([]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1 and "no CUDA GPU" in printed[0]


def test_gpu_benchmark_code_runs_on_cpu_for_a_tiny_case(capsys):
    gpu = load_gpu_script()
    arguments = ["--device", "cpu", "--tokens", "32", "--hidden", "16", "--sizes", "16", "--head-dims", "16",
                 "--dtypes", "fp32", "--implementations", "sdpa-flash", "naive", "--repeats", "1", "--causal", "yes"]
    assert gpu.main(arguments) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4  # device, header, one row per mode
    assert lines[1].split()[:5] == ["dtype", "d", "causal", "mode", "n"]
    assert lines[2].split()[:6] == ["fp32", "16", "True", "fwd", "16", "2x1"]
    q = torch.randn(1, 1, 16, 16, requires_grad=True)
    gpu.make_call("naive", q, q, q, causal=True, mode="fwd+bwd")()  # forward and backward run
    naive = attnbook.scaled_dot_product_attention(q, q, q, mask=attnbook.causal_mask(16, device="cpu"))
    torch.testing.assert_close(naive, F.scaled_dot_product_attention(q, q, q, is_causal=True))


def test_measure_ratio_here_times_two_implementations_side_by_side():
    result = bench.measure_ratio_here("flash", "F.sdpa4d", 64, d=8, repeats=3)
    assert (result["numerator"], result["denominator"], result["n"], result["pairs"]) == ("flash", "F.sdpa4d", 64, 3)
    assert result["wall_ratio"] > 0 and result["cpu_ratio"] > 0
    with pytest.raises(ValueError, match="unknown implementation 'flesh'"):
        bench.measure_ratio("flesh", "F.sdpa4d", 64)


def test_format_table_prefers_the_side_by_side_ratio():
    results = RESULTS_4096
    ratios = [{"numerator": "flash", "denominator": "F.sdpa4d", "n": 4096, "pairs": 7, "wall_ratio": 1.1,
               "cpu_ratio": 1.05}]
    row = next(line for line in bench.format_table(results, ratios).splitlines() if line.lstrip().startswith("4096"))
    assert "1.10x t" in row and "1.05x cpu" in row and "1.50x m" in row
