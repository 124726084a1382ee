"""Tests that prove the tests: every graded test cell passes on the solution and fails on the stub and on wrong answers.

For each chapter whose ``solutions/<chapter>/exercises.ipynb`` is in the nbgrader format
(CONTRIBUTING.md, "Exercises"; placeholders without nbgrader cells are skipped) and for each
auto-graded part P (solution cell ``P``, test cell ``P_tests``), the test cell, hidden tests
included, is executed after the notebook's setup and solution cells with P's cell replaced by

* the solution: it must pass, and write nothing to stderr (nbgrader scores a graded cell that
  writes to stderr as 0);
* the released stub (``raise NotImplementedError()``): it must raise;
* each wrong answer in ``tests/wrong_answers/<chapter>.py`` ``WRONG_ANSWERS[P]``: it must raise,
  also when it comes with a monkeypatched always-pass ``attnbook.checks.Checker``.

Cells are plain Python, so each variant runs with ``exec`` in a fresh namespace, in this process.
The same checks run on the small fixture chapter in tests/grading_fixtures, so the machinery is
tested even before a chapter has its exercises. The file also checks the exercise format, that
``exercises/`` is exactly what ``make exercises`` generates, and that no hidden test leaks into it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest
from grading_fixtures import softmax_chapter
from grading_fixtures.make_class import ALWAYS_PASS_PATCH

import attnbook.checks as checks_module
from attnbook.grading import notebooks as nb
from attnbook.grading import tamper
from attnbook.grading.release import ReleaseError, release

ROOT = Path(__file__).resolve().parents[1]
WRONG_ANSWERS_DIR = ROOT / "tests" / "wrong_answers"
FIXTURE = "fixture"  # label of the grading fixture chapter

REAL_CHAPTERS = nb.formatted_chapters(nb.SOLUTIONS)


# --- loading chapters --------------------------------------------------------------------------


@dataclass
class Chapter:
    label: str  # chapter id, or "fixture"
    source: dict
    released: dict
    wrong_answers: dict | None  # None: the wrong-answers file is missing

    def cell(self, notebook: dict, grade_id: str) -> dict:
        for cell in notebook["cells"]:
            if nb.nbgrader_meta(cell).get("grade_id") == grade_id:
                return cell
        raise AssertionError(f"{self.label}: no cell with grade_id {grade_id!r}")

    def auto_parts(self) -> list[str]:
        return [p.solution_id for p in nb.graded_parts(self.source) if not p.written]


def load_wrong_answers(chapter: str) -> dict | None:
    path = WRONG_ANSWERS_DIR / f"{chapter}.py"
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location(f"wrong_answers_{chapter}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.WRONG_ANSWERS


@pytest.fixture(scope="session")
def fresh_release(tmp_path_factory) -> Path:
    """``exercises/`` as ``make exercises`` would write it now, in a temporary folder."""
    folder = tmp_path_factory.mktemp("release") / "exercises"
    release(nb.SOLUTIONS, folder)
    return folder


@pytest.fixture(scope="session")
def fixture_chapter(tmp_path_factory) -> Chapter:
    root = tmp_path_factory.mktemp("fixture")
    source_path = softmax_chapter.write_chapter(root / "solutions")
    release(root / "solutions", root / "exercises")
    released = nb.read_notebook(root / "exercises" / softmax_chapter.CHAPTER / nb.NOTEBOOK)
    return Chapter(FIXTURE, nb.read_notebook(source_path), released, softmax_chapter.WRONG_ANSWERS)


@pytest.fixture(scope="session")
def chapter_map(fresh_release, fixture_chapter) -> dict[str, Chapter]:
    chapters = {FIXTURE: fixture_chapter}
    for name in REAL_CHAPTERS:
        chapters[name] = Chapter(
            name,
            nb.read_notebook(nb.SOLUTIONS / name / nb.NOTEBOOK),
            nb.read_notebook(fresh_release / name / nb.NOTEBOOK),
            load_wrong_answers(name),
        )
    return chapters


def _parts_of(chapter: str) -> list[str]:
    path = (nb.SOLUTIONS / chapter / nb.NOTEBOOK)
    return [p.solution_id for p in nb.graded_parts(nb.read_notebook(path)) if not p.written]


def _fixture_parts() -> list[str]:
    source = softmax_chapter.source_notebook()
    return [p.solution_id for p in nb.graded_parts(source) if not p.written]


PART_CASES = [(FIXTURE, p) for p in _fixture_parts()] + [(c, p) for c in REAL_CHAPTERS for p in _parts_of(c)]
PART_IDS = [f"{c}-{p}" for c, p in PART_CASES]


# --- running a test cell -----------------------------------------------------------------------


@dataclass
class Outcome:
    error: BaseException | None
    stdout: str
    stderr: str


def run_test_cell(chapter: Chapter, part: str, replacement: str | None, tests_source: str | None = None) -> Outcome:
    """Run the notebook's code cells up to ``part``'s test cell, with ``part``'s cell replaced.

    Earlier test cells are left out (each is proved on its own); the solution and setup cells
    before the test cell run in order, in a fresh namespace. The module attnbook.checks is put
    back as it was afterwards, whatever the cells did to it.
    """
    saved_checks = dict(vars(checks_module))
    try:
        return _run_test_cell(chapter, part, replacement, tests_source)
    finally:
        vars(checks_module).update(saved_checks)


def _run_test_cell(chapter: Chapter, part: str, replacement: str | None, tests_source: str | None) -> Outcome:
    tests_id = f"{part}_tests"
    namespace: dict = {"__name__": f"exercise_{chapter.label}_{part}"}
    stdout, stderr = io.StringIO(), io.StringIO()
    error = None
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr), \
            warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for cell in chapter.source["cells"]:
            if cell["cell_type"] != "code":
                continue
            meta = nb.nbgrader_meta(cell)
            grade_id = meta.get("grade_id")
            if meta.get("grade") and grade_id != tests_id:
                continue
            source = nb.source_text(cell)
            if grade_id == part and replacement is not None:
                source = replacement
            if grade_id == tests_id and tests_source is not None:
                source = tests_source
            try:
                exec(compile(source, f"<{chapter.label}:{grade_id}>", "exec"), namespace)
            except Exception as exception:  # noqa: BLE001 - the outcome is what we test
                error = exception
                if grade_id != tests_id:
                    error = RuntimeError(f"cell {grade_id!r} before the test cell raised {exception!r}")
                break
            if grade_id == tests_id:
                break
    warnings_text = "".join(f"{w.category.__name__}: {w.message}\n" for w in caught)
    return Outcome(error, stdout.getvalue(), stderr.getvalue() + warnings_text)


@pytest.mark.parametrize(("label", "part"), PART_CASES, ids=PART_IDS)
def test_test_cell_passes_on_the_solution(chapter_map, label, part):
    chapter = chapter_map[label]
    outcome = run_test_cell(chapter, part, None)
    assert outcome.error is None, f"{label}: {part}_tests fails on the solution: {outcome.error!r}"
    assert not outcome.stderr, (
        f"{label}: {part}_tests writes to stderr on the solution, so nbgrader would score it 0:\n{outcome.stderr}")


@pytest.mark.parametrize(("label", "part"), PART_CASES, ids=PART_IDS)
def test_test_cell_passes_on_the_solution_reduced_to_its_definitions(chapter_map, label, part):
    """The grader's clean run (attnbook.grading.tamper) keeps only a solution cell's imports, defs,
    classes and plain assignments: a solution must not need its other top-level statements."""
    chapter = chapter_map[label]
    reduced = tamper.reduce_student_cell(nb.source_text(chapter.cell(chapter.source, part)), chapter.source,
                                         chapter.released)
    outcome = run_test_cell(chapter, part, reduced)
    assert outcome.error is None, (f"{label}: {part}_tests fails on the solution reduced to its definitions "
                                   f"(what the grader's clean run keeps):\n{reduced}\n{outcome.error!r}")


@pytest.mark.parametrize(("label", "part"), PART_CASES, ids=PART_IDS)
def test_test_cell_fails_on_the_released_stub(chapter_map, label, part):
    chapter = chapter_map[label]
    stub = nb.source_text(chapter.cell(chapter.released, part))
    assert "raise NotImplementedError()" in stub, f"{label}: released cell {part} is not a stub:\n{stub}"
    outcome = run_test_cell(chapter, part, stub)
    assert outcome.error is not None, f"{label}: {part}_tests passes on the unsolved stub"


@pytest.mark.parametrize(("label", "part"), PART_CASES, ids=PART_IDS)
def test_test_cell_fails_on_every_wrong_answer(chapter_map, label, part):
    chapter = chapter_map[label]
    assert chapter.wrong_answers is not None, f"tests/wrong_answers/{label}.py is missing"
    wrong = chapter.wrong_answers.get(part, {})
    assert wrong, f"tests/wrong_answers/{label}.py has no wrong answer for part {part!r}"
    passing = [name for name, source in wrong.items() if run_test_cell(chapter, part, source).error is None]
    assert not passing, f"{label}: {part}_tests passes on the wrong answer(s) {passing}"
    # Student code runs in the grading kernel before the tests: an always-pass Checker put into
    # attnbook.checks must not make a wrong answer pass (test cells reload the module).
    fooled = [name for name, source in wrong.items()
              if run_test_cell(chapter, part, source + "\n\n\n" + ALWAYS_PASS_PATCH).error is None]
    assert not fooled, f"{label}: {part}_tests passes on {fooled} once attnbook.checks.Checker is monkeypatched"


def test_the_monkeypatch_fools_a_test_cell_that_does_not_reload(fixture_chapter):
    """Control for the check above: without the reload the always-pass patch does work."""
    wrong = softmax_chapter.WRONG_ANSWERS["masked_softmax"]["mask_after_softmax"]
    tests = nb.source_text(fixture_chapter.cell(fixture_chapter.source, "masked_softmax_tests"))
    trusting = tests.replace('importlib.reload(importlib.import_module("attnbook.checks"))',
                             'importlib.import_module("attnbook.checks")')
    assert trusting != tests
    assert run_test_cell(fixture_chapter, "masked_softmax", wrong, trusting).error is not None
    patched = wrong + "\n\n\n" + ALWAYS_PASS_PATCH
    assert run_test_cell(fixture_chapter, "masked_softmax", patched, trusting).error is None
    assert run_test_cell(fixture_chapter, "masked_softmax", patched).error is not None


def test_checks_are_readable_on_a_wrong_answer(fixture_chapter):
    """A visible check gives the one-line verdict, not a bare AssertionError."""
    wrong = softmax_chapter.WRONG_ANSWERS["stable_softmax"]["wrong_axis"]
    outcome = run_test_cell(fixture_chapter, "stable_softmax", wrong)
    assert type(outcome.error).__name__ == "CheckFailed"
    assert str(outcome.error).startswith("stable_softmax: rows must sum to 1 along the last axis; got [")


# --- the exercise format -----------------------------------------------------------------------


def _format_problems(chapter: Chapter) -> list[str]:
    problems = []
    source, released = chapter.source, chapter.released
    if (source.get("metadata", {}).get("kernelspec") or {}).get("name") != nb.COURSE_KERNEL:
        problems.append(f"kernel is not {nb.COURSE_KERNEL!r}")
    try:
        parts = nb.graded_parts(source)
    except ValueError as error:
        return [str(error)]
    auto = [p for p in parts if not p.written]
    written = [p for p in parts if p.written]
    if not 4 <= len(auto) <= 8:
        problems.append(f"{len(auto)} auto-graded parts, expected 4 to 8")
    if not 1 <= len(written) <= 2:
        problems.append(f"{len(written)} written questions, expected 1 or 2")
    ids = [nb.nbgrader_meta(c).get("grade_id") for c in source["cells"]]
    if None in ids:
        problems.append("a cell has no nbgrader metadata / grade_id")
    duplicates = {i for i in ids if ids.count(i) > 1 and i is not None}
    if duplicates:
        problems.append(f"duplicate grade_ids {sorted(duplicates)}")
    for part in parts:
        if part.points <= 0:
            problems.append(f"{part.grade_id} has {part.points} points")
    cells = source["cells"]
    by_id = {nb.nbgrader_meta(c).get("grade_id"): (i, c) for i, c in enumerate(cells)}
    for part in auto:
        if not part.grade_id.endswith("_tests") or part.solution_id not in by_id:
            problems.append(f"test cell {part.grade_id} is not named P_tests after a solution cell P")
            continue
        index, solution = by_id[part.solution_id]
        meta = nb.nbgrader_meta(solution)
        if not (meta.get("solution") and not meta.get("grade") and solution["cell_type"] == "code"):
            problems.append(f"{part.solution_id} is not a code solution cell (solution: true, grade: false)")
        text = nb.source_text(solution)
        if nb.BEGIN_SOLUTION not in text or nb.END_SOLUTION not in text:
            problems.append(f"{part.solution_id} has no ### BEGIN/END SOLUTION region")
        match = re.search(r"^(def|class)\s+(\w+)", text, re.MULTILINE)
        statement = next((nb.source_text(c) for c in reversed(cells[:index]) if c["cell_type"] == "markdown"), "")
        if match is None:
            problems.append(f"{part.solution_id} defines no function or class")
        else:
            kind, name = match.groups()
            wanted = f"{name}(" if kind == "def" else name  # a class's signatures are in its cell
            if wanted not in statement:
                problems.append(f"the statement before {part.solution_id} does not name {wanted}")
        tests = nb.source_text(by_id[part.grade_id][1])
        if nb.BEGIN_HIDDEN not in tests or nb.END_HIDDEN not in tests:
            problems.append(f"{part.grade_id} has no hidden tests")
        if ("checks" in tests or "Checker" in tests) and "importlib.reload(" not in tests:
            problems.append(f"{part.grade_id} uses the check helpers without importlib.reload")
        if not nb.nbgrader_meta(by_id[part.grade_id][1]).get("locked"):
            problems.append(f"{part.grade_id} is not locked")
    for part in written:
        index, cell = by_id[part.grade_id]
        if not nb.nbgrader_meta(cell).get("solution"):
            problems.append(f"written answer {part.grade_id} is not a solution cell")
        previous = cells[index - 1] if index else {}
        if previous.get("cell_type") != "markdown" or not nb.nbgrader_meta(previous).get("locked"):
            problems.append(f"written answer {part.grade_id} has no locked question cell before it")
        released_text = nb.source_text(chapter.cell(released, part.grade_id)).strip()
        if released_text != "YOUR ANSWER HERE":
            problems.append(f"released {part.grade_id} is {released_text[:40]!r}, not the answer stub")
    for cell in cells:
        if cell["cell_type"] == "code" and re.search(r"^\s*[%!]", nb.source_text(cell), re.MULTILINE):
            problems.append(f"{nb.nbgrader_meta(cell).get('grade_id')} uses a %magic or !shell line")
    return problems


@pytest.mark.parametrize("chapter", REAL_CHAPTERS)
def test_chapter_follows_the_exercise_format(chapter_map, chapter):
    problems = _format_problems(chapter_map[chapter])
    assert not problems, f"solutions/{chapter}/exercises.ipynb:\n  " + "\n  ".join(problems)


def test_format_checker_accepts_the_fixture_shape(fixture_chapter):
    """The fixture has 2 parts (too few for a chapter); everything else about it is in format."""
    problems = _format_problems(fixture_chapter)
    assert problems == ["2 auto-graded parts, expected 4 to 8"]


@pytest.mark.parametrize("chapter", REAL_CHAPTERS)
def test_every_part_has_a_wrong_answer(chapter_map, chapter):
    wrong = chapter_map[chapter].wrong_answers
    assert wrong is not None, f"tests/wrong_answers/{chapter}.py is missing"
    missing = [p for p in chapter_map[chapter].auto_parts() if not wrong.get(p)]
    assert not missing, f"tests/wrong_answers/{chapter}.py has no wrong answer for {missing}"
    unknown = sorted(set(wrong) - set(chapter_map[chapter].auto_parts()))
    assert not unknown, f"tests/wrong_answers/{chapter}.py names parts that do not exist: {unknown}"


# --- the committed release ---------------------------------------------------------------------


def _tree(folder: Path) -> dict[str, bytes]:
    """Files under ``folder`` except hidden ones (``.ipynb_checkpoints`` of a reader's Jupyter)."""
    files = (p for p in sorted(folder.rglob("*")) if p.is_file())
    return {str(p.relative_to(folder)): p.read_bytes() for p in files
            if not any(part.startswith(".") for part in p.relative_to(folder).parts)}


def test_exercises_folder_is_exactly_the_generated_release(fresh_release):
    committed, generated = _tree(nb.EXERCISES), _tree(fresh_release)
    assert sorted(committed) == sorted(generated), "exercises/ has other files than `make exercises` writes"
    drifted = [name for name in generated if committed[name] != generated[name]]
    assert not drifted, f"exercises/ differs from solutions/ for {drifted}: run `make exercises`"


@pytest.mark.parametrize("chapter", nb.chapters(nb.SOLUTIONS))
def test_no_hidden_test_or_solution_text_in_exercises(chapter):
    source = nb.read_notebook(nb.SOLUTIONS / chapter / nb.NOTEBOOK)
    released_path = nb.EXERCISES / chapter / nb.NOTEBOOK
    assert released_path.is_file(), f"exercises/{chapter}/{nb.NOTEBOOK} is missing: run `make exercises`"
    leaks = nb.leaked_hidden_lines(source, nb.read_notebook(released_path))
    assert not leaks, f"exercises/{chapter}: hidden-test or solution text released: {leaks}"


def test_leak_check_finds_a_leak(fixture_chapter):
    """The leak check itself: the source notebook, released as is, leaks its hidden lines."""
    leaks = nb.leaked_hidden_lines(fixture_chapter.source, fixture_chapter.source)
    assert "big = np.array([[1000.0, 1001.0]])" in leaks
    assert not nb.leaked_hidden_lines(fixture_chapter.source, fixture_chapter.released)


def test_no_nbgrader_database_or_log_in_the_repository():
    folders = [p for p in ROOT.iterdir() if p.is_dir() and p.name not in (".venv", ".git", "book")]
    found = [p for name in ("gradebook.db", ".nbgrader.log") for p in ROOT.glob(name)]
    found += [p for folder in folders for name in ("gradebook.db", ".nbgrader.log") for p in folder.rglob(name)]
    assert not found, f"nbgrader artefacts in the repository (the trust anchor must stay private): {found}"


def test_release_does_not_overwrite_a_readers_work(tmp_path, fixture_chapter):
    """A released notebook has no outputs; one with outputs is someone's work and is kept."""
    solutions, exercises = tmp_path / "solutions", tmp_path / "exercises"
    softmax_chapter.write_chapter(solutions)
    worked = json.loads(json.dumps(fixture_chapter.released))
    setup = next(c for c in worked["cells"] if c["cell_type"] == "code")
    setup["execution_count"] = 1
    target = exercises / softmax_chapter.CHAPTER / nb.NOTEBOOK
    target.parent.mkdir(parents=True)
    target.write_text(json.dumps(worked), encoding="utf-8")
    with pytest.raises(ReleaseError, match="has outputs"):
        release(solutions, exercises)
    assert json.loads(target.read_text(encoding="utf-8")) == worked
