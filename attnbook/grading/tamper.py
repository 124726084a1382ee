"""Tampering: what a submission's own code does to the interpreter, found two ways.

1. **Reading the code** (:func:`findings`). Every code cell the student controls (solution
   cells and added cells; locked cells are replaced by nbgrader from its database) is parsed,
   IPython syntax included, and each use of the interpreter's machinery is reported with the
   cell it is in: the IPython shell (``get_ipython``, magics, shell commands), attributes of
   modules set or deleted (``numpy.allclose = ...``), names the tests rely on rebound
   (``np = ...``), ``sqlite3``, ``subprocess``, ``ctypes``, signals and ``os.kill``, the network,
   threads, file access, dynamic code (``exec``, ``__import__``, ``setattr``, ``globals()``,
   dunder attributes). These become the ``review`` column: they do not change a score.
2. **A clean run** (:func:`clean_notebook`). The same notebook again in a fresh kernel, where
   each student cell keeps only its *definitions*: imports, ``def`` and ``class`` statements
   and assignments to plain names, each only when nothing in it can change other objects as it
   is defined (no attribute or item stores, no calls of ``setattr``/``exec``/``get_ipython``...,
   no dunder attributes, no rebinding of a name the tests use). Every other top-level statement
   (bare calls, loops, ``with``, ``try``) is dropped, and so is a definition that fails that test.
   A test cell earns its points only if it passes in both runs; a part that passes only in the
   student's own run is reported in ``review``. This defeats tampering done by top-level code
   (patching NumPy or the IPython shell before the tests run), whatever its disguise. It cannot
   see tampering done *inside* the graded functions as the tests call them; reading the code
   reports that.

Plain Python only: nothing here runs student code.
"""

from __future__ import annotations

import ast
import builtins
import copy
from dataclasses import dataclass

from IPython.core.inputtransformer2 import TransformerManager

from .notebooks import nbgrader_meta, source_text

MODULE_REASONS = {  # imported module (top-level name) -> what using it means
    "sqlite3": "uses sqlite3",
    "subprocess": "uses subprocess",
    "ctypes": "uses ctypes",
    "cffi": "uses cffi",
    "signal": "uses signals",
    "socket": "uses the network (socket)",
    "urllib": "uses the network (urllib)",
    "http": "uses the network (http)",
    "requests": "uses the network (requests)",
    "multiprocessing": "starts processes (multiprocessing)",
    "threading": "starts threads (threading)",
    "_thread": "starts threads (_thread)",
    "pty": "uses pty",
    "shutil": "file access (shutil)",
    "tempfile": "file access (tempfile)",
    "glob": "file access (glob)",
    "inspect": "inspects the interpreter (inspect)",
    "gc": "inspects the interpreter (gc)",
    "traceback": "inspects the interpreter (traceback)",
    "importlib": "dynamic import (importlib)",
    "IPython": "IPython machinery (IPython)",
    "ipykernel": "IPython machinery (ipykernel)",
    "builtins": "uses builtins",
    "resource": "changes resource limits (resource)",
}
OS_PROCESS = {"kill", "killpg", "abort", "_exit", "fork", "forkpty", "system", "popen", "setsid", "setpgid", "setpgrp",
              "posix_spawn", "posix_spawnp", "execv", "execve", "execl", "execle", "execlp", "execlpe", "execvp",
              "execvpe", "spawnl", "spawnle", "spawnlp", "spawnlpe", "spawnv", "spawnve", "spawnvp", "spawnvpe"}
OS_FILES = {"open", "remove", "unlink", "rename", "renames", "replace", "rmdir", "removedirs", "mkdir", "makedirs",
            "listdir", "scandir", "walk", "chdir", "fchdir", "chmod", "chown", "lchown", "symlink", "link", "truncate",
            "utime", "fdopen", "write", "read", "mkfifo", "mknod", "dup2"}
PATH_METHODS = {"read_text", "write_text", "read_bytes", "write_bytes", "unlink", "rmdir", "iterdir", "glob", "rglob",
                "touch", "symlink_to", "hardlink_to", "rename", "replace", "chmod", "open"}
BUILTIN_CALLS = {
    "get_ipython": "IPython machinery (get_ipython)",
    "open": "file access (open)",
    "exec": "dynamic code (exec)",
    "eval": "dynamic code (eval)",
    "compile": "dynamic code (compile)",
    "__import__": "dynamic code (__import__)",
    "setattr": "sets attributes dynamically (setattr)",
    "delattr": "deletes attributes dynamically (delattr)",
    "globals": "touches namespaces (globals)",
    "locals": "touches namespaces (locals)",
    "vars": "touches namespaces (vars)",
    "breakpoint": "starts a debugger (breakpoint)",
    "exit": "exits the kernel (exit)",
    "quit": "exits the kernel (quit)",
    "input": "waits for input (input)",
}
SAFE_DUNDERS = {"__init__", "__name__", "__doc__", "__qualname__", "__call__", "__len__", "__iter__", "__next__",
                "__getitem__", "__repr__", "__str__", "__eq__", "__hash__", "__enter__", "__exit__"}
