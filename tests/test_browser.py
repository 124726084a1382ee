"""Open every page of the built book in a real browser (Chromium driven by Playwright).

The site is served from 127.0.0.1 by a small http.server thread. On every page: no console
error, no failed or refused request, no request to any other host, every image loaded, every
formula typeset by MathJax, and every link inside the site leads to an existing page and anchor.
The search page must find a word of the preface, and the preface must also work opened straight
from disk (file://). A screenshot of the preface goes to test-artifacts/preface.png.

Needs Chromium at /usr/bin/chromium (Debian/Ubuntu: ``sudo apt-get install chromium``). Without
it these tests are skipped, except under CI (environment variable CI set), where they fail.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = ROOT / "test-artifacts"
SEARCH_WORD = "notation"  # a heading of the preface (book/preface.md)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


def _unavailable(reason: str):
    message = f"{reason}; install it with `sudo apt-get install chromium` (Debian/Ubuntu) to run the browser checks"
    if _in_ci():
        pytest.fail(f"CI is set, so the browser checks must run: {message}", pytrace=False)
    pytest.skip(message)


# ---------------------------------------------------------------- server and browser


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - signature fixed by http.server
        pass


@pytest.fixture(scope="module")
def site(built_book):
    """Base URL (ending in /) of the built book served on 127.0.0.1, and its html folder."""
    html = built_book.require_html()
    handler = functools.partial(_QuietHandler, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", html
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")  # session scope: set up (or skipped) before the book is built
def browser():
    if not CHROMIUM.is_file() or not os.access(CHROMIUM, os.X_OK):
        _unavailable(f"no Chromium at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is missing (run `make setup`)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class PageVisit:
    """One page opened in a fresh tab, with everything the tab requested and reported."""

    def __init__(self, browser, url: str, allowed_prefix: str, final_url: str | None = None):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
        self.problems: list[str] = []
        self.requests: list[str] = []
        self.allowed_prefix = allowed_prefix
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"JavaScript error: {error}"))
        self.page.on("requestfailed", self._request_failed)
        self.page.on("response", self._response)
        self.page.goto(url, wait_until="load")
        if final_url is not None and final_url != url:  # a redirect (index.html): wait for its target
            self.page.wait_for_url(final_url, wait_until="load")
        # MathJax typesets after loading; wait until it is done (pages without math have no MathJax).
        self.page.wait_for_function(
            "() => !window.MathJax || (window.MathJax.startup && window.MathJax.startup.promise)"
        )
        self.page.evaluate("() => window.MathJax ? window.MathJax.startup.promise.then(() => true) : true")

    def _route(self, route):
        url = route.request.url
        self.requests.append(url)
        if url.startswith(self.allowed_prefix):
            route.continue_()
        else:
            self.problems.append(f"request to another host: {url}")
            route.abort()

    def _console(self, message):
        if message.type == "error":
            self.problems.append(f"console error: {message.text} ({message.location.get('url', '')})")

    def _request_failed(self, request):
        if request.url.startswith(self.allowed_prefix):
            self.problems.append(f"request failed: {request.url} ({request.failure})")

    def _response(self, response):
        if response.status >= 400:
            self.problems.append(f"HTTP {response.status}: {response.url}")

    def close(self):
        self.context.close()


# JavaScript run in each page after MathJax is done.
IMAGES_JS = """async () => {
  const images = Array.from(document.images);
  images.forEach(img => { img.loading = 'eager'; });
  await Promise.all(images.map(img => img.complete ? null
      : new Promise(done => { img.addEventListener('load', done); img.addEventListener('error', done); })));
  const broken = images.filter(img => img.naturalWidth === 0).map(img => img.currentSrc || img.src || img.outerHTML);
  return {count: images.length, broken};
}"""

MATH_JS = r"""() => {
  const math = Array.from(document.querySelectorAll('.math, .amsmath'));
  const untypeset = math.filter(el => !el.querySelector('mjx-container'))
                        .map(el => el.textContent.trim().slice(0, 80));
  const errors = Array.from(document.querySelectorAll('mjx-merror'))
                      .map(el => el.getAttribute('data-mjx-error') || el.textContent.slice(0, 80));
  // Text the reader sees outside code blocks and typeset math: no raw TeX may be left in it.
  const raw = [];
  const skip = 'pre, code, script, style, textarea, mjx-container, .highlight, .cell_input';
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const pattern = /\$\$|\\\(|\\\)|\\\[|\\\]|\\begin\{|\$[^$\n]*[\\^_{}][^$\n]*\$/;
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest(skip)) continue;
    const style = getComputedStyle(parent);
    if (style.display === 'none' || style.visibility === 'hidden') continue;
    if (pattern.test(node.textContent)) raw.push(node.textContent.trim().slice(0, 80));
  }
  return {count: math.length, typeset: document.querySelectorAll('mjx-container').length, untypeset, errors, raw};
}"""

LINKS_JS = "() => Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"


# ---------------------------------------------------------------- reading the site from disk


class _Ids(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name == "id" or (tag == "a" and name == "name"):
                self.ids.add(value or "")


@functools.cache
def ids_in(path: Path) -> frozenset[str]:
    parser = _Ids()
    parser.feed(path.read_text(encoding="utf8", errors="replace"))
    return frozenset(parser.ids)


REFRESH = re.compile(r'<meta\s+http-equiv="refresh"\s+content="\d+;\s*url=([^"]+)"', re.IGNORECASE)


def redirect_target(page: Path) -> str | None:
    """Where a page sends the reader with <meta http-equiv="refresh">, relative to the page; else None."""
    match = REFRESH.search(page.read_text(encoding="utf8", errors="replace"))
    return match.group(1).strip() if match else None


def site_pages(html: Path) -> list[str]:
    """Every HTML page of the site, relative to the html folder (theme assets excluded)."""
    return sorted(p.relative_to(html).as_posix() for p in html.rglob("*.html") if p.relative_to(html).parts[0] != "_static")


def link_problem(href: str, base: str, html: Path) -> str | None:
    """Why a link inside the site is broken, or None when its page (and anchor) exist."""
    parts = urlsplit(href)
    if not href.startswith(base):
        return None  # another host (a plain link for the reader), mailto:, javascript:
    relative = unquote(parts.path[len(urlsplit(base).path):])
    target = html / relative
    if relative == "" or relative.endswith("/"):
        target = target / "index.html"
    if not target.is_file():
        return f"link to a missing file: {href}"
    anchor = unquote(parts.fragment)
    if anchor and target.suffix == ".html" and anchor not in ids_in(target):
        return f"link to a missing anchor #{anchor}: {href}"
    return None


# ---------------------------------------------------------------- the tests


def test_every_page_works_offline(browser, site):
    base, html = site
    pages = site_pages(html)
    assert "book/preface.html" in pages and "search.html" in pages, pages
    problems: list[str] = []
    links_checked = images_checked = 0
    math_pages = 0
    for relative in pages:
        url = base + relative
        target = redirect_target(html / relative)
        final_url = urljoin(url, target) if target else url
        if target and link_problem(final_url, base, html):
            problems.append(f"{relative}: redirects to a missing page: {target}")
            continue
        visit = PageVisit(browser, url, allowed_prefix=base, final_url=final_url)
        try:
            images = visit.page.evaluate(IMAGES_JS)
            images_checked += images["count"]
            found = [f"{relative}: image not loaded: {src}" for src in images["broken"]]
            math = visit.page.evaluate(MATH_JS)
            found += [f"{relative}: formula not typeset: {t}" for t in math["untypeset"]]
            found += [f"{relative}: MathJax error: {t}" for t in math["errors"]]
            found += [f"{relative}: raw TeX in the text: {t}" for t in math["raw"]]
            math_pages += math["count"] > 0
            if relative.endswith("preface.html"):
                assert math["count"] > 0 and math["typeset"] >= math["count"], f"preface math: {math}"
            if not target:  # a redirect has no links of its own; its target is visited anyway
                for href in sorted(set(visit.page.evaluate(LINKS_JS))):
                    links_checked += 1
                    problem = link_problem(href, base, html)
                    if problem:
                        found.append(f"{relative}: {problem}")
            found += [f"{relative}: {p}" for p in visit.problems]  # requests and console, whole visit
            problems += sorted(set(found))
        finally:
            visit.close()
    print(f"\nbrowser: {len(pages)} pages, {math_pages} with math, {images_checked} images, {links_checked} links checked")
    assert not problems, f"{len(problems)} problem(s) in the built site:\n" + "\n".join(problems)


def test_the_checks_catch_outside_requests_and_console_errors(browser, site):
    """The harness itself can fail: a request to another host and a console error are both reported."""
    base, _ = site
    visit = PageVisit(browser, base + "search.html", allowed_prefix=base)
    try:
        assert any(url.startswith(base + "_static/") for url in visit.requests), visit.requests
        visit.page.evaluate("() => fetch('https://cdn.example.org/lib.js').catch(() => null)")
        visit.page.evaluate("() => console.error('deliberate error')")
        visit.page.wait_for_timeout(200)
        assert any("request to another host: https://cdn.example.org/lib.js" in p for p in visit.problems), visit.problems
        assert any("console error: deliberate error" in p for p in visit.problems), visit.problems
    finally:
        visit.close()


def test_search_finds_a_word_of_the_preface(browser, site):
    base, _ = site
    visit = PageVisit(browser, f"{base}search.html?q={SEARCH_WORD}", allowed_prefix=base)
    try:
        results = visit.page.locator("#search-results ul.search li a")
        results.first.wait_for(timeout=15000)
        targets = [urljoin(visit.page.url, href) for href in results.evaluate_all("els => els.map(e => e.href)")]
        assert any("book/preface.html" in t for t in targets), f"searching {SEARCH_WORD!r} found {targets}"
        assert not visit.problems, visit.problems
    finally:
        visit.close()


def test_preface_opened_from_disk_renders_math_and_screenshot(browser, site):
    """file:// works too (no server needed to read the book); the screenshot is for a human to look at."""
    _, html = site
    preface = (html / "book" / "preface.html").resolve()
    visit = PageVisit(browser, preface.as_uri(), allowed_prefix=html.resolve().as_uri() + "/")
    try:
        math = visit.page.evaluate(MATH_JS)
        assert math["count"] > 0 and not math["untypeset"] and not math["errors"] and not math["raw"], math
        assert visit.page.locator("nav.bd-docs-nav a").count() >= 3, "the navigation sidebar is missing"
        assert not visit.problems, visit.problems
        ARTIFACTS.mkdir(exist_ok=True)
        visit.page.screenshot(path=str(ARTIFACTS / "preface.png"), full_page=True)
    finally:
        visit.close()
