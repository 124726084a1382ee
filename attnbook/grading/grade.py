"""Grade a folder of submitted exercise notebooks: nbgrader autograde, each kernel in a sandbox.

Accepted layouts of the submissions folder (both may be mixed):

* nested, nbgrader's own ``submitted/`` layout (what ``nbgrader zip_collect`` produces):
  ``SUBMISSIONS/<student>/<chapter>/exercises.ipynb``. A chapter folder holding one notebook
  under another name (``exercises (1).ipynb``) is accepted too.
* flat: ``SUBMISSIONS/<student>_<chapter>.ipynb``, e.g. ``alice_03_softmax.ipynb``; the
  chapter is the trailing ``NN_name``, the student is everything before it.

Hidden files and folders (``.ipynb_checkpoints``) and files that are not ``.ipynb`` are ignored.
Symbolic links, special files (FIFOs, devices, sockets) and hard links are never read: each
gets a row ``error: ... refused``. File names may hold any bytes: a byte that is not UTF-8 is
shown as ``\\xNN`` in the student column.

How grading works. nbgrader's trust anchor, ``gradebook.db``, is rebuilt from ``solutions/``
once, in a private temporary course (``nbgrader generate_assignment``), and never shipped. Then:

1. pre-checks, in this process, each giving a row ``error: <reason>``: not a regular file, empty
   file, not valid JSON (a UTF-8 byte order mark is accepted), not a notebook, unknown chapter,
   chapter without graded exercises, duplicate submission;
2. the notebook is reduced to what the student may control (:mod:`attnbook.grading.prepare`:
   no cell tags or other metadata that steer execution, nbgrader metadata from the release,
   copied cells repaired, deleted answers restored as stubs);
3. each submission is graded by a worker process of its own (:mod:`attnbook.grading.worker`),
   ``--jobs`` at a time, in a course of its own holding a copy of the database, with every
   kernel in the sandbox (:mod:`attnbook.grading.sandbox`), a per-cell time limit
   (``--timeout``) and a limit for the whole notebook (``--total-timeout``). A worker that runs
   longer than twice that plus two minutes is killed with its process group;
4. ``gradebook.csv`` is rewritten atomically after every finished row, so a crash keeps every
   finished row; the temporary course is always removed.

``gradebook.csv`` has one row per (student, chapter): ``student, chapter``, one column per
graded cell (test-cell ``grade_id``, or ``..._written`` for a written answer; empty where the
part belongs to another chapter), ``total, max, status, review, note``. Text that starts with
``= + - @`` (or a tab or carriage return) is prefixed with ``'`` so that no spreadsheet reads it
as a formula.

* ``status`` is ``graded``, ``timeout`` (a cell hit a time limit; the other cells were graded),
  or ``error: <one-line reason>`` (nothing could be graded; every part is empty, ``total`` 0).
* ``review`` lists what the instructor should look at (see :mod:`attnbook.grading.tamper`): uses
  of the interpreter's machinery found in the student's code, execution tags removed, and parts
  that passed only after the student's other code ran (those score 0).
* ``note`` explains what else happened: test cells restored, copied cells, kernel replaced,
  errors raised by the student's own cells, a kernel that died, output truncated, grading
  without the sandbox.
* A written answer left as "YOUR ANSWER HERE" scores 0; an answered one is left empty for the
  instructor to grade by hand (from the feedback HTML). ``total`` sums the points known so far;
  ``max`` counts every graded cell of the chapter, written answers included.

Without bubblewrap, grading refuses to run unless ``no_sandbox`` (``--no-sandbox``) is given;
then it warns loudly and every row's note says so.

Exit status 0 when it graded what it could (even if every submission failed); 1 with a
one-line reason when it could not run at all (missing submissions folder, output folder or
nbgrader database not writable, no chapter to grade against, no sandbox).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

import jupyter_core.utils
import nbformat

from .course import DEFAULT_TIMEOUT, DEFAULT_TOTAL_TIMEOUT, Course
from .notebooks import NOTEBOOK, SOLUTIONS, Part, graded_parts, is_formatted, read_notebook
from .prepare import prepare, restore_deleted_answers, restored_cell_notes  # noqa: F401 - re-exported
from .release import ReleaseError, build_course
from .sandbox import Limits, Sandbox, probe
from .worker import execution_notes, one_line  # noqa: F401 - re-exported

FLAT_NAME = re.compile(r"^(?P<student>.+?)_(?P<chapter>\d\d_[A-Za-z0-9_]+)\.ipynb$")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NO_SANDBOX_NOTE = "graded without the sandbox (--no-sandbox)"
WORKER_GRACE = 120  # seconds a worker may run beyond its two notebook budgets before it is killed


class GradingError(RuntimeError):
    """The grading command cannot run at all (exit status 1)."""


@dataclass
class Submission:
    student: str
    chapter: str
    path: Path
    problem: str = ""  # set when the file cannot be located in a layout, or is refused


@dataclass
class Row:
    student: str
    chapter: str
    scores: dict[str, float | None] = field(default_factory=dict)
    total: float = 0.0
    max: float | None = None
    status: str = "graded"
    notes: list[str] = field(default_factory=list)
    review: list[str] = field(default_factory=list)
    seconds: float = 0.0


# --- finding submissions ----------------------------------------------------------------------


def display_name(name: str) -> str:
    """A file name as text: bytes that are not UTF-8 become ``\\xNN``, control characters ``\\uNNNN``."""
    text = os.fsencode(name).decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def refusal(path: Path) -> str:
    """Why ``path`` is not read (a symbolic link, a special file, a hard link); empty for a regular file or folder."""
    try:
        info = path.lstat()
    except OSError as error:
        return f"cannot be read ({error.strerror})"
    if stat.S_ISLNK(info.st_mode):
        return "symbolic link refused (submissions must be regular files)"
    if stat.S_ISDIR(info.st_mode):
        return ""
    if not stat.S_ISREG(info.st_mode):
        kind = {stat.S_IFIFO: "FIFO", stat.S_IFSOCK: "socket", stat.S_IFCHR: "device", stat.S_IFBLK: "device"}
        return f"{kind.get(stat.S_IFMT(info.st_mode), 'special file')} refused (submissions must be regular files)"
    if info.st_nlink > 1:
        return "hard link refused (the file has another name on this disk)"
    return ""


def find_submissions(folder: Path) -> tuple[list[Submission], list[Path]]:
    """Submissions in either accepted layout (refused ones with their reason), and the files ignored."""
    submissions, ignored = [], []
    for entry in sorted(filter(_visible, folder.iterdir())):
        refused = refusal(entry)
        if refused or not entry.is_dir():
            if not refused and entry.suffix != ".ipynb":
                ignored.append(entry)
                continue
            match = FLAT_NAME.match(entry.name)
            if match:
                student, chapter, problem = match["student"], match["chapter"], refused
            else:
                student, chapter = (entry.stem if entry.suffix == ".ipynb" else entry.name), ""
                problem = refused or "file name is not <student>_<NN_chapter>.ipynb"
            submissions.append(Submission(display_name(student), chapter, entry, problem))
            continue
        student = display_name(entry.name)
        for chapter_dir in sorted(filter(_visible, entry.iterdir())):
            chapter = display_name(chapter_dir.name)
            refused = refusal(chapter_dir)
            if refused:
                submissions.append(Submission(student, chapter.removesuffix(".ipynb"), chapter_dir, refused))
                continue
            if not chapter_dir.is_dir():
                if chapter_dir.suffix == ".ipynb":
                    submissions.append(Submission(student, chapter.removesuffix(".ipynb"), chapter_dir,
                                                  "notebook must be in <student>/<chapter>/exercises.ipynb"))
                else:
                    ignored.append(chapter_dir)
                continue
            inside = sorted(p for p in chapter_dir.iterdir() if _visible(p))
            notebooks = [p for p in inside if p.suffix == ".ipynb"]
            ignored += [p for p in inside if p.suffix != ".ipynb"]
            chosen = next((p for p in notebooks if p.name == NOTEBOOK), notebooks[0] if len(notebooks) == 1 else None)
            if chosen is not None:
                submissions.append(Submission(student, chapter, chosen, refusal(chosen)))
                ignored += [p for p in notebooks if p != chosen]
            elif notebooks:
                submissions.append(Submission(student, chapter, chapter_dir,
                                              f"{len(notebooks)} notebooks and none named {NOTEBOOK}"))
    return submissions, ignored


# --- pre-checks --------------------------------------------------------------------------------


def read_submission(path: Path) -> tuple[str, dict | None, str]:
    """``(text, notebook, problem)``: the problem is a one-line reason, empty when readable."""
    raw = path.read_bytes()
    if not raw.strip():
        return "", None, "empty file"
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return "", None, "not UTF-8 text"
    if not text.strip():
        return "", None, "empty file"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        return text, None, f"not valid JSON ({error.msg} at line {error.lineno} column {error.colno})"
    if not isinstance(data, dict) or "cells" not in data or "nbformat" not in data:
        return text, None, "not a Jupyter notebook (no cells or nbformat)"
    try:
        import warnings

        with warnings.catch_warnings():  # a missing cell id is upgraded, not reported
            warnings.simplefilter("ignore")
            notebook = nbformat.reads(text, as_version=4)
            nbformat.validate(notebook)
    except Exception as error:  # noqa: BLE001 - any reader failure becomes a one-line reason
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return text, None, f"not a valid notebook ({message[:120]})"
    return nbformat.writes(notebook), json.loads(nbformat.writes(notebook)), ""


# --- the chapters ------------------------------------------------------------------------------


@dataclass
class Chapter:
    name: str
    parts: list[Part]
    released: dict

    @property
    def max_points(self) -> float:
        return sum(part.points for part in self.parts)


@dataclass
class Settings:
    timeout: int
    total_timeout: int
    sandbox: Sandbox
    jobs: int


def precheck(submission: Submission, chapters: dict[str, Chapter], known: list[str]) -> tuple[Row, dict | None]:
    """The row so far, and the prepared notebook to grade (None: the row is final)."""
    row = Row(submission.student, submission.chapter)
    if submission.problem:
        row.status = f"error: {submission.problem}"
        return row, None
    if submission.chapter not in known:
        row.status = f"error: unknown chapter {submission.chapter!r} (chapters: {', '.join(known)})"
        return row, None
    if submission.chapter not in chapters:
        row.status = f"error: chapter {submission.chapter!r} has no graded exercises yet"
        return row, None
    chapter = chapters[submission.chapter]
    row.max = chapter.max_points
    try:
        _, notebook, problem = read_submission(submission.path)
    except OSError as error:
        notebook, problem = None, f"cannot be read ({error.strerror})"
    if problem:
        row.status = f"error: {problem}"
        return row, None
    notebook, notes, review = prepare(notebook, chapter.released)
    row.notes += notes
    row.review += review
    return row, notebook


# --- workers ----------------------------------------------------------------------------------


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent (the grading command) dies, however it dies."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class WorkerProcess:
    """One worker: a fork of this process (its imports are already done) in a session of its own.

    Forking saves each submission the ~3 s of CPU that importing nbgrader takes. When this process
    runs threads (forking would copy their locks), the worker is a fresh interpreter instead.
    """

    def __init__(self, job_path: Path, log_path: Path):
        self.returncode: int | None = None
        sys.stdout.flush()
        sys.stderr.flush()
        if threading.active_count() > 1:
            with log_path.open("w", encoding="utf-8") as log:
                self.pid = subprocess.Popen([sys.executable, "-m", "attnbook.grading.worker", str(job_path)],
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                            start_new_session=True).pid
            return
        self.pid = os.fork()
        if self.pid == 0:  # the worker
            code = 1
            try:
                os.setsid()
                _die_with_parent()
                log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.dup2(log, 1)
                os.dup2(log, 2)
                os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
                asyncio.set_event_loop(None)  # a fresh event loop for jupyter_client, none of the parent's
                jupyter_core.utils._loop.set(None)
                from .worker import main

                code = main([str(job_path)])
            except BaseException:  # noqa: BLE001 - the worker's log gets it; the row says "crashed"
                traceback.print_exc()
            finally:
                os._exit(code)

    def exited(self) -> bool:
        """True once the worker has exited; it is not reaped yet, so its pid and group id stay reserved."""
        try:
            return os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return True

    def kill_and_reap(self) -> None:
        """SIGKILL the worker's process group (the worker if still running, whatever it left), then reap it."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            pass


