"""Is the built book current? Exit status 0 when `make book`'s build in _build/html finished (its
stamp is there) and no source of the book is newer than that stamp; 1 otherwise.

    python tools/book_fresh.py [HTML_DIR]        # default _build/html

`make unit` (so `make test`) asks this before the browser test: a current build is reused, a
missing or stale one is built once with `make book` (issue 25: the browser test used to build the
whole book a second time). tests/faces/test_book_html.py asks the same question through
:func:`fresh` when LRA_BOOK_HTML is not set.

The sources: the chapters and everything under book/, _config.yml, _toc.yml, the package lra/
(every chapter imports it) and results/ (the chapters replay it), as git lists them (tracked files
and untracked ones not ignored, so locks, caches and checkpoints do not count); without git, every
file under those paths but caches and locks.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAMP = ".lra-book-built"        # written by `make book` after its last step
SOURCES = ("book", "_config.yml", "_toc.yml", "lra", "results")
SKIP = ("__pycache__", ".ipynb_checkpoints", "_populations", "checkpoints")


def source_files(root: Path = ROOT) -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z", "--", *SOURCES],
                             cwd=root, capture_output=True, check=True).stdout
        return [root / os.fsdecode(p) for p in out.split(b"\0") if p]
    except (OSError, subprocess.CalledProcessError):       # no git, or not a checkout
        files = []
        for name in SOURCES:
            p = root / name
            files += [p] if p.is_file() else [
                f for f in p.rglob("*") if f.is_file() and not f.name.endswith(".lock")
                and f.name != ".lock" and not set(f.relative_to(root).parts) & set(SKIP)]
        return files


def newest_source(root: Path = ROOT) -> tuple[float, Path | None]:
    newest, which = 0.0, None
    for f in source_files(root):
        try:
            m = f.stat().st_mtime
        except FileNotFoundError:          # listed by git but deleted in the work tree
            continue
        if m > newest:
            newest, which = m, f
    return newest, which


def fresh(html: Path = ROOT / "_build" / "html", root: Path = ROOT) -> tuple[bool, str]:
    """(current?, why) for the build in ``html``."""
    stamp = Path(html) / STAMP
    if not stamp.is_file():
        return False, f"no finished build in {html} (no {STAMP})"
    newest, which = newest_source(root)
    # a tie counts as stale: file times tick in coarse steps (a jiffy, or a second on some file
    # systems), so a source saved in the same tick as the stamp may be newer than the build
    if newest >= stamp.stat().st_mtime:
        return False, f"{which.relative_to(root)} is newer than the build in {html}"
    return True, f"the build in {html} is current"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    html = Path(argv[0]) if argv else ROOT / "_build" / "html"
    ok, why = fresh(html)
    print(f"book: {why}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
