"""Strip volatile metadata from notebooks, keeping outputs and execution counts.

Usage: python tools/clean_notebooks.py [--check] [PATH ...]   (default: every tracked notebook)

Removes per-cell execution timestamps, collapsed/scrolled view state and widget state, and
reduces the notebook metadata to the kernelspec and the language name. With --check it changes
nothing and exits 1 listing the notebooks that are not clean (the test suite uses this).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from attnbook.nbstore import cleaned, serialise

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_FOLDERS = ("chapters", "solutions", "exercises")


def all_notebooks() -> list[Path]:
    return sorted(p for folder in NOTEBOOK_FOLDERS for p in (ROOT / folder).rglob("*.ipynb")
                  if ".ipynb_checkpoints" not in p.parts)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--check", action="store_true", help="report, do not change")
    args = parser.parse_args(argv)
    dirty = []
    for path in args.paths or all_notebooks():
        text = path.read_text(encoding="utf-8")
        try:
            notebook = json.loads(text)
        except json.JSONDecodeError as error:
            print(f"{path}: not valid JSON ({error})", file=sys.stderr)
            return 2
        new_text = serialise(cleaned(notebook))
        if new_text != text:
            dirty.append(path)
            if not args.check:
                path.write_text(new_text, encoding="utf-8")
    if args.check and dirty:
        print("notebooks with volatile metadata (run tools/clean_notebooks.py):", *dirty, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
