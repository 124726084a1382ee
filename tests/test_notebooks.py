"""Notebook hygiene: valid JSON, stored as one clean in-order run, no errors, few ignored outputs.

nbval (run by the same `pytest` call over chapters/ and solutions/) re-executes the notebooks
and compares outputs; these tests catch what nbval does not report by file name.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import clean_notebooks  # noqa: E402

EXECUTED_FOLDERS = ("chapters", "solutions")  # stored with outputs; exercises/ are released blank
IGNORE_MARKER = "# NBVAL_IGNORE_OUTPUT"
MAX_IGNORE_MARKERS = 20  # across the whole book: timings and device names only (about one per notebook at most)


def notebooks(folders=clean_notebooks.NOTEBOOK_FOLDERS) -> list[Path]:
    return [p for p in clean_notebooks.all_notebooks() if p.relative_to(ROOT).parts[0] in folders]


def code_cells(notebook: dict) -> list[dict]:
    return [c for c in notebook["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]


def load(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        pytest.fail(f"{path.relative_to(ROOT)}: not valid notebook JSON ({error})")


def ids(paths):
    return [str(p.relative_to(ROOT)) for p in paths]


@pytest.mark.parametrize("path", notebooks(), ids=ids(notebooks()))
def test_notebook_is_valid_json_with_python3_kernel(path):
    notebook = load(path)
    kernel = notebook.get("metadata", {}).get("kernelspec", {}).get("name")
    assert kernel == "python3", f"{path.relative_to(ROOT)}: kernel {kernel!r}, expected 'python3'"


def stored_run_problems(notebook: dict) -> list[str]:
    """What a reader (or nbval) would trip over in a stored notebook; empty when clean."""
    problems = []
    cells = code_cells(notebook)
    counts = [c.get("execution_count") for c in cells]
    if counts != list(range(1, len(cells) + 1)):
        problems.append(f"execution counts {counts}, expected 1..{len(cells)} (re-run top to bottom)")
    for number, cell in enumerate(cells, start=1):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if output.get("output_type") == "error":
                problems.append(f"code cell {number} has a stored error output: {output.get('ename')}")
            result_text = "".join(data.get("text/plain", "")) if output.get("output_type") == "execute_result" else ""
            if result_text.startswith(("<Figure size", "[<matplotlib", "<matplotlib")) or " at 0x" in result_text:
                problems.append(f"code cell {number} returns an object repr ({result_text[:40]!r}); end it with plt.show() or ;")
            if "application/vnd.jupyter.widget-view+json" in data:
                problems.append(f"code cell {number} has a widget output")
    return problems


@pytest.mark.parametrize("path", notebooks(EXECUTED_FOLDERS), ids=ids(notebooks(EXECUTED_FOLDERS)))
def test_notebook_stored_as_one_clean_run(path):
    problems = stored_run_problems(load(path))
    assert not problems, f"{path.relative_to(ROOT)}: " + "; ".join(problems)


def test_stored_run_problems_finds_errors_and_disorder():
    error = {"output_type": "error", "ename": "ZeroDivisionError", "evalue": "", "traceback": []}
    notebook = {"cells": [
        {"cell_type": "code", "source": "1/0", "execution_count": 2, "outputs": [error]},
        {"cell_type": "code", "source": "x = 1", "execution_count": 1, "outputs": []},
    ]}
    problems = stored_run_problems(notebook)
    assert any("execution counts [2, 1]" in p for p in problems)
    assert any("ZeroDivisionError" in p for p in problems)


def test_notebook_metadata_is_clean():
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "clean_notebooks.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ignore_markers_are_few(capsys):
    marked = []
    for path in notebooks(EXECUTED_FOLDERS):
        for cell in code_cells(load(path)):
            if "".join(cell["source"]).lstrip().startswith(IGNORE_MARKER):
                marked.append(str(path.relative_to(ROOT)))
    with capsys.disabled():
        print(f"\n{len(marked)} cell(s) marked {IGNORE_MARKER}: {sorted(set(marked))}")
    assert len(marked) <= MAX_IGNORE_MARKERS


def test_cleaner_rejects_invalid_json(tmp_path):
    broken = tmp_path / "broken.ipynb"
    broken.write_text('{"cells": [', encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "clean_notebooks.py"), "--check", str(broken)],
        capture_output=True, text=True,
    )
    assert result.returncode == 2 and "broken.ipynb: not valid JSON" in result.stderr


def test_ruff_is_clean():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--quiet", str(ROOT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
