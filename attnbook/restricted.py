"""Run a learner's exercise function with some libraries switched off ("NumPy only" parts).

A part that asks for a softmax written with NumPy must not pass with
``torch.softmax(torch.from_numpy(x)).numpy()`` or a call to ``attnbook.softmax``; a part that
asks for attention must not pass with ``F.scaled_dot_product_attention``. Test cells run the
learner's function inside one of the context managers below::

    restricted = importlib.reload(importlib.import_module("attnbook.restricted"))
    with restricted.numpy_only(stable_softmax):
        weights = check.call(stable_softmax, x)   # using torch or attnbook fails with a verdict

While the block runs:

* every global name of the function's namespace (the notebook) that refers to a forbidden
  library, a submodule of it, or a function or class defined in it is replaced by a stand-in
  that raises :class:`ForbiddenCall` when used;
* the library's entry in ``sys.modules`` is replaced the same way, so an ``import torch`` inside
  the function gets the stand-in too;
* a forbidden attribute such as ``torch.nn.functional.scaled_dot_product_attention`` is replaced
  on its module (and wherever the namespace holds that same object).

Everything is put back when the block ends, also when it ends with an error. The grading
helpers ``attnbook.checks`` and this module stay usable inside the block. The guard stops the
honest shortcut, not a determined cheat; the hidden tests and a human grader do the rest.

:class:`SinglePass` does the same for "one pass over the blocks" parts (online softmax,
streaming attention): it hands out the blocks once, one fresh copy at a time, and fails when
the learner's code asks for a block while still holding one from two blocks before (so
``np.concatenate(list(blocks))`` fails), or tries to read the blocks a second time.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import sys
import types
import weakref

import numpy as np

__all__ = ["NUMPY_ONLY", "ForbiddenCall", "SinglePass", "forbidden", "numpy_only"]

NUMPY_ONLY = ("torch", "attnbook")
HELPERS = ("attnbook.checks", "attnbook.restricted")  # the test cell's own tools stay usable


class ForbiddenCall(Exception):
    """The learner's code used a library or function that this exercise part rules out."""


class _Forbidden:
    """Stand-in for a forbidden module or function: any use raises ForbiddenCall."""

    def __init__(self, name: str, rule: str):
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_rule", rule)

    def _refuse(self, what: str):
        raise ForbiddenCall(f"{self._rule}; the code used {what}")

    def __getattr__(self, attribute):
        if attribute.startswith("__") and attribute.endswith("__"):
            raise AttributeError(attribute)  # let copy, pickle and repr machinery look around
        self._refuse(f"{self._name}.{attribute}")

    def __call__(self, *args, **kwargs):
        self._refuse(f"{self._name}(...)")

    def __repr__(self) -> str:
        return f"<forbidden in this exercise part: {self._name}>"


def _root(name: str) -> str:
    return name.split(".")[0]


def _from_library(value, libraries: set[str]) -> str | None:
    """The dotted name of ``value`` if it is a module, function or class of ``libraries``."""
    if isinstance(value, types.ModuleType):
        name = value.__name__
        if _root(name) in libraries and name not in HELPERS:
            return name
        return None
    if inspect.isclass(value) or inspect.isroutine(value):
        module = getattr(value, "__module__", None) or ""
        if _root(module) in libraries and module not in HELPERS:
            return f"{module}.{getattr(value, '__qualname__', getattr(value, '__name__', '?'))}"
    return None


def _resolve(dotted: str):
    """(owner object, attribute name, current value) for a dotted path like torch.nn.functional.f."""
    parts = dotted.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            owner = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:-1]:
            owner = getattr(owner, attribute)
        return owner, parts[-1], getattr(owner, parts[-1])
    raise ValueError(f"cannot resolve {dotted!r}: name a module attribute such as torch.softmax")


