"""Grade a folder of submitted exercise notebooks with nbgrader autograde.

Accepted layouts of the submissions folder (both may be mixed):

* nested, nbgrader's own ``submitted/`` layout (what ``nbgrader zip_collect`` produces):
  ``SUBMISSIONS/<student>/<chapter>/exercises.ipynb``. A chapter folder holding one notebook
  under another name (``exercises (1).ipynb``) is accepted too.
* flat: ``SUBMISSIONS/<student>_<chapter>.ipynb``, e.g. ``alice_03_softmax.ipynb``; the
  chapter is the trailing ``NN_name``, the student is everything before it.

Hidden files and folders (``.ipynb_checkpoints``) and files that are not ``.ipynb`` are ignored.

How grading works. nbgrader's trust anchor, ``gradebook.db``, is rebuilt from ``solutions/``
in a private temporary course (``nbgrader generate_assignment``) and never shipped. Each
submission is then graded on its own, in a course of its own holding a copy of that database,
so nothing one submission does can touch another's grade:

1. pre-checks, each giving a row ``error: <reason>``: empty file, not valid JSON, not a
   notebook, unknown chapter, chapter without graded exercises, duplicate submission;
2. ``nbgrader autograde`` with a per-cell timeout (``--timeout``, default 60 s; a cell that runs
   longer is interrupted and scores 0), deleted or edited test cells restored from the database
   (``OverwriteCells.add_missing_cells``), output cut to 1000 lines per cell and 20000
   characters per output. A submission saved with another kernel is run with the course
   kernel ``python3`` (nbgrader's OverwriteKernelspec) and the ``note`` says so;
3. scores read from nbgrader's database, feedback HTML from ``nbgrader generate_feedback``.

``gradebook.csv`` has one row per (student, chapter): ``student, chapter``, one column per
graded cell (test-cell ``grade_id``, or ``..._written`` for a written answer; empty where the
part belongs to another chapter), ``total, max, status, note``.

* ``status`` is ``graded``, ``timeout`` (a cell hit the time limit; the other cells were graded),
  or ``error: <one-line reason>`` (nothing could be graded; every part is empty, ``total`` 0).
* ``note`` explains what else happened: test cells restored, kernel replaced, errors raised by
  the student's own cells, output truncated.
* A written answer left as "YOUR ANSWER HERE" scores 0; an answered one is left empty for the
  instructor to grade by hand (from the feedback HTML). ``total`` sums the points known so far;
  ``max`` counts every graded cell of the chapter, written answers included.

Exit status 0 when it graded what it could (even if every submission failed); 1 with a
one-line reason when it could not run at all (missing submissions folder, output folder or
nbgrader database not writable, no chapter to grade against).
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat.warnings import MissingIDFieldWarning
from sqlalchemy.exc import SAWarning

from .course import DEFAULT_TIMEOUT, TRUNCATED, Course
from .notebooks import (
    COURSE_KERNEL,
    NOTEBOOK,
    SOLUTIONS,
    Part,
    graded_parts,
    is_formatted,
    nbgrader_meta,
    read_notebook,
    source_text,
)
from .release import ReleaseError, build_course

STUDENT = "student"  # nbgrader's student id inside each one-submission course
FLAT_NAME = re.compile(r"^(?P<student>.+?)_(?P<chapter>\d\d_[A-Za-z0-9_]+)\.ipynb$")
TEST_FAILURES = {"AssertionError", "CheckFailed", "NotImplementedError"}  # a failed test, not a crash


class GradingError(RuntimeError):
    """The grading command cannot run at all (exit status 1)."""


@dataclass
class Submission:
    student: str
    chapter: str
    path: Path
    problem: str = ""  # set when the file cannot be located in a layout


@dataclass
class Row:
    student: str
    chapter: str
    scores: dict[str, float | None] = field(default_factory=dict)
    total: float = 0.0
    max: float | None = None
    status: str = "graded"
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


# --- finding submissions ----------------------------------------------------------------------


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def find_submissions(folder: Path) -> tuple[list[Submission], list[Path]]:
    """Submissions in either accepted layout, and the files that were ignored."""
    submissions, ignored = [], []
    for entry in sorted(filter(_visible, folder.iterdir())):
        if entry.is_file():
            if entry.suffix != ".ipynb":
                ignored.append(entry)
                continue
            match = FLAT_NAME.match(entry.name)
            if match:
                submissions.append(Submission(match["student"], match["chapter"], entry))
            else:
                submissions.append(Submission(entry.stem, "", entry,
                                              "file name is not <student>_<NN_chapter>.ipynb"))
        elif entry.is_dir():
            for chapter_dir in sorted(filter(_visible, entry.iterdir())):
                if not chapter_dir.is_dir():
                    if chapter_dir.suffix == ".ipynb":
                        submissions.append(Submission(entry.name, chapter_dir.stem, chapter_dir,
                                                      "notebook must be in <student>/<chapter>/exercises.ipynb"))
                    else:
                        ignored.append(chapter_dir)
                    continue
                notebooks = sorted(p for p in chapter_dir.iterdir() if _visible(p) and p.suffix == ".ipynb")
                ignored += [p for p in chapter_dir.iterdir() if _visible(p) and p.suffix != ".ipynb"]
                if (chapter_dir / NOTEBOOK).is_file():
                    submissions.append(Submission(entry.name, chapter_dir.name, chapter_dir / NOTEBOOK))
                    ignored += [p for p in notebooks if p.name != NOTEBOOK]
                elif len(notebooks) == 1:
                    submissions.append(Submission(entry.name, chapter_dir.name, notebooks[0]))
                elif notebooks:
                    submissions.append(Submission(entry.name, chapter_dir.name, chapter_dir,
                                                  f"{len(notebooks)} notebooks and none named {NOTEBOOK}"))
    return submissions, ignored


# --- pre-checks --------------------------------------------------------------------------------


def read_submission(path: Path) -> tuple[str, dict | None, str]:
    """``(text, notebook, problem)``: the problem is a one-line reason, empty when readable."""
    raw = path.read_bytes()
    if not raw.strip():
        return "", None, "empty file"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "", None, "not UTF-8 text"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        return text, None, f"not valid JSON ({error.msg} at line {error.lineno} column {error.colno})"
    if not isinstance(data, dict) or "cells" not in data or "nbformat" not in data:
        return text, None, "not a Jupyter notebook (no cells or nbformat)"
    try:
        with warnings.catch_warnings():  # a missing cell id is upgraded, not reported
            warnings.simplefilter("ignore")
            notebook = nbformat.reads(text, as_version=4)
            nbformat.validate(notebook)
    except Exception as error:  # noqa: BLE001 - any reader failure becomes a one-line reason
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return text, None, f"not a valid notebook ({message[:120]})"
    return nbformat.writes(notebook), json.loads(nbformat.writes(notebook)), ""


def kernel_note(notebook: dict) -> str:
    name = (notebook.get("metadata", {}).get("kernelspec") or {}).get("name")
    if name == COURSE_KERNEL:
        return ""
    return f"kernel {name!r} replaced by the course kernel {COURSE_KERNEL!r}"


def restored_cell_notes(submitted: dict, released: dict) -> list[str]:
    """Which locked test cells nbgrader will restore: deleted ones and edited ones."""
    submitted_cells = {nbgrader_meta(c).get("grade_id"): c for c in submitted.get("cells", []) if nbgrader_meta(c)}
    notes = []
    for cell in released.get("cells", []):
        meta = nbgrader_meta(cell)
        if not (meta.get("grade") and meta.get("locked")):
            continue
        grade_id = meta["grade_id"]
        if grade_id not in submitted_cells:
            notes.append(f"test cell {grade_id} was deleted (restored from the source)")
        elif source_text(submitted_cells[grade_id]).strip() != source_text(cell).strip():
            notes.append(f"test cell {grade_id} was edited (the original was run)")
    return notes


def restore_deleted_answers(submitted: dict, released: dict) -> tuple[dict, list[str]]:
    """Put back the released stub of every deleted answer cell (solution or written answer).

    nbgrader restores deleted *test* cells after their solution cell, but crashes (KeyError)
    when the cell before a deleted graded cell is not a solution or graded cell, as for a
    written answer after its question; and it cannot restore a test cell after a deleted
    solution cell. With the stubs back, a deleted answer scores 0 and the rest is graded.
    """
    present = {nbgrader_meta(c).get("grade_id") for c in submitted.get("cells", []) if nbgrader_meta(c)}
    cells = list(submitted.get("cells", []))
    notes = []
    previous_id = None
    for cell in released.get("cells", []):
        meta = nbgrader_meta(cell)
        grade_id = meta.get("grade_id")
        if meta.get("solution") and grade_id not in present:
            ids = [nbgrader_meta(c).get("grade_id") for c in cells]
            position = ids.index(previous_id) + 1 if previous_id in ids else len(cells)
            cells.insert(position, json.loads(json.dumps(cell)))
            present.add(grade_id)
            kind = "written answer" if cell.get("cell_type") == "markdown" else "solution cell"
            notes.append(f"{kind} {grade_id} was deleted (its empty stub was graded)")
        previous_id = grade_id
    if not notes:
        return submitted, []
    return {**submitted, "cells": cells}, notes


# --- reading the autograded notebook -----------------------------------------------------------


def _one_line(text: str, limit: int = 100) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(text))
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def execution_notes(autograded: dict) -> tuple[bool, list[str]]:
    """``(timed_out, notes)`` from the outputs of the autograded notebook."""
    timed_out, notes = False, []
    code_number = 0
    for cell in autograded.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        code_number += 1
        meta = nbgrader_meta(cell)
        name = meta.get("grade_id") or f"code cell {code_number}"
        is_test = bool(meta.get("grade"))
        outputs = cell.get("outputs", [])
        cell_timed_out = any(o.get("ename") == "CellTimeoutError" for o in outputs if o.get("output_type") == "error")
        if cell_timed_out:
            timed_out = True
            notes.append(f"{name}: stopped at the time limit")
        for output in outputs:
            kind = output.get("output_type")
            if kind == "error" and cell_timed_out:
                continue  # the interrupt's KeyboardInterrupt, already reported as a timeout
            elif kind == "error" and not (is_test and output.get("ename") in TEST_FAILURES):
                notes.append(f"{name}: {output.get('ename')}: {_one_line(output.get('evalue', ''))}".rstrip(": "))
            elif kind == "stream" and TRUNCATED in output.get("text", ""):
                notes.append(f"{name}: output truncated")
            elif kind in ("execute_result", "display_data") and any(
                    TRUNCATED in str(v) for v in output.get("data", {}).values()):
                notes.append(f"{name}: output truncated")
    return timed_out, list(dict.fromkeys(notes))


def _failure_reason(result: dict) -> str:
    """One line out of a failed nbgrader step's log."""
    text = (result.get("log") or "") + "\n" + (result.get("error") or "")
    if "CellTimeoutError" in text or "Timeout waiting" in text:
        return "timeout"
    interesting = [line.strip() for line in text.splitlines()
                   if re.match(r"^\s*[A-Za-z_.]*(Error|Exception)\b", line) and "NbGraderException" not in line]
    return _one_line(interesting[-1]) if interesting else "nbgrader autograde failed"


