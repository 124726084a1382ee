"""Grading benchmark: a generated class graded with JOBS=1 and JOBS=2, and the sandbox's start-up cost.

    .venv/bin/python benchmarks/grading.py [--submissions 50] [--jobs 1 2] [--chapter 03_softmax]

The class is made from the chapter's released exercises: in turn a fully solved notebook, one with
only the first part solved, one with a plausible wrong answer in every part (from
tests/wrong_answers/, when the chapter has them) and a blank one. Each run grades the whole class
with ``attnbook.grading.grade`` (kernels in bubblewrap, per-cell limit 60 s) and prints the wall
time, seconds per submission and the speed-up over the first ``--jobs`` value. The sandbox's own
cost is measured twice: ``python -c pass`` with and without bubblewrap, and a kernel's start (up
to its ``kernel_info`` reply) with and without it. Figures are printed, never asserted: they
depend on the machine and on what else runs on it, so the load average is printed too, and the
speed-up the machine itself gives to as many pure-CPU processes run together (the ceiling for
the grading speed-up; on a machine shared with other work it can be well below the core count).
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from grading_fixtures import softmax_chapter  # noqa: E402

from attnbook.grading import notebooks as nb  # noqa: E402
from attnbook.grading.execute import KERNEL_ARGUMENTS, kernel_manager_class  # noqa: E402
from attnbook.grading.grade import grade  # noqa: E402
from attnbook.grading.release import release  # noqa: E402
from attnbook.grading.sandbox import Sandbox, probe  # noqa: E402


def wrong_answers(chapter: str) -> dict:
    path = ROOT / "tests" / "wrong_answers" / f"{chapter}.py"
    if not path.is_file():
        return {}
    spec = importlib.util.spec_from_file_location("wrong_answers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.WRONG_ANSWERS


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def make_submissions(released_path: Path, source_path: Path, wrong: dict, folder: Path, chapter: str,
                     count: int) -> None:
    released = nbformat.read(str(released_path), as_version=4)
    source = nbformat.read(str(source_path), as_version=4)
    solution_ids = [_meta(c)["grade_id"] for c in source.cells if _meta(c).get("solution") and c.cell_type == "code"]

    def solved(ids):
        notebook = copy.deepcopy(released)
        for cell in notebook.cells:
            if _meta(cell).get("grade_id") in ids:
                cell.source = next(c.source for c in source.cells if _meta(c).get("grade_id") == _meta(cell)["grade_id"])
        return notebook

    kinds = [solved(solution_ids), solved(solution_ids[:1]), copy.deepcopy(released)]
    if wrong:
        wrong_notebook = copy.deepcopy(released)
        for cell in wrong_notebook.cells:
            answers = wrong.get(_meta(cell).get("grade_id"))
            if answers:
                cell.source = next(iter(answers.values()))
        kinds.insert(2, wrong_notebook)
    for number in range(count):
        path = folder / f"student{number:03d}" / chapter / nb.NOTEBOOK
        path.parent.mkdir(parents=True)
        nbformat.write(kinds[number % len(kinds)], str(path))


def median_seconds(command: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cpu_scaling(jobs: int, repeats: int = 2) -> float:
    """Speed-up the machine gives right now to ``jobs`` copies of a pure-Python CPU loop run together
    (vs one after another): the ceiling for the grading speed-up on a shared machine."""
    loop = [sys.executable, "-c", "sum(i * i for i in range(2 * 10**7))"]
    start = time.perf_counter()
    for _ in range(jobs * repeats):
        subprocess.run(loop, check=True)
    sequential = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(repeats):
        processes = [subprocess.Popen(loop) for _ in range(jobs)]
        for process in processes:
            process.wait()
    return sequential / (time.perf_counter() - start)


def kernel_start_seconds(sandbox: Sandbox, folder: Path, repeats: int) -> float:
    from nbclient import NotebookClient

    times = []
    for _ in range(repeats):
        notebook = nbformat.v4.new_notebook()
        client = NotebookClient(notebook, kernel_manager_class=kernel_manager_class(sandbox, folder),
                                resources={"metadata": {"path": str(folder)}}, extra_arguments=list(KERNEL_ARGUMENTS))
        start = time.perf_counter()
        with client.setup_kernel():
            client.wait_for_reply(client.kc.kernel_info())
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=50)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--chapter", default="03_softmax")
    parser.add_argument("--timeout", type=int, default=60)
    args = parser.parse_args()

    sandbox = Sandbox()
    problem = probe(sandbox)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start")

    with tempfile.TemporaryDirectory(prefix="attnbook-bench-") as tmp:
        tmp = Path(tmp)
        if args.chapter in nb.formatted_chapters(nb.SOLUTIONS):
            solutions, wrong, label = nb.SOLUTIONS, wrong_answers(args.chapter), args.chapter
        else:
            solutions, wrong = tmp / "solutions", softmax_chapter.WRONG_ANSWERS
            softmax_chapter.write_chapter(solutions)
            label = f"{args.chapter} (test fixture: the chapter has no exercises yet)"
        release(solutions, tmp / "exercises", force=True)
        submissions = tmp / "submissions"
        make_submissions(tmp / "exercises" / args.chapter / nb.NOTEBOOK, solutions / args.chapter / nb.NOTEBOOK,
                         wrong, submissions, args.chapter, args.submissions)

        plain = [sys.executable, "-c", "pass"]
        socket_dir = sandbox.prepare_socket_dir(tmp)
        boxed = sandbox.kernel_argv(socket_dir, plain)
        python_plain, python_boxed = median_seconds(plain, 10), median_seconds(boxed, 10)
        kernel_plain = kernel_start_seconds(Sandbox("none"), tmp, 3)
        kernel_boxed = kernel_start_seconds(sandbox, tmp, 3)
        print("\nsandbox start-up (median)")
        print(f"  python -c pass                 {python_plain:6.3f} s   in bubblewrap {python_boxed:6.3f} s   "
              f"({python_boxed - python_plain:+.3f} s)")
        print(f"  kernel start to kernel_info    {kernel_plain:6.3f} s   in bubblewrap {kernel_boxed:6.3f} s   "
              f"({kernel_boxed - kernel_plain:+.3f} s)")

        ceiling = cpu_scaling(max(args.jobs))
        print(f"  machine's own speed-up for {max(args.jobs)} CPU-bound processes right now: {ceiling:.2f}x")

        print(f"\ngrading {args.submissions} generated submissions of {label}")
        print(f"  {'JOBS':>4}  {'wall s':>8}  {'s/submission':>12}  {'speed-up':>8}  {'load avg':>8}")
        first = None
        for jobs in args.jobs:
            start = time.perf_counter()
            rows = grade(submissions, tmp / f"gradebook-{jobs}", timeout=args.timeout, solutions=solutions,
                         jobs=jobs, log=lambda *a, **k: None)
            seconds = time.perf_counter() - start
            first = first or seconds
            statuses = {row.status for row in rows}
            print(f"  {jobs:>4}  {seconds:8.1f}  {seconds / len(rows):12.2f}  {first / seconds:8.2f}x  "
                  f"{os.getloadavg()[0]:8.1f}   statuses: {', '.join(sorted(statuses))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
