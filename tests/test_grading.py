"""Instructor grading: `make grade` on a generated class of honest, clumsy and hostile submissions.

The class (tests/grading_fixtures/make_class.py) holds a correct submission, a partial one, each
clumsy kind, and one submission per attack of issue 8 (unearned points, harm to others and to the
instructor, leaks, honest students losing everything). It is generated from the small fixture
chapter (tests/grading_fixtures/softmax_chapter.py, chapter id 03_softmax), so the attacks'
outcomes do not change when a real chapter's exercises do, and graded once per session with the
real command (`make grade ... JOBS=2`) and short time limits. Every row is compared exactly with
the row computed from the source notebook's metadata; after the run nothing of attnbook/,
solutions/, exercises/ or the output folder's other files has changed, no process an attack
started is alive, and the grader's temporary course is gone.

The run needs bubblewrap: without it these tests skip with the install hint, except under CI
(environment variable CI set), where they fail. Fast unit tests cover the layouts, the pre-checks,
the notebook preparation, the tampering reader, the clean run's reduction and the feedback page.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from grading_fixtures import make_class, softmax_chapter

from attnbook.grading import notebooks as nb
from attnbook.grading.feedback import clean_html, markdown_html, page, visible_test_source
from attnbook.grading.grade import (
    display_name,
    execution_notes,
    find_submissions,
    read_submission,
    restore_deleted_answers,
    restored_cell_notes,
    spreadsheet_text,
    write_csv,
)
from attnbook.grading.prepare import prepare
from attnbook.grading.release import release
from attnbook.grading.sandbox import INSTALL_HINT, Sandbox, probe
from attnbook.grading.tamper import clean_notebook, defined_names, definitions_only, findings, module_aliases

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = softmax_chapter.CHAPTER
TIMEOUT = 20  # seconds per cell: the infinite loop costs one of these per run; torch imports well within it
TOTAL_TIMEOUT = 45  # seconds per notebook: the slow-cells submission is stopped by this one
JOBS = 2
UNKNOWN = "99_no_such_chapter"
TEMP_PREFIX = "attnbook-grading-"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


def require_sandbox() -> None:
    problem = probe(Sandbox())
    if not problem:
        return
    if _in_ci():
        pytest.fail(f"CI is set, so the grading sandbox must work: {problem}", pytrace=False)
    pytest.skip(problem)


def tree_hashes(folder: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """sha256 of every regular file under ``folder`` (bytecode caches left out)."""
    hashes = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if "__pycache__" in path.parts or not path.is_file() or path.is_symlink() or relative.startswith(skip):
            continue
        hashes[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def attack_processes() -> list[str]:
    """Command lines of live processes that carry the attacks' marker."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if make_class.MARKER in command and "pytest" not in command:
            found.append(f"{entry.name}: {command[:120]}")
    return found


def temporary_courses() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*")}


@dataclass
class GradedClass:
    solutions: Path
    expected: dict
    parts: list
    submissions: Path
    output: Path
    result: subprocess.CompletedProcess
    seconds: float
    hashes_before: dict
    hashes_after: dict
    courses_before: set
    courses_after: set
    processes_after: list

    def rows(self) -> dict[str, dict]:
        with (self.output / "gradebook.csv").open(encoding="utf-8") as handle:
            return {row["student"]: row for row in csv.DictReader(handle)}


def _protected_trees(solutions: Path, output: Path) -> dict:
    return {
        "attnbook": tree_hashes(ROOT / "attnbook"),
        "solutions": tree_hashes(ROOT / "solutions"),
        "exercises": tree_hashes(ROOT / "exercises"),
        "fixture solutions": tree_hashes(solutions),
        "output (other files)": tree_hashes(output, skip=("gradebook.csv", "feedback/", "logs/")),
    }


