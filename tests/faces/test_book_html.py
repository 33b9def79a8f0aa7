"""The built book, rendered in a real browser (Debian's headless Chromium).

Every chapter in _toc.yml must load with its title, its tables and figures present, no broken
image, no unresolved glue and no execution error. The book read is the one LRA_BOOK_HTML points at
(CI builds once and passes it in), else `make book`'s _build/html when it is current (no source
newer than it: tools/book_fresh.py; `make unit` builds it first when it is not), else the book is
built here into a temporary folder.
"""
import contextlib
import functools
import http.server
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("book_fresh", ROOT / "tools" / "book_fresh.py")
book_fresh = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(book_fresh)
BUILT = os.environ.get("LRA_BOOK_HTML") or (
    ROOT / "_build" / "html" if book_fresh.fresh(ROOT / "_build" / "html")[0] else None)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# chapter -> (minimum tables, minimum images, minimum typeset equations) that must render
EXPECTED = {
    "intro": (1, 0, 0), "findings": (2, 0, 0), "tasks": (1, 1, 1), "rnn_bptt": (0, 0, 3), "tptt": (0, 0, 3),
    "lra_diff": (2, 1, 10), "local_losses": (1, 0, 1), "normalisation": (2, 0, 1),
    "vanishing_gradients": (0, 3, 1), "regularisation": (1, 1, 3), "sensitivity": (1, 1, 1),
    "reservoir": (4, 2, 3),
    "released_code": (2, 0, 0), "verdicts": (1, 0, 0), "engine": (2, 0, 1), "explore": (0, 0, 1),
    "glossary": (0, 0, 0), "references": (0, 0, 0),
}
HARNESS = """<!doctype html><html><body><iframe id="f" width="1200" height="900"></iframe><script>
const f = document.getElementById('f');
f.onload = () => { const d = f.contentDocument, w = f.contentWindow;
  const art = d.querySelector('.bd-article') || d.querySelector('article') || d.body;
  const imgs = [...art.querySelectorAll('img')];
  const broken = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src);
  const text = d.body ? d.body.innerText : '';
  const name = e => e.tagName.toLowerCase() + (e.className && e.className.baseVal === undefined ?
      '.' + String(e.className).trim().split(/\\s+/).slice(0, 3).join('.') : '');
  const scrolls = e => { for (; e && e !== art.parentElement; e = e.parentElement) {
      const o = w.getComputedStyle(e).overflowX; if (o === 'auto' || o === 'scroll') return true; }
      return false; };
  const right = art.getBoundingClientRect().right;
  const clipped = [], sticking = [];
  for (const e of art.querySelectorAll('*')) {
    if (e.closest('mjx-container, .MathJax, .math, details:not([open])')) continue;
    const o = w.getComputedStyle(e).overflowX;
    if ((o === 'hidden' || o === 'clip') && e.scrollWidth > e.clientWidth + 2)
      clipped.push(name(e) + ': ' + (e.innerText || '').slice(0, 60));
    const r = e.getBoundingClientRect();
    if (r.width > 0 && r.right > right + 2 && !scrolls(e.parentElement))
      sticking.push(name(e) + ': ' + (e.innerText || '').slice(0, 60));
  }
  const uncaptioned = imgs.filter(i => !i.closest('details') && !(i.closest('figure') &&
      (i.closest('figure').querySelector('figcaption') || {}).textContent)).map(i => i.src);
  const no_alt = imgs.filter(i => !i.alt || /\\.(png|svg|jpe?g)$/i.test(i.alt.trim()))
      .map(i => i.src);
  const checks = [...art.querySelectorAll('.tag_nbval-check-output .cell_output')]
      .map(o => o.innerText);
  // the prose a reader reads: paragraphs, list items, headings, captions (not tables), without
  // code (a command, an identifier set as code, a cell's source)
  const prose = [...art.querySelectorAll('p, li, h1, h2, h3, h4, figcaption, dt, dd')]
      .filter(e => !e.closest('pre, .cell_input, .highlight, table'))
      .map(e => { const c = e.cloneNode(true);
                  c.querySelectorAll('code, pre, kbd').forEach(x => x.remove());
                  return c.textContent; });
  document.body.setAttribute('data-result', JSON.stringify({
    h1: (d.querySelector('h1') || {}).textContent || '', images: imgs.length, broken: broken,
    tables: art.querySelectorAll('table').length,
    errors: d.querySelectorAll('.output.traceback, .output.error, div.cell_output .ansi-red-fg').length,
    math: d.querySelectorAll('mjx-container').length,
    glue: /\\{glue:|No key '/.test(text), traceback: /Traceback \\(most recent call last\\)/.test(text),
    clipped: clipped.slice(0, 5), sticking: sticking.slice(0, 5), uncaptioned: uncaptioned,
    no_alt: no_alt, checks: checks, nbval_markers: /NBVAL_/.test(text), prose: prose,
    length: text.length })); };
f.src = decodeURIComponent(location.hash.slice(1));
</script></body></html>"""

