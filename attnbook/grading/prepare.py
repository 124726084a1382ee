"""What is kept of a submitted notebook before it is graded: nothing the student controls steers the grader.

:func:`prepare` returns a copy of the submitted notebook in which

* the notebook metadata is the released notebook's (kernel, language), whatever was submitted;
* every cell keeps only its type, id and source; outputs, attachments and all cell metadata
  (tags such as ``skip-execution`` or ``raises-exception``, ``editable``, raw-cell formats) are
  dropped, except the nbgrader metadata of a cell whose ``grade_id`` the released notebook has,
  which is replaced by the released cell's own metadata (points, locks and checksums come from
  the instructor, never from the submission); a cell with an unknown ``grade_id`` becomes an
  ordinary cell;
* of several cells with the same ``grade_id`` (a cell copied in JupyterLab keeps its nbgrader
  metadata), the one with the released cell's id keeps it (else the first), and the copies become
  ordinary cells, so nbgrader sees each graded cell once;
* deleted answer cells are put back as their released stubs (:func:`restore_deleted_answers`).

It also returns the notes (for the ``note`` column) and the review reasons (for ``review``).
"""

from __future__ import annotations

import copy

from .notebooks import COURSE_KERNEL, nbgrader_meta, source_text

EXECUTION_TAGS = {"skip-execution", "raises-exception", "nbval-skip", "nbval-ignore-output", "nbval-raises-exception"}


def kernel_note(notebook: dict) -> str:
    name = (notebook.get("metadata", {}).get("kernelspec") or {}).get("name")
    if name == COURSE_KERNEL:
        return ""
    return f"kernel {name!r} replaced by the course kernel {COURSE_KERNEL!r}"


def _plain_cell(cell: dict) -> dict:
    kind = cell.get("cell_type")
    kind = kind if kind in ("code", "markdown", "raw") else "raw"
    plain = {"cell_type": kind, "id": str(cell.get("id", "")), "metadata": {}, "source": source_text(cell)}
    if kind == "code":
        plain.update(outputs=[], execution_count=None)
    return plain


def strip_cells(submitted: dict, released: dict) -> tuple[dict, list[str], list[str]]:
    """Plain cells with trusted nbgrader metadata, duplicates repaired; (notebook, notes, review)."""
    released_cells = {nbgrader_meta(c)["grade_id"]: c for c in released.get("cells", []) if nbgrader_meta(c)}
    cells, notes, review = [], [], []
    tagged: dict[str, int] = {}
    for cell in submitted.get("cells", []):
        for tag in (cell.get("metadata", {}) or {}).get("tags", []) or []:
            if isinstance(tag, str) and tag in EXECUTION_TAGS:
                tagged[tag] = tagged.get(tag, 0) + 1
        plain = _plain_cell(cell)
        grade_id = nbgrader_meta(cell).get("grade_id") if isinstance(nbgrader_meta(cell), dict) else None
        if isinstance(grade_id, str) and grade_id in released_cells:
            plain["metadata"]["nbgrader"] = copy.deepcopy(nbgrader_meta(released_cells[grade_id]))
        cells.append(plain)
    for tag, count in sorted(tagged.items()):
        review.append(f"execution tag {tag!r} removed from {count} cell{'s' if count > 1 else ''}")

    by_id: dict[str, list[dict]] = {}
    for cell in cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id:
            by_id.setdefault(grade_id, []).append(cell)
    for grade_id, same in by_id.items():
        if len(same) < 2:
            continue
        released_id = released_cells[grade_id].get("id")
        keeper = next((c for c in same if released_id and c["id"] == released_id), same[0])
        for cell in same:
            if cell is not keeper:
                cell["metadata"] = {}
        copies = len(same) - 1
        run_as = "1 copy run as an ordinary cell" if copies == 1 else f"{copies} copies run as ordinary cells"
        notes.append(f"cell {grade_id} was copied ({run_as})")
    seen_ids: set[str] = set()
    for number, cell in enumerate(cells):  # cell ids must be unique for nbformat; copies may share one
        if not cell["id"] or cell["id"] in seen_ids:
            cell["id"] = f"cell-{number}"
        seen_ids.add(cell["id"])
    notebook = {"cells": cells, "metadata": copy.deepcopy(released.get("metadata", {})),
                "nbformat": 4, "nbformat_minor": 5}
    return notebook, notes, review


def restore_deleted_answers(submitted: dict, released: dict) -> tuple[dict, list[str]]:
    """Put back the released stub of every deleted answer cell (solution or written answer).

    nbgrader restores deleted *test* cells after their solution cell, but crashes (KeyError)
    when the cell before a deleted graded cell is not a solution or graded cell, as for a
    written answer after its question; and it cannot restore a test cell after a deleted
    solution cell. With the stubs back, a deleted answer scores 0 and the rest is graded.
    """
    present = {nbgrader_meta(c).get("grade_id") for c in submitted.get("cells", []) if nbgrader_meta(c)}
    cells = list(submitted.get("cells", []))
    notes = []
    previous_id = None
    for cell in released.get("cells", []):
        meta = nbgrader_meta(cell)
        grade_id = meta.get("grade_id")
        if meta.get("solution") and grade_id not in present:
            ids = [nbgrader_meta(c).get("grade_id") for c in cells]
            position = ids.index(previous_id) + 1 if previous_id in ids else len(cells)
            cells.insert(position, copy.deepcopy(cell))
            present.add(grade_id)
            kind = "written answer" if cell.get("cell_type") == "markdown" else "solution cell"
            notes.append(f"{kind} {grade_id} was deleted (its empty stub was graded)")
        previous_id = grade_id
    if not notes:
        return submitted, []
    return {**submitted, "cells": cells}, notes


def restored_cell_notes(submitted: dict, released: dict) -> list[str]:
    """Which locked test cells nbgrader will restore: deleted ones and edited ones."""
    submitted_cells = {nbgrader_meta(c).get("grade_id"): c for c in submitted.get("cells", []) if nbgrader_meta(c)}
    notes = []
    for cell in released.get("cells", []):
        meta = nbgrader_meta(cell)
        if not (meta.get("grade") and meta.get("locked")):
            continue
        grade_id = meta["grade_id"]
        if grade_id not in submitted_cells:
            notes.append(f"test cell {grade_id} was deleted (restored from the source)")
        elif source_text(submitted_cells[grade_id]).strip() != source_text(cell).strip():
            notes.append(f"test cell {grade_id} was edited (the original was run)")
    return notes


def prepare(submitted: dict, released: dict) -> tuple[dict, list[str], list[str]]:
    """The notebook nbgrader will grade, with (notes, review); see the module docstring."""
    notes = []
    note = kernel_note(submitted)
    notebook, strip_notes, review = strip_cells(submitted, released)
    notebook, restore_notes = restore_deleted_answers(notebook, released)
    notes += restore_notes + strip_notes + restored_cell_notes(notebook, released)
    if note:
        notes.append(note)
    return notebook, notes, review
