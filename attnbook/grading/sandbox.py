"""The sandbox every student kernel runs in: bubblewrap, resource limits, an unprivileged user.

A kernel is started by jupyter_client as usual, but through a kernel command that wraps
``python -m ipykernel_launcher -f {connection_file}`` in bubblewrap (``bwrap``, Debian's
``bubblewrap`` package), so the student's code runs

* in its own mount namespace that holds only: ``/usr`` and a few files of ``/etc`` (read-only),
  the Python installation, the virtual environment and the ``attnbook`` package (read-only),
  a private ``/tmp`` (a size-limited tmpfs holding the kernel's working folder ``/tmp/work``),
  a fresh ``/proc`` and a minimal ``/dev``, and one host folder for the kernel's sockets.
  Nothing of ``solutions/``, ``.git``, the grading database, the output folder, the
  submissions folder or the grader's temporary course is visible;
* without network: ``--unshare-net`` leaves only a loopback device of its own. The kernel talks
  to the grader over ZMQ *IPC* sockets (Unix sockets) in the shared socket folder, not TCP;
* in its own pid namespace with ``--die-with-parent``: when the kernel exits or the grading
  process dies, every process the student started is killed, detached ones included;
* with limits set by ``prlimit`` (util-linux): address space, size of any file written,
  number of processes and threads, no core files;
* as an unprivileged user: when the grader runs as root, ``setpriv`` (util-linux) drops to a
  uid of its own per parallel job, with no capabilities and ``no_new_privs``; otherwise bwrap
  uses an unprivileged user namespace and the kernel runs as the instructor's own uid.

The wall-time limits (per cell and per notebook) are applied by the grader, see
:mod:`attnbook.grading.execute`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .notebooks import ROOT

INSTALL_HINT = "install bubblewrap (Debian/Ubuntu: sudo apt-get install bubblewrap)"
FIRST_UID = 1_600_000_000  # the kernel of job k runs as uid/gid FIRST_UID + k when the grader is root: far
# above the uids of users, system accounts and the usual subordinate-uid ranges of containers
WORKDIR = "/tmp/work"  # the kernel's working folder inside the sandbox
ETC_FILES = (  # what Python, NumPy, PyTorch and matplotlib read from /etc; nothing else is shown
    "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "passwd", "group", "nsswitch.conf",
    "alternatives", "fonts", "mime.types", "timezone",
)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


@dataclass(frozen=True)
class Limits:
    """Resource limits of one kernel (``prlimit``), and the size of its private ``/tmp``."""

    memory_mb: int = 3072  # address space (RLIMIT_AS): a NumPy/PyTorch kernel maps ~0.8 GiB at start
    file_mb: int = 256  # largest file the kernel may write (RLIMIT_FSIZE)
    processes: int = 128  # processes and threads of the kernel's user (RLIMIT_NPROC)
    tmp_mb: int = 512  # the private /tmp (tmpfs, counted in memory)


@dataclass(frozen=True)
class Sandbox:
    """How kernels are started: ``kind`` is ``"bwrap"`` or ``"none"`` (``--no-sandbox``)."""

    kind: str = "bwrap"
    limits: Limits = field(default_factory=Limits)
    bwrap: str = "bwrap"
    slot: int = 0  # parallel job number: the kernel's uid when the grader is root

    @property
    def enabled(self) -> bool:
        return self.kind == "bwrap"

    @property
    def uid(self) -> int | None:
        """The uid the kernel runs as when the grader is root; None otherwise (no change)."""
        return FIRST_UID + self.slot if os.geteuid() == 0 else None

    def for_slot(self, slot: int) -> Sandbox:
        return Sandbox(self.kind, self.limits, self.bwrap, slot)

    def kernel_argv(self, socket_dir: Path, command: list[str] | None = None) -> list[str]:
        """The kernel command (with jupyter_client's ``{connection_file}`` placeholder)."""
        command = command or [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        if not self.enabled:
            return command
        return bwrap_command(self.bwrap, Path(socket_dir), self.limits, self.uid) + command

    def prepare_socket_dir(self, parent: Path) -> Path:
        """A fresh folder for one kernel's connection file and sockets, writable by its user."""
        folder = Path(tempfile.mkdtemp(prefix="k", dir=parent)).resolve()
        if self.enabled and self.uid is not None:
            os.chown(folder, self.uid, self.uid)
        return folder


def _mounted_paths() -> list[Path]:
    """Host folders the kernel needs read-only: the interpreter, the environment, the package."""
    package = Path(__file__).resolve().parents[1]  # .../attnbook
    paths = [Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), package]
    kept: list[Path] = []
    for path in paths:
        if path.is_relative_to("/usr") or any(path.is_relative_to(k) for k in kept):
            continue
        kept = [k for k in kept if not k.is_relative_to(path)] + [path]
    return kept


def _parent_dirs(paths: list[Path]) -> list[Path]:
    """Every ancestor folder of ``paths`` (outermost first), to create world-readable in the sandbox."""
    parents: list[Path] = []
    for path in paths:
        for parent in reversed(path.parents):
            if parent not in (Path("/"), Path("/tmp"), Path("/usr")) and parent not in parents \
                    and not parent.is_relative_to("/usr"):
                parents.append(parent)
    return parents


def bwrap_command(bwrap: str, socket_dir: Path, limits: Limits, uid: int | None) -> list[str]:
    """bubblewrap and prlimit (and setpriv when root) arguments, up to the kernel command."""
    command = [bwrap, "--die-with-parent", "--new-session", "--unshare-ipc", "--unshare-pid", "--unshare-net",
               "--unshare-uts", "--unshare-cgroup-try", "--hostname", "grading"]
    if uid is None:  # not root: an unprivileged user namespace, as the instructor's own uid
        command += ["--unshare-user", "--disable-userns"]
    else:  # root: no user namespace; setpriv below changes to an unprivileged uid
        command += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    command += ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib64", "lib32"):
        top = Path("/") / name
        if top.is_symlink():
            command += ["--symlink", os.readlink(top), str(top)]
        elif top.is_dir():
            command += ["--ro-bind", str(top), str(top)]
    command += ["--perms", "0755", "--dir", "/etc"]
    for name in ETC_FILES:
        command += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    command += ["--proc", "/proc", "--dev", "/dev",
                "--perms", "1777", "--size", str(limits.tmp_mb * 2**20), "--tmpfs", "/tmp",
                "--perms", "1777", "--dir", WORKDIR]
    mounted = _mounted_paths()
    for parent in _parent_dirs([*mounted, socket_dir]):
        command += ["--perms", "0755", "--dir", str(parent)]
    for path in mounted:
        command += ["--ro-bind", str(path), str(path)]
    command += ["--bind", str(socket_dir), str(socket_dir),
                "--chdir", WORKDIR, "--clearenv"]
    environment = {
        "HOME": WORKDIR, "USER": "student", "LOGNAME": "student",  # the uid has no /etc/passwd entry
        "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": "/tmp/matplotlib", "IPYTHONDIR": "/tmp/ipython", "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1", **{name: "1" for name in THREAD_VARIABLES},
    }
    for name, value in environment.items():
        command += ["--setenv", name, value]
    command += ["--", "prlimit", f"--as={limits.memory_mb * 2**20}", f"--fsize={limits.file_mb * 2**20}",
                f"--nproc={limits.processes}", "--core=0", "--"]
    if uid is not None:
        command += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs", "--"]
    return command


def find_bwrap() -> str | None:
    return shutil.which("bwrap")


def probe(sandbox: Sandbox) -> str:
    """Empty when a sandboxed Python starts and is isolated; else the one-line reason it is not."""
    if not sandbox.enabled:
        return ""
    if not shutil.which(sandbox.bwrap):
        return f"bubblewrap (bwrap) is not installed; {INSTALL_HINT}"
    check = ("import os, socket, sys; "
             f"assert not os.path.exists({str(ROOT / 'solutions')!r}), 'solutions visible'; "
             "assert os.getuid() != 0, 'still root'; "
             "s = socket.socket(); s.settimeout(1); "
             "r = s.connect_ex(('192.0.2.1', 9)); assert r != 0, 'network reachable'; print('ok')")
    with tempfile.TemporaryDirectory(prefix="attnbook-probe-") as tmp:
        socket_dir = sandbox.prepare_socket_dir(Path(tmp))
        argv = sandbox.kernel_argv(socket_dir, [sys.executable, "-c", check])
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"bubblewrap could not start a sandbox ({error}); {INSTALL_HINT}"
    if result.returncode != 0 or result.stdout.strip() != "ok":
        lines = [line for line in (result.stderr or result.stdout).splitlines() if line.strip()]
        reason = lines[-1].strip() if lines else f"exit status {result.returncode}"
        return (f"bubblewrap could not start a sandbox ({reason}); unprivileged user namespaces may be "
                "disabled (sysctl kernel.unprivileged_userns_clone=1), or run the grader as root")
    return ""
