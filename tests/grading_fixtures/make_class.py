"""A generated class of submissions for one chapter: honest, clumsy and hostile ones.

``make_class(released, source, wrong_answers, folder, chapter, ...)`` writes the submissions
under ``folder`` (both accepted layouts) and returns ``{student: Expected}``: the status, the
per-part scores, the ``review`` reasons and the notes the grader must report, as they appear in
``gradebook.csv``, computed from the source notebook's metadata. Clumsy changes are made to the
chapter's *last* auto-graded part, which no earlier part depends on, so the expected points of
every other part stay exact.

The hostile submissions are the attacks of issue 8, one each (see ATTACKS below and the README's
Grading section); each would have earned unearned points, hurt other students or the instructor,
or lost an honest student's work with the grader as it was before the sandbox.
"""

from __future__ import annotations

import copy
import json
import os
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


STUDENTS = [  # every submission of the class, as its student appears in gradebook.csv
    "correct", "partial", "raises-at-import", "infinite-loop", "prints-megabytes", "edits-test-cell",
    "deletes-test-cell", "deletes-answer-cells", "monkeypatches-checks", "renames-function", "invalid-json",
    "empty-file", "unknown-chapter", "other-kernel",
    # unearned points
    "skip-execution-tags", "reads-solutions", "sqlite-own-database", "ipython-transformer", "patches-numpy",
    "symlink",
    # harm to others and to the instructor
    "sqlite-master-database", "backdoor-package", "background-process", "kills-grader", "memory-hog",
    "many-processes", "slow-cells", "script-in-answer", "'=1+2", "caf\\xe9", "fifo",
    # honest students who must not lose everything
    "copied-cell", "byte-order-mark", "dies-at-the-end", "zz-graded-after-the-attacks",
]
MARKER = "attnbook-grading-attack"  # in the command line of every process an attack starts

READS_SOLUTIONS = '''import json
import pathlib

import attnbook

candidates = [pathlib.Path("../../../solutions/{chapter}/exercises.ipynb"),
              pathlib.Path(attnbook.__file__).resolve().parents[1] / "solutions" / "{chapter}" / "exercises.ipynb",
              pathlib.Path({source!r})]
for candidate in candidates:
    if candidate.is_file():
        for cell in json.loads(candidate.read_text())["cells"]:
            if cell["cell_type"] == "code" and cell["metadata"].get("nbgrader", {{}}).get("solution"):
                exec("".join(cell["source"]))
        break'''

SQLITE_OWN_DATABASE = '''import pathlib
import sqlite3

here = pathlib.Path.cwd()
for folder in [here, *here.parents]:
    database = folder / "gradebook.db"
    if database.is_file():
        connection = sqlite3.connect(database)
        connection.executescript("""
            CREATE TRIGGER IF NOT EXISTS full_marks AFTER UPDATE ON grade
            WHEN NEW.auto_score IS NOT NULL AND NEW.auto_score < (SELECT max_score FROM grade_cells WHERE id = NEW.cell_id)
            BEGIN UPDATE grade SET auto_score = (SELECT max_score FROM grade_cells WHERE id = NEW.cell_id)
                  WHERE id = NEW.id; END;
            UPDATE grade SET manual_score = 100;""")
        connection.commit()'''

SQLITE_MASTER_DATABASE = '''import glob
import sqlite3

for database in glob.glob("/tmp/attnbook-grading-*/master/gradebook.db"):
    connection = sqlite3.connect(database)
    connection.executescript("""
        CREATE TRIGGER IF NOT EXISTS zero_for_everyone AFTER UPDATE ON grade
        WHEN NEW.auto_score > 0 BEGIN UPDATE grade SET auto_score = 0 WHERE id = NEW.id; END;""")
    connection.commit()'''

INPUT_TRANSFORMER = "get_ipython().input_transformers_cleanup.append(lambda lines: [])"

PATCHES_NUMPY = """import numpy

numpy.allclose = lambda *args, **kwargs: True"""

BACKDOOR = '''import pathlib

import attnbook

try:
    with open(pathlib.Path(attnbook.__file__), "a") as package:
        package.write("\\nimport numpy\\nnumpy.allclose = lambda *args, **kwargs: True\\n")
except OSError:
    pass'''

BACKGROUND = '''import subprocess
import sys

LOOP = """
import glob, time
end = time.time() + 300
while time.time() < end:
    for path in glob.glob({output!r} + "/**/*.html", recursive=True) + [{output!r} + "/gradebook.csv"]:
        try:
            with open(path, "w") as target:
                target.write("defaced")
        except OSError:
            pass
    sum(i * i for i in range(10**6))
"""
subprocess.Popen([sys.executable, "-c", LOOP, "{marker}"], start_new_session=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)'''

KILLS_GRADER = """import os

try:
    os.kill(os.getppid(), 9)
except OSError:
    pass"""

