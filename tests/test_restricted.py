"""attnbook.restricted: the guard that keeps "NumPy only" exercise parts honest."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

import attnbook
from attnbook import restricted

LEARNER_CODE = '''
import numpy as np
import torch
import torch.nn.functional as F
import attnbook
from torch import softmax as imported_softmax


def numpy_softmax(x):
    exps = np.exp(x - x.max(axis=-1, keepdims=True))
    return exps / exps.sum(axis=-1, keepdims=True)


def torch_softmax(x):
    return torch.softmax(torch.from_numpy(x), dim=-1).numpy()


def imported_torch_softmax(x):
    return imported_softmax(torch.from_numpy(x), dim=-1).numpy()


def package_softmax(x):
    return attnbook.softmax(x)


def import_inside(x):
    import torch as t
    return t.softmax(t.from_numpy(x), dim=-1).numpy()


def helper_uses_torch(x):
    return torch_softmax(x)


def sdpa(q, k, v):
    return F.scaled_dot_product_attention(q, k, v)


def attention_by_hand(q, k, v):
    return torch.softmax(q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5, dim=-1) @ v
'''


@pytest.fixture
def learner():
    namespace: dict = {"__name__": "learner"}
    exec(compile(LEARNER_CODE, "<learner>", "exec"), namespace)
    return namespace


X = np.array([[1.0, 2.0, 3.0]])


def test_numpy_code_passes_and_every_torch_or_attnbook_route_fails(learner):
    with restricted.numpy_only(learner["numpy_softmax"]):
        assert np.allclose(learner["numpy_softmax"](X), [[0.09003057, 0.24472847, 0.66524096]])
    for name in ("torch_softmax", "imported_torch_softmax", "package_softmax", "import_inside", "helper_uses_torch"):
        with restricted.numpy_only(learner[name]), pytest.raises(restricted.ForbiddenCall) as error:
            learner[name](X)
        assert f"{name} must be written with NumPy only" in str(error.value)
    assert "torch.softmax" in str(pytest.raises(restricted.ForbiddenCall, _call_guarded, learner, "torch_softmax").value)


def _call_guarded(learner, name):
    with restricted.numpy_only(learner[name]):
        learner[name](X)


def test_everything_is_restored_after_the_block_also_after_an_error(learner):
    before = dict(learner)
    modules = {name: sys.modules[name] for name in ("torch", "attnbook")}
    sdpa = torch.nn.functional.scaled_dot_product_attention
    with pytest.raises(ZeroDivisionError):
        with restricted.forbidden(learner["sdpa"], ["attnbook"],
                                  ["torch.nn.functional.scaled_dot_product_attention"]):
            raise ZeroDivisionError("an error inside the block")
    assert learner == before
    assert all(sys.modules[name] is module for name, module in modules.items())
    assert torch.nn.functional.scaled_dot_product_attention is sdpa
    assert np.allclose(learner["torch_softmax"](X), attnbook.softmax(X))


def test_a_single_function_can_be_ruled_out_while_torch_stays_allowed(learner):
    q = k = v = torch.ones(1, 2, 4)
    rule = ["torch.nn.functional.scaled_dot_product_attention"]
    with restricted.forbidden(learner["attention_by_hand"], ["attnbook"], rule):
        assert torch.allclose(learner["attention_by_hand"](q, k, v), torch.ones(1, 2, 4))
    with restricted.forbidden(learner["sdpa"], ["attnbook"], rule), pytest.raises(restricted.ForbiddenCall):
        learner["sdpa"](q, k, v)


def test_the_check_helpers_stay_usable_inside_the_block(learner):
    from attnbook import checks

    learner["checks"] = checks
    with restricted.numpy_only(learner["numpy_softmax"]):
        check = learner["checks"].Checker("numpy_softmax")
        check.close(check.call(learner["numpy_softmax"], X).sum(), 1.0, "sums to 1")
        assert check.passed == 2


def test_bad_arguments_raise_value_error(learner):
    with pytest.raises(ValueError, match="cannot resolve"):
        with restricted.forbidden(learner["sdpa"], attributes=["nosuchmodule.f"]):
            pass
    with pytest.raises(ValueError, match="expected a function or class"):
        with restricted.numpy_only(np.exp):
            pass


def _stats_one_pass(blocks):
    m, s = -np.inf, 0.0
    for block in blocks:
        new_m = max(m, block.max())
        s = s * np.exp(m - new_m) + np.exp(block - new_m).sum()
        m = new_m
    return m, s


def test_single_pass_accepts_a_streaming_reader_and_reports_it_finished():
    pieces = [np.array([1.0, 2.0]), np.array([5.0]), np.array([0.5, 3.0]), np.array([4.0])]
    stream = restricted.SinglePass(pieces, reader="stats")
    m, s = _stats_one_pass(stream)
    x = np.concatenate(pieces)
    assert stream.finished and stream.reads == 4
    assert m == 5.0 and np.isclose(s, np.exp(x - 5.0).sum())
    pairs = restricted.SinglePass([(np.ones((2, 3)), np.zeros((2, 1)))] * 3)
    assert sum(keys.sum() + values.sum() for keys, values in pairs) == 18.0
    assert pairs.finished


def test_single_pass_refuses_holding_all_blocks_and_a_second_read():
    pieces = [np.array([1.0]), np.array([2.0]), np.array([3.0])]
    with pytest.raises(restricted.ForbiddenCall, match="still holds block 0 while reading block 2"):
        np.concatenate(list(restricted.SinglePass(pieces, reader="softmax")))
    kept = []
    with pytest.raises(restricted.ForbiddenCall, match="holds block 0"):
        for block in restricted.SinglePass(pieces):
            kept.append(block)
    stream = restricted.SinglePass(pieces, reader="twice")
    assert max(block.max() for block in stream) == 3.0
    with pytest.raises(restricted.ForbiddenCall, match="twice read the blocks a second time"):
        list(stream)
    partial = restricted.SinglePass(pieces)
    next(iter(partial))
    assert not partial.finished and partial.reads == 1