@dataclass
class Running:
    index: int
    row: Row
    slot: int
    work: Path
    process: WorkerProcess
    started: float
    feedback_target: Path
    log_target: Path


def start_worker(index: int, row: Row, notebook: dict, slot: int, master: Course, work: Path, output: Path,
                 settings: Settings) -> Running:
    work.mkdir(parents=True)
    notebook_path = work / "submitted.ipynb"
    notebook_path.write_text(json.dumps(notebook, ensure_ascii=False), encoding="utf-8")
    job = {
        "master": str(master.root), "chapter": row.chapter, "notebook": str(notebook_path), "work": str(work),
        "timeout": settings.timeout, "total_timeout": settings.total_timeout, "sandbox": settings.sandbox.kind,
        "bwrap": settings.sandbox.bwrap, "limits": asdict(settings.sandbox.limits), "slot": slot,
        "result": str(work / "result.json"), "title": f"{row.student}, {row.chapter}",
    }
    (work / "job.json").write_text(json.dumps(job), encoding="utf-8")
    process = WorkerProcess(work / "job.json", work / "worker.log")
    folder = output / "feedback" / row.student / row.chapter
    return Running(index, row, slot, work, process, time.monotonic(), folder / f"{Path(NOTEBOOK).stem}.html",
                   output / "logs" / row.student / row.chapter / "autograde.log")


