"""The book's checked cells: a failing check raises (so nbval and the book build fail on it) and
what they print fits the page (long output lines were clipped in the rendered chapter)."""
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WIDTH = 72      # characters of monospace output that fit the book's text column unclipped
CHECKED = [(nb.stem, i) for nb in sorted((ROOT / "book").glob("*.ipynb"))
           for i, c in enumerate(json.loads(nb.read_text())["cells"])
           if c["cell_type"] == "code" and ("nbval-check-output" in c["metadata"].get("tags", [])
                                            or "NBVAL_CHECK_OUTPUT" in "".join(c["source"]))]


def cell(name, i):
    return json.loads((ROOT / "book" / f"{name}.ipynb").read_text())["cells"][i]


def test_there_are_checked_cells():
    assert {n for n, _ in CHECKED} >= {"lra_diff", "regularisation", "tptt", "rnn_bptt"}, CHECKED


@pytest.mark.parametrize("name,i", CHECKED, ids=[f"{n}-{i}" for n, i in CHECKED])
def test_checked_cell_asserts_and_prints_short_lines(name, i):
    c = cell(name, i)
    src = "".join(c["source"])
    # a comparison that only prints True/False would let a failing check pass the build
    assert "assert " in src, f"{name} cell {i} prints its check instead of asserting it"
    text = "".join("".join(o.get("text", "")) for o in c["outputs"])
    assert text.strip(), f"{name} cell {i} has no stored output for nbval to compare"
    long = [line for line in text.splitlines() if len(line) > WIDTH]
    assert not long, f"{name} cell {i}: output lines over {WIDTH} characters: {long}"
    assert "False" not in text, text