# The landing page's first screen (an iframe of a 1280x800 window): where the three-sentence
# answer (lra.analysis.answer, class lra-answer) ends, its items, and the links of the answer and
# of the "In brief" list (each must go to an anchor that exists in the built book).
FIRST_SCREEN = """<!doctype html><html><body style="margin:0"><iframe id="f" width="1280"
height="800" style="border:0"></iframe><script>
const f = document.getElementById('f');
f.onload = () => { const d = f.contentDocument;
  const box = d.querySelector('.lra-answer');
  const r = box ? box.getBoundingClientRect() : null;
  const hrefs = e => e ? [...e.querySelectorAll('li a')].map(a => a.getAttribute('href')) : [];
  document.body.setAttribute('data-result', JSON.stringify({
    found: !!box, top: r ? r.top : null, bottom: r ? r.bottom : null,
    items: box ? [...box.querySelectorAll('li')].map(li => li.innerText) : [],
    links: hrefs(box), brief: hrefs(d.getElementById('in-brief')),
    viewport: f.contentWindow.innerHeight })); };
f.src = decodeURIComponent(location.hash.slice(1));
</script></body></html>"""
PAGES = {"/__check.html": HARNESS, "/__first.html": FIRST_SCREEN}


def chapters():
    toc = (ROOT / "_toc.yml").read_text()
    return [Path(p).name for p in re.findall(r"(?:root|file): (\S+)", toc)]


@pytest.fixture(scope="module")
def html_dir(tmp_path_factory):
    if BUILT:
        return Path(BUILT).resolve()
    # no current build: this takes minutes (every chapter is executed)
    out = tmp_path_factory.mktemp("book")
    jb = Path(sys.executable).with_name("jupyter-book")
    subprocess.run([str(jb), "build", str(ROOT), "--path-output", str(out), "-W", "--keep-going"],
                   check=True, capture_output=True, cwd=ROOT)
    for nb in (out / "_build" / "jupyter_execute" / "book").glob("*.ipynb"):   # as `make book`
        shutil.copy(nb, out / "_build" / "html" / "_sources" / "book" / nb.name)
    return out / "_build" / "html"


@contextlib.contextmanager
def serve(directory: Path):
    """A local HTTP server for a built book (and the checking harness at /__check.html)."""
    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            page = self.path.split("#")[0].split("?")[0]
            if page in PAGES:
                body = PAGES[page].encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                super().do_GET()

        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(directory)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()


@pytest.fixture(scope="module")
def server(html_dir):
    with serve(html_dir) as url:
        yield url


def render(url: str, tmp_path) -> dict:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={tmp_path / 'chrome'}",
           "--window-size=1400,1000", "--virtual-time-budget=15000", "--dump-dom", url]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    m = re.search(r"data-result=\"([^\"]*)\"", dom)
    assert m, f"the page did not finish loading: {url}"
    import html
    return json.loads(html.unescape(m.group(1)))


def test_downloads_are_the_executed_notebooks(html_dir):
    """The download button of a chapter gives the notebook with the outputs the page shows."""
    for chapter in ("lra_diff", "findings"):
        nb = json.loads((html_dir / "_sources" / "book" / f"{chapter}.ipynb").read_text())
        outputs = sum(len(c.get("outputs", [])) for c in nb["cells"])
        source = json.loads((ROOT / "book" / f"{chapter}.ipynb").read_text())
        print(chapter, outputs, "outputs in the download")
        assert outputs > sum(len(c.get("outputs", [])) for c in source["cells"])


def test_every_chapter_is_in_the_toc():
    names = set(chapters())
    on_disk = {p.stem for p in (ROOT / "book").glob("*.ipynb")} | {p.stem for p in
                                                                   (ROOT / "book").glob("*.md")}
    assert on_disk <= names, on_disk - names
    assert set(EXPECTED) == names


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt install chromium)")
@pytest.mark.parametrize("chapter", list(EXPECTED))
def test_chapter_renders_in_chromium(chapter, server, html_dir, tmp_path):
    assert (html_dir / "book" / f"{chapter}.html").exists()
    res = render(f"{server}/__check.html#/book/{chapter}.html", tmp_path)
    tables, images, math = EXPECTED[chapter]
    assert res["h1"].strip(), res
    assert res["broken"] == [], res
    assert res["images"] >= images, res
    assert res["tables"] >= tables, res
    assert res["math"] >= math, res                 # MathJax (vendored) typeset the equations
    assert not res["glue"] and not res["traceback"] and res["errors"] == 0, res
    # what a reader sees: nothing cut off or sticking out of the column, every figure captioned
    # and described, no check printing False, no nbval marker
    assert res["clipped"] == [] and res["sticking"] == [], (res["clipped"], res["sticking"])
    assert res["uncaptioned"] == [], f"figures without a caption: {res['uncaptioned']}"
    assert res["no_alt"] == [], f"images without alt text (or a file name as alt): {res['no_alt']}"
    assert not any(re.search(r"\bFalse\b", c) for c in res["checks"]), res["checks"]
    assert not res["nbval_markers"], "a # NBVAL_ marker is visible"
    # no internal identifier in the prose (issue 23): they stay in code, e.g. a command
    hits = identifiers_in(res["prose"])
    assert hits == [], f"internal identifiers in the prose: {hits}"