@pytest.fixture(scope="session")
def graded_class(tmp_path_factory) -> GradedClass:
    require_sandbox()
    work = tmp_path_factory.mktemp("grading")
    solutions = work / "solutions"
    source_path = softmax_chapter.write_chapter(solutions)
    release(solutions, work / "exercises")
    submissions, output = work / "submissions", work / "gradebook"
    expected = make_class.make_class(work / "exercises" / CHAPTER / nb.NOTEBOOK, source_path,
                                     softmax_chapter.WRONG_ANSWERS, submissions, CHAPTER, output=output,
                                     timeout=TIMEOUT, total_timeout=TOTAL_TIMEOUT)
    (output / "last-year").mkdir(parents=True)  # the instructor's own files, which nothing may touch
    (output / "notes.txt").write_text("grading notes of the instructor\n", encoding="utf-8")
    (output / "last-year" / "feedback.html").write_text("<p>last year's feedback</p>\n", encoding="utf-8")
    before, courses_before = _protected_trees(solutions, output), temporary_courses()
    command = ["make", "--no-print-directory", "grade", f"SUBMISSIONS={submissions}", f"GRADEBOOK={output}",
               f"SOLUTIONS={solutions}", f"TIMEOUT={TIMEOUT}", f"TOTAL_TIMEOUT={TOTAL_TIMEOUT}", f"JOBS={JOBS}"]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - start
    time.sleep(2)  # anything an attack left running would have two seconds to deface the output
    after = _protected_trees(solutions, output)
    parts = nb.graded_parts(nb.read_notebook(source_path))
    return GradedClass(solutions, expected, parts, submissions, output, result, seconds, before, after,
                       courses_before, temporary_courses(), attack_processes())


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
    refused = status.startswith("error") and "refused" in status
    return {
        "student": student,
        "chapter": expected.chapter,
        **scores,
        "total": _number(total),
        "max": "" if student == "unknown-chapter" or refused else _number(max_points),
        "status": status,
    }


def test_grade_command_exits_0_and_prints_a_summary(graded_class):
    result = graded_class.result
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    statuses = [e.status for e in graded_class.expected.values()]
    graded = statuses.count("graded")
    timeouts = statuses.count("timeout")
    errors = len(statuses) - graded - timeouts
    assert f"{len(statuses)} submissions: {graded} graded, {timeouts} with a timeout, {errors} with errors" \
        in result.stdout
    flagged = sum(bool(e.review) for e in graded_class.expected.values())
    assert f"{flagged} to review (see the review column)" in result.stdout
    timings = [float(s) for s in re.findall(r"\((\d+\.\d) s\)", result.stdout)]
    worked = [t for t in timings if t > 0]
    print(f"\ngraded {len(worked)} submissions with JOBS={JOBS} in {graded_class.seconds:.0f} s; per submission "
          f"{min(worked):.1f}-{max(worked):.1f} s (timeout {TIMEOUT} s per cell, {TOTAL_TIMEOUT} s per notebook)")


@pytest.mark.parametrize("student", sorted(make_class.STUDENTS))
def test_gradebook_row(graded_class, student):
    rows = graded_class.rows()
    assert student in rows, f"no row for {student}; rows: {sorted(rows)}\n{graded_class.result.stderr[-2000:]}"
    expected = graded_class.expected[student]
    row = dict(rows[student])
    note, review = row.pop("note"), row.pop("review")
    want = _expected_row(graded_class, student, expected)
    assert {k: row.get(k, "") for k in want} == want
    assert (note.split("; ") if note else []) == expected.notes
    assert (review.split("; ") if review else []) == expected.review


def test_gradebook_has_one_row_per_submission_and_the_documented_columns(graded_class):
    with (graded_class.output / "gradebook.csv").open(encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = list(reader)
    parts = [p.grade_id for p in graded_class.parts]
    assert header == ["student", "chapter", *parts, "total", "max", "status", "review", "note"]
    assert sorted(r[0] for r in rows) == sorted(graded_class.expected)
    assert sorted(graded_class.expected) == sorted(make_class.STUDENTS)
    for row in rows:  # no cell a spreadsheet would evaluate
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row), row


def test_nothing_outside_the_output_changed(graded_class):
    for name, hashes in graded_class.hashes_before.items():
        assert graded_class.hashes_after[name] == hashes, f"{name} changed during grading"
    assert graded_class.hashes_before["output (other files)"], "the instructor's files were not hashed"


def test_no_process_of_an_attack_survives_and_no_course_is_left(graded_class):
    assert graded_class.processes_after == []
    assert graded_class.courses_after <= graded_class.courses_before, \
        f"left behind: {graded_class.courses_after - graded_class.courses_before}"
    for folder in (graded_class.output, graded_class.submissions, ROOT / "exercises", ROOT / "solutions"):
        assert not list(folder.rglob("gradebook.db")), folder
        assert not list(folder.rglob(".nbgrader.log")), folder


