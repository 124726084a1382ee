"""Feedback HTML for one graded submission: safe to open, nothing hidden in it, works offline.

The page is written here rather than by ``nbgrader generate_feedback`` (whose page shows the
hidden tests and loads MathJax from a CDN):

* test cells show their visible code only; the lines between ``### BEGIN HIDDEN TESTS`` and
  ``### END HIDDEN TESTS`` are replaced by one comment. Their errors show ``Name: message``
  without a traceback (a traceback quotes the failing line, hidden or not), and any hidden-test
  line found in an output is replaced by ``[hidden test]``;
* everything that comes from the submission (markdown, HTML outputs, formulas) is sanitised with
  ``nh3`` (the Ammonia HTML sanitiser): no ``<script>``, event handler, ``javascript:`` link,
  style or frame survives; images only as ``data:`` URIs of raster or SVG images (an SVG shown as
  an ``<img>`` cannot run scripts); JavaScript outputs are dropped. The page also carries a
  Content-Security-Policy that allows no script at all, so nothing runs even if the sanitiser
  missed something;
* math (``$...$``, ``$$...$$``) is converted to MathML by ``latex2mathml`` when the page is
  written, so browsers render it without any script or network; TeX it cannot convert is shown
  as code.
"""

from __future__ import annotations

import base64
import binascii
import html
import re

import nh3
from latex2mathml.converter import convert as latex_to_mathml
from markdown_it import MarkdownIt

from .execute import KERNEL_DIED, NOT_RUN, TOTAL_LIMIT
from .notebooks import BEGIN_HIDDEN, END_HIDDEN, nbgrader_meta, source_text

CSP = ("default-src 'none'; script-src 'none'; img-src data:; style-src 'unsafe-inline'; "
       "font-src 'none'; base-uri 'none'; form-action 'none'; frame-src 'none'")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
HIDDEN_PLACEHOLDER = "# (hidden tests are not shown)"
MATHML_TAGS = {
    "math", "mrow", "mi", "mo", "mn", "ms", "mtext", "mspace", "msup", "msub", "msubsup", "mfrac", "msqrt",
    "mroot", "mover", "munder", "munderover", "mstyle", "mtable", "mtr", "mtd", "mpadded", "mphantom",
    "menclose", "semantics", "annotation", "merror", "mfenced",
}
HTML_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "details", "div", "dl", "dt", "em",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "q", "s", "samp",
    "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr",
    "u", "ul", "var",
}
MATHML_ATTRIBUTES = {"display", "mathvariant", "stretchy", "fence", "separator", "lspace", "rspace", "form",
                     "displaystyle", "scriptlevel", "columnalign", "rowalign", "columnspacing", "rowspacing",
                     "accent", "accentunder", "movablelimits", "largeop", "symmetric", "linethickness", "width",
                     "height", "depth", "notation", "open", "close", "separators"}
