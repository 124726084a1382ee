"""The HTML book: table of contents, bibliography files, a clean build, and no outside resources.

The build checked here is the default, student edition (``make book``): no page of solutions/
and no hidden-test text. The instructor edition (``make book EDITION=instructor``) differs only
by its TOC, book/_toc.yml itself, which the TOC tests check. The browser checks of the built site
are in tests/test_browser.py.
"""

from __future__ import annotations

import importlib.util
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import yaml

from attnbook.grading import notebooks as nb

ROOT = Path(__file__).resolve().parents[1]
TOC = ROOT / "book" / "_toc.yml"
CONFIG = ROOT / "book" / "_config.yml"
NOTEBOOK_FOLDERS = ("chapters", "exercises", "solutions")
SOURCE_SUFFIXES = (".ipynb", ".md")


def _build_book_module():
    spec = importlib.util.spec_from_file_location("build_book", ROOT / "tools" / "build_book.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- table of contents


def toc_entries(toc: dict) -> list[str]:
    """Every ``file`` named in a jb-book TOC (root first), in order, as written (no suffix)."""
    entries = [toc["root"]]

    def walk(items):
        for item in items or []:
            if "file" in item:
                entries.append(item["file"])
            walk(item.get("sections"))
            walk(item.get("chapters"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return entries


def resolve_entry(root: Path, entry: str) -> list[Path]:
    """The source files a TOC entry can mean: ``entry`` itself if it has a suffix, else entry + .ipynb/.md."""
    path = root / entry
    if path.suffix in SOURCE_SUFFIXES:
        return [path] if path.is_file() else []
    return [p for p in (path.with_suffix(s) for s in SOURCE_SUFFIXES) if p.is_file()]


def toc_problems(root: Path, toc_path: Path) -> list[str]:
    """What is wrong between a TOC and the notebooks on disk; an empty list when they agree."""
    toc = yaml.safe_load(toc_path.read_text(encoding="utf8"))
    problems = []
    if toc.get("format") != "jb-book":
        problems.append(f"format must be jb-book, got {toc.get('format')!r}")
    entries = toc_entries(toc)
    listed = set()
    for entry in entries:
        sources = resolve_entry(root, entry)
        if not sources:
            problems.append(f"TOC entry {entry!r} names no file ({entry}.ipynb or {entry}.md)")
        elif len(sources) > 1:
            problems.append(f"TOC entry {entry!r} is ambiguous: {[p.name for p in sources]}")
        listed.update(p.relative_to(root).as_posix() for p in sources)
    duplicates = sorted({e for e in entries if entries.count(e) > 1})
    problems += [f"TOC entry {e!r} appears more than once" for e in duplicates]
    for folder in NOTEBOOK_FOLDERS:
        for notebook in sorted((root / folder).rglob("*.ipynb")):
            relative = notebook.relative_to(root).as_posix()
            if ".ipynb_checkpoints" in notebook.parts:
                continue
            if relative not in listed:
                problems.append(f"{relative} is not in the TOC ({toc_path.name})")
    return problems


def test_toc_matches_the_notebooks_on_disk():
    problems = toc_problems(ROOT, TOC)
    assert not problems, "book/_toc.yml and the notebooks disagree:\n" + "\n".join(problems)


def test_toc_check_reports_a_missing_notebook_and_a_dangling_entry(tmp_path):
    """The check above can fail: a notebook outside the TOC and an entry without a file are reported."""
    (tmp_path / "chapters" / "01_a").mkdir(parents=True)
    (tmp_path / "chapters" / "01_a" / "01_listed.ipynb").write_text("{}")
    (tmp_path / "chapters" / "01_a" / "02_forgotten.ipynb").write_text("{}")
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "preface.md").write_text("# Preface\n")
    toc = {
        "format": "jb-book",
        "root": "book/preface",
        "parts": [{"caption": "C", "chapters": [
            {"file": "chapters/01_a/01_listed", "sections": [{"file": "chapters/01_a/03_gone"}]},
        ]}],
    }
    (tmp_path / "toc.yml").write_text(yaml.safe_dump(toc))
    problems = toc_problems(tmp_path, tmp_path / "toc.yml")
    assert any("02_forgotten.ipynb is not in the TOC" in p for p in problems), problems
    assert any("'chapters/01_a/03_gone' names no file" in p for p in problems), problems
    assert len(problems) == 2, problems


# ---------------------------------------------------------------- bibliography files

BIB_KEY = re.compile(r"^\s*@\s*(\w+)\s*[{(]\s*([^,\s]+)\s*,", re.MULTILINE)


def test_every_bib_file_is_loaded_and_every_key_defined_once():
    config = yaml.safe_load(CONFIG.read_text(encoding="utf8"))
    configured = sorted(config.get("bibtex_bibfiles", []))
    on_disk = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "book" / "references").glob("*.bib"))
    assert configured == on_disk, f"bibtex_bibfiles in book/_config.yml {configured} != files on disk {on_disk}"
    defined: dict[str, str] = {}
    duplicates = []
    for name in on_disk:
        for kind, key in BIB_KEY.findall((ROOT / name).read_text(encoding="utf8")):
            if kind.lower() in {"comment", "preamble", "string"}:
                continue
            if key in defined:
                duplicates.append(f"{key} in {defined[key]} and {name}")
            defined[key] = name
    assert not duplicates, "bib keys defined more than once:\n" + "\n".join(duplicates)


