"""The learners' self-check helper: one-line verdicts, failures that raise, and no trust in patched objects."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

import attnbook.checks as checks_module

# Graded cells reload attnbook.checks (and so does a test below), which replaces its classes;
# so every test looks them up on the module when it runs, never through a stale import.


def Checker(name):  # noqa: N802 - stands for the class
    return checks_module.Checker(name)


def failed():
    return checks_module.CheckFailed


def softmax_rows(x):
    exps = np.exp(x - x.max(axis=-1, keepdims=True))
    return exps / exps.sum(axis=-1, keepdims=True)


def softmax_columns(x):
    exps = np.exp(x - x.max(axis=0, keepdims=True))
    return exps / exps.sum(axis=0, keepdims=True)


X = np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]])


def run_checks(function) -> str:
    check = Checker("softmax")
    weights = check.call(function, X)
    check.shape(weights, (2, 3), context="for input of shape (2, 3)")
    check.close(weights.sum(axis=-1), np.ones(2), "rows must sum to 1 along the last axis",
                context="for input of shape (2, 3)")
    return check.done()


def test_all_checks_pass_with_a_one_line_verdict(capsys):
    assert run_checks(softmax_rows) == "softmax: 3/3 checks passed"
    assert capsys.readouterr().out == "softmax: 3/3 checks passed\n"


def test_wrong_axis_gives_a_readable_verdict():
    with pytest.raises(failed()) as failure:
        run_checks(softmax_columns)
    assert str(failure.value) == (
        "softmax: rows must sum to 1 along the last axis; got [2.1119, 0.8881], expected [1., 1.] "
        "for input of shape (2, 3)")
    assert isinstance(failure.value, AssertionError), "nbgrader must score the cell as failed"


def test_not_implemented_and_crashes_are_verdicts_too():
    def stub(x):
        raise NotImplementedError()

    def crash(x):
        return x @ np.ones(2)

    with pytest.raises(failed(), match=r"^softmax: not implemented yet \(the function still raises "
                                          r"NotImplementedError\)$"):
        run_checks(stub)
    with pytest.raises(failed(), match=r"^softmax: raised ValueError: matmul"):
        run_checks(crash)


def test_shape_nan_true_and_raises():
    check = Checker("f")
    with pytest.raises(failed(), match=r"^f: wrong output shape; got shape \(3,\), expected \(2, 3\) ctx$"):
        check.shape(np.zeros(3), (2, 3), context="ctx")
    with pytest.raises(failed(), match=r"^f: bad; got NaN in \[nan, 1\.\]$"):
        check.close(np.array([np.nan, 1.0]), np.ones(2), "bad")
    with pytest.raises(failed(), match=r"^f: must hold$"):
        check.true(False, "must hold")
    with pytest.raises(failed(), match=r"^f: no error raised; expected ValueError$"):
        check.raises(ValueError, lambda: None)
    with pytest.raises(failed(), match=r"^f: wrong error; expected ValueError, got TypeError: t$"):
        check.raises(ValueError, _raise(TypeError("t")))
    check.raises(ValueError, _raise(ValueError("v")))
    check.true(True, "fine")
    assert check.done() == "f: 2/2 checks passed"


def _raise(error):
    def function():
        raise error
    return function


def test_tensors_on_any_device_are_compared():
    check = Checker("torch")
    check.close(torch.ones(2, requires_grad=True) * 2, np.full(2, 2.0), "doubles")
    with pytest.raises(failed(), match=r"got \[2\., 2\.\], expected \[3\., 3\.\]"):
        check.close(torch.full((2,), 2.0), [3.0, 3.0], "doubles")


def test_long_arrays_are_summarised_on_one_line():
    check = Checker("big")
    with pytest.raises(failed()) as failure:
        check.close(np.arange(1000.0), np.zeros(1000), "zeros")
    assert "\n" not in str(failure.value) and "..." in str(failure.value) and len(str(failure.value)) < 200


def test_notebook_shows_only_the_verdict_line():
    """IPython renders an exception with _render_traceback_ as those lines, not a traceback."""
    error = checks_module.CheckFailed("softmax: rows must sum to 1")
    assert error._render_traceback_() == ["\x1b[0;31mCheckFailed\x1b[0m: softmax: rows must sum to 1"]


def test_verdict_is_a_string_that_ipython_does_not_echo():
    verdict = checks_module.Verdict("f: 1/1 checks passed")
    assert verdict == "f: 1/1 checks passed" and isinstance(verdict, str)
    assert verdict._ipython_display_() is None


def test_reload_undoes_a_monkeypatched_checker():
    """What a graded test cell does: a student's always-pass Checker is replaced by the real one."""
    saved = dict(vars(checks_module))

    class AlwaysPass:
        def __init__(self, name):
            pass

        def __getattr__(self, attribute):
            return lambda *args, **kwargs: None

    try:
        checks_module.Checker = AlwaysPass
        fresh = importlib.reload(importlib.import_module("attnbook.checks"))
        assert fresh.Checker is not AlwaysPass
        check = fresh.Checker("softmax")
        with pytest.raises(AssertionError, match="rows must sum to 1"):
            check.close(softmax_columns(X).sum(axis=-1), np.ones(2), "rows must sum to 1")
        checks_module.Checker = AlwaysPass
        assert checks_module.fresh_checks().Checker is not AlwaysPass
    finally:
        vars(checks_module).update(saved)
