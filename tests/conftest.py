"""Shared fixtures. ``built_book``: the HTML book, built once per test session; ``one_torch_thread``.

The book is built fresh (every page read, so every warning is reported) into a temporary folder
with the same script as ``make book``; book/_build is left alone. tests/test_book.py checks the
build itself, tests/test_browser.py serves the result and opens every page in Chromium.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class BuiltBook:
    output: Path  # the build folder (html/ and .doctrees/ inside)
    returncode: int
    log: str  # stdout and stderr of tools/build_book.py
    warnings: list[str]  # warning and error lines reported by Sphinx
    seconds: float

    @property
    def html(self) -> Path:
        return self.output / "html"

    def require_html(self) -> Path:
        """The html folder; fails the calling test with the end of the log if the build failed."""
        if self.returncode != 0 or not (self.html / "index.html").is_file():
            pytest.fail(f"the book did not build (exit {self.returncode}); end of the log:\n{self.log[-4000:]}")
        return self.html


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> BuiltBook:
    output = tmp_path_factory.mktemp("book_build")
    command = [sys.executable, str(ROOT / "tools" / "build_book.py"), "--output", str(output), "--fresh"]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - start
    warnings_file = output / "warnings.txt"
    warnings = warnings_file.read_text(encoding="utf8").splitlines() if warnings_file.is_file() else []
    return BuiltBook(output, result.returncode, result.stdout + result.stderr, warnings, seconds)


@pytest.fixture
def one_torch_thread():
    """Tiny models: one thread is faster than two on a busy machine, and reproducible."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