# ---------------------------------------------------------------- the build


def test_book_builds_without_warnings(built_book):
    """A fresh build succeeds and Sphinx reports nothing: no broken reference, missing citation,
    unknown directive, unreadable image, unrenderable output or page outside the TOC."""
    built_book.require_html()
    assert not built_book.warnings, (
        f"the book built with {len(built_book.warnings)} warning(s) "
        "(run `.venv/bin/python tools/build_book.py --fresh` to see them in context):\n"
        + "\n".join(built_book.warnings)
    )


def test_every_toc_entry_of_the_student_edition_has_a_page(built_book):
    html = built_book.require_html()
    toc = _build_book_module().student_toc(yaml.safe_load(TOC.read_text(encoding="utf8")))
    missing = [e for e in toc_entries(toc) if not (html / f"{Path(e).with_suffix('')}.html").is_file()]
    assert not missing, f"no HTML page for TOC entries {missing}"
    assert (html / "search.html").is_file() and (html / "searchindex.js").is_file()


def test_the_student_toc_is_the_toc_without_solutions():
    toc = yaml.safe_load(TOC.read_text(encoding="utf8"))
    full, student = toc_entries(toc), toc_entries(_build_book_module().student_toc(toc))
    assert student == [e for e in full if not e.startswith("solutions/")]
    assert any(e.startswith("solutions/") for e in full), "the instructor edition has the solutions"


def _hidden_lines_not_in_the_course() -> list[str]:
    """Hidden-test lines of every formatted chapter that no chapter, exercise or book page contains."""
    hidden = {line for chapter in nb.formatted_chapters(nb.SOLUTIONS)
              for line in nb.hidden_test_lines(nb.read_notebook(nb.SOLUTIONS / chapter / nb.NOTEBOOK))}
    course = set()
    for path in [*ROOT.glob("chapters/**/*.ipynb"), *ROOT.glob("exercises/**/*.ipynb"), *ROOT.glob("book/*.md")]:
        if path.suffix == ".ipynb":
            cells = json.loads(path.read_text(encoding="utf8")).get("cells", [])
            course |= {line.strip() for cell in cells for line in nb.source_text(cell).splitlines()}
        else:
            course |= {line.strip() for line in path.read_text(encoding="utf8").splitlines()}
    return sorted(line for line in hidden - course if len(line) >= 12)