DUNDER_NAMES = {"__builtins__", "__file__", "__loader__", "__spec__", "__dict__"}
BUILTIN_NAMES = set(dir(builtins))


@dataclass(frozen=True)
class Cell:
    """A code cell the student controls: its label in reports (grade_id or ``code cell N``) and source."""

    label: str
    source: str


def python_source(source: str) -> str | None:
    """The cell as plain Python (IPython magics and ``!`` commands turned into calls); None if unparsable."""
    try:
        ast.parse(source)
        return source
    except SyntaxError:
        pass
    try:
        transformed = TransformerManager().transform_cell(source)
        ast.parse(transformed)
        return transformed
    except Exception:  # noqa: BLE001 - not Python at all: it fails when run, and the notes say so
        return None


def student_cells(notebook: dict, released: dict) -> list[Cell]:
    """The code cells whose source the student controls, labelled as the grader's notes label cells."""
    locked = {nbgrader_meta(c).get("grade_id") for c in released.get("cells", []) if nbgrader_meta(c).get("locked")}
    cells, number = [], 0
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        number += 1
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id in locked:
            continue
        cells.append(Cell(grade_id or f"code cell {number}", source_text(cell)))
    return cells


def protected_names(released: dict, graded_names: set[str]) -> set[str]:
    """Names the locked cells (setup, tests) rely on: what the setup binds, and what a test cell
    reads without binding it itself; the names the student must define are left out."""
    names: set[str] = set()
    for cell in released.get("cells", []):
        meta = nbgrader_meta(cell)
        if cell.get("cell_type") != "code" or not meta.get("locked"):
            continue
        tree = _parse(source_text(cell))
        if tree is None:
            continue
        stored, loaded = set(), set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                (loaded if isinstance(node.ctx, ast.Load) else stored).add(node.id)
            elif isinstance(node, ast.alias):
                stored.add((node.asname or node.name).split(".")[0])
        names |= (loaded - stored) | (set() if meta.get("grade") else stored)
    return names - graded_names - BUILTIN_NAMES


def defined_names(source: dict) -> set[str]:
    """Top-level names bound by the source notebook's solution cells: what the student must define."""
    names: set[str] = set()
    for cell in source.get("cells", []):
        if cell.get("cell_type") != "code" or not nbgrader_meta(cell).get("solution"):
            continue
        tree = _parse(source_text(cell))
        for node in tree.body if tree else []:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.Import, ast.ImportFrom)):
                for child in ast.walk(node):
                    if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
                        names.add(child.id)
                    elif isinstance(child, ast.alias):
                        names.add((child.asname or child.name).split(".")[0])
    return names


def _parse(source: str) -> ast.Module | None:
    text = python_source(source)
    return None if text is None else ast.parse(text)


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str:
    parts = []
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        parts.append(node.attr if isinstance(node, ast.Attribute) else "[...]")
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(aliases.get(node.id, node.id))
    return ".".join(reversed(parts)).replace(".[...]", "[...]")