@contextlib.contextmanager
def forbidden(function, libraries=(), attributes=(), rule: str | None = None):
    """Inside the block, ``libraries`` and ``attributes`` raise ForbiddenCall when ``function`` uses them.

    Args:
        function: the learner's function or class; its ``__globals__`` (for a class: the
            globals of its methods) is the namespace that is patched.
        libraries: top-level package names, e.g. ``("torch", "attnbook")``.
        attributes: dotted names of single functions, e.g.
            ``("torch.nn.functional.scaled_dot_product_attention",)``.
        rule: the sentence the error starts with; by default it names what is ruled out.
    """
    libraries = set(libraries)
    name = getattr(function, "__name__", "this part")
    ruled_out = sorted(libraries) + list(attributes)
    rule = rule or f"{name} must be written without {', '.join(ruled_out)}"
    namespace = _namespace_of(function)
    saved_globals: dict = {}
    saved_modules: dict = {}
    saved_attributes: list = []
    try:
        for dotted in attributes:
            owner, attribute, original = _resolve(dotted)
            saved_attributes.append((owner, attribute, original))
            stand_in = _Forbidden(dotted, rule)
            setattr(owner, attribute, stand_in)
            for key, value in list(namespace.items()):
                if value is original:
                    saved_globals.setdefault(key, value)
                    namespace[key] = stand_in
        for key, value in list(namespace.items()):
            library_name = _from_library(value, libraries)
            if library_name is not None:
                saved_globals.setdefault(key, value)
                namespace[key] = _Forbidden(library_name, rule)
        for library in libraries:
            saved_modules[library] = sys.modules.get(library)
            sys.modules[library] = _Forbidden(library, rule)
        yield
    finally:
        for library, module in saved_modules.items():
            if module is None:
                sys.modules.pop(library, None)
            else:
                sys.modules[library] = module
        namespace.update(saved_globals)
        for owner, attribute, original in reversed(saved_attributes):
            setattr(owner, attribute, original)


def numpy_only(function, rule: str | None = None):
    """:func:`forbidden` with torch and attnbook ruled out: the part must be written with NumPy."""
    name = getattr(function, "__name__", "this part")
    return forbidden(function, NUMPY_ONLY, rule=rule or f"{name} must be written with NumPy only "
                     "(no torch, no attnbook)")


def _namespace_of(function) -> dict:
    if inspect.isclass(function):
        for member in vars(function).values():
            if inspect.isfunction(member):
                return member.__globals__
        raise ValueError(f"class {function.__name__} defines no method to find its namespace from")
    if not hasattr(function, "__globals__"):
        raise ValueError(f"expected a function or class written in the notebook; got {type(function).__name__}")
    return function.__globals__


class SinglePass:
    """The blocks of a long row, to be read once, in order, holding at most one at a time.

    Iterating yields a fresh copy of each block (a NumPy array, or a tuple of arrays such as
    ``(keys_block, values_block)``). When block ``k`` is requested while a copy of any block
    before ``k - 1`` is still alive, or when the blocks are iterated a second time, the iteration
    raises :class:`ForbiddenCall` with a message that names ``reader``. After the learner's
    function returns, ``finished`` says whether every block was read.
    """

    def __init__(self, blocks, reader: str = "this function"):
        self._blocks = list(blocks)  # the caller's arrays; only copies are handed out
        self.reader = reader
        self.reads = 0
        self.finished = False
        self._started = False

    def __iter__(self):
        if self._started:
            raise ForbiddenCall(f"{self.reader} read the blocks a second time; they can be read only once, "
                                "so keep what you need (the running statistics) during the first pass")
        self._started = True
        return self._generate()

    def _generate(self):
        alive = []  # weak references to the copies handed out, one list per block
        for index, block in enumerate(self._blocks):
            for earlier, references in enumerate(alive[:max(index - 1, 0)]):
                if any(reference() is not None for reference in references):
                    raise ForbiddenCall(
                        f"{self.reader} still holds block {earlier} while reading block {index}: keep the "
                        "running statistics, not the blocks (at most one block at a time)")
            fresh = tuple(np.array(a, copy=True) for a in block) if isinstance(block, tuple) else np.array(
                block, copy=True)
            alive.append([weakref.ref(a) for a in (fresh if isinstance(fresh, tuple) else (fresh,))])
            self.reads = index + 1
            yield fresh
            del fresh  # this generator must not keep the block alive itself
        self.finished = True