def test_the_student_edition_has_no_solutions_and_no_hidden_tests(built_book):
    html = built_book.require_html()
    assert not (html / "solutions").exists(), "the student edition has pages of solutions/"
    pages = sorted(html.rglob("*.html"))
    assert not [p for p in pages if "solutions/" in p.relative_to(html).as_posix()]
    hidden = _hidden_lines_not_in_the_course()
    texts = {p: p.read_text(encoding="utf8", errors="replace") for p in [*pages, html / "searchindex.js"]}
    leaks = [f"{p.relative_to(html)}: {line}" for p, text in texts.items() for line in hidden
             if line in text or line.replace('"', "&quot;") in text or line.replace("'", "&#x27;") in text]
    assert not leaks, "hidden tests in the student edition:\n" + "\n".join(leaks[:10])


# ---------------------------------------------------------------- offline: nothing from outside

# Attributes through which a page loads something (as opposed to <a href>, a link the reader may follow).
LOADING_ATTRIBUTES = {
    "script": ("src",),
    "link": ("href",),
    "img": ("src", "srcset"),
    "source": ("src", "srcset"),
    "iframe": ("src",),
    "frame": ("src",),
    "embed": ("src",),
    "object": ("data",),
    "video": ("src", "poster"),
    "audio": ("src",),
    "track": ("src",),
    "input": ("src",),
    "image": ("href", "xlink:href"),  # SVG
    "use": ("href", "xlink:href"),  # SVG
}
REMOTE = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)
CSS_REMOTE = re.compile(r"""(?:url\(\s*['"]?|@import\s+['"])\s*((?:https?:)?//[^'")\s]+)""", re.IGNORECASE)


class _RemoteResources(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for name in LOADING_ATTRIBUTES.get(tag, ()):
            for value in (attributes.get(name) or "").split(","):
                url = value.strip().split(" ")[0]
                if REMOTE.match(url):
                    self.found.append(f"<{tag} {name}={url}>")
        if "style" in attributes:
            self.found += [f"style attribute url({u})" for u in CSS_REMOTE.findall(attributes["style"] or "")]
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.found += [f"<style> url({u})" for u in CSS_REMOTE.findall(data)]


def remote_resources(html_text: str) -> list[str]:
    """URLs on other hosts that a page would load (scripts, styles, images, frames, CSS url())."""
    parser = _RemoteResources()
    parser.feed(html_text)
    return parser.found


def test_remote_resource_scanner_catches_cdn_scripts_and_allows_plain_links():
    page = """<html><head>
      <script src="https://cdn.example.org/mathjax.js"></script>
      <link rel="stylesheet" href="//fonts.example.com/css?family=Lato">
      <link rel="stylesheet" href="_static/local.css">
      <style>@import "https://fonts.example.com/x.css"; body {background: url(img/a.png)}</style>
      </head><body><a href="https://arxiv.org/abs/1706.03762">paper</a><img src="_images/a.png"></body></html>"""
    found = remote_resources(page)
    assert len(found) == 3, found
    assert not any("arxiv" in f for f in found)


def test_built_pages_load_nothing_from_other_hosts(built_book):
    html = built_book.require_html()
    offenders = []
    pages = sorted(html.rglob("*.html"))
    assert len(pages) >= 3
    for page in pages:
        for found in remote_resources(page.read_text(encoding="utf8", errors="replace")):
            offenders.append(f"{page.relative_to(html)}: {found}")
    for css in sorted(html.glob("_static/**/*.css")):
        for url in CSS_REMOTE.findall(css.read_text(encoding="utf8", errors="replace")):
            offenders.append(f"{css.relative_to(html)}: url({url})")
    assert not offenders, "the site loads resources from other hosts:\n" + "\n".join(offenders)


def test_mathjax_is_served_from_the_build(built_book):
    html = built_book.require_html()
    preface = (html / "book" / "preface.html").read_text(encoding="utf8")
    scripts = re.findall(r'<script[^>]*src="([^"]*mathjax[^"]*)"', preface, flags=re.IGNORECASE)
    assert scripts, "the preface has math but loads no MathJax"
    for src in scripts:
        assert not REMOTE.match(src), f"MathJax comes from {src}"
        assert (html / "book" / src).resolve().is_file(), f"{src} is not in the build"
