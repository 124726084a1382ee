"""How notebooks are stored in the repository: outputs kept, volatile metadata removed.

One normaliser for every stored notebook: tools/clean_notebooks.py applies it to chapters and
solutions, and the nbgrader release (attnbook.grading) applies it to the generated exercises,
so a fresh release compares byte for byte with the committed one.
"""

from __future__ import annotations

import json

CELL_KEYS_TO_DROP = ("execution", "collapsed", "scrolled", "ExecuteTime", "jupyter")
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def cleaned(notebook: dict) -> dict:
    """Return a copy of the notebook JSON without volatile metadata."""
    notebook = json.loads(json.dumps(notebook))
    metadata = notebook.get("metadata", {})
    kept = {"kernelspec": metadata.get("kernelspec", KERNELSPEC), "language_info": {"name": "python"}}
    for key in ("nbgrader", "celltoolbar"):
        if key in metadata:
            kept[key] = metadata[key]
    notebook["metadata"] = kept
    for cell in notebook.get("cells", []):
        cell_metadata = cell.get("metadata", {})
        for key in CELL_KEYS_TO_DROP:
            cell_metadata.pop(key, None)
        for output in cell.get("outputs", []):
            if output.get("output_type") in ("execute_result", "display_data"):
                output.get("metadata", {}).pop("needs_background", None)
    return notebook


def serialise(notebook: dict) -> str:
    """JSON text as committed: one-space indent, sorted keys, trailing newline."""
    return json.dumps(notebook, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
