"""A small nbgrader source chapter (2 auto-graded parts, 1 written question) for grading tests.

The real chapters' solutions notebooks are written alongside the grading code; this fixture
lets the release and grading machinery be tested on its own. ``write_chapter(solutions_root)``
writes ``<solutions_root>/03_softmax/exercises.ipynb`` in the CONTRIBUTING.md exercise format.
The notebook is built here rather than stored, so pytest's ``--nbval`` does not collect it.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

CHAPTER = "03_softmax"

SETUP = """import importlib

import numpy as np

import attnbook"""

STABLE_SOFTMAX = '''def stable_softmax(x):
    """Softmax of a float array over its last axis, safe for large values."""
    ### BEGIN SOLUTION
    shifted = x - x.max(axis=-1, keepdims=True)  # (..., n), largest entry 0
    exps = np.exp(shifted)
    return exps / exps.sum(axis=-1, keepdims=True)
    ### END SOLUTION'''

STABLE_SOFTMAX_TESTS = '''checks = importlib.reload(importlib.import_module("attnbook.checks"))
check = checks.Checker("stable_softmax")
x = np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]])  # (2, 3)
weights = check.call(stable_softmax, x)
check.shape(weights, (2, 3), context="for input of shape (2, 3)")
check.close(weights.sum(axis=-1), np.ones(2), "rows must sum to 1 along the last axis",
            context="for input of shape (2, 3)")
check.close(weights[1], np.full(3, 1 / 3), "equal scores must get equal weights")
check.done()
### BEGIN HIDDEN TESTS
big = np.array([[1000.0, 1001.0]])
assert np.allclose(stable_softmax(big), [[0.26894142, 0.73105858]]), "overflow on large logits"
### END HIDDEN TESTS'''

MASKED_SOFTMAX = '''def masked_softmax(scores, mask):
    """Softmax over the last axis using only entries where ``mask`` is True; fully masked rows get zeros."""
    ### BEGIN SOLUTION
    kept = np.where(mask, scores, -np.inf)  # (..., n)
    row_max = kept.max(axis=-1, keepdims=True)
    row_max = np.where(np.isfinite(row_max), row_max, 0.0)
    exps = np.where(mask, np.exp(kept - row_max), 0.0)
    totals = exps.sum(axis=-1, keepdims=True)
    return np.divide(exps, totals, out=np.zeros_like(exps), where=totals > 0)
    ### END SOLUTION'''

MASKED_SOFTMAX_TESTS = '''checks = importlib.reload(importlib.import_module("attnbook.checks"))
check = checks.Checker("masked_softmax")
scores = np.array([[1.0, 2.0, 3.0], [0.5, 0.5, 0.5]])  # (2, 3)
mask = np.array([[True, True, False], [True, False, False]])
weights = check.call(masked_softmax, scores, mask)
check.close(np.where(mask, 0.0, weights), np.zeros((2, 3)), "masked positions must get weight 0",
            context="for input of shape (2, 3)")
check.close(weights.sum(axis=-1), np.ones(2), "each row's kept weights must sum to 1",
            context="for input of shape (2, 3)")
check.done()
### BEGIN HIDDEN TESTS
dead = masked_softmax(np.zeros((1, 3)), np.zeros((1, 3), dtype=bool))
assert np.allclose(dead, 0.0), "a fully masked row must get all-zero weights"
### END HIDDEN TESTS'''

WRITTEN_ANSWER = """Subtracting the row maximum $m$ multiplies every numerator and the denominator by the same
factor $e^{-m}$, so the ratios do not change; the largest exponent becomes $e^0 = 1$, so nothing
overflows."""

# Plausible wrong answers, in the tests/wrong_answers/NN_name.py format.
WRONG_ANSWERS = {
    "stable_softmax": {
        "wrong_axis": '''def stable_softmax(x):
    exps = np.exp(x - x.max(axis=0, keepdims=True))
    return exps / exps.sum(axis=0, keepdims=True)''',
        "no_max_subtraction": '''def stable_softmax(x):
    exps = np.exp(x)
    return exps / exps.sum(axis=-1, keepdims=True)''',
    },
    "masked_softmax": {
        "mask_after_softmax": '''def masked_softmax(scores, mask):
    exps = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return np.where(mask, exps / exps.sum(axis=-1, keepdims=True), 0.0)''',
        "uniform_fully_masked_row": '''def masked_softmax(scores, mask):
    kept = np.where(mask, scores, -1e9)
    exps = np.exp(kept - kept.max(axis=-1, keepdims=True))
    return exps / exps.sum(axis=-1, keepdims=True)''',
    },
}


def _cell(kind: str, source: str, grade_id: str, **flags) -> nbformat.NotebookNode:
    maker = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
    cell = maker(source)
    cell.id = grade_id.replace("_", "-")
    nbgrader = {"grade": False, "solution": False, "locked": False, "grade_id": grade_id, "schema_version": 3}
    nbgrader.update(flags)
    cell.metadata["nbgrader"] = nbgrader
    return cell


def source_notebook() -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    notebook.cells = [
        _cell("markdown", "# Softmax exercises (test fixture)\n\nRun each test cell to check your work.",
              "intro", locked=True),
        _cell("code", SETUP, "setup", locked=True),
        _cell("markdown", "**Part 1.** Write `stable_softmax(x)`: softmax over the last axis that does not "
              "overflow for large values.", "stable_softmax_statement", locked=True),
        _cell("code", STABLE_SOFTMAX, "stable_softmax", solution=True),
        _cell("code", STABLE_SOFTMAX_TESTS, "stable_softmax_tests", grade=True, locked=True, points=2),
        _cell("markdown", "**Part 2.** Write `masked_softmax(scores, mask)`: masked entries get weight 0 and "
              "a fully masked row gets all zeros.", "masked_softmax_statement", locked=True),
        _cell("code", MASKED_SOFTMAX, "masked_softmax", solution=True),
        _cell("code", MASKED_SOFTMAX_TESTS, "masked_softmax_tests", grade=True, locked=True, points=3),
        _cell("markdown", "**Question.** Why does subtracting the row maximum not change the softmax?",
              "max_shift_question", locked=True),
        _cell("markdown", WRITTEN_ANSWER, "max_shift_written", solution=True, grade=True, points=1),
    ]
    return notebook


def write_chapter(solutions_root: Path) -> Path:
    """Write the fixture chapter under ``solutions_root`` and return the notebook path."""
    path = Path(solutions_root) / CHAPTER / "exercises.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(source_notebook(), str(path))
    return path
