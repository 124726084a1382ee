"""Command line: ``python -m attnbook.grading {release,grade} ...`` (see ``--help``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .notebooks import EXERCISES, ROOT, SOLUTIONS
from .sandbox import Limits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m attnbook.grading", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    release = commands.add_parser("release", help="regenerate exercises/ from solutions/ with nbgrader")
    release.add_argument("--solutions", type=Path, default=SOLUTIONS, help="nbgrader source folder")
    release.add_argument("--exercises", type=Path, default=EXERCISES, help="release folder to (re)write")
    release.add_argument("--force", action="store_true", help="overwrite released notebooks that have outputs")
    grade = commands.add_parser("grade", help="grade a folder of submissions (layouts: see attnbook.grading.grade)")
    grade.add_argument("submissions", type=Path, help="SUBMISSIONS/<student>/<chapter>/exercises.ipynb "
                                                      "or SUBMISSIONS/<student>_<chapter>.ipynb")
    grade.add_argument("--output", type=Path, default=Path("gradebook"), help="folder for gradebook.csv and feedback/")
    grade.add_argument("--timeout", type=int, default=60, help="seconds each cell may run (default 60)")
    grade.add_argument("--total-timeout", type=int, default=600,
                       help="seconds all cells of one notebook may run together (default 600)")
    grade.add_argument("--jobs", type=int, default=None,
                       help="submissions graded at the same time (default: the number of cores)")
    grade.add_argument("--memory-mb", type=int, default=Limits.memory_mb,
                       help=f"address space of each kernel in MiB (default {Limits.memory_mb})")
    grade.add_argument("--no-sandbox", action="store_true",
                       help="run student code WITHOUT bubblewrap, with your permissions (trusted submissions only)")
    grade.add_argument("--solutions", type=Path, default=SOLUTIONS, help="nbgrader source folder")
    args = parser.parse_args(argv)

    if args.command == "release":
        from .release import ReleaseError
        from .release import release as run_release

        try:
            written = run_release(args.solutions, args.exercises, force=args.force)
        except (ReleaseError, OSError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        for path in written:
            shown = path.resolve().relative_to(ROOT) if path.resolve().is_relative_to(ROOT) else path
            print(f"released {shown}")
        return 0

    from .grade import GradingError
    from .grade import grade as run_grade

    try:
        run_grade(args.submissions, args.output, timeout=args.timeout, solutions=args.solutions, jobs=args.jobs,
                  total_timeout=args.total_timeout, no_sandbox=args.no_sandbox,
                  limits=Limits(memory_mb=args.memory_mb))
    except GradingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