# --- grading one submission --------------------------------------------------------------------


@dataclass
class Chapter:
    name: str
    parts: list[Part]
    released: dict

    @property
    def max_points(self) -> float:
        return sum(part.points for part in self.parts)


def grade_one(submission: Submission, chapters: dict[str, Chapter], known: list[str], master: Course,
              work: Path, output: Path, timeout: int) -> Row:
    row = Row(submission.student, submission.chapter)
    start = time.perf_counter()
    try:
        _grade_into(row, submission, chapters, known, master, work, output, timeout)
    except Exception as error:  # noqa: BLE001 - one submission must never stop the others
        row.status = f"error: grading crashed ({type(error).__name__}: {_one_line(error, 80)})"
        row.scores = {}
        row.total = 0.0
    finally:
        shutil.rmtree(work, ignore_errors=True)  # this submission's course, database copy included
    row.seconds = time.perf_counter() - start
    return row


def _grade_into(row, submission, chapters, known, master, work, output, timeout) -> None:
    feedback_root, log_root = output / "feedback", output / "logs"
    if submission.problem:
        row.status = f"error: {submission.problem}"
        return
    if submission.chapter not in known:
        row.status = f"error: unknown chapter {submission.chapter!r} (chapters: {', '.join(known)})"
        return
    if submission.chapter not in chapters:
        row.status = f"error: chapter {submission.chapter!r} has no graded exercises yet"
        return
    chapter = chapters[submission.chapter]
    row.max = chapter.max_points
    text, notebook, problem = read_submission(submission.path)
    if problem:
        row.status = f"error: {problem}"
        return
    notebook, notes = restore_deleted_answers(notebook, chapter.released)
    if notes:
        row.notes += notes
        text = json.dumps(notebook, indent=1, ensure_ascii=False)
    row.notes += restored_cell_notes(notebook, chapter.released)
    note = kernel_note(notebook)
    if note:
        row.notes.append(note)

    course = Course(work, timeout=timeout)
    course.add_source(chapter.name, master.root / "solutions" / chapter.name)
    shutil.copyfile(master.db_path, course.db_path)
    course.submit(STUDENT, chapter.name, text)
    result = course.autograde(STUDENT, chapter.name)
    log_path = log_root / submission.student / chapter.name / "autograde.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text((result.get("log") or "") + (result.get("error") or ""), encoding="utf-8")
    autograded_path = course.autograded_notebook(STUDENT, chapter.name)
    if not result["success"] or not autograded_path.is_file():
        reason = _failure_reason(result)
        row.status = "timeout" if reason == "timeout" else f"error: {reason}"
        if reason == "timeout":
            row.notes.append("the kernel did not stop after the time limit, nothing graded")
        return
    timed_out, notes = execution_notes(read_notebook(autograded_path))
    row.notes += notes
    row.status = "timeout" if timed_out else "graded"
    scores = course.scores(STUDENT, chapter.name)
    row.scores = {part.grade_id: scores.get(part.grade_id, (0.0, part.points))[0] for part in chapter.parts}
    row.total = sum(score for score in row.scores.values() if score is not None)

    feedback = course.generate_feedback(STUDENT, chapter.name)
    html = course.feedback_html(STUDENT, chapter.name)
    if feedback["success"] and html.is_file():
        target = feedback_root / submission.student / chapter.name / html.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(html, target)
    else:
        row.notes.append(f"no feedback HTML ({_failure_reason(feedback)})")