def finish_worker(running: Running, chapters: dict[str, Chapter], killed_after: float | None) -> Row:
    row = running.row
    result_path = running.work / "result.json"
    if killed_after is not None:
        row.status = f"error: grading stopped after {killed_after:.0f} s (the worker was killed)"
    elif not result_path.is_file():
        lines = [line for line in (running.work / "worker.log").read_text(errors="replace").splitlines() if line]
        reason = one_line(lines[-1], 80) if lines else f"exit status {running.process.returncode}"
        row.status = f"error: grading crashed ({reason})"
    else:
        result = json.loads(result_path.read_text(encoding="utf-8"))
        row.status = result["status"]
        row.notes += result["notes"]
        row.review += result["review"]
        parts = chapters[row.chapter].parts
        if result["scores"]:
            row.scores = {part.grade_id: result["scores"].get(part.grade_id, 0.0) for part in parts}
            row.total = sum(score for score in row.scores.values() if score is not None)
        if result["log"]:
            running.log_target.parent.mkdir(parents=True, exist_ok=True)
            running.log_target.write_text(result["log"], encoding="utf-8")
        if result["feedback"] and Path(result["feedback"]).is_file():
            running.feedback_target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(result["feedback"], running.feedback_target)
    if row.status.startswith("error"):
        row.scores, row.total = {}, 0.0
    return row


