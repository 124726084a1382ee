"""Running a notebook in a sandboxed kernel, with a time limit per cell and per notebook.

:class:`SandboxExecute` is nbgrader's ``Execute`` preprocessor (nbclient underneath) with three
changes:

* the kernel is started through :mod:`attnbook.grading.sandbox` (bubblewrap, IPC sockets,
  interrupts sent as ``interrupt_request`` messages, since a signal to bwrap's process group
  would not reach the kernel), never from a kernelspec found on the machine;
* a wall-time budget for the whole notebook (``total_timeout``): each cell may run at most
  ``min(timeout, time left)``; a cell cut by the budget gets a ``TotalTimeLimit`` error and
  every later code cell an error ``NotRun`` (graded cells among them score 0);
* a kernel that dies (``os._exit``, a crash, the memory limit) is recorded in the cell that was
  running (error ``KernelDied``); later code cells get ``NotRun`` errors, and everything before
  keeps its outputs, so the cells before the death are graded as usual.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Any, Integer

from .sandbox import Sandbox

TOTAL_LIMIT, KERNEL_DIED, NOT_RUN = "TotalTimeLimit", "KernelDied", "NotRun"
CELL_TIMEOUT = "CellTimeoutError"  # nbgrader's error name for a cell over its own limit
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=CRITICAL", "--HistoryManager.hist_file=:memory:"]


def kernel_manager_class(sandbox: Sandbox, socket_root: Path) -> type[AsyncKernelManager]:
    """A KernelManager class whose kernels start in ``sandbox``, each with its own socket folder."""

    class SandboxKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self._socket_dir = sandbox.prepare_socket_dir(socket_root)
            self.connection_file = str(self._socket_dir / "kernel.json")
            if sandbox.enabled:  # no network in the sandbox: Unix sockets in a folder both sides see
                self.transport = "ipc"
                self.ip = str(self._socket_dir / "ipc")

        def write_connection_file(self, **kwargs):
            super().write_connection_file(**kwargs)
            if sandbox.enabled and sandbox.uid is not None:  # readable by the kernel's user only
                os.chown(self.connection_file, sandbox.uid, sandbox.uid)

        @property
        def kernel_spec(self) -> KernelSpec:
            return KernelSpec(argv=sandbox.kernel_argv(self._socket_dir), display_name="Python 3 (sandbox)",
                              language="python", interrupt_mode="message" if sandbox.enabled else "signal",
                              env={}, metadata={})

    return SandboxKernelManager


def error_output(name: str, value: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=name, evalue=value, traceback=[f"{name}: {value}"])


class SandboxExecute(Execute):
    """nbgrader's Execute in the sandbox, with a budget for the whole notebook (see the module)."""

    total_timeout = Integer(600, help="seconds for all cells of the notebook together").tag(config=True)
    sandbox = Any(None, help="attnbook.grading.sandbox.Sandbox").tag(config=True)
    socket_root = Any(None, help="folder for the kernels' socket folders").tag(config=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.sandbox is not None:
            self.kernel_manager_class = kernel_manager_class(self.sandbox, Path(self.socket_root))
        self.extra_arguments = list(KERNEL_ARGUMENTS)
        self._deadline = math.inf
        self._cell_limit = self.timeout
        self._stopped = ""  # why the remaining cells are not run

    def preprocess(self, nb, resources=None, km=None):
        self._deadline = time.monotonic() + self.total_timeout
        self._stopped = ""
        return super().preprocess(nb, resources, km)

    def _get_timeout(self, cell):
        return self._cell_limit

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, resources
        if self._stopped:
            cell.outputs = [error_output(NOT_RUN, self._stopped)]
            return cell, resources
        left = self._deadline - time.monotonic()
        if left < 1:
            self._stopped = f"not run: the notebook's total time limit ({self.total_timeout} s) was reached"
            cell.outputs = [error_output(NOT_RUN, self._stopped)]
            return cell, resources
        self._cell_limit = max(1, min(self.timeout, math.floor(left)))
        cut_by_budget = self._cell_limit < self.timeout
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._stopped = "not run: the kernel had died"
            cell.outputs.append(error_output(KERNEL_DIED, "the kernel died while this cell ran"))
            return cell, resources
        timed_out = any(o.output_type == "error" and o.ename == CELL_TIMEOUT for o in cell.outputs)
        if timed_out and cut_by_budget:
            cell.outputs = [o for o in cell.outputs if o.output_type != "error"]
            cell.outputs.append(error_output(TOTAL_LIMIT, f"stopped at the notebook's total time limit "
                                                          f"({self.total_timeout} s)"))
            self._stopped = f"not run: the notebook's total time limit ({self.total_timeout} s) was reached"
        return cell, resources