def test_feedback_html_for_every_graded_submission_only(graded_class):
    feedback = graded_class.output / "feedback"
    have = sorted(str(p.relative_to(feedback)) for p in feedback.rglob("*.html"))
    want = sorted(f"{student}/{CHAPTER}/exercises.html" for student, e in graded_class.expected.items()
                  if e.status in ("graded", "timeout"))
    want = [w.replace("'=1+2", "=1+2") for w in want]  # the folder has the name, the CSV the escaped text
    assert have == want
    html = (feedback / "partial" / CHAPTER / "exercises.html").read_text(encoding="utf-8")
    assert "<html" in html.lower() and "stable_softmax" in html


def test_feedback_hides_the_hidden_tests_runs_no_script_and_renders_math_offline(graded_class):
    hidden = nb.hidden_test_lines(softmax_chapter.source_notebook())
    assert hidden
    for path in sorted((graded_class.output / "feedback").rglob("*.html")):
        html = path.read_text(encoding="utf-8")
        leaks = [line for line in hidden if line in html or line.replace('"', "&quot;") in html]
        assert not leaks, f"{path}: hidden test text {leaks[:2]}"
        assert nb.BEGIN_HIDDEN not in html
        assert "<script" not in html.lower() and not re.search(r"\son[a-z]+\s*=", html), path
        assert not re.search(r"""(src|href)\s*=\s*["']?\s*javascript:""", html, re.IGNORECASE), path
        assert "Content-Security-Policy" in html and "script-src 'none'" in html
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), f"{path} loads something from the web"
    scripted = (graded_class.output / "feedback" / "script-in-answer" / CHAPTER / "exercises.html").read_text()
    assert "<math" in scripted and "<b>bold</b>" in scripted and "&lt;script&gt;" in scripted  # code shown, not run
    assert "[JavaScript output not shown]" in scripted


def test_megabytes_of_output_are_cut(graded_class):
    html = graded_class.output / "feedback" / "prints-megabytes" / CHAPTER / "exercises.html"
    assert html.stat().st_size < 1_000_000, f"feedback of the chatty submission is {html.stat().st_size} bytes"


# --- exit status when grading cannot run ------------------------------------------------------


def _grade(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "attnbook.grading", "grade", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env=env)


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


def test_without_bubblewrap_grading_refuses_unless_no_sandbox(tmp_path):
    (tmp_path / "subs").mkdir()
    env = {**os.environ, "PATH": str(tmp_path / "empty")}  # no bwrap on PATH
    result = _grade(str(tmp_path / "subs"), "--output", str(tmp_path / "out"), env=env)
    assert result.returncode == 1
    assert result.stderr.strip() == (f"error: bubblewrap (bwrap) is not installed; {INSTALL_HINT}; "
                                     "or grade trusted submissions with --no-sandbox")


def test_no_sandbox_grades_with_a_loud_warning_and_says_so_in_every_row(tmp_path):
    solutions = tmp_path / "solutions"
    softmax_chapter.write_chapter(solutions)
    release(solutions, tmp_path / "exercises")
    released = nb.read_notebook(tmp_path / "exercises" / CHAPTER / nb.NOTEBOOK)
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / f"ann_{CHAPTER}.ipynb").write_text(json.dumps(released), encoding="utf-8")
    result = _grade(str(tmp_path / "subs"), "--output", str(tmp_path / "out"), "--solutions", str(solutions),
                    "--no-sandbox", "--jobs", "1", "--timeout", str(TIMEOUT))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "WARNING: grading WITHOUT the sandbox" in result.stderr
    with (tmp_path / "out" / "gradebook.csv").open(encoding="utf-8") as handle:
        row = next(csv.DictReader(handle))
    assert row["status"] == "graded" and row["note"] == "graded without the sandbox (--no-sandbox)"


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