# --- the command -------------------------------------------------------------------------------


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:g}"


def write_csv(rows: list[Row], part_columns: list[str], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["student", "chapter", *part_columns, "total", "max", "status", "note"])
        for row in rows:
            writer.writerow([
                row.student, row.chapter,
                *(_number(row.scores.get(column)) for column in part_columns),
                _number(row.total), _number(row.max), row.status,
                "; ".join(note.replace("; ", ", ") for note in row.notes),
            ])


def summary(rows: list[Row], chapters: dict[str, Chapter]) -> str:
    out = io.StringIO()
    graded = sum(row.status == "graded" for row in rows)
    timeouts = sum(row.status == "timeout" for row in rows)
    errors = sum(row.status.startswith("error") for row in rows)
    out.write(f"{len(rows)} submissions: {graded} graded, {timeouts} with a timeout, {errors} with errors\n")
    scored = [row for row in rows if row.scores]  # rows with scores (graded, or timeout in one cell)
    for name, chapter in chapters.items():
        chapter_rows = [row for row in scored if row.chapter == name]
        if not chapter_rows:
            continue
        out.write(f"mean score per part, {name} ({len(chapter_rows)} with scores):\n")
        for part in chapter.parts:
            values = [row.scores.get(part.grade_id) for row in chapter_rows]
            by_hand = sum(v is None for v in values)
            values = [v for v in values if v is not None]
            mean = f"{sum(values) / len(values):.2f} / {part.points:g}" if values else f"- / {part.points:g}"
            if by_hand:
                mean += f" ({len(values)} scored, {by_hand} to grade by hand)"
            out.write(f"  {part.grade_id:<32} {mean}\n")
        mean_total = sum(row.total for row in chapter_rows) / len(chapter_rows)
        out.write(f"  {'total':<32} {mean_total:.2f} / {chapter.max_points:g}\n")
    return out.getvalue()


