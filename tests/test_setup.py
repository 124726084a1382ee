"""`make` set-up fails with one readable line, not a traceback wall, on a bad machine."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")


def run_setup(tmp_path, python: str, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(extra_env or {})}
    return subprocess.run(
        ["make", "--no-print-directory", "setup", f"PYTHON={python}", f"VENV={tmp_path / 'venv'}"],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=300,
    )


def test_old_or_missing_python_is_one_line(tmp_path):
    result = run_setup(tmp_path, python="/nonexistent/python3")
    assert result.returncode != 0
    assert "error: Python 3.11 or newer is needed" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_no_package_index_is_one_line(tmp_path):
    # An empty --find-links folder and no index: pip cannot find anything, as with no network.
    offline = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(tmp_path), "PIP_CONFIG_FILE": os.devnull}
    result = run_setup(tmp_path, python="python3", extra_env=offline)
    assert result.returncode != 0
    assert "error: pip could not install the dependencies (no network to the package index?)" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "venv" / ".installed").exists()
