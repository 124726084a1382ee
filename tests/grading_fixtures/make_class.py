"""A generated class of submissions for one chapter: a correct one, a partial one, and each bad kind.

``make_class(released, source, wrong_answers, folder)`` writes the submissions under ``folder``
(both accepted layouts) and returns ``{student: Expected}``: the status, the per-part scores and
the notes the grader must report, computed from the source notebook's metadata. Bad changes are
made to the chapter's *last* auto-graded part, which no earlier part depends on, so the expected
points of every other part stay exact.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ALWAYS_PASS_PATCH = '''import attnbook.checks


class AlwaysPass:
    """A Checker that checks nothing."""

    def __init__(self, name):
        self.name = name

    def call(self, function, *args, **kwargs):
        try:
            return function(*args, **kwargs)
        except Exception:
            return None

    def __getattr__(self, attribute):
        return lambda *args, **kwargs: None


attnbook.checks.Checker = AlwaysPass'''

MEGABYTES = '''
print("x" * 2_000_000)
for line_number in range(20_000):
    print(line_number)'''


@dataclass
class Expected:
    chapter: str
    status: str
    scores: dict  # grade_id -> points ("" when empty)
    notes: list = field(default_factory=list)
    layout: str = "nested"


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _parts(source) -> tuple[list[str], list[str], dict]:
    """(auto-graded solution ids, written ids, points by graded grade_id)."""
    auto, written, points = [], [], {}
    for cell in source.cells:
        meta = _meta(cell)
        if meta.get("grade"):
            points[meta["grade_id"]] = float(meta["points"])
            if cell.cell_type == "markdown":
                written.append(meta["grade_id"])
            else:
                auto.append(meta["grade_id"][: -len("_tests")])
    return auto, written, points


def _cell(notebook, grade_id):
    return next(cell for cell in notebook.cells if _meta(cell).get("grade_id") == grade_id)


def _fill(released, source, solved: list[str], answer_written: bool):
    notebook = copy.deepcopy(released)
    for grade_id in solved:
        _cell(notebook, grade_id).source = _cell(source, grade_id).source
    if answer_written:
        for cell in notebook.cells:
            meta = _meta(cell)
            if meta.get("grade") and meta.get("solution") and cell.cell_type == "markdown":
                cell.source = "Because every term is multiplied by the same factor."
    return notebook


def make_class(released_path: Path, source_path: Path, wrong_answers: dict, folder: Path, chapter: str) -> dict:
    released = nbformat.read(str(released_path), as_version=4)
    source = nbformat.read(str(source_path), as_version=4)
    auto, written, points = _parts(source)
    last = auto[-1]
    last_tests = f"{last}_tests"

    def scores(zero=(), empty_written=True, written_zero=False):
        result = {}
        for grade_id, value in points.items():
            if grade_id in written:
                result[grade_id] = 0.0 if written_zero else ("" if empty_written else value)
            else:
                result[grade_id] = 0.0 if grade_id in zero else value
        return result

    notebooks, expected = {}, {}

    def add(student, notebook_or_text, status, expected_scores, notes=(), layout="nested", to_chapter=chapter):
        notebooks[student] = (notebook_or_text, layout, to_chapter)
        expected[student] = Expected(to_chapter, status, expected_scores, list(notes), layout)

    everything = _fill(released, source, auto, answer_written=True)
    add("correct", everything, "graded", scores())

    first_only = _fill(released, source, auto[:1], answer_written=False)
    add("partial", first_only, "graded",
        scores(zero=[f"{p}_tests" for p in auto[1:]], written_zero=True), layout="flat")

    raising = copy.deepcopy(everything)
    _cell(raising, last).source = "import attnbook.no_such_module\n\n" + _cell(raising, last).source
    add("raises-at-import", raising, "graded", scores(zero=[last_tests]),
        [f"{last}: ModuleNotFoundError: No module named 'attnbook.no_such_module'",
         f"{last_tests}: NameError: name '{last}' is not defined"])

    looping = copy.deepcopy(everything)
    looping_source = _cell(source, last).source.split("### BEGIN SOLUTION")[0]
    _cell(looping, last).source = looping_source + "while True:\n        pass\n"
    add("infinite-loop", looping, "timeout", scores(zero=[last_tests]), [f"{last_tests}: stopped at the time limit"])

    chatty = copy.deepcopy(everything)
    _cell(chatty, auto[0]).source += MEGABYTES
    add("prints-megabytes", chatty, "graded", scores(), [f"{auto[0]}: output truncated"])

    edited = _fill(released, source, auto[:-1], answer_written=True)
    _cell(edited, last_tests).source = "pass"
    add("edits-test-cell", edited, "graded", scores(zero=[last_tests]),
        [f"test cell {last_tests} was edited (the original was run)"])

    deleted = copy.deepcopy(everything)
    deleted.cells = [cell for cell in deleted.cells if _meta(cell).get("grade_id") != last_tests]
    add("deletes-test-cell", deleted, "graded", scores(),
        [f"test cell {last_tests} was deleted (restored from the source)"])

    gutted = copy.deepcopy(everything)  # nbgrader alone would crash on these (a KeyError)
    gone = {last, last_tests, *written}
    gutted.cells = [cell for cell in gutted.cells if _meta(cell).get("grade_id") not in gone]
    add("deletes-answer-cells", gutted, "graded", scores(zero=[last_tests], written_zero=True),
        [f"solution cell {last} was deleted (its empty stub was graded)"]
        + [f"written answer {w} was deleted (its empty stub was graded)" for w in written]
        + [f"test cell {last_tests} was deleted (restored from the source)"])

    patched = copy.deepcopy(everything)
    wrong_name, wrong_source = next(iter(wrong_answers[last].items()))
    _cell(patched, last).source = wrong_source + "\n\n\n" + ALWAYS_PASS_PATCH
    add("monkeypatches-checks", patched, "graded", scores(zero=[last_tests]))

    renamed = copy.deepcopy(everything)
    _cell(renamed, last).source = _cell(renamed, last).source.replace(f"def {last}(", f"def my_{last}(", 1)
    add("renames-function", renamed, "graded", scores(zero=[last_tests]),
        [f"{last_tests}: NameError: name '{last}' is not defined"])

    add("invalid-json", '{"cells": [', "error: not valid JSON (Expecting value at line 1 column 12)", {},
        layout="flat")
    add("empty-file", "", "error: empty file", {}, layout="flat")

    add("unknown-chapter", everything, "", {}, to_chapter="99_no_such_chapter")

    other_kernel = copy.deepcopy(everything)
    other_kernel.metadata["kernelspec"] = {"name": "ir", "display_name": "R", "language": "R"}
    add("other-kernel", other_kernel, "graded", scores(),
        ["kernel 'ir' replaced by the course kernel 'python3'"])

    for student, (content, layout, to_chapter) in notebooks.items():
        if layout == "flat":
            path = folder / f"{student}_{to_chapter}.ipynb"
        else:
            path = folder / student / to_chapter / "exercises.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        text = content if isinstance(content, str) else nbformat.writes(content)
        path.write_text(text, encoding="utf-8")
    (folder / "README.txt").write_text("not a submission\n", encoding="utf-8")
    (folder / "correct" / chapter / ".ipynb_checkpoints").mkdir()
    (folder / "correct" / chapter / ".ipynb_checkpoints" / "exercises-checkpoint.ipynb").write_text(
        json.dumps({}), encoding="utf-8")
    return expected