class _Reader(ast.NodeVisitor):
    """Collects the reasons of one cell (see the module docstring)."""

    def __init__(self, aliases: dict[str, str], protected: set[str], setup_aliases: dict[str, str]):
        self.aliases = aliases  # name -> module it was imported as (all student cells and the setup)
        self.protected = protected  # names the tests rely on
        self.setup_aliases = setup_aliases  # name -> module, as the locked cells import them
        self.reasons: list[str] = []
        self.depth = 0  # > 0 inside a function or class body

    def add(self, reason: str) -> None:
        if reason not in self.reasons:
            self.reasons.append(reason)

    def _module_of(self, name: str | None) -> str | None:
        return self.aliases.get(name) if name else None

    # imports and names

    def visit_Import(self, node):
        for alias in node.names:  # "import a.b" binds a to module a; "import a.b as c" binds c to a.b
            module = alias.name if alias.asname else alias.name.split(".")[0]
            self._imported(alias.name, alias.asname or module, module)

    def visit_ImportFrom(self, node):
        module = node.module or ""
        for alias in node.names:
            self._imported(f"{module}.{alias.name}", alias.asname or alias.name, f"{module}.{alias.name}")

    def _imported(self, module: str, bound: str, bound_to: str) -> None:
        top = module.split(".")[0]
        if top in MODULE_REASONS:
            self.add(MODULE_REASONS[top])
        if top == "os" and module.split(".")[-1] in OS_PROCESS | OS_FILES:
            self.add(f"uses os.{module.split('.')[-1]}")
        if self.depth == 0 and bound in self.protected and self.setup_aliases.get(bound) != bound_to:
            self.add(f"rebinds {bound}, which the tests use")

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Load) and node.id in BUILTIN_CALLS:
            self.add(BUILTIN_CALLS[node.id])
        elif isinstance(node.ctx, ast.Load) and node.id == "getattr":
            self.add("dynamic attribute access (getattr)")
        if node.id in DUNDER_NAMES:
            self.add(f"dunder name ({node.id})")
        if node.id in self.protected and isinstance(node.ctx, (ast.Store, ast.Del)) and self.depth == 0:
            self.add(f"rebinds {node.id}, which the tests use")

    def visit_Global(self, node):
        for name in node.names:
            if name in self.protected:
                self.add(f"rebinds {name}, which the tests use")

    def visit_FunctionDef(self, node):
        if self.depth == 0 and node.name in self.protected:
            self.add(f"rebinds {node.name}, which the tests use")
        for decorator in node.decorator_list:
            self.visit(decorator)
        self.visit(node.args)
        if node.returns:
            self.visit(node.returns)
        self.depth += 1
        for statement in node.body:
            self.visit(statement)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):
        if self.depth == 0 and node.name in self.protected:
            self.add(f"rebinds {node.name}, which the tests use")
        for expression in [*node.decorator_list, *node.bases, *node.keywords]:
            self.visit(expression)
        self.depth += 1
        for statement in node.body:
            self.visit(statement)
        self.depth -= 1

    # attributes and calls

    def visit_Attribute(self, node):
        if node.attr.startswith("__") and node.attr.endswith("__") and node.attr not in SAFE_DUNDERS:
            self.add(f"dunder attribute ({node.attr})")
        root = _root_name(node)
        module = self._module_of(root)
        if module and module.split(".")[0] in MODULE_REASONS:
            self.add(MODULE_REASONS[module.split(".")[0]])
        if isinstance(node.ctx, (ast.Store, ast.Del)) and (module or root in ("builtins", "sys")):
            verb = "deletes" if isinstance(node.ctx, ast.Del) else "reassigns"
            self.add(f"{verb} {_dotted(node, self.aliases)}")
        if module and module.split(".")[0] == "os" and node.attr in OS_PROCESS:
            self.add(f"uses os.{node.attr}")
        elif module and module.split(".")[0] == "os" and node.attr in OS_FILES:
            self.add(f"file access (os.{node.attr})")
        elif module and module.split(".")[0] == "sys" and node.attr in (
                "modules", "settrace", "setprofile", "addaudithook", "_getframe", "meta_path", "path_hooks",
                "excepthook", "displayhook", "stdout", "stderr", "exit"):
            self.add(f"touches the interpreter (sys.{node.attr})")
        elif node.attr in ("input_transformers_cleanup", "input_transformers_post", "ast_transformers",
                           "set_custom_exc", "showtraceback", "run_cell", "events", "user_ns", "kernel"):
            self.add(f"IPython machinery ({node.attr})")
        self.generic_visit(node)

    def visit_Subscript(self, node):
        root = _root_name(node)
        if isinstance(node.ctx, (ast.Store, ast.Del)) and (self._module_of(root) or root == "sys"):
            self.add(f"changes {_dotted(node, self.aliases)}")
        self.generic_visit(node)

    def visit_Call(self, node):
        if isinstance(node.func, ast.Name) and node.func.id == "getattr" and (
                len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)):
            for argument in [*node.args, *node.keywords]:  # getattr(x, "name"): plain attribute access
                self.visit(argument)
            return
        if isinstance(node.func, ast.Attribute) and node.func.attr in PATH_METHODS and not self._module_of(
                _root_name(node.func)):
            self.add(f"file access ({node.func.attr})")
        self.generic_visit(node)


def module_aliases(notebooks_cells: list[str]) -> dict[str, str]:
    """name -> module for every top-level import in the given sources (``np`` -> ``numpy``)."""
    aliases: dict[str, str] = {}
    for source in notebooks_cells:
        tree = _parse(source)
        if tree is None:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        aliases[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".")[0]
                        aliases[top] = top
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    for name in ("builtins", "sys", "os"):
        aliases.setdefault(name, name)
    return aliases


