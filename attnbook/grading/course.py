"""A private, temporary nbgrader course: configuration and the two nbgrader steps we use.

The course lives in a temporary folder laid out the way nbgrader expects::

    <root>/solutions/<chapter>/exercises.ipynb       source (CourseDirectory.source_directory)
    <root>/exercises/<chapter>/exercises.ipynb       release (CourseDirectory.release_directory)
    <root>/submitted/<student>/<chapter>/...         one student per course when grading
    <root>/autograded/...                            the executed notebooks
    <root>/sockets/                                  the sandboxed kernels' socket folders
    <root>/gradebook.db                              nbgrader's database, the trust anchor

The kernels run in bubblewrap (:mod:`attnbook.grading.sandbox`), which shows them none of this.

Nothing of it is ever written into the repository: ``gradebook.db`` holds the locked cells'
checksums and the full test cells (hidden tests included), so it is rebuilt from ``solutions/``
each time and deleted afterwards. The converters are driven in-process (when grading, in the
worker process of each submission) with an explicit traitlets ``Config``, so no
``nbgrader_config.py`` of the user or the working directory can change what the book's
commands do.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path

from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.api import Gradebook
from nbgrader.converters import Autograde, GenerateAssignment
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    IgnorePattern,
    LimitOutput,
    SaveAutoGrades,
)
from nbgrader.utils import capture_log
from traitlets import Integer
from traitlets.config import Config

from .execute import KERNEL_ARGUMENTS, SandboxExecute
from .notebooks import NOTEBOOK, NOTEBOOK_ID
from .sandbox import Sandbox

SOURCE_DIR, RELEASE_DIR = "solutions", "exercises"
TRUNCATED = "... Output truncated ..."  # nbgrader's own marker, reused for long lines
MAX_OUTPUT_LINES = 1000  # per cell (nbgrader LimitOutput)
MAX_OUTPUT_CHARS = 20_000  # per output: one huge line is cut too
DEFAULT_TIMEOUT = 60  # seconds per cell
DEFAULT_TOTAL_TIMEOUT = 600  # seconds for all cells of one notebook

# nbgrader's messages are captured per step (capture_log) and summarised by us, not printed.
NBGRADER_LOG = logging.getLogger("attnbook.grading.nbgrader")
NBGRADER_LOG.setLevel(logging.INFO)
NBGRADER_LOG.propagate = False


class LimitOutputSize(LimitOutput):
    """nbgrader's LimitOutput (lines per cell) plus a cap on characters per output.

    ``print("x" * 10**7)`` is one line, so a line limit alone keeps all of it; the autograded
    notebook and the feedback HTML would carry megabytes.
    """

    max_chars = Integer(MAX_OUTPUT_CHARS, help="maximum characters per output (-1: no limit)").tag(config=True)

    def _cut(self, text: str) -> str:
        if self.max_chars == -1 or len(text) <= self.max_chars:
            return text
        return text[: self.max_chars] + "\n" + TRUNCATED

    def preprocess_cell(self, cell, resources, cell_index):
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        if cell.cell_type != "code":
            return cell, resources
        for output in cell.outputs:
            if output.output_type == "stream":
                output.text = self._cut(output.text)
            elif output.output_type in ("execute_result", "display_data"):
                for mime in list(output.get("data", {})):
                    value = output.data[mime]
                    if isinstance(value, str) and len(value) > self.max_chars:
                        if mime.startswith("text/"):
                            output.data[mime] = self._cut(value)
                        else:  # an image or other blob of megabytes: keep a note instead
                            del output.data[mime]
                            output.data["text/plain"] = f"{TRUNCATED} ({mime}, {len(value)} characters)"
            elif output.output_type == "error":
                output.evalue = self._cut(output.evalue)
        return cell, resources


def config(timeout: int = DEFAULT_TIMEOUT, total_timeout: int = DEFAULT_TOTAL_TIMEOUT,
           sandbox: Sandbox | None = None, socket_root: Path | None = None) -> Config:
    """The nbgrader configuration of the book: source = solutions, release = exercises.

    Kernels run in ``sandbox`` (see :mod:`attnbook.grading.sandbox`; None: no sandbox), with
    their socket folders under ``socket_root``.
    """
    c = Config()
    c.CourseDirectory.source_directory = SOURCE_DIR
    c.CourseDirectory.release_directory = RELEASE_DIR
    c.CourseDirectory.course_id = "attnbook"
    c.CourseDirectory.notebook_id = NOTEBOOK_ID
    c.Execute.timeout = int(timeout)  # per cell; the cell is interrupted and scored 0
    c.Execute.interrupt_on_timeout = True
    # After a cell's reply, nbgrader waits iopub_timeout for its last output and fails the whole
    # notebook if it is late; 4 s (the default) is too short on a busy 2-core machine.
    c.Execute.iopub_timeout = 30
    c.Execute.extra_arguments = list(KERNEL_ARGUMENTS)  # no kernel log lines on our stderr, no history file
    c.SandboxExecute.total_timeout = int(total_timeout)
    c.SandboxExecute.sandbox = sandbox or Sandbox("none")
    c.SandboxExecute.socket_root = socket_root
    c.OverwriteCells.add_missing_cells = True  # deleted test cells come back from the database
    c.LimitOutputSize.max_lines = MAX_OUTPUT_LINES
    c.Autograde.autograde_preprocessors = [
        SandboxExecute,  # in place of Execute
        IgnorePattern,
        ClearMetadataPreprocessor,
        LimitOutputSize,  # in place of LimitOutput
        SaveAutoGrades,
        AssignLatePenalties,
        CheckCellMetadata,
    ]
    return c


def _put_interpreter_tools_on_path() -> None:
    """nbgrader's Gradebook runs the ``alembic`` console script found on PATH; when the book's
    commands run as ``.venv/bin/python -m ...`` without an activated environment, that folder
    is not on PATH, so put it there (first)."""
    scripts = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != scripts:
        os.environ["PATH"] = os.pathsep.join([scripts, os.environ.get("PATH", "")])


class Course:
    """One temporary nbgrader course rooted at ``root``."""

    def __init__(self, root: Path, timeout: int = DEFAULT_TIMEOUT, total_timeout: int = DEFAULT_TOTAL_TIMEOUT,
                 sandbox: Sandbox | None = None):
        _put_interpreter_tools_on_path()
        self.root = Path(root)
        self.socket_root = self.root / "sockets"
        self.config = config(timeout, total_timeout, sandbox, self.socket_root)
        self.db_path = self.root / "gradebook.db"

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.db_path}"

    def _coursedir(self, assignment_id: str, student_id: str = ".") -> CourseDirectory:
        coursedir = CourseDirectory(config=self.config, log=NBGRADER_LOG)
        coursedir.root = str(self.root)
        coursedir.db_url = self.db_url
        coursedir.assignment_id = assignment_id
        coursedir.student_id = student_id
        return coursedir

    def _run(self, converter_class, assignment_id: str, student_id: str = ".") -> dict:
        coursedir = self._coursedir(assignment_id, student_id)
        converter = converter_class(coursedir=coursedir, config=self.config, log=NBGRADER_LOG)
        converter.force = True
        return capture_log(converter)  # {"success": bool, "log": str, "error": traceback}

    # --- the steps ---------------------------------------------------------------------

    def add_source(self, chapter: str, source_folder: Path) -> None:
        shutil.copytree(source_folder, self.root / SOURCE_DIR / chapter, dirs_exist_ok=True)

    def generate_assignment(self, chapter: str) -> dict:
        """Release ``chapter`` into ``<root>/exercises`` and record it in the database."""
        return self._run(GenerateAssignment, chapter)

    def released_notebook(self, chapter: str) -> Path:
        return self.root / RELEASE_DIR / chapter / NOTEBOOK

    def submit(self, student: str, chapter: str, notebook_text: str) -> Path:
        path = self.root / "submitted" / student / chapter / NOTEBOOK
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(notebook_text, encoding="utf-8")
        return path

    def autograde(self, student: str, chapter: str) -> dict:
        self.socket_root.mkdir(parents=True, exist_ok=True)
        return self._run(Autograde, chapter, student)

    def autograded_notebook(self, student: str, chapter: str) -> Path:
        return self.root / "autograded" / student / chapter / NOTEBOOK

    def scores(self, student: str, chapter: str) -> dict[str, tuple[float | None, float]]:
        """``grade_id -> (auto score, or None for a written answer that awaits a human; max points)``."""
        with Gradebook(self.db_url, self.config.CourseDirectory.course_id) as gradebook:
            submission = gradebook.find_submission_notebook(NOTEBOOK_ID, chapter, student)
            result = {}
            for grade in submission.grades:
                # The database is fresh, so no human has entered a manual score; one found here
                # was written by the submission's own code and is ignored.
                score = grade.auto_score
                result[grade.name] = (score, float(grade.max_score))
            return result
