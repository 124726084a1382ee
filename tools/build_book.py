"""Build the HTML book into book/_build/html (``make book``; ``make book EXECUTE=1``).

Two editions. The **student** edition (the default) leaves out every page under ``solutions/``
(the worked solutions, with the hidden tests of the graded exercises): it is built from a copy of
book/_toc.yml without those entries, and Jupyter Book reads only the files its TOC names. The
**instructor** edition (``make book EDITION=instructor``, ``--edition instructor``) is built from
book/_toc.yml as it is, into book/_build/instructor/html, so the two never mix in one folder.

The source folder is the repository root; the configuration is book/_config.yml and the table
of contents book/_toc.yml. By default the notebooks' stored outputs are shown as they are
(``execute_notebooks: off``); ``--execute=1`` re-runs them first through jupyter-cache
(book/_build/.jupyter_cache), so only notebooks whose code changed run again.

This is what ``jupyter-book build . --config book/_config.yml --toc book/_toc.yml
--path-output book`` does, called through Jupyter Book's own ``build_sphinx`` so that the
execution mode can be switched without editing the config. Sphinx builds incrementally: a
second run with nothing changed takes seconds. Every Sphinx warning is printed as it happens,
listed again at the end, and written to ``<output>/warnings.txt`` (the test suite requires
that file to be empty after a fresh build).

Usage: python tools/build_book.py [--edition student|instructor] [--execute=0|1] [--output DIR] [--fresh] [--strict]

The module is also loaded by Sphinx as a tiny extension: see ``setup``.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "book" / "_config.yml"
TOC = ROOT / "book" / "_toc.yml"
DEFAULT_OUTPUT = ROOT / "book" / "_build"
EDITIONS = ("student", "instructor")
INSTRUCTOR_ONLY = "solutions/"  # TOC entries under this folder are left out of the student edition

# Sphinx, myst-nb and sphinxcontrib-bibtex report problems as "path:line: WARNING: text".
_PROBLEM = re.compile(r"\b(WARNING|ERROR|CRITICAL|SEVERE):")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class _Tee:
    """A text stream that writes to ``stream`` and also keeps a copy of everything written."""

    def __init__(self, stream):
        self.stream = stream
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def text(self) -> str:
        return _ANSI.sub("", "".join(self.parts))


def problems_in(log: str) -> list[str]:
    """The warning and error lines of a Sphinx log, in order, without colour codes."""
    return [line.strip() for line in _ANSI.sub("", log).splitlines() if _PROBLEM.search(line)]


def parse_flag(text: str) -> bool:
    value = text.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise argparse.ArgumentTypeError(f"expected 0 or 1, got {text!r}")


def load_config() -> dict:
    """Read book/_config.yml and stop with a clear message when it does not match the schema."""
    import yaml
    from jupyter_book.config import validate_yaml

    user_config = yaml.safe_load(CONFIG.read_text(encoding="utf8"))
    try:
        validate_yaml(user_config, raise_on_errors=True)
    except Exception as error:  # jsonschema.ValidationError
        raise SystemExit(f"error: {CONFIG.relative_to(ROOT)} is not a valid Jupyter Book config:\n{error}") from None
    return user_config


def student_toc(toc: dict) -> dict:
    """The TOC without entries under solutions/ (and without parts or sections left empty)."""

    def keep(items: list) -> list:
        kept = []
        for item in items or []:
            if str(item.get("file", "")).startswith(INSTRUCTOR_ONLY):
                continue
            item = dict(item)
            for key in ("sections", "chapters"):
                if key in item:
                    item[key] = keep(item[key])
                    if not item[key]:
                        del item[key]
            if "file" in item or item.get("chapters") or item.get("sections"):
                kept.append(item)
        return kept

    result = dict(toc)
    if "parts" in toc:
        result["parts"] = [{**part, "chapters": keep(part.get("chapters"))} for part in toc["parts"]
                           if keep(part.get("chapters"))]
    if "chapters" in toc:
        result["chapters"] = keep(toc["chapters"])
    return result


def edition_toc(edition: str, output: Path) -> Path:
    """The TOC file of ``edition``: book/_toc.yml itself, or the student copy written into ``output``."""
    import yaml

    if edition == "instructor":
        return TOC
    output.mkdir(parents=True, exist_ok=True)
    path = output / "_toc.student.yml"
    text = yaml.safe_dump(student_toc(yaml.safe_load(TOC.read_text(encoding="utf8"))), sort_keys=False)
    if not path.is_file() or path.read_text(encoding="utf8") != text:  # unchanged: Sphinx stays incremental
        path.write_text(text, encoding="utf8")
    return path


def build(output: Path = DEFAULT_OUTPUT, execute: bool = False, fresh: bool = False,
          edition: str = "student") -> tuple[int, list[str]]:
    """Build the HTML book into ``output/html``; return (Sphinx status code, warning lines)."""
    from jupyter_book.sphinx import build_sphinx

    load_config()
    overrides = {
        "external_toc_path": edition_toc(edition, output).as_posix(),
        "latex_individualpages": False,  # required by build_sphinx; unused for HTML
    }
    if execute:
        overrides["nb_execution_mode"] = "cache"
    html_dir = output / "html"
    if not sys.stdout.isatty():
        from sphinx.util.console import nocolor

        nocolor()  # plain text in logs and in captured output
    stderr = _Tee(sys.stderr)
    with contextlib.redirect_stderr(stderr):
        result = build_sphinx(
            ROOT,
            html_dir,
            path_config=str(CONFIG),
            noconfig=True,  # no conf.py: the configuration comes from _config.yml
            confoverrides=overrides,
            doctreedir=output / ".doctrees",
            freshenv=fresh,
            builder="html",
        )
    status = result if isinstance(result, int) else 1  # build_sphinx returns the exception on failure
    return status, problems_in(stderr.text())


def setup(app):
    """Sphinx extension hook (book/_config.yml lists this module under local_extensions).

    Sphinx adds MathJax only to pages whose body has math, but the navigation sidebar of every
    page shows section titles, and some titles contain math: without MathJax those stay raw TeX.
    """
    app.set_html_assets_policy("always")
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--execute", type=parse_flag, default=False, metavar="0|1",
                        help="re-execute the notebooks through jupyter-cache before building (default 0)")
    parser.add_argument("--edition", choices=EDITIONS, default="student",
                        help="student (default): without solutions/; instructor: with them")
    parser.add_argument("--output", type=Path, default=None,
                        help="build folder; the site goes to OUTPUT/html (default book/_build, "
                             "book/_build/instructor for the instructor edition)")
    parser.add_argument("--fresh", action="store_true",
                        help="ignore the saved Sphinx environment and read every page again")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 when there are warnings")
    args = parser.parse_args(argv)

    output = (args.output or (DEFAULT_OUTPUT / "instructor" if args.edition == "instructor" else DEFAULT_OUTPUT)).resolve()
    start = time.perf_counter()
    status, warnings = build(output, execute=args.execute, fresh=args.fresh, edition=args.edition)
    seconds = time.perf_counter() - start

    output.mkdir(parents=True, exist_ok=True)
    (output / "warnings.txt").write_text("".join(line + "\n" for line in warnings), encoding="utf8")
    if warnings:
        print(f"\n{len(warnings)} warning(s) in this build (also in {output / 'warnings.txt'}):", file=sys.stderr)
        for line in warnings:
            print(f"  {line}", file=sys.stderr)
        print("Only pages read again are checked; `--fresh` re-reads them all.", file=sys.stderr)
    index = output / "html" / "index.html"
    if status != 0 or not index.is_file():
        print(f"error: the book did not build (Sphinx status {status}); see the messages above", file=sys.stderr)
        return 1
    print(f"Built the {args.edition} edition in {seconds:.1f} s with {len(warnings)} warning(s). Open:")
    print(index)
    return 1 if (args.strict and warnings) else 0


if __name__ == "__main__":
    sys.exit(main())