# --- the gradebook -----------------------------------------------------------------------------


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:g}"


def spreadsheet_text(text: str) -> str:
    """``text`` as a CSV cell no spreadsheet evaluates: a leading ``= + - @`` (tab, CR) gets a ``'``."""
    return "'" + text if text.startswith(FORMULA_START) else text


def write_csv(rows: list[Row], part_columns: list[str], path: Path) -> None:
    """Write the gradebook atomically: a temporary file in the same folder, then renamed over ``path``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["student", "chapter", *part_columns, "total", "max", "status", "review", "note"])
    for row in rows:
        writer.writerow([
            spreadsheet_text(row.student), spreadsheet_text(row.chapter),
            *(_number(row.scores.get(column)) for column in part_columns),
            _number(row.total), _number(row.max), spreadsheet_text(row.status),
            spreadsheet_text("; ".join(item.replace("; ", ", ") for item in row.review)),
            spreadsheet_text("; ".join(note.replace("; ", ", ") for note in row.notes)),
        ])
    handle, temporary = tempfile.mkstemp(prefix=".gradebook-", suffix=".csv", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(out.getvalue())
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def summary(rows: list[Row], chapters: dict[str, Chapter]) -> str:
    out = io.StringIO()
    graded = sum(row.status == "graded" for row in rows)
    timeouts = sum(row.status == "timeout" for row in rows)
    errors = sum(row.status.startswith("error") for row in rows)
    out.write(f"{len(rows)} submissions: {graded} graded, {timeouts} with a timeout, {errors} with errors\n")
    flagged = sum(bool(row.review) for row in rows)
    if flagged:
        out.write(f"{flagged} to review (see the review column)\n")
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


# --- the command -------------------------------------------------------------------------------


def _check_output(output: Path) -> None:
    try:
        output.mkdir(parents=True, exist_ok=True)
        probe_file = output / ".write-test"
        probe_file.write_text("")
        probe_file.unlink()
    except OSError as error:
        raise GradingError(f"cannot write to output folder {output} ({error.strerror})") from None


def grade(submissions: Path, output: Path, timeout: int = DEFAULT_TIMEOUT, solutions: Path = SOLUTIONS,
          log=print, jobs: int | None = None, total_timeout: int = DEFAULT_TOTAL_TIMEOUT,
          no_sandbox: bool = False, limits: Limits | None = None) -> list[Row]:
    """Grade every submission under ``submissions``; write ``output``/gradebook.csv and feedback."""
    submissions, output, solutions = Path(submissions), Path(output), Path(solutions)
    if not submissions.is_dir():
        raise GradingError(f"submissions folder {submissions} does not exist")
    if timeout <= 0:
        raise GradingError(f"--timeout must be a positive number of seconds, got {timeout}")
    if total_timeout <= 0:
        raise GradingError(f"--total-timeout must be a positive number of seconds, got {total_timeout}")
    jobs = jobs or len(os.sched_getaffinity(0))
    if jobs <= 0:
        raise GradingError(f"--jobs must be a positive number, got {jobs}")
    _check_output(output)
    sandbox = Sandbox("none" if no_sandbox else "bwrap", limits or Limits())
    if no_sandbox:
        print("WARNING: grading WITHOUT the sandbox (--no-sandbox): student code runs with your permissions "
              "and can read the solutions, change the grades and harm this machine.", file=sys.stderr)
    else:
        problem = probe(sandbox)
        if problem:
            raise GradingError(f"{problem}; or grade trusted submissions with --no-sandbox")
    settings = Settings(timeout, total_timeout, sandbox, jobs)

    try:
        tmp = tempfile.TemporaryDirectory(prefix="attnbook-grading-")
    except OSError as error:
        raise GradingError(f"no writable temporary folder for nbgrader's database ({error})") from None
    running: list[Running] = []
    main_thread = threading.current_thread() is threading.main_thread()
    previous_handler = signal.signal(signal.SIGTERM, _terminate) if main_thread else None  # cleans up like Ctrl-C
    try:
        work = Path(tmp.name).resolve()
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
        rows = _grade_all(submissions, output, chapters, known, master, work, settings, running, log)
    finally:
        for job in running:  # interrupted (Ctrl-C, SIGTERM): no worker, and so no kernel, outlives the command
            job.process.kill_and_reap()
        tmp.cleanup()
        if main_thread:
            signal.signal(signal.SIGTERM, previous_handler)

    if rows:
        log(summary(rows, chapters).rstrip())
    log(f"wrote {output / 'gradebook.csv'}, feedback HTML under {output / 'feedback'}, "
        f"nbgrader logs under {output / 'logs'}")
    return rows


def _terminate(signum, frame) -> None:
    raise SystemExit(128 + signum)


def _grade_all(submissions: Path, output: Path, chapters: dict[str, Chapter], known: list[str], master: Course,
               work: Path, settings: Settings, running: list[Running], log) -> list[Row]:
    found, ignored = find_submissions(submissions)
    for stale in (output / "feedback", output / "logs"):
        if stale.exists():
            shutil.rmtree(stale)
    used = [name for name in chapters if any(s.chapter == name for s in found)]
    part_columns = list(dict.fromkeys(part.grade_id for name in used for part in chapters[name].parts))
    rows: list[Row | None] = [None] * len(found)
    queue: list[tuple[int, Row, dict]] = []
    seen: dict[tuple[str, str], Path] = {}
    for index, submission in enumerate(found):
        key = (submission.student, submission.chapter)
        if key in seen and submission.chapter and not submission.problem:
            row = Row(*key, status=f"error: second submission for this student and chapter "
                                   f"(graded {display_name(str(seen[key].relative_to(submissions)))})")
            notebook = None
        else:
            if not submission.problem:
                seen[key] = submission.path
            row, notebook = precheck(submission, chapters, known)
        if settings.sandbox.kind == "none" and notebook is not None:
            row.notes.append(NO_SANDBOX_NOTE)
        if notebook is None:
            rows[index] = row
            _report(row, log)
        else:
            queue.append((index, row, notebook))
    if any(rows):
        write_csv([r for r in rows if r], part_columns, output / "gradebook.csv")
    limit = 2 * settings.total_timeout + WORKER_GRACE
    free_slots = list(range(settings.jobs))
    while queue or running:
        while queue and free_slots:
            index, row, notebook = queue.pop(0)
            running.append(start_worker(index, row, notebook, free_slots.pop(0), master, work / f"submission-{index}",
                                        output, settings))
        time.sleep(0.2)
        for job in list(running):
            elapsed = time.monotonic() - job.started
            killed_after = None
            if not job.process.exited():
                if elapsed < limit:
                    continue
                killed_after = elapsed
            job.process.kill_and_reap()  # the worker if it ran too long, and whatever it left in its group
            row = finish_worker(job, chapters, killed_after)
            row.seconds = elapsed
            shutil.rmtree(job.work, ignore_errors=True)
            running.remove(job)
            free_slots.append(job.slot)
            rows[job.index] = row
            write_csv([r for r in rows if r], part_columns, output / "gradebook.csv")
            _report(row, log)
    if not any(rows):
        write_csv([], part_columns, output / "gradebook.csv")
    if ignored:
        log(f"ignored {len(ignored)} files that are not submissions, e.g. "
            f"{display_name(str(ignored[0].relative_to(submissions)))}")
    return [r for r in rows if r]


def _report(row: Row, log) -> None:
    flag = " [review]" if row.review else ""
    log(f"  {row.student}/{row.chapter or '?'}: {row.status}, {_number(row.total)}/{_number(row.max) or '-'}"
        f" ({row.seconds:.1f} s){flag}")