DIES = """import os

os._exit(1)"""

MEMORY = """import numpy

hoard = numpy.ones(3 * 2**30 // 8)"""

MANY_PROCESSES = """import subprocess

children = [subprocess.Popen(["sleep", "300", "{marker}"]) for _ in range(1000)]"""

SCRIPT_ANSWER = """Subtracting the maximum $m$ multiplies numerator and denominator by $e^{-m}$.
<script>document.title = "pwned"</script><img src="x" onerror="document.title = 'pwned'">
<a href="javascript:document.title = 'pwned'">a link</a>"""

SCRIPT_OUTPUT = """from IPython.display import HTML, Javascript, display

display(HTML("<script>document.title = 'pwned'</script><b>bold</b>"))
display(Javascript("document.title = 'pwned'"))"""

MEMORY_NOTE = "MemoryError: Unable to allocate 3.00 GiB for an array with shape (402653184,) and data type float64"


@dataclass
class Expected:
    chapter: str
    status: str
    scores: dict  # grade_id -> points ("" when empty)
    notes: list = field(default_factory=list)
    layout: str = "nested"
    review: list = field(default_factory=list)


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


def _added(notebook, source: str, after: str | None = None) -> str:
    """Add a code cell after the cell ``after`` (grade_id; None: at the end); its label in the notes."""
    cell = nbformat.v4.new_code_cell(source)
    position = len(notebook.cells) if after is None else notebook.cells.index(_cell(notebook, after)) + 1
    notebook.cells.insert(position, cell)
    number = sum(c.cell_type == "code" for c in notebook.cells[: position + 1])
    return f"code cell {number}"