def internal_identifiers() -> set[str]:
    """Names a reader would have to decode: the experiments' names with an underscore (they
    belong in commands, set as code), the norm modes, the algorithms' internal names, the chain
    path's environment variable and the benchmark's method labels."""
    from lra.algorithms.lra_diff import NORM_RULES
    from lra.campaign.experiments import EXPERIMENTS
    from lra.campaign.evidence import ENTRIES
    return ({n for n in EXPERIMENTS if "_" in n} | {m for m in NORM_RULES if "_" in m}
            | {e.name for e in ENTRIES if "_" in e.name}
            | {"lra_diff", "lra_released", "readout_only", "LRA_CHAIN", "graph+kernel",
               "eager+kernel", "graph+torch"})


def identifiers_in(prose: list[str], names: set[str] | None = None) -> list[str]:
    """(identifier: the text around it) for every internal identifier found as a word."""
    names = internal_identifiers() if names is None else names
    pattern = re.compile(r"(?<![\w+:/.-])(" + "|".join(
        re.escape(n) for n in sorted(names, key=len, reverse=True)) + r")(?![\w+-])")
    hits = []
    for text in prose:
        for m in pattern.finditer(text):
            hits.append(f"{m.group(1)}: …{text[max(0, m.start() - 40):m.end() + 40]}…")
    return hits[:10]


BAD_PAGE = """<!doctype html><html><body><article class="bd-article" style="width: 600px">
<h1>A page that breaks every rule</h1>
<div class="cell tag_nbval-check-output"><div class="cell_output"><pre>equal: False</pre></div></div>
<pre style="overflow-x: hidden; white-space: pre">%s</pre>
<div style="width: 900px">a block wider than the column</div>
<img src="plot.png" alt="plot.png">
<p>NBVAL_CHECK_OUTPUT</p>
<p>The rows of fig2_seeds, and of <code>table1_multiseed</code> (code: allowed).</p>
</article></body></html>""" % ("a long output line " * 20)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt install chromium)")
def test_the_harness_catches_what_it_checks(tmp_path):
    """The reader-facing checks above can fail: a page breaking each rule is caught by each."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "bad.html").write_text(BAD_PAGE)
    with serve(site) as url:
        res = render(f"{url}/__check.html#/bad.html", tmp_path)
    print(res)
    assert res["clipped"] and res["clipped"][0].startswith("pre")
    assert any(s.startswith("div") for s in res["sticking"])
    assert res["uncaptioned"] and res["no_alt"]
    assert any("False" in c for c in res["checks"]) and res["nbval_markers"]
    hits = identifiers_in(res["prose"])
    assert len(hits) == 1 and hits[0].startswith("fig2_seeds: "), hits


def anchor_exists(html_dir: Path, page: str, href: str) -> bool:
    """Does ``href`` (relative to ``page``, a path under html_dir) name an anchor, and does the
    built page it points to have an element with that id?"""
    target, _, anchor = href.partition("#")
    if not anchor:
        return False
    path = (html_dir / page).parent / target if target else html_dir / page
    path = path.resolve()
    return path.is_file() and re.search(rf'id="{re.escape(anchor)}"', path.read_text()) is not None


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt install chromium)")
def test_the_first_screen_answers(server, html_dir, tmp_path):
    """At 1280x800 the landing page's first screen holds the three-sentence answer (under the
    title and the abstract), and every link of the answer and of "In brief" goes to an anchor
    that exists in the built book."""
    res = render(f"{server}/__first.html#/book/intro.html", tmp_path)
    print(res)
    assert res["found"], "no .lra-answer on the landing page"
    assert res["viewport"] == 800
    assert len(res["items"]) == 3 and all(i.strip() for i in res["items"]), res["items"]
    assert 0 < res["top"] < res["bottom"] <= 800, f"the answer ends at {res['bottom']} px"
    assert len(res["links"]) == 3 and res["brief"], res
    bad = [h for h in res["links"] + res["brief"]
           if not anchor_exists(html_dir, "book/intro.html", h)]
    assert bad == [], f"links to no anchor of the built book: {bad}"


def test_anchor_check_catches_a_missing_anchor(tmp_path):
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "a.html").write_text('<section id="here"><h2>x</h2></section>')
    assert anchor_exists(tmp_path, "book/b.html", "a.html#here")
    assert not anchor_exists(tmp_path, "book/b.html", "a.html#gone")
    assert not anchor_exists(tmp_path, "book/b.html", "a.html")          # no anchor: the top
    assert not anchor_exists(tmp_path, "book/b.html", "c.html#here")
