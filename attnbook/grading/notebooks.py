"""Reading the exercise notebooks: chapters, graded parts and their points, hidden-test text.

A chapter's source notebook ``solutions/<chapter>/exercises.ipynb`` follows the format in
CONTRIBUTING.md ("Exercises"). Everything here reads plain notebook JSON; nothing runs code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..nbstore import cleaned, serialise

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "exercises"
NOTEBOOK = "exercises.ipynb"  # one exercise notebook per chapter; nbgrader notebook id "exercises"
NOTEBOOK_ID = Path(NOTEBOOK).stem
COURSE_KERNEL = "python3"

BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"


@dataclass(frozen=True)
class Part:
    """One graded cell: an auto-graded test cell (``P_tests``) or a written answer (``Q_written``)."""

    grade_id: str
    points: float
    written: bool  # True: manually graded markdown answer

    @property
    def solution_id(self) -> str | None:
        """grade_id of the solution cell a test cell checks (``P`` for ``P_tests``)."""
        if self.written or not self.grade_id.endswith("_tests"):
            return None
        return self.grade_id[: -len("_tests")]


def source_text(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def nbgrader_meta(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def read_notebook(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def is_formatted(notebook: dict) -> bool:
    """True when the notebook has nbgrader cells (placeholders being written have none)."""
    return any(nbgrader_meta(cell) for cell in notebook.get("cells", []))


def graded_parts(notebook: dict) -> list[Part]:
    """Graded cells in notebook order, with their points (``None`` points raise ValueError)."""
    parts = []
    for cell in notebook.get("cells", []):
        meta = nbgrader_meta(cell)
        if not meta.get("grade"):
            continue
        grade_id = meta.get("grade_id")
        if "points" not in meta:
            raise ValueError(f"graded cell {grade_id!r} has no points")
        written = cell.get("cell_type") == "markdown"
        parts.append(Part(grade_id, float(meta["points"]), written))
    return parts


def chapters(solutions: Path = SOLUTIONS) -> list[str]:
    """Chapter folders of ``solutions`` that hold an exercise notebook (formatted or not)."""
    if not Path(solutions).is_dir():
        return []
    return sorted(p.name for p in Path(solutions).iterdir() if (p / NOTEBOOK).is_file())


def formatted_chapters(solutions: Path = SOLUTIONS) -> list[str]:
    """Chapters whose source notebook is in the nbgrader format (has graded cells)."""
    return [c for c in chapters(solutions) if is_formatted(read_notebook(Path(solutions) / c / NOTEBOOK))]


def hidden_test_lines(notebook: dict) -> list[str]:
    """Non-blank lines that occur only between the hidden-test markers, stripped.

    Lines that also occur elsewhere in the notebook (a repeated ``import``) are left out, so a
    search for these lines in the released notebook finds real leaks only.
    """
    hidden, visible = set(), set()
    for cell in notebook.get("cells", []):
        inside = False
        for line in source_text(cell).splitlines():
            stripped = line.strip()
            if stripped.startswith(BEGIN_HIDDEN):
                inside = True
            elif stripped.startswith(END_HIDDEN):
                inside = False
            elif stripped:
                (hidden if inside else visible).add(stripped)
    return sorted(hidden - visible)


def leaked_hidden_lines(source: dict, released: dict) -> list[str]:
    """Hidden-test lines of ``source`` (and the markers themselves) found in ``released``."""
    released_lines = {
        line.strip() for cell in released.get("cells", []) for line in source_text(cell).splitlines()
    }
    leaks = [line for line in hidden_test_lines(source) if line in released_lines]
    leaks += [marker for marker in (BEGIN_HIDDEN, END_HIDDEN, BEGIN_SOLUTION, END_SOLUTION)
              if any(line.startswith(marker) for line in released_lines)]
    return leaks


def normalised_text(notebook: dict) -> str:
    """The notebook as stored in the repository: volatile metadata removed, sorted keys."""
    return serialise(cleaned(notebook))