def make_class(released_path: Path, source_path: Path, wrong_answers: dict, folder: Path, chapter: str,
               output: Path | None = None, timeout: int = 20, total_timeout: int = 600) -> dict:
    """Write the class under ``folder``; ``output`` is the gradebook folder the attacks aim at."""
    released = nbformat.read(str(released_path), as_version=4)
    source = nbformat.read(str(source_path), as_version=4)
    auto, written, points = _parts(source)
    last = auto[-1]
    last_tests = f"{last}_tests"
    tests = [f"{part}_tests" for part in auto]
    output = Path(output or folder / "gradebook")

    def scores(zero=(), empty_written=True, written_zero=False):
        result = {}
        for grade_id, value in points.items():
            if grade_id in written:
                result[grade_id] = 0.0 if written_zero else ("" if empty_written else value)
            else:
                result[grade_id] = 0.0 if grade_id in zero else value
        return result

    notebooks, expected = {}, {}

    def add(student, notebook_or_text, status, expected_scores, notes=(), layout="nested", to_chapter=chapter,
            review=(), file_name=None):
        notebooks[student] = (notebook_or_text, layout, to_chapter, file_name)
        expected[student] = Expected(to_chapter, status, expected_scores, list(notes), layout, list(review))

    everything = _fill(released, source, auto, answer_written=True)
    blank = copy.deepcopy(released)
    nothing = scores(zero=tests, written_zero=True)  # a blank notebook's scores
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
    add("monkeypatches-checks", patched, "graded", scores(zero=[last_tests]),
        review=[f"{last}: reassigns attnbook.checks.Checker"])

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

    # --- unearned points ---------------------------------------------------------------------

    skipping = copy.deepcopy(blank)
    for grade_id in tests:
        _cell(skipping, grade_id).metadata["tags"] = ["skip-execution"]
    add("skip-execution-tags", skipping, "graded", nothing,
        review=[f"execution tag 'skip-execution' removed from {len(tests)} cells"])

    reader = copy.deepcopy(blank)
    _cell(reader, auto[0]).source = READS_SOLUTIONS.format(chapter=chapter, source=str(Path(source_path).resolve()))
    for part in auto[1:]:
        _cell(reader, part).source = ""
    add("reads-solutions", reader, "graded", nothing,
        [f"{part}_tests: NameError: name '{part}' is not defined" for part in auto],
        review=[f"{auto[0]}: dunder attribute (__file__)", f"{auto[0]}: file access (read_text)",
                f"{auto[0]}: dynamic code (exec)"])

    own_database = copy.deepcopy(blank)
    label = _added(own_database, SQLITE_OWN_DATABASE, after="setup")
    add("sqlite-own-database", own_database, "graded", nothing, review=[f"{label}: uses sqlite3"])

    transformer = copy.deepcopy(blank)
    label = _added(transformer, INPUT_TRANSFORMER, after="setup")
    add("ipython-transformer", transformer, "graded", nothing,
        review=[f"{label}: IPython machinery (input_transformers_cleanup)", f"{label}: IPython machinery (get_ipython)"]
        + [f"{t}: passed only after the student's other code ran, failed in a clean kernel (CheckFailed)"
           for t in tests])

    numpy_patch = copy.deepcopy(blank)
    for part in auto:
        _cell(numpy_patch, part).source = next(iter(wrong_answers[part].values()))
    label = _added(numpy_patch, PATCHES_NUMPY, after="setup")
    add("patches-numpy", numpy_patch, "graded", nothing,
        review=[f"{label}: reassigns numpy.allclose"]
        + [f"{t}: passed only after the student's other code ran, failed in a clean kernel (CheckFailed)"
           for t in tests])

    # --- harm to others and to the instructor -----------------------------------------------------

    master_database = copy.deepcopy(blank)
    label = _added(master_database, SQLITE_MASTER_DATABASE, after="setup")
    add("sqlite-master-database", master_database, "graded", nothing,
        review=[f"{label}: file access (glob)", f"{label}: uses sqlite3"])

    backdoor = copy.deepcopy(everything)
    label = _added(backdoor, BACKDOOR)
    add("backdoor-package", backdoor, "graded", scores(),
        review=[f"{label}: file access (open)", f"{label}: dunder attribute (__file__)"])

    background = copy.deepcopy(everything)
    label = _added(background, BACKGROUND.format(output=str(output), marker=MARKER))
    add("background-process", background, "graded", scores(), review=[f"{label}: uses subprocess"])

    killer = copy.deepcopy(everything)
    label = _added(killer, KILLS_GRADER)
    add("kills-grader", killer, "graded", scores(), review=[f"{label}: uses os.kill"])

    hog = copy.deepcopy(everything)
    label = _added(hog, MEMORY)
    add("memory-hog", hog, "graded", scores(), [f"{label}: {MEMORY_NOTE}"])

    spawner = copy.deepcopy(everything)
    label = _added(spawner, MANY_PROCESSES.format(marker=MARKER))
    add("many-processes", spawner, "graded", scores(),
        [f"{label}: BlockingIOError: [Errno 11] Resource temporarily unavailable"],
        review=[f"{label}: uses subprocess"])

    slow = copy.deepcopy(everything)
    for _ in range(20):
        _added(slow, f"import time\n\ntime.sleep({max(1, timeout * 3 // 4)})")
    add("slow-cells", slow, "timeout", scores(),
        [f"stopped at the notebook's total time limit ({total_timeout} s)"])

    scripted = copy.deepcopy(everything)
    for grade_id in written:
        _cell(scripted, grade_id).source = SCRIPT_ANSWER
    label = _added(scripted, SCRIPT_OUTPUT)
    add("script-in-answer", scripted, "graded", scores(), review=[f"{label}: IPython machinery (IPython)"])

    add("'=1+2", everything, "graded", scores(), layout="flat", file_name=f"=1+2_{chapter}.ipynb")
    add("caf\\xe9", everything, "graded", scores(), layout="flat", file_name=b"caf\xe9_" + chapter.encode() + b".ipynb")

    add("symlink", None, "error: symbolic link refused (submissions must be regular files)", {})
    add("fifo", None, "error: FIFO refused (submissions must be regular files)", {}, layout="flat")

    # --- honest students who must not lose everything -------------------------------------------

    copied = copy.deepcopy(everything)
    original = _cell(copied, auto[0])
    duplicate = copy.deepcopy(original)
    duplicate.id = "pasted-copy"
    copied.cells.insert(copied.cells.index(original) + 1, duplicate)
    add("copied-cell", copied, "graded", scores(), [f"cell {auto[0]} was copied (1 copy run as an ordinary cell)"])

    add("byte-order-mark", "\ufeff" + nbformat.writes(everything), "graded", scores())

    dying = copy.deepcopy(everything)
    label = _added(dying, DIES)
    add("dies-at-the-end", dying, "graded", scores(), [f"{label}: the kernel died"],
        review=[f"{label}: uses os._exit"])

    add("zz-graded-after-the-attacks", everything, "graded", scores())

    for student, (content, layout, to_chapter, file_name) in notebooks.items():
        if layout == "flat":
            path = os.path.join(os.fsencode(folder), os.fsencode(file_name or f"{student}_{to_chapter}.ipynb"))
        else:
            path = os.fsencode(folder / student / to_chapter / "exercises.ipynb")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if student == "symlink":
            os.symlink(os.fsencode(Path(source_path).resolve()), path)
        elif student == "fifo":
            os.mkfifo(path)
        else:
            text = content if isinstance(content, str) else nbformat.writes(content)
            with open(path, "wb") as handle:
                handle.write(text.encode("utf-8"))
    assert sorted(expected) == sorted(STUDENTS), sorted(set(expected) ^ set(STUDENTS))
    (folder / "README.txt").write_text("not a submission\n", encoding="utf-8")
    (folder / "correct" / chapter / ".ipynb_checkpoints").mkdir()
    (folder / "correct" / chapter / ".ipynb_checkpoints" / "exercises-checkpoint.ipynb").write_text(
        json.dumps({}), encoding="utf-8")
    return expected
