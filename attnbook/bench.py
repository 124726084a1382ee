"""CPU benchmark of attention implementations: time and peak memory, side by side.

Implementations (self-attention, ``n_queries = n_keys = n``, one batch item, float32):

* ``numpy``: :func:`attnbook.scaled_dot_product_attention` on NumPy arrays,
* ``torch``: the same function on torch tensors,
* ``F.sdpa``: ``torch.nn.functional.scaled_dot_product_attention`` on inputs of shape ``(n, d)``;
  for inputs that are not 4-D PyTorch's CPU dispatch takes its *math* backend, which holds
  ``n x n`` matrices like the two above,
* ``flash``: :func:`attnbook.flash_attention` (chapter 6), the book's tiled FlashAttention in
  PyTorch, on the same ``(n, d)`` inputs,
* ``F.sdpa4d``: ``F.scaled_dot_product_attention`` on ``(1, 1, n, d)`` inputs (batch, heads),
  which PyTorch runs with its fused flash-attention CPU kernel: the fair target for ``flash``.

The first three are the default of :func:`run_benchmark` (chapter 2); ``python
benchmarks/attention_cpu.py`` runs all five.

Each (implementation, n) runs in a fresh Python subprocess so its memory is measured alone:

* time: median wall time of ``repeats`` calls, after one warm-up call;
* peak memory: growth of the process's peak resident set size during the first call at size n,
  after inputs are made and a warm-up at n = 16: peak RSS after the call minus RSS before it. It
  counts every allocation (NumPy, PyTorch's CPU allocator, BLAS buffers), which ``tracemalloc``
  would not: tracemalloc sees NumPy but not PyTorch. It includes the output (n x d_v floats).
  On Linux the peak is ``VmHWM`` from ``/proc/self/status``, reset just before the call by
  writing 5 to ``/proc/self/clear_refs``. (``resource.getrusage().ru_maxrss`` is not used there:
  Linux carries it over from the parent across ``exec``, so a child of a big process such as a
  Jupyter kernel would report no growth.) Elsewhere ``ru_maxrss`` growth is the fallback.

The ratio column ``flash/sdpa4d`` times the two side by side instead: one more fresh process
per n makes both calls and then alternates them, ``flash, sdpa4d, flash, sdpa4d, ...``, and reports
the median of the per-pair ratios. On a shared or throttling machine the speed drifts by 10-30 %
between processes a minute apart; alternating calls sees the same drift in both, so the ratio
is far steadier than the ratio of two separate medians.

``python benchmarks/attention_cpu.py`` (or ``make benchmark``) prints the full table; the
chapter calls :func:`run_benchmark` with fewer sizes.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time

IMPLEMENTATIONS = ("numpy", "torch", "F.sdpa", "flash", "F.sdpa4d")
DEFAULT_IMPLEMENTATIONS = ("numpy", "torch", "F.sdpa")  # what chapter 2 compares
DEFAULT_SIZES = (256, 512, 1024, 2048, 4096)
SCRIPT_SIZES = (*DEFAULT_SIZES, 16384)  # the script adds n = 16384 (one n x n float32 matrix: 1 GiB)
LARGE_N = 8192  # from this size on, the timed repeats are capped at LARGE_N_REPEATS
LARGE_N_REPEATS = 2
LARGE_N_PAIRS = 5  # side-by-side pairs at n >= LARGE_N (about 2 s per pair at 16384)


def _make_call(implementation: str, n: int, d: int, seed: int = 0):
    """Inputs of shape (n, d) and a zero-argument function computing attention on them."""
    import numpy as np
    import torch

    import attnbook

    rng = np.random.default_rng(seed)
    queries, keys, values = (rng.standard_normal((n, d), dtype=np.float32) for _ in range(3))
    if implementation == "numpy":
        return lambda: attnbook.scaled_dot_product_attention(queries, keys, values)
    q, k, v = (torch.from_numpy(x) for x in (queries, keys, values))
    if implementation == "torch":
        return lambda: attnbook.scaled_dot_product_attention(q, k, v)
    if implementation == "F.sdpa":
        return lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v)
    if implementation == "flash":
        return lambda: attnbook.flash_attention(q, k, v)
    if implementation == "F.sdpa4d":
        q4, k4, v4 = (x[None, None] for x in (q, k, v))  # (1, 1, n, d): batch and head axes
        return lambda: torch.nn.functional.scaled_dot_product_attention(q4, k4, v4)
    raise ValueError(f"unknown implementation {implementation!r}; choose from {IMPLEMENTATIONS}")


def _status_bytes(field: str) -> int | None:
    """``VmRSS`` or ``VmHWM`` of this process from /proc/self/status (Linux), in bytes."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024  # the value is in kB
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    """Reset this process's peak RSS to its current RSS (Linux >= 4.0); False if unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return _status_bytes("VmHWM") is not None


def _ru_maxrss_bytes() -> int:
    # ru_maxrss is in KiB on Linux and in bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def peak_memory_growth(call) -> int:
    """Bytes by which the peak RSS during ``call()`` exceeds the RSS just before it."""
    if _reset_peak_rss():
        before = _status_bytes("VmRSS")
        call()
        return _status_bytes("VmHWM") - before
    before = _ru_maxrss_bytes()
    call()
    return _ru_maxrss_bytes() - before


def median_seconds(call, repeats: int, warmup: int = 0) -> tuple[float, float]:
    """Median wall-clock and median CPU seconds (this process) of ``call()``, after ``warmup`` calls.

    On a busy machine wall time includes waiting for a core; CPU time does not.
    """
    for _ in range(warmup):
        call()
    wall, cpu = [], []
    for _ in range(repeats):
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        call()
        wall.append(time.perf_counter() - wall_start)
        cpu.append(time.process_time() - cpu_start)
    return statistics.median(wall), statistics.median(cpu)


def measure_here(implementation: str, n: int, d: int = 64, repeats: int = 5, threads: int = 1) -> dict:
    """Measure one (implementation, n) in this process. Use :func:`measure` for a fresh one.

    From ``n = LARGE_N`` on, at most ``LARGE_N_REPEATS`` timed calls (each takes seconds there).
    """
    import torch

    if n >= LARGE_N:
        repeats = min(repeats, LARGE_N_REPEATS)
    torch.set_num_threads(threads)
    with torch.no_grad():
        _make_call(implementation, 16, d)()  # load kernels and thread pools at a tiny size
        call = _make_call(implementation, n, d)
        peak_growth = peak_memory_growth(call)  # also the warm-up call at size n
        wall, cpu = median_seconds(call, repeats)
    return {"implementation": implementation, "n": n, "d": d, "threads": threads,
            "median_ms": 1000 * wall, "median_cpu_ms": 1000 * cpu, "peak_mib": peak_growth / 2**20}


def measure_ratio_here(numerator: str, denominator: str, n: int, d: int = 64, repeats: int = 7,
                       threads: int = 1) -> dict:
    """Time two implementations side by side in this process: the median of per-pair time ratios.

    After a warm-up call of each, the calls alternate ``repeats`` times (numerator first); each
    pair gives one wall-time ratio and one CPU-time ratio. From ``n = LARGE_N`` on, at most
    ``LARGE_N_PAIRS`` pairs.
    """
    import torch

    if n >= LARGE_N:
        repeats = min(repeats, LARGE_N_PAIRS)
    torch.set_num_threads(threads)
    wall_ratios, cpu_ratios = [], []
    with torch.no_grad():
        calls = {name: _make_call(name, n, d) for name in (numerator, denominator)}
        for call in calls.values():
            call()  # warm-up at size n
        for _ in range(repeats):
            seconds = {name: median_seconds(call, repeats=1) for name, call in calls.items()}  # (wall, cpu)
            wall_ratios.append(seconds[numerator][0] / seconds[denominator][0])
            cpu_ratios.append(seconds[numerator][1] / max(seconds[denominator][1], 1e-9))
    return {"numerator": numerator, "denominator": denominator, "n": n, "pairs": repeats,
            "wall_ratio": statistics.median(wall_ratios), "cpu_ratio": statistics.median(cpu_ratios)}


def _run_fresh(code: str, threads: int, what: str) -> dict:
    """Run ``code`` (which prints one JSON line) in a fresh Python with BLAS and OpenMP at ``threads``."""
    env = dict(os.environ)
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[variable] = str(threads)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark of {what} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _check_implementation(implementation: str) -> None:
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"unknown implementation {implementation!r}; choose from {IMPLEMENTATIONS}")


def measure(implementation: str, n: int, d: int = 64, repeats: int = 5, threads: int = 1) -> dict:
    """Run :func:`measure_here` in a fresh subprocess (BLAS and OpenMP limited to ``threads``)."""
    _check_implementation(implementation)
    code = ("import json, attnbook.bench as b; "
            f"print(json.dumps(b.measure_here({implementation!r}, {n}, {d}, {repeats}, {threads})))")
    return _run_fresh(code, threads, f"{implementation} at n={n}")


def measure_ratio(numerator: str, denominator: str, n: int, d: int = 64, repeats: int = 7, threads: int = 1) -> dict:
    """Run :func:`measure_ratio_here` in a fresh subprocess (BLAS and OpenMP limited to ``threads``)."""
    _check_implementation(numerator)
    _check_implementation(denominator)
    code = ("import json, attnbook.bench as b; print(json.dumps(b.measure_ratio_here("
            f"{numerator!r}, {denominator!r}, {n}, {d}, {repeats}, {threads})))")
    return _run_fresh(code, threads, f"{numerator}/{denominator} at n={n}")


def run_benchmark(sizes=DEFAULT_SIZES, d: int = 64, repeats: int = 5, threads: int = 1,
                  implementations=DEFAULT_IMPLEMENTATIONS) -> list[dict]:
    """Measure every implementation at every size; one fresh subprocess per measurement."""
    return [measure(impl, n, d, repeats, threads) for n in sizes for impl in implementations]


def format_table(results: list[dict], ratios: list[dict] = ()) -> str:
    """One row per n: median time (ms) and peak memory growth (MiB) of each implementation.

    A ratio column ``flash/sdpa4d`` is added when both were measured: wall time (``t``), CPU time of
    the process (``cpu``: with one thread, less disturbed than wall time when other programs share
    the machine) and peak memory (``m``) of ``flash`` over ``F.sdpa4d``. The time ratios come
    from ``ratios`` (:func:`measure_ratio`, side by side) where given for that n, else from the
    two separate medians.
    """
    implementations = list(dict.fromkeys(r["implementation"] for r in results))
    first = results[0]
    lines = [
        f"CPU, float32, n_queries = n_keys = n, d = {first['d']}, {first['threads']} thread(s); "
        "time = median ms per call; memory = peak RSS growth in MiB during one call "
        "(fresh process each); scores = size of one n x n float32 matrix",
    ]
    legend = {"F.sdpa": "F.sdpa: inputs (n, d), PyTorch's math backend",
              "F.sdpa4d": "F.sdpa4d: inputs (1, 1, n, d), PyTorch's fused flash CPU kernel",
              "flash": "flash: attnbook.flash_attention (chapter 6) on (n, d)"}
    explained = [text for name, text in legend.items() if name in implementations]
    if explained:
        lines.append("; ".join(explained))
    ratio = "flash" in implementations and "F.sdpa4d" in implementations
    header = f"{'n':>6} {'scores':>7}" + "".join(f" {impl + ' ms':>11} {impl + ' MiB':>12}" for impl in implementations)
    if ratio:
        header += f" {'flash/sdpa4d':>28}"
    lines += [header, "-" * len(header)]
    for n in dict.fromkeys(r["n"] for r in results):
        row = f"{n:>6} {n * n * 4 / 2**20:>7.1f}"
        found = {r["implementation"]: r for r in results if r["n"] == n}
        for impl in implementations:
            r = found.get(impl)
            row += f" {r['median_ms']:>11.2f} {r['peak_mib']:>12.1f}" if r else f" {'-':>11} {'-':>12}"
        if ratio and "flash" in found and "F.sdpa4d" in found:
            flash, sdpa = found["flash"], found["F.sdpa4d"]
            memory = flash["peak_mib"] / sdpa["peak_mib"] if sdpa["peak_mib"] > 0 else float("nan")
            cpu = flash["median_cpu_ms"] / sdpa["median_cpu_ms"] if sdpa.get("median_cpu_ms") else float("nan")
            wall = flash["median_ms"] / sdpa["median_ms"]
            side_by_side = [r for r in ratios if r["n"] == n and (r["numerator"], r["denominator"]) == ("flash", "F.sdpa4d")]
            if side_by_side:
                wall, cpu = side_by_side[0]["wall_ratio"], side_by_side[0]["cpu_ratio"]
            row += f" {wall:>5.2f}x t {cpu:>5.2f}x cpu {memory:>5.2f}x m"
        lines.append(row)
    return "\n".join(lines)


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="CPU attention benchmark: NumPy, PyTorch, F.sdpa and the "
                                                 "book's flash_attention")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SCRIPT_SIZES))
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--implementations", nargs="+", default=list(IMPLEMENTATIONS), choices=IMPLEMENTATIONS)
    args = parser.parse_args(argv)
    results = run_benchmark(args.sizes, args.d, args.repeats, args.threads, args.implementations)
    ratios = []
    if {"flash", "F.sdpa4d"} <= set(args.implementations):
        ratios = [measure_ratio("flash", "F.sdpa4d", n, args.d, args.repeats, args.threads) for n in args.sizes]
    print(format_table(results, ratios))
    if ratios:
        print("flash/sdpa4d: time ratios (t, cpu) are medians over pairs of alternating calls in one process "
              "(side by side); memory (m) compares the fresh-process peaks above")
    return 0
