"""``exercises/`` from ``solutions/``: nbgrader generate_assignment, then the repository's normaliser.

Each chapter folder of ``solutions/`` is one nbgrader assignment (id = folder name, e.g.
``03_softmax``; notebook id ``exercises``). Generation happens in a temporary course, so no
``gradebook.db`` or log lands in the repository; the released notebooks are then stored with
``attnbook.nbstore``, the normaliser ``tools/clean_notebooks.py`` also uses (no outputs, no
execution counts, sorted keys), so a fresh release is byte-for-byte comparable with the committed one. A chapter whose notebook is still a
placeholder (no nbgrader cells) is released the same way: nbgrader copies it with outputs cleared.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from .course import Course
from .notebooks import (
    EXERCISES,
    NOTEBOOK,
    SOLUTIONS,
    chapters,
    leaked_hidden_lines,
    normalised_text,
    read_notebook,
)


class ReleaseError(RuntimeError):
    """nbgrader could not release a chapter, or the release would leak hidden tests."""


def _last_error_line(result: dict) -> str:
    lines = [line for line in (result.get("error") or result.get("log") or "").splitlines() if line.strip()]
    return lines[-1].strip() if lines else "unknown error"


def build_course(course: Course, solutions: Path, only: list[str] | None = None) -> dict[str, dict]:
    """Run generate_assignment in ``course`` for every chapter of ``solutions``; returns the source notebooks."""
    sources = {}
    for chapter in chapters(solutions):
        if only is not None and chapter not in only:
            continue
        course.add_source(chapter, Path(solutions) / chapter)
        result = course.generate_assignment(chapter)
        if not result["success"]:
            raise ReleaseError(f"nbgrader generate_assignment failed for {chapter}: {_last_error_line(result)}")
        source = read_notebook(Path(solutions) / chapter / NOTEBOOK)
        leaks = leaked_hidden_lines(source, read_notebook(course.released_notebook(chapter)))
        if leaks:
            raise ReleaseError(f"{chapter}: the release would contain hidden-test text: {leaks[0]!r}")
        sources[chapter] = source
    return sources


def worked_in(path: Path) -> bool:
    """True when a notebook in ``exercises/`` has outputs: a reader's work, not a release."""
    try:
        notebook = read_notebook(path)
    except (OSError, ValueError):
        return False
    return any(cell.get("outputs") or cell.get("execution_count") for cell in notebook.get("cells", []))


def release(solutions: Path = SOLUTIONS, exercises: Path = EXERCISES, force: bool = False) -> list[Path]:
    """Regenerate ``exercises`` from ``solutions``; returns the notebooks written.

    ``exercises`` ends up holding exactly the released chapters: a chapter folder with no
    counterpart in ``solutions`` is removed. A released notebook never has outputs, so one that
    has them holds a reader's work: the release stops rather than overwrite it, unless ``force``.
    """
    solutions, exercises = Path(solutions), Path(exercises)
    if not chapters(solutions):
        raise ReleaseError(f"no chapter folders with {NOTEBOOK} in {solutions}")
    if exercises.is_dir() and not force:
        worked = [p for p in sorted(exercises.rglob("*.ipynb")) if ".ipynb_checkpoints" not in p.parts and worked_in(p)]
        if worked:
            raise ReleaseError(f"{worked[0]} has outputs (someone's work?); save it elsewhere, "
                               "or release with --force to overwrite it")
    written = []
    with tempfile.TemporaryDirectory(prefix="attnbook-release-") as tmp:
        course = Course(Path(tmp) / "course")
        build_course(course, solutions)
        staged = Path(tmp) / "staged"
        released_root = course.root / "exercises"
        for folder in sorted(p for p in released_root.iterdir() if p.is_dir()):
            for path in sorted(folder.rglob("*")):
                if not path.is_file():
                    continue
                target = staged / folder.name / path.relative_to(folder)
                target.parent.mkdir(parents=True, exist_ok=True)
                if path.suffix == ".ipynb":
                    target.write_text(normalised_text(read_notebook(path)), encoding="utf-8")
                else:
                    shutil.copyfile(path, target)
        exercises.mkdir(parents=True, exist_ok=True)
        for old in exercises.iterdir():
            if old.is_dir() and not (staged / old.name).exists():
                shutil.rmtree(old)
        for folder in sorted(staged.iterdir()):
            destination = exercises / folder.name
            if destination.exists():
                shutil.rmtree(destination)
            shutil.copytree(folder, destination)
            written += sorted(p for p in destination.rglob("*.ipynb"))
    return written