def test_links_special_files_and_any_bytes_in_names(tmp_path):
    target = tmp_path / "elsewhere.ipynb"
    target.write_text("{}")
    (tmp_path / "subs" / "ann" / "03_softmax").mkdir(parents=True)
    (tmp_path / "subs" / "ann" / "03_softmax" / "exercises.ipynb").symlink_to(target)
    (tmp_path / "subs" / "bo").symlink_to(tmp_path / "subs" / "ann")
    os.mkfifo(tmp_path / "subs" / "cy_03_softmax.ipynb")
    os.link(target, tmp_path / "subs" / "di_03_softmax.ipynb")
    with open(os.fsencode(tmp_path / "subs") + b"/\xff\x01_03_softmax.ipynb", "w") as handle:
        handle.write("{}")
    found, _ = find_submissions(tmp_path / "subs")
    assert [(s.student, s.chapter, s.problem) for s in found] == [
        ("ann", "03_softmax", "symbolic link refused (submissions must be regular files)"),
        ("bo", "", "symbolic link refused (submissions must be regular files)"),
        ("cy", "03_softmax", "FIFO refused (submissions must be regular files)"),
        ("di", "03_softmax", "hard link refused (the file has another name on this disk)"),
        ("\\xff\\x01", "03_softmax", ""),  # the undecodable byte sorts last
    ]
    assert display_name("caf\udce9") == "caf\\xe9"


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


def test_a_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "s.ipynb"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(softmax_chapter.source_notebook()).encode())
    _, notebook, reason = read_submission(path)
    assert reason == "" and len(notebook["cells"]) == len(softmax_chapter.source_notebook().cells)


def test_deleted_answer_cells_are_put_back_as_stubs():
    released = json.loads(json.dumps(softmax_chapter.source_notebook()))
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
    released = json.loads(json.dumps(softmax_chapter.source_notebook()))
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


def test_prepare_drops_steering_metadata_and_repairs_copied_cells():
    released = json.loads(json.dumps(softmax_chapter.source_notebook()))
    submitted = json.loads(json.dumps(released))
    submitted["metadata"]["kernelspec"]["argv"] = ["evil"]
    submitted["cells"][4]["metadata"]["tags"] = ["skip-execution"]
    submitted["cells"][4]["metadata"]["nbgrader"]["points"] = 100
    copy_of_solution = json.loads(json.dumps(submitted["cells"][3]))
    copy_of_solution["id"] = "pasted"
    submitted["cells"].insert(3, copy_of_solution)  # the copy comes first; the original keeps the metadata
    submitted["cells"].append({"cell_type": "code", "id": "x", "source": "1", "outputs": [], "execution_count": 1,
                               "metadata": {"nbgrader": {"grade": True, "grade_id": "bonus", "points": 50}}})
    prepared, notes, review = prepare(submitted, released)
    assert prepared["metadata"] == released["metadata"]
    assert review == ["execution tag 'skip-execution' removed from 1 cell"]
    assert notes == ["cell stable_softmax was copied (1 copy run as an ordinary cell)"]
    assert prepared["cells"][3]["metadata"] == {} and prepared["cells"][4]["metadata"]["nbgrader"]["grade_id"] == \
        "stable_softmax"
    assert prepared["cells"][5]["metadata"] == {"nbgrader": released["cells"][4]["metadata"]["nbgrader"]}
    assert prepared["cells"][-1]["metadata"] == {}
    assert all(set(c) <= {"cell_type", "id", "metadata", "source", "outputs", "execution_count"}
               for c in prepared["cells"])


def test_spreadsheet_text_and_atomic_gradebook(tmp_path):
    from attnbook.grading.grade import Row

    assert [spreadsheet_text(t) for t in ("=1+2", "+x", "-1", "@a", "ok", "")] == ["'=1+2", "'+x", "'-1", "'@a",
                                                                                 "ok", ""]
    path = tmp_path / "gradebook.csv"
    path.write_text("old\n")
    write_csv([Row("=cmd", "03_softmax", status="error: x", notes=["-note"])], [], path)
    assert path.read_text().splitlines()[1] == "'=cmd,03_softmax,0,,error: x,,'-note"
    assert [p.name for p in tmp_path.iterdir()] == ["gradebook.csv"]  # no temporary file left


# --- reading the code for tampering, and the clean run (fast) ---------------------------------