ATTRIBUTES = {
    "a": {"href", "title"}, "img": {"src", "alt", "width", "height"}, "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align"}, "ol": {"start"}, "code": set(), "math": {"display", "xmlns"},
    **{tag: set(MATHML_ATTRIBUTES) for tag in MATHML_TAGS - {"math"}},
}
IMAGE_URI = re.compile(r"^data:image/(png|jpeg|gif|svg\+xml);base64,[A-Za-z0-9+/=\s]+$")
SAFE_LINK = re.compile(r"^(https?:|mailto:|#)", re.IGNORECASE)
MATH = re.compile(r"\$\$(.+?)\$\$|(?<![\\$])\$(?!\s)([^$\n]+?)(?<!\s)\$(?!\d)", re.DOTALL)
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/svg+xml")

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table.scores { border-collapse: collapse; margin: 1rem 0; }
table.scores td, table.scores th { border: 1px solid #bbb; padding: 0.2rem 0.6rem; text-align: left; }
.cell { margin: 1rem 0; }
.cell.graded { border-left: 4px solid #4a7; padding-left: 0.6rem; }
.cell.failed { border-left-color: #c33; }
.score { font-weight: bold; margin: 0.2rem 0; }
pre { background: #f6f6f6; padding: 0.5rem; overflow-x: auto; white-space: pre-wrap; }
pre.source { background: #eef2f7; }
pre.error { background: #fdecec; color: #900; }
.output img { max-width: 100%; }
math[display="block"] { margin: 0.5rem 0; }
"""


def clean_html(fragment: str) -> str:
    """``fragment`` with only harmless HTML and MathML left (see the module docstring)."""

    def keep(tag: str, attribute: str, value: str) -> str | None:
        if attribute == "src":
            return value if tag == "img" and IMAGE_URI.match(value) else None
        if attribute == "href":
            return value if SAFE_LINK.match(value.strip()) else None
        return value

    return nh3.clean(fragment, tags=HTML_TAGS | MATHML_TAGS, attributes=ATTRIBUTES, attribute_filter=keep,
                     url_schemes={"http", "https", "mailto", "data"}, strip_comments=True)


def tex_to_mathml(tex: str, display: bool) -> str:
    try:
        return latex_to_mathml(tex, display="block" if display else "inline")
    except Exception:  # noqa: BLE001 - any TeX it cannot read is shown as code
        delimiter = "$$" if display else "$"
        return f"<code>{html.escape(delimiter + tex + delimiter)}</code>"


def markdown_html(text: str) -> str:
    """Markdown with math, rendered and sanitised."""
    formulas: list[str] = []

    def stash(match: re.Match) -> str:
        display = match.group(1) is not None
        formulas.append(tex_to_mathml(match.group(1) if display else match.group(2), display))
        return f"MATHFORMULA{len(formulas) - 1}X"

    protected = MATH.sub(stash, text)
    rendered = MarkdownIt("commonmark", {"html": True}).enable("table").render(protected)
    rendered = re.sub(r"MATHFORMULA(\d+)X", lambda m: formulas[int(m.group(1))], rendered)
    return clean_html(rendered)


def visible_test_source(source: str) -> str:
    """A test cell's source without its hidden tests."""
    lines, hidden = [], False
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith(BEGIN_HIDDEN):
            hidden = True
            lines.append(line[: len(line) - len(line.lstrip())] + HIDDEN_PLACEHOLDER)
        elif stripped.startswith(END_HIDDEN):
            hidden = False
        elif not hidden:
            lines.append(line)
    return "\n".join(lines)


def redact(text: str, hidden_lines: list[str]) -> str:
    for line in hidden_lines:
        if len(line) >= 8 and line in text:
            text = text.replace(line, "[hidden test]")
    return text


def _pre(text: str, css: str = "") -> str:
    return f'<pre class="{css}">{html.escape(ANSI.sub("", text))}</pre>' if text else ""


def _image(mime: str, data) -> str:
    if mime == "image/svg+xml":
        payload = base64.b64encode(str(data).encode("utf-8")).decode("ascii")
    else:
        payload = "".join(str(data).split())
        try:
            base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            return _pre("[image not shown: not valid base64]")
    return clean_html(f'<img src="data:{mime};base64,{payload}" alt="output image">')


def _text(value) -> str:
    """A notebook string field: stored as one string or as a list of lines."""
    return "".join(str(v) for v in value) if isinstance(value, list) else str(value)


def output_html(output: dict, is_test: bool, hidden_lines: list[str]) -> str:
    kind = output.get("output_type")
    if kind == "stream":
        return _pre(redact(_text(output.get("text", "")), hidden_lines), "stream")
    if kind == "error":
        name, value = str(output.get("ename", "")), redact(str(output.get("evalue", "")), hidden_lines)
        if is_test or name in (TOTAL_LIMIT, KERNEL_DIED, NOT_RUN):
            return _pre(f"{name}: {value}" if value else name, "error")
        return _pre(redact("\n".join(_text(t) for t in output.get("traceback", [])), hidden_lines)
                    or f"{name}: {value}", "error")
    if kind not in ("execute_result", "display_data"):
        return ""
    data = {mime: _text(value) for mime, value in (output.get("data", {}) or {}).items()}
    if "application/javascript" in data:
        return _pre("[JavaScript output not shown]")
    for mime in IMAGE_TYPES:
        if mime in data:
            return _image(mime, data[mime])
    if "text/html" in data and not is_test:
        return clean_html(data["text/html"])
    if "text/markdown" in data and not is_test:
        return markdown_html(data["text/markdown"])
    if "text/latex" in data and not is_test:
        return clean_html(tex_to_mathml(data["text/latex"].strip().strip("$"), display=True))
    if "text/plain" in data:
        return _pre(redact(data["text/plain"], hidden_lines), "result")
    return ""


def _score_text(score, points) -> str:
    if score is None:
        return f"to be graded by hand (out of {points:g})"
    return f"{score:g} / {points:g}"


def page(autograded: dict, title: str, scores: dict, points: dict, hidden_lines: list[str],
         messages: dict | None = None) -> str:
    """The whole feedback page. ``scores``/``points``: by grade_id; ``messages``: extra line per grade_id."""
    messages = messages or {}
    body = []
    total = sum(v for v in scores.values() if v is not None)
    rows = "".join(f"<tr><td>{html.escape(grade_id)}</td><td>{html.escape(_score_text(scores.get(grade_id), p))}"
                   f"</td></tr>" for grade_id, p in points.items())
    body.append(f"<h1>{html.escape(title)}</h1>")
    body.append(f'<p class="score">Score so far: {total:g} / {sum(points.values()):g}</p>')
    body.append(f'<table class="scores"><tr><th>part</th><th>score</th></tr>{rows}</table>')
    for cell in autograded.get("cells", []):
        meta = nbgrader_meta(cell)
        grade_id = meta.get("grade_id")
        graded = bool(meta.get("grade")) and grade_id in points
        is_test = graded and cell.get("cell_type") == "code"
        parts = []
        if cell.get("cell_type") == "markdown":
            parts.append(markdown_html(source_text(cell)))
        elif cell.get("cell_type") == "code":
            source = source_text(cell)
            if is_test or meta.get("locked"):
                source = visible_test_source(source)
            parts.append(_pre(source, "source"))
            parts += [f'<div class="output">{output_html(o, is_test, hidden_lines)}</div>'
                      for o in cell.get("outputs", [])]
        else:
            parts.append(_pre(source_text(cell), "raw"))
        css = "cell"
        if graded:
            score = scores.get(grade_id)
            css += " graded" + (" failed" if score == 0 else "")
            line = f"{grade_id}: {_score_text(score, points[grade_id])}"
            if grade_id in messages:
                line += f" ({messages[grade_id]})"
            parts.insert(0, f'<p class="score">{html.escape(line)}</p>')
        body.append(f'<div class="{css}">{"".join(parts)}</div>')
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n<body>\n"
        + "\n".join(body) + "\n</body></html>\n"
    )
