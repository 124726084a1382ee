"""Grade one submission in a process of its own: ``python -m attnbook.grading.worker JOB.json``.

The grading command (:mod:`attnbook.grading.grade`) starts one worker per submission, in a
process group of its own, and reads ``RESULT.json`` when it exits; a worker that dies or runs
too long costs that submission only. The worker

1. sets up a one-student nbgrader course in its work folder with a copy of the master database;
2. runs ``nbgrader autograde`` with the sandboxed kernel (:mod:`attnbook.grading.execute`); the
   scores are read from the course's database, which no kernel can see;
3. reads the student's cells for tampering and, when a test cell earned points, runs the clean run
   (:mod:`attnbook.grading.tamper`); a test cell keeps its points only when it passes in both runs;
4. writes the feedback page (:mod:`attnbook.grading.feedback`) and the result.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import warnings
from pathlib import Path

import nbformat
from nbgrader.utils import determine_grade

from .course import TRUNCATED, Course
from .execute import CELL_TIMEOUT, KERNEL_DIED, NOT_RUN, TOTAL_LIMIT, SandboxExecute
from .feedback import page
from .notebooks import NOTEBOOK, graded_parts, hidden_test_lines, nbgrader_meta, read_notebook
from .sandbox import Limits, Sandbox
from .tamper import clean_notebook, defined_names, findings

STUDENT = "student"  # nbgrader's student id inside each one-submission course
TEST_FAILURES = {"AssertionError", "CheckFailed", "NotImplementedError"}  # a failed test, not a crash


def one_line(text: str, limit: int = 100) -> str:
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
        errors = {o.get("ename") for o in outputs if o.get("output_type") == "error"}
        if CELL_TIMEOUT in errors:
            timed_out = True
            notes.append(f"{name}: stopped at the time limit")
        for output in outputs:
            kind = output.get("output_type")
            ename = output.get("ename")
            if kind == "error" and ename == TOTAL_LIMIT:
                timed_out = True
                notes.append(one_line(output.get("evalue", "")))
            elif kind == "error" and ename == KERNEL_DIED:
                notes.append(f"{name}: the kernel died")
            elif kind == "error" and (ename in (CELL_TIMEOUT, NOT_RUN) or CELL_TIMEOUT in errors):
                continue  # reported above, or the interrupt's KeyboardInterrupt
            elif kind == "error" and not (is_test and ename in TEST_FAILURES):
                notes.append(f"{name}: {ename}: {one_line(output.get('evalue', ''))}".rstrip(": "))
            elif kind == "stream" and TRUNCATED in output.get("text", ""):
                notes.append(f"{name}: output truncated")
            elif kind in ("execute_result", "display_data") and any(
                    TRUNCATED in str(v) for v in output.get("data", {}).values()):
                notes.append(f"{name}: output truncated")
    return timed_out, list(dict.fromkeys(notes))


def failure_reason(result: dict) -> str:
    """One line out of a failed nbgrader step's log."""
    text = (result.get("log") or "") + "\n" + (result.get("error") or "")
    if "CellTimeoutError" in text or "Timeout waiting" in text:
        return "timeout"
    interesting = [line.strip() for line in text.splitlines()
                   if re.match(r"^\s*[A-Za-z_.]*(Error|Exception)\b", line) and "NbGraderException" not in line]
    return one_line(interesting[-1]) if interesting else "nbgrader autograde failed"


def clean_run_verdicts(course: Course, clean: dict, folder: Path) -> dict[str, tuple[float, str]]:
    """Run the clean notebook in a fresh sandboxed kernel: test grade_id -> (score, first error name)."""
    notebook = nbformat.from_dict(clean)
    folder.mkdir(parents=True, exist_ok=True)
    executor = SandboxExecute(config=course.config)
    executor.preprocess(notebook, {"metadata": {"path": str(folder)}})
    verdicts = {}
    for cell in notebook.cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type == "code" and meta.get("grade"):
            score, _ = determine_grade(cell)
            error = next((o.ename for o in cell.outputs if o.output_type == "error"), "")
            verdicts[meta["grade_id"]] = (float(score if score is not None else 0.0), error)
    return verdicts