def _locked_sources(released: dict) -> list[str]:
    return [source_text(c) for c in released.get("cells", [])
            if c.get("cell_type") == "code" and nbgrader_meta(c).get("locked")]


def findings(notebook: dict, released: dict, graded_names: set[str]) -> list[str]:
    """``"<cell>: <reason>"`` for every use of the interpreter's machinery in the student's cells."""
    cells = student_cells(notebook, released)
    setup_aliases = module_aliases(_locked_sources(released))
    aliases = module_aliases(_locked_sources(released) + [cell.source for cell in cells])
    protected = protected_names(released, graded_names)
    reasons: list[str] = []
    for cell in cells:
        text = python_source(cell.source)
        if text is None:
            continue
        reader = _Reader(aliases, protected, setup_aliases)
        reader.visit(ast.parse(text))
        found = reader.reasons
        if text != cell.source and "get_ipython" not in cell.source:  # the calls came from IPython syntax
            found = [("IPython machinery (magics or shell commands)" if r == BUILTIN_CALLS["get_ipython"] else r)
                     for r in found]
        reasons += [f"{cell.label}: {reason}" for reason in found]
    return list(dict.fromkeys(reasons))


# --- the clean run ------------------------------------------------------------------------------


def _harmless(node: ast.AST, aliases: dict[str, str], protected: set[str]) -> bool:
    """True when evaluating ``node`` (an expression, or a def/class header) cannot change other objects."""
    reader = _Reader(aliases, protected, {})
    reader.visit(node)
    if reader.reasons:
        return False
    for child in ast.walk(node):
        if isinstance(child, (ast.NamedExpr, ast.Await, ast.Yield, ast.YieldFrom)):
            return False
        if isinstance(child, (ast.Attribute, ast.Subscript)) and isinstance(child.ctx, (ast.Store, ast.Del)):
            return False
    return True


def _definition_kept(node: ast.stmt, aliases: dict[str, str], protected: set[str], top: bool = True) -> bool:
    """True for an import, def, class or plain-name assignment that is :func:`_harmless` to run."""
    shadowed = protected if top else set()
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        bound = [(a.asname or a.name.split(".")[0]) for a in node.names]
        return _harmless(node, aliases, set()) and not any(name in shadowed for name in bound)
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        header = [*node.decorator_list, node.args, *([node.returns] if node.returns else [])]
        return node.name not in shadowed and all(_harmless(part, aliases, protected) for part in header)
    if isinstance(node, ast.ClassDef):
        header = [*node.decorator_list, *node.bases, *node.keywords]
        body_ok = all(_definition_kept(statement, aliases, protected, top=False)
                      or isinstance(statement, ast.Pass)
                      or isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)
                      for statement in node.body)
        return node.name not in shadowed and body_ok and all(_harmless(p, aliases, protected) for p in header)
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        names_only = all(isinstance(t, ast.Name) or isinstance(t, ast.Tuple) and all(
            isinstance(e, ast.Name) for e in t.elts) for t in targets)
        bound = {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        value = node.value if node.value is not None else ast.Constant(None)
        return names_only and not bound & shadowed and _harmless(value, aliases, protected)
    return False


def definitions_only(source: str, aliases: dict[str, str], protected: set[str]) -> str:
    """The cell's top-level definitions that pass :func:`_definition_kept`, as source; others dropped."""
    text = python_source(source)
    if text is None:
        return ""
    tree = ast.parse(text)
    kept = [node for node in tree.body if _definition_kept(node, aliases, protected)]
    return "\n\n".join(ast.unparse(node) for node in kept)


def clean_notebook(autograded: dict, released: dict, graded_names: set[str]) -> dict:
    """The autograded notebook with every student cell reduced to its definitions, outputs cleared."""
    notebook = copy.deepcopy(autograded)
    locked = {nbgrader_meta(c).get("grade_id") for c in released.get("cells", []) if nbgrader_meta(c).get("locked")}
    student_sources = [source_text(c) for c in notebook.get("cells", []) if c.get("cell_type") == "code"]
    aliases = module_aliases(_locked_sources(released) + student_sources)
    protected = protected_names(released, graded_names)
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        cell["outputs"], cell["execution_count"] = [], None
        cell["source"] = source_text(cell)
        if nbgrader_meta(cell).get("grade_id") not in locked:
            cell["source"] = definitions_only(cell["source"], aliases, protected)
    return notebook


def reduce_student_cell(source: str, solutions: dict, released: dict) -> str:
    """One student cell as the clean run runs it (for exercise authors' tests: see tests/test_exercises.py)."""
    graded_names = defined_names(solutions)
    aliases = module_aliases(_locked_sources(released) + [source])
    return definitions_only(source, aliases, protected_names(released, graded_names))