def _notebook_with(source: str) -> tuple[dict, dict]:
    released = json.loads(json.dumps(softmax_chapter.source_notebook()))
    submitted = json.loads(json.dumps(released))
    submitted["cells"][3]["source"] = source  # the stable_softmax solution cell
    return submitted, released


@pytest.mark.parametrize(("source", "reasons"), [
    (softmax_chapter.STABLE_SOFTMAX, []),
    ("import numpy as np\nnp.allclose = lambda *a, **k: True", ["reassigns numpy.allclose"]),
    ("np = None", ["rebinds np, which the tests use"]),
    ("import torch as np", ["rebinds np, which the tests use"]),
    ("get_ipython().events.register('pre_run_cell', print)",
     ["IPython machinery (events)", "IPython machinery (get_ipython)"]),
    ("%time x = 1", ["IPython machinery (magics or shell commands)"]),
    ("!rm -rf /", ["IPython machinery (magics or shell commands)"]),
    ("import ctypes\nctypes.string_at(0)", ["uses ctypes"]),
    ("import os\nos.kill(1, 9)", ["uses os.kill"]),
    ("f = open('/etc/passwd')", ["file access (open)"]),
    ("setattr(__import__('numpy'), 'allclose', len)",
     ["sets attributes dynamically (setattr)", "dynamic code (__import__)"]),
    ("x = [0 for np.allclose in [len]]", ["reassigns numpy.allclose"]),
    ("import sys\nsys.modules['numpy'] = None", ["changes sys.modules[...]", "touches the interpreter (sys.modules)"]),
    ("x = print.__self__", ["dunder attribute (__self__)"]),
])
def test_the_reader_reports_uses_of_the_interpreter_machinery(source, reasons):
    submitted, released = _notebook_with(source)
    names = defined_names(softmax_chapter.source_notebook())
    assert findings(submitted, released, names) == [f"stable_softmax: {r}" for r in reasons]


def test_the_clean_run_keeps_only_definitions_that_cannot_tamper():
    aliases = module_aliases(["import numpy as np", "import importlib"])
    protected = {"np", "importlib", "attnbook"}
    source = '''import math
EPS = 1e-9
TABLE = np.arange(3)
np.allclose = lambda *a, **k: True
np = None
print("debugging")
get_ipython().input_transformers_cleanup.append(lambda lines: [])
hook = get_ipython()


@staticmethod
def helper(x, eps=EPS):
    return x + eps


@(lambda f: setattr(np, "allclose", f) or f)
def sneaky(x):
    return x


class Model:
    """A class."""
    size = 3

    def forward(self, x):
        return x


class Tricky:
    np.allclose = len
'''
    assert definitions_only(source, aliases, protected) == "\n\n".join([
        "import math", "EPS = 1e-09", "TABLE = np.arange(3)",
        "@staticmethod\ndef helper(x, eps=EPS):\n    return x + eps",
        "class Model:\n    \"\"\"A class.\"\"\"\n    size = 3\n\n    def forward(self, x):\n        return x",
    ])


def test_clean_notebook_keeps_locked_cells_whole():
    released = json.loads(json.dumps(softmax_chapter.source_notebook()))
    autograded = json.loads(json.dumps(released))
    autograded["cells"][3]["source"] = softmax_chapter.STABLE_SOFTMAX + "\nnp.allclose = len"
    autograded["cells"][4]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "ok"}]
    clean = clean_notebook(autograded, released, defined_names(released))
    assert clean["cells"][4]["source"] == softmax_chapter.STABLE_SOFTMAX_TESTS  # hidden tests included
    assert clean["cells"][4]["outputs"] == []
    assert "np.allclose" not in clean["cells"][3]["source"] and "def stable_softmax" in clean["cells"][3]["source"]


# --- the feedback page (fast) -----------------------------------------------------------------


def test_feedback_sanitiser_and_math():
    dirty = ('<p onclick="x()">hi<script>alert(1)</script><img src="x" onerror="alert(1)">'
             '<a href="javascript:alert(1)">a</a><iframe src="https://example.org"></iframe>'
             '<img src="data:image/png;base64,iVBORw0KGgo="></p>')
    cleaned = clean_html(dirty)
    assert "script" not in cleaned and "onerror" not in cleaned and "onclick" not in cleaned
    assert "javascript" not in cleaned and "iframe" not in cleaned and 'src="x"' not in cleaned
    assert 'src="data:image/png;base64,iVBORw0KGgo="' in cleaned
    rendered = markdown_html(r"The weight $w_i = e^{x_i}$ and $$\sum_i w_i$$ and \text{<script>}")
    assert rendered.count("<math") == 2 and "<script" not in rendered