def run(job: dict) -> dict:
    """Grade the job's submission; returns the result (see :mod:`attnbook.grading.grade`)."""
    work = Path(job["work"])
    limits = Limits(**job["limits"])
    sandbox = Sandbox(job["sandbox"], limits, job.get("bwrap", "bwrap"), job["slot"])
    master, chapter = Path(job["master"]), job["chapter"]
    result = {"status": "graded", "scores": {}, "notes": [], "review": [], "feedback": "", "log": ""}

    course = Course(work / "course", timeout=job["timeout"], total_timeout=job["total_timeout"], sandbox=sandbox)
    course.add_source(chapter, master / "solutions" / chapter)
    shutil.copyfile(master / "gradebook.db", course.db_path)
    course.submit(STUDENT, chapter, Path(job["notebook"]).read_text(encoding="utf-8"))
    outcome = course.autograde(STUDENT, chapter)
    result["log"] = (outcome.get("log") or "") + (outcome.get("error") or "")
    autograded_path = course.autograded_notebook(STUDENT, chapter)
    if not outcome["success"] or not autograded_path.is_file():
        reason = failure_reason(outcome)
        result["status"] = "timeout" if reason == "timeout" else f"error: {reason}"
        if reason == "timeout":
            result["notes"].append("the kernel did not stop after the time limit, nothing graded")
        return result

    source = read_notebook(master / "solutions" / chapter / NOTEBOOK)
    released = read_notebook(master / "exercises" / chapter / NOTEBOOK)
    parts = graded_parts(source)
    autograded = read_notebook(autograded_path)
    timed_out, notes = execution_notes(autograded)
    result["notes"] += notes
    result["status"] = "timeout" if timed_out else "graded"
    scores = course.scores(STUDENT, chapter)
    final = {part.grade_id: scores.get(part.grade_id, (0.0, part.points))[0] for part in parts}

    graded_names = defined_names(source)
    result["review"] += findings(autograded, released, graded_names)
    messages = {}
    earned = any(final.get(part.grade_id) for part in parts if not part.written)
    if earned and job.get("clean_run", True):  # nothing earned: the clean run could only agree
        verdicts = clean_run_verdicts(course, clean_notebook(autograded, released, graded_names), work / "clean")
        for part in parts:
            main_score = final.get(part.grade_id)
            clean_score, error = verdicts.get(part.grade_id, (None, ""))
            if part.written or main_score is None or clean_score is None or clean_score >= main_score:
                continue
            final[part.grade_id] = clean_score
            because = f" ({error})" if error else ""
            result["review"].append(f"{part.grade_id}: passed only after the student's other code ran; "
                                    f"failed in a clean kernel{because}")
            messages[part.grade_id] = "passed in your notebook but not in a fresh kernel: ask your instructor"
    result["scores"] = final

    hidden = hidden_test_lines(source)
    html = page(autograded, f"{job['title']}: feedback", final, {p.grade_id: p.points for p in parts}, hidden,
                messages)
    feedback_path = work / "feedback.html"
    feedback_path.write_text(html, encoding="utf-8")
    result["feedback"] = str(feedback_path)
    return result


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    job = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    try:
        from nbformat.warnings import MissingIDFieldWarning
        from sqlalchemy.exc import SAWarning

        with warnings.catch_warnings():  # nbgrader's own: SQLAlchemy autoflush, restored cells without id
            warnings.simplefilter("ignore", SAWarning)
            warnings.simplefilter("ignore", MissingIDFieldWarning)
            result = run(job)
    except Exception as error:  # noqa: BLE001 - reported as this submission's row, never more
        result = {"status": f"error: grading crashed ({type(error).__name__}: {one_line(error, 80)})",
                  "scores": {}, "notes": [], "review": [], "feedback": "", "log": ""}
    Path(job["result"]).write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