def grade(submissions: Path, output: Path, timeout: int = DEFAULT_TIMEOUT, solutions: Path = SOLUTIONS,
          log=print) -> list[Row]:
    """Grade every submission under ``submissions``; write ``output``/gradebook.csv and feedback."""
    submissions, output, solutions = Path(submissions), Path(output), Path(solutions)
    if not submissions.is_dir():
        raise GradingError(f"submissions folder {submissions} does not exist")
    if timeout <= 0:
        raise GradingError(f"--timeout must be a positive number of seconds, got {timeout}")
    try:
        output.mkdir(parents=True, exist_ok=True)
        probe = output / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise GradingError(f"cannot write to output folder {output} ({error.strerror})") from None

    try:
        tmp = tempfile.TemporaryDirectory(prefix="attnbook-grading-")
    except OSError as error:
        raise GradingError(f"no writable temporary folder for nbgrader's database ({error})") from None
    with tmp:
        work = Path(tmp.name)
        master = Course(work / "master", timeout=timeout)
        try:
            sources = build_course(master, solutions)
        except ReleaseError as error:
            raise GradingError(str(error)) from None
        except OSError as error:
            raise GradingError(f"cannot build the nbgrader database in {work} ({error})") from None
        if not master.db_path.is_file():
            raise GradingError(f"nbgrader wrote no database in {work}")
        known = sorted(sources)
        if not known:
            raise GradingError(f"no chapters with exercises in {solutions}")
        chapters = {
            name: Chapter(name, graded_parts(source), read_notebook(master.released_notebook(name)))
            for name, source in sources.items() if is_formatted(source)
        }

        found, ignored = find_submissions(submissions)
        for stale in (output / "feedback", output / "logs"):
            if stale.exists():
                shutil.rmtree(stale)
        rows, seen = [], {}
        for number, submission in enumerate(found, start=1):
            key = (submission.student, submission.chapter)
            if key in seen and submission.chapter:
                row = Row(*key, status=f"error: second submission for this student and chapter "
                                       f"(graded {seen[key].relative_to(submissions)})")
            else:
                seen[key] = submission.path
                with warnings.catch_warnings():  # nbgrader's own: SQLAlchemy autoflush, restored cells without id
                    warnings.simplefilter("ignore", SAWarning)
                    warnings.simplefilter("ignore", MissingIDFieldWarning)
                    row = grade_one(submission, chapters, known, master, work / f"submission-{number}",
                                    output, timeout)
            rows.append(row)
            log(f"  {row.student}/{row.chapter or '?'}: {row.status}, {_number(row.total)}/{_number(row.max) or '-'}"
                f" ({row.seconds:.1f} s)")

    used = [name for name in chapters if any(row.chapter == name for row in rows)]
    part_columns = list(dict.fromkeys(part.grade_id for name in used for part in chapters[name].parts))
    write_csv(rows, part_columns, output / "gradebook.csv")
    log(summary(rows, chapters).rstrip())
    if ignored:
        log(f"ignored {len(ignored)} files that are not submissions, e.g. {ignored[0].relative_to(submissions)}")
    log(f"wrote {output / 'gradebook.csv'}, feedback HTML under {output / 'feedback'}, "
        f"nbgrader logs under {output / 'logs'}")
    return rows
