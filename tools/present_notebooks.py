"""The book's presentation rules, applied to every chapter (idempotent; run after editing a
chapter: ``python tools/present_notebooks.py``; ``--check`` only reports, exit 1 if a chapter
breaks a rule — tests/faces/test_presentation.py runs it that way).

* nbval markers are cell tags (``nbval-check-output``...), not ``# NBVAL_*`` comments a reader sees;
* boilerplate is hidden: the papermill ``parameters`` cell and the ``setup(...)`` cell are
  collapsed (``hide-cell``), a cell that only prints a function's source shows its output alone
  (``remove-input``), and a cell that draws a table or figure from stored results shows its
  output with the code behind a toggle (``hide-input``);
* no table is drawn inside a collapsed cell (``hide-cell``, ``hide-output``, ``remove-*``): a
  setup cell that also shows a table is split, so the table is seen (``--check`` reports it);
* cells that check the algorithms (``nbval-check-output``) and cells that define the readable
  versions stay visible: they are the derivation;
* a cell that glues a figure or Markdown (``glue_figure``, ``glue_markdown``, ``figures.glue_*``)
  also shows it, so that a chapter run outside the book (papermill, nbconvert, JupyterLab) shows
  its figures; it carries ``remove-output``, so the book shows them once, where its
  ``{glue:...}`` directives paste them. Such a cell shows nothing else (the book would drop it).
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

BOOK = Path(__file__).resolve().parent.parent / "book"
MARKER = re.compile(r"^\s*#\s*NBVAL_([A-Z_]+)\s*$")
# chapters whose code is the point (the reader edits and runs it): markers only
HANDS_ON = {"explore.ipynb"}
HIDDEN = {"hide-cell", "hide-input", "remove-input", "remove-cell"}
# tags that collapse or drop a cell's output: a table drawn there is one the reader never sees
# (issue 23: the released-code chapter's "Table I, T = 10, both readings" sat in a setup cell)
COLLAPSED = {"hide-cell", "hide-output", "remove-output", "remove-cell"}
SHOWS_TABLE = re.compile(r"(^|[^\w.])(show|display)\(|\.to_markdown\(|\.style\b", re.M)
GLUES = re.compile(r"\bglue_(?!text\b)\w+\(")          # glue_text shows nothing: prose only
SHOWS = re.compile(r"(?<![\w.])(say|show|print|display)\(")


def _source(cell) -> str:
    s = cell["source"]
    return "".join(s) if isinstance(s, list) else s


def _set_source(cell, text: str) -> None:
    lines = text.splitlines(keepends=True)
    cell["source"] = lines


def wanted_tags(cell, hands_on: bool = False) -> list[str]:
    """The tags a code cell should carry, from what it does."""
    src = _source(cell)
    tags = [t for t in cell.get("metadata", {}).get("tags", [])]
    for line in src.splitlines():
        m = MARKER.match(line)
        if m:
            tags.append("nbval-" + m.group(1).lower().replace("_", "-"))
    checks = any(t.startswith("nbval-check") or t == "raises-exception" for t in tags)
    if hands_on or HIDDEN & set(tags):
        pass
    elif "parameters" in tags or re.search(r"^\s*ctx\s*=\s*setup\(", src, re.M):
        tags.append("hide-cell")
    elif "inspect.getsource" in src and "Code(" in src:
        tags.append("remove-input")
    elif not checks:     # draws a table or figure from stored results: output first
        tags.append("hide-input")
    if not hands_on and GLUES.search(src):    # shown where pasted, not also under the cell
        tags.append("remove-output")
    seen, out = set(), []
    for t in tags:
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out


def present(nb: dict, hands_on: bool = False) -> bool:
    """Apply the rules to one notebook in place; True if anything changed."""
    changed = False
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        tags = wanted_tags(cell, hands_on)
        src = _source(cell)
        clean = "".join(l for l in src.splitlines(keepends=True) if not MARKER.match(l))
        if clean != src:
            _set_source(cell, clean)
            changed = True
        if tags != cell.get("metadata", {}).get("tags", []):
            cell.setdefault("metadata", {})["tags"] = tags
            changed = True
    return changed


def problems(nb: dict, hands_on: bool = False) -> list[str]:
    out = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            if any(MARKER.match(l) for l in _source(cell).splitlines()):
                out.append(f"cell {i}: a # NBVAL_ comment a reader would see")
            tags = cell.get("metadata", {}).get("tags", [])
            if COLLAPSED & set(tags) and SHOWS_TABLE.search(_source(cell)):
                out.append(f"cell {i}: a table inside a collapsed cell (tags {tags}): move the "
                           "table to a cell of its own")
            if not hands_on and GLUES.search(_source(cell)) and SHOWS.search(_source(cell)):
                out.append(f"cell {i}: glues and also shows other output, which the book "
                           "removes with the glued copy (split the cell)")
            want = wanted_tags(cell, hands_on)
            if want != cell.get("metadata", {}).get("tags", []):
                out.append(f"cell {i}: tags {cell.get('metadata', {}).get('tags', [])} "
                           f"instead of {want}")
    return out


def main(argv: list[str]) -> int:
    check = "--check" in argv
    bad = 0
    for path in sorted(BOOK.glob("*.ipynb")):
        nb = json.loads(path.read_text())
        hands_on = path.name in HANDS_ON
        if check:
            for p in problems(nb, hands_on):
                print(f"{path.name}: {p}")
                bad += 1
        elif present(nb, hands_on):
            path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
            print(f"updated {path.name}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
