"""Plain-text tables for notebook output: same text on every machine, no pandas needed."""

from __future__ import annotations


def format_table(headers, rows) -> str:
    """Right-aligned text table of ``rows`` (lists of already formatted values) under ``headers``."""
    headers = [str(h) for h in headers]
    rows = [[str(value) for value in row] for row in rows]
    for number, row in enumerate(rows):
        if len(row) != len(headers):
            raise ValueError(f"row {number} has {len(row)} values but there are {len(headers)} headers")
    widths = [max(len(value) for value in column) for column in zip(headers, *rows, strict=True)]
    lines = [headers, ["-" * width for width in widths], *rows]
    return "\n".join("  ".join(value.rjust(width) for value, width in zip(line, widths, strict=True)) for line in lines)


def print_table(headers, rows) -> None:
    """Print :func:`format_table` of ``headers`` and ``rows``."""
    print(format_table(headers, rows))
