"""Execute every notebook and print a table: notebook, wall seconds, kernel peak memory.

Usage: python tools/timings.py [PATH ...]     (default: every notebook in chapters/ and solutions/)

Each notebook runs in a fresh kernel through nbclient, in its own subprocess so the kernel's
peak resident memory can be read from getrusage(RUSAGE_CHILDREN). Notebooks are not modified.
Budget per chapter notebook: 60 s and 2 GiB on a 2-core CPU; rows over budget are flagged and
the script exits 1.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET_SECONDS = 60.0
BUDGET_MIB = 2048.0


def run_one(path: Path) -> dict:
    """Execute one notebook (called in a child process); return its wall time and kernel peak."""
    import nbclient
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}}).execute()
    wall = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the kernel, on Linux in KiB
    return {"wall_s": wall, "peak_mib": peak_kib / 1024}


def measure(path: Path) -> dict:
    result = subprocess.run([sys.executable, __file__, "--one", str(path)], capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["unknown error"])[-1]
        return {"error": last}
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    if argv[:1] == ["--one"]:
        print(json.dumps(run_one(Path(argv[1]))))
        return 0
    paths = [Path(p) for p in argv] or sorted(
        p for folder in ("chapters", "solutions") for p in (ROOT / folder).rglob("*.ipynb")
        if ".ipynb_checkpoints" not in p.parts
    )
    print(f"{'notebook':58} {'wall s':>8} {'peak MiB':>9}")
    over, total = 0, 0.0
    for path in paths:
        row = measure(path)
        name = str(path.resolve().relative_to(ROOT))
        if "error" in row:
            print(f"{name:58} {'error':>8}  {row['error']}")
            over += 1
            continue
        total += row["wall_s"]
        flag = row["wall_s"] > BUDGET_SECONDS or row["peak_mib"] > BUDGET_MIB
        over += flag
        print(f"{name:58} {row['wall_s']:8.1f} {row['peak_mib']:9.0f}{'  OVER BUDGET' if flag else ''}")
    print(f"{'total':58} {total:8.1f}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
