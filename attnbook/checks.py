"""Self-check helpers for the exercise notebooks.

A test cell builds a :class:`Checker`, runs a few checks, and ends with ``done()``::

    check = Checker("softmax")
    weights = check.call(softmax, x)                       # NotImplementedError -> readable verdict
    check.close(weights.sum(axis=-1), np.ones(2), "rows must sum to 1 along the last axis",
                context=f"for input of shape {x.shape}")
    check.done()                                           # prints "softmax: 2/2 checks passed"

The first failing check raises :class:`CheckFailed` (an ``AssertionError``, so nbgrader scores
the cell as failed) whose message is the whole verdict, e.g.
``softmax: rows must sum to 1 along the last axis; got [2. 2.], expected [1. 1.] for input of
shape (2, 3)``. In a notebook that line is all the learner sees (no traceback).

Graded cells must not trust objects the student's code could have replaced, so they load this
module with ``importlib.reload`` (see :func:`fresh_checks`).
"""

from __future__ import annotations

import importlib
import sys

import numpy as np

__all__ = ["CheckFailed", "Checker", "Verdict", "fresh_checks"]


class CheckFailed(AssertionError):
    """A self-check failed; the message says what was expected and what came back.

    In a notebook the learner sees only the verdict line, not a traceback: IPython asks an
    exception for ``_render_traceback_`` before it formats one. nbgrader still sees an error
    output, so the graded cell scores zero.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self}"]


class Verdict(str):
    """The line returned by :meth:`Checker.done`; a plain ``str`` that IPython does not echo.

    ``done()`` prints the line, so a cell ending in ``check.done()`` shows it once, not twice.
    """

    def _ipython_display_(self) -> None:
        return None


def _to_numpy(value):
    """Tensors (on any device, with or without grad) and lists become NumPy arrays."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _short(value, digits: int = 4) -> str:
    array = _to_numpy(value)
    if array.dtype.kind == "f":
        array = np.round(array, digits)
    text = np.array2string(array, threshold=12, separator=", ")
    return " ".join(text.split())


class Checker:
    """Collects the checks of one exercise part and reports them in one line."""

    def __init__(self, name: str):
        self.name = name
        self.passed = 0

    def _fail(self, message: str):
        __tracebackhide__ = True
        raise CheckFailed(f"{self.name}: {message}")

    def _pass(self):
        self.passed += 1

    def call(self, function, *args, **kwargs):
        """Call the learner's function; turn a crash into a one-line verdict."""
        __tracebackhide__ = True
        try:
            result = function(*args, **kwargs)
        except NotImplementedError:
            self._fail("not implemented yet (the function still raises NotImplementedError)")
        except Exception as error:  # noqa: BLE001 - any crash is reported, not re-raised
            self._fail(f"raised {type(error).__name__}: {error}")
        self._pass()
        return result

    def true(self, condition, message: str):
        """Check that ``condition`` holds; ``message`` says what was expected."""
        __tracebackhide__ = True
        if not bool(condition):
            self._fail(message)
        self._pass()

    def shape(self, value, expected_shape, message: str = "wrong output shape", context: str = ""):
        __tracebackhide__ = True
        got = tuple(getattr(value, "shape", np.shape(value)))
        if got != tuple(expected_shape):
            self._fail(f"{message}; got shape {got}, expected {tuple(expected_shape)}{_suffix(context)}")
        self._pass()

    def close(self, got, expected, message: str, context: str = "", rtol: float = 1e-5, atol: float = 1e-6):
        """Check ``got`` equals ``expected`` within tolerance (shapes must match, no NaN)."""
        __tracebackhide__ = True
        got_array, expected_array = _to_numpy(got), _to_numpy(expected)
        if got_array.shape != expected_array.shape:
            self._fail(
                f"{message}; got shape {got_array.shape}, expected {expected_array.shape}{_suffix(context)}"
            )
        if got_array.dtype.kind in "fc" and np.isnan(got_array).any() and not np.isnan(expected_array).any():
            self._fail(f"{message}; got NaN in {_short(got_array)}{_suffix(context)}")
        if not np.allclose(got_array, expected_array, rtol=rtol, atol=atol):
            self._fail(
                f"{message}; got {_short(got_array)}, expected {_short(expected_array)}{_suffix(context)}"
            )
        self._pass()

    def raises(self, error_type, function, *args, message: str = "", **kwargs):
        """Check that ``function(*args)`` raises ``error_type`` (e.g. ValueError on bad shapes)."""
        __tracebackhide__ = True
        try:
            function(*args, **kwargs)
        except error_type:
            self._pass()
            return
        except NotImplementedError:
            self._fail("not implemented yet (the function still raises NotImplementedError)")
        except Exception as error:  # noqa: BLE001
            self._fail(f"{message or 'wrong error'}; expected {error_type.__name__}, got {type(error).__name__}: {error}")
        self._fail(f"{message or 'no error raised'}; expected {error_type.__name__}")

    def done(self) -> str:
        """Print and return the verdict line, e.g. ``softmax: 3/3 checks passed``."""
        line = Verdict(f"{self.name}: {self.passed}/{self.passed} checks passed")
        print(line)
        return line


def _suffix(context: str) -> str:
    return f" {context}" if context else ""


def fresh_checks():
    """Re-import this module from disk, so a monkeypatched ``Checker`` cannot pass a test.

    Test cells call ``checks = importlib.reload(importlib.import_module("attnbook.checks"))``
    themselves; this function documents the idiom and does the same.
    """
    module = sys.modules.get(__name__) or importlib.import_module(__name__)
    return importlib.reload(module)
