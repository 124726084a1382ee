"""Read code out of notebooks, for tests that keep a notebook's teaching version and the package equal.

A notebook marks the cells that define its teaching version of a package function with the cell
tag ``twin``. ``twin_namespace(path)`` executes exactly those cells, in order, in a fresh
namespace (so they must only import numpy, torch, math and attnbook) and returns it, and a test
then compares e.g. ``ns["softmax"]`` with ``attnbook.softmax`` on inputs of its own.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def tagged_sources(notebook_path, tag: str) -> list[str]:
    """Sources of the code cells carrying ``tag``, in notebook order."""
    notebook = nbformat.read(ROOT / notebook_path, as_version=4)
    return [
        cell.source
        for cell in notebook.cells
        if cell.cell_type == "code" and tag in cell.get("metadata", {}).get("tags", [])
    ]


def twin_namespace(notebook_path, tag: str = "twin") -> dict:
    """Execute the notebook's cells tagged ``tag`` in a fresh namespace and return it."""
    sources = tagged_sources(notebook_path, tag)
    if not sources:
        raise AssertionError(f"{notebook_path}: no code cell tagged {tag!r}")
    namespace: dict = {"__name__": f"twin_of_{Path(notebook_path).stem}"}
    for source in sources:
        exec(compile(source, f"{notebook_path}[{tag}]", "exec"), namespace)
    return namespace