def test_feedback_page_has_no_hidden_tests_and_no_traceback_of_a_test():
    source = json.loads(json.dumps(softmax_chapter.source_notebook()))
    source["cells"][4]["outputs"] = [{"output_type": "error", "ename": "AssertionError", "evalue": "",
                                      "traceback": ["assert np.allclose(stable_softmax(big), [[0.26894142, 0.7]])"]}]
    html = page(source, "ann: feedback", {"stable_softmax_tests": 0.0, "masked_softmax_tests": 3.0,
                                          "max_shift_written": None},
                {"stable_softmax_tests": 2.0, "masked_softmax_tests": 3.0, "max_shift_written": 1.0},
                nb.hidden_test_lines(source))
    assert "stable_softmax(big)" not in html and "big = np.array" not in html
    assert "(hidden tests are not shown)" in html and "AssertionError" in html
    assert "Score so far: 3 / 6" in html and "to be graded by hand (out of 1)" in html
    assert visible_test_source("a\n### BEGIN HIDDEN TESTS\nb\n### END HIDDEN TESTS\nc") == \
        "a\n# (hidden tests are not shown)\nc"


# --- the sandbox command and the learner's JupyterLab (fast) ----------------------------------


def test_the_sandbox_shows_the_kernel_nothing_of_the_repository_but_the_package():
    argv = Sandbox().kernel_argv(Path("/tmp/attnbook-grading-x/k1"))
    bound = [argv[i + 2] for i, a in enumerate(argv) if a in ("--bind", "--ro-bind", "--ro-bind-try")]
    inside_root = [b for b in bound if Path(b).is_relative_to(ROOT)]
    assert sorted(inside_root) == sorted({str(ROOT / "attnbook"), sys.prefix} & set(inside_root))
    assert "--unshare-net" in argv and "--unshare-pid" in argv and "--die-with-parent" in argv
    assert [a for a in argv if a.startswith("--as=")] and "--clearenv" in argv
    writable = [argv[i + 2] for i, a in enumerate(argv) if a == "--bind"]
    assert writable == ["/tmp/attnbook-grading-x/k1"]


def test_learners_jupyterlab_hides_the_instructor_tools_but_keeps_validate():
    config = ROOT / "jupyter"
    server = json.loads((config / "jupyter_server_config.json").read_text())
    extensions = server["ServerApp"]["jpserver_extensions"]
    assert extensions == {
        "nbgrader.server_extensions.formgrader": False,
        "nbgrader.server_extensions.course_list": False,
        "nbgrader.server_extensions.assignment_list": False,
        "nbgrader.server_extensions.validate_assignment": True,
    }
    disabled = json.loads((config / "labconfig" / "page_config.json").read_text())["disabledExtensions"]
    assert disabled == {f"@jupyter/nbgrader:{name}": True
                        for name in ("formgrader", "create-assignment", "course-list", "assignment-list")}
    effective = ("from jupyter_server.serverapp import ServerApp; app = ServerApp(); app.load_config_file(); "
                 "app.init_server_extensions(); import json; print(json.dumps({k: v for k, v in "
                 "app.jpserver_extensions.items() if k.startswith('nbgrader')}))")
    env = {**os.environ, "JUPYTER_CONFIG_PATH": str(config)}
    learner = subprocess.run([sys.executable, "-c", effective], capture_output=True, text=True, env=env, timeout=120)
    assert json.loads(learner.stdout.strip().splitlines()[-1]) == extensions, learner.stderr[-2000:]
    listed = subprocess.run([str(Path(sys.executable).parent / "jupyter"), "labextension", "list"],
                            capture_output=True, text=True, env=env, timeout=120)
    text = (listed.stdout + listed.stderr).split("Disabled extensions:")[-1]
    assert sorted(re.findall(r"@jupyter/nbgrader:[a-z-]+", text)) == sorted(disabled)
