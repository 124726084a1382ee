"""Instructor grading: `make grade` on a generated class gives the exact gradebook rows.

The class (tests/grading_fixtures/make_class.py) has a correct submission, a partial one and
one of each bad kind from the issue. It is generated from chapter 03_softmax when its solutions
notebook is in the exercise format (else from the small fixture chapter), graded once per
session with the real command and a short per-cell timeout, and every row is compared with the
row computed from the source notebook's metadata. A few fast unit tests cover the layouts and
the pre-checks, and the exit status when grading cannot run at all.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from grading_fixtures import make_class, softmax_chapter

from attnbook.grading import notebooks as nb
from attnbook.grading.grade import (
    execution_notes,
    find_submissions,
    read_submission,
    restore_deleted_answers,
    restored_cell_notes,
)
from attnbook.grading.release import release

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = "03_softmax"
TIMEOUT = 20  # seconds per cell: the infinite loop costs one of these; torch imports well within it
UNKNOWN = "99_no_such_chapter"


@dataclass
class GradedClass:
    solutions: Path
    expected: dict
    parts: list
    submissions: Path
    output: Path
    result: subprocess.CompletedProcess
    seconds: float

    def rows(self) -> dict[str, dict]:
        with (self.output / "gradebook.csv").open(encoding="utf-8") as handle:
            return {row["student"]: row for row in csv.DictReader(handle)}


def _wrong_answers(chapter: str) -> dict | None:
    path = ROOT / "tests" / "wrong_answers" / f"{chapter}.py"
    if not path.is_file():
        return None
    namespace: dict = {}
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)
    return namespace.get("WRONG_ANSWERS")


def _use_real_chapter() -> bool:
    return CHAPTER in nb.formatted_chapters(nb.SOLUTIONS) and bool(_wrong_answers(CHAPTER))


@pytest.fixture(scope="session")
def graded_class(tmp_path_factory) -> GradedClass:
    work = tmp_path_factory.mktemp("grading")
    if _use_real_chapter():
        solutions, wrong = nb.SOLUTIONS, _wrong_answers(CHAPTER)
    else:
        solutions, wrong = work / "solutions", softmax_chapter.WRONG_ANSWERS
        softmax_chapter.write_chapter(solutions)
    release(solutions, work / "exercises")
    source_path = solutions / CHAPTER / nb.NOTEBOOK
    submissions, output = work / "submissions", work / "gradebook"
    expected = make_class.make_class(work / "exercises" / CHAPTER / nb.NOTEBOOK, source_path, wrong,
                                     submissions, CHAPTER)
    if solutions == nb.SOLUTIONS:  # the real command, as an instructor types it
        command = ["make", "--no-print-directory", "grade", f"SUBMISSIONS={submissions}", f"GRADEBOOK={output}",
                   f"TIMEOUT={TIMEOUT}"]
    else:
        command = [sys.executable, "-m", "attnbook.grading", "grade", str(submissions), "--output", str(output),
                   "--timeout", str(TIMEOUT), "--solutions", str(solutions)]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    seconds = time.perf_counter() - start
    parts = nb.graded_parts(nb.read_notebook(source_path))
    return GradedClass(solutions, expected, parts, submissions, output, result, seconds)


def _number(value) -> str:
    return "" if value == "" or value is None else f"{float(value):g}"


def _expected_row(graded: GradedClass, student: str, expected) -> dict:
    parts = [p.grade_id for p in graded.parts]
    max_points = sum(p.points for p in graded.parts)
    status = expected.status
    if student == "unknown-chapter":
        status = f"error: unknown chapter {UNKNOWN!r} (chapters: {', '.join(nb.chapters(graded.solutions))})"
    scores = {p: _number(expected.scores.get(p, "")) for p in parts}
    total = sum(float(v) for v in scores.values() if v != "")
    return {
        "student": student,
        "chapter": expected.chapter,
        **scores,
        "total": _number(total),
        "max": "" if student == "unknown-chapter" else _number(max_points),
        "status": status,
    }


def test_grade_command_exits_0_and_prints_a_summary(graded_class):
    result = graded_class.result
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "14 submissions: 10 graded, 1 with a timeout, 3 with errors" in result.stdout
    assert "mean score per part, 03_softmax (11 with scores):" in result.stdout
    timings = [float(s) for s in re.findall(r"\((\d+\.\d) s\)$", result.stdout, re.MULTILINE)]
    graded = [t for t in timings if t > 0]
    print(f"\ngraded {len(graded)} submissions in {graded_class.seconds:.0f} s; per submission "
          f"{min(graded):.1f}-{max(graded):.1f} s (timeout {TIMEOUT} s)")


@pytest.mark.parametrize("student", [
    "correct", "partial", "raises-at-import", "infinite-loop", "prints-megabytes", "edits-test-cell",
    "deletes-test-cell", "deletes-answer-cells", "monkeypatches-checks", "renames-function", "invalid-json", "empty-file",
    "unknown-chapter", "other-kernel",
])
def test_gradebook_row(graded_class, student):
    rows = graded_class.rows()
    assert student in rows, f"no row for {student}; rows: {sorted(rows)}\n{graded_class.result.stderr[-2000:]}"
    expected = graded_class.expected[student]
    row = dict(rows[student])
    note = row.pop("note")
    want = _expected_row(graded_class, student, expected)
    assert {k: row.get(k, "") for k in want} == want
    assert (note.split("; ") if note else []) == expected.notes


def test_gradebook_has_one_row_per_submission_and_the_documented_columns(graded_class):
    with (graded_class.output / "gradebook.csv").open(encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = list(reader)
    parts = [p.grade_id for p in graded_class.parts]
    assert header == ["student", "chapter", *parts, "total", "max", "status", "note"]
    assert sorted(r[0] for r in rows) == sorted(graded_class.expected)


def test_feedback_html_for_every_graded_submission_only(graded_class):
    feedback = graded_class.output / "feedback"
    have = sorted(str(p.relative_to(feedback)) for p in feedback.rglob("*.html"))
    want = sorted(f"{student}/{CHAPTER}/exercises.html" for student, e in graded_class.expected.items()
                  if e.status in ("graded", "timeout"))
    assert have == want
    html = (feedback / "partial" / CHAPTER / "exercises.html").read_text(encoding="utf-8")
    assert "<html" in html.lower() and "stable_softmax" in html


def test_megabytes_of_output_are_cut(graded_class):
    html = graded_class.output / "feedback" / "prints-megabytes" / CHAPTER / "exercises.html"
    assert html.stat().st_size < 1_000_000, f"feedback of the chatty submission is {html.stat().st_size} bytes"


def test_grading_leaves_no_database_behind(graded_class):
    for folder in (graded_class.output, graded_class.submissions, ROOT / "exercises", ROOT / "solutions"):
        assert not list(folder.rglob("gradebook.db")), folder
        assert not list(folder.rglob(".nbgrader.log")), folder


# --- exit status when grading cannot run ------------------------------------------------------


def _grade(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "attnbook.grading", "grade", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_missing_submissions_folder_exits_1_with_one_line(tmp_path):
    result = _grade(str(tmp_path / "nowhere"), "--output", str(tmp_path / "out"))
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: submissions folder {tmp_path / 'nowhere'} does not exist"


def test_unwritable_output_exits_1_with_one_line(tmp_path):
    (tmp_path / "subs").mkdir()
    (tmp_path / "file").write_text("")
    result = _grade(str(tmp_path / "subs"), "--output", str(tmp_path / "file"))
    assert result.returncode == 1
    assert result.stderr.strip().startswith(f"error: cannot write to output folder {tmp_path / 'file'}")
    assert len(result.stderr.strip().splitlines()) == 1


# --- layouts and pre-checks (fast) ------------------------------------------------------------


def test_both_layouts_are_found_and_others_reported(tmp_path):
    (tmp_path / "ann" / "03_softmax").mkdir(parents=True)
    (tmp_path / "ann" / "03_softmax" / "exercises.ipynb").write_text("{}")
    (tmp_path / "ann" / "03_softmax" / ".ipynb_checkpoints").mkdir()
    (tmp_path / "bo" / "02_scoring").mkdir(parents=True)
    (tmp_path / "bo" / "02_scoring" / "exercises (1).ipynb").write_text("{}")
    (tmp_path / "cy_li_01_background.ipynb").write_text("{}")
    (tmp_path / "whatever.ipynb").write_text("{}")
    (tmp_path / "notes.txt").write_text("")
    found, ignored = find_submissions(tmp_path)
    assert [(s.student, s.chapter, s.path.name, s.problem) for s in found] == [
        ("ann", "03_softmax", "exercises.ipynb", ""),
        ("bo", "02_scoring", "exercises (1).ipynb", ""),
        ("cy_li", "01_background", "cy_li_01_background.ipynb", ""),
        ("whatever", "", "whatever.ipynb", "file name is not <student>_<NN_chapter>.ipynb"),
    ]
    assert [p.name for p in ignored] == ["notes.txt"]


@pytest.mark.parametrize(("content", "problem"), [
    ("", "empty file"),
    ("  \n", "empty file"),
    ("[1, 2", "not valid JSON (Expecting ',' delimiter at line 1 column 6)"),
    ("[]", "not a Jupyter notebook (no cells or nbformat)"),
    (json.dumps({"cells": "x", "nbformat": 4, "nbformat_minor": 5, "metadata": {}}), "not a valid notebook"),
])
def test_unreadable_submissions_get_a_one_line_reason(tmp_path, content, problem):
    path = tmp_path / "s.ipynb"
    path.write_text(content)
    _, notebook, reason = read_submission(path)
    assert notebook is None and reason.startswith(problem) and "\n" not in reason


def test_deleted_answer_cells_are_put_back_as_stubs():
    released = softmax_chapter.source_notebook()
    submitted = json.loads(json.dumps(released))
    submitted["cells"] = [c for c in submitted["cells"]
                          if c["metadata"]["nbgrader"]["grade_id"] not in ("masked_softmax", "max_shift_written")]
    restored, notes = restore_deleted_answers(submitted, released)
    assert [c["metadata"]["nbgrader"]["grade_id"] for c in restored["cells"]] == \
        [c["metadata"]["nbgrader"]["grade_id"] for c in released["cells"]]
    assert notes == ["solution cell masked_softmax was deleted (its empty stub was graded)",
                     "written answer max_shift_written was deleted (its empty stub was graded)"]
    assert restore_deleted_answers(released, released) == (released, [])


def test_restored_cells_and_execution_notes():
    released = softmax_chapter.source_notebook()
    edited = json.loads(json.dumps(released))
    edited["cells"][4]["source"] = "pass"  # stable_softmax_tests
    del edited["cells"][7]  # masked_softmax_tests
    assert restored_cell_notes(edited, released) == [
        "test cell stable_softmax_tests was edited (the original was run)",
        "test cell masked_softmax_tests was deleted (restored from the source)",
    ]
    run = json.loads(json.dumps(released))
    run["cells"][3]["outputs"] = [{"output_type": "error", "ename": "ZeroDivisionError", "evalue": "division by zero",
                                   "traceback": []}]
    run["cells"][4]["outputs"] = [{"output_type": "error", "ename": "CheckFailed", "evalue": "x", "traceback": []}]
    run["cells"][7]["outputs"] = [
        {"output_type": "error", "ename": "KeyboardInterrupt", "evalue": "", "traceback": []},
        {"output_type": "error", "ename": "CellTimeoutError", "evalue": "", "traceback": []},
    ]
    assert execution_notes(run) == (True, ["stable_softmax: ZeroDivisionError: division by zero",
                                           "masked_softmax_tests: stopped at the time limit"])
