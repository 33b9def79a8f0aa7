"""Every chapter follows the presentation rules of tools/present_notebooks.py (no visible nbval
marker, boilerplate hidden behind tags), and the rules catch a chapter that breaks them."""
import importlib.util
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("present", ROOT / "tools" / "present_notebooks.py")
present = importlib.util.module_from_spec(spec)
spec.loader.exec_module(present)


def code(src, tags=None):
    return {"cell_type": "code", "metadata": {"tags": tags} if tags else {}, "source": src,
            "outputs": [], "execution_count": None}


def test_every_chapter_follows_the_rules():
    bad = {}
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        found = present.problems(json.loads(path.read_text()), path.name in present.HANDS_ON)
        if found:
            bad[path.name] = found
    print(bad or "every chapter follows the rules")
    assert not bad, f"run `python tools/present_notebooks.py`: {bad}"


def test_rules_catch_and_fix_a_chapter():
    nb = {"cells": [
        code("# NBVAL_CHECK_OUTPUT\nassert ok\nprint('equal')\n"),
        code('budget = "auto"\n', ["parameters"]),
        code("ctx = setup(['table1'], 'x')\n"),
        code("show(table)\n"),
        code("Code(inspect.getsource(f))\n"),
        {"cell_type": "markdown", "metadata": {}, "source": "# NBVAL_SKIP in prose is fine"}]}
    found = present.problems(nb)
    print(found)
    assert len(found) == 6             # cell 0: the comment and its missing tag
    assert present.present(nb) and present.problems(nb) == []
    tags = [c["metadata"].get("tags") for c in nb["cells"][:5]]
    assert tags == [["nbval-check-output"], ["parameters", "hide-cell"], ["hide-cell"],
                    ["hide-input"], ["remove-input"]]
    assert "NBVAL" not in "".join(nb["cells"][0]["source"])
    assert not present.present(nb)                    # idempotent


def test_a_table_inside_a_collapsed_cell_is_caught():
    """Issue 23: a setup cell (collapsed, hide-cell) that also draws a table hides the table;
    the rules report it, and the same table in a hide-input cell passes."""
    nb = {"cells": [code("ctx = setup(['table1'], 'x')\nshow(table)\n", ["hide-cell"])]}
    found = present.problems(nb)
    print(found)
    assert found == ["cell 0: a table inside a collapsed cell (tags ['hide-cell']): move the "
                     "table to a cell of its own"]
    nb = {"cells": [code("ctx = setup(['table1'], 'x')\n", ["hide-cell"]),
                    code("show(table)\n", ["hide-input"])]}
    assert present.problems(nb) == []


def test_every_page_pairs_with_one_function():
    """Issue 23: the paired test of two methods has one rule on every page (lra.analysis.paired:
    each seed's reported run at its best check): no chapter pairs final networks with the older
    helpers, and the reservoir chapter no longer says runs store no per-sample predictions."""
    other = re.compile(r"paired_table\(|correctness_by_cell\(|mcnemar\(")
    bad = [p.name for p in sorted((ROOT / "book").glob("*.ipynb"))
           if any(c["cell_type"] == "code" and other.search("".join(c["source"]))
                  for c in json.loads(p.read_text())["cells"])]
    text = (ROOT / "book" / "reservoir.ipynb").read_text()
    print("chapters pairing another way:", bad)
    assert not bad and "pair_cells(" in text
    assert "which the ordinary campaign does not store" not in text


def test_a_cell_that_glues_shows_its_output_once():
    """Shown where it ran (papermill, JupyterLab), removed under the cell in the book, which
    pastes it where its {glue:figure} directive is; a cell that glues and shows anything else
    is flagged (the book would drop that too)."""
    nb = {"cells": [code('glue_figure("f", fig)\n'),
                    code('figures.glue_gradient_flow("g", "fig2", ctx.budget)\nshow(table)\n'),
                    code('glue_text("n", "3")\n')]}
    found = present.problems(nb)
    print(found)
    assert any("cell 1: glues and also shows" in p for p in found)
    present.present(nb)
    assert nb["cells"][0]["metadata"]["tags"] == ["hide-input", "remove-output"]
    assert nb["cells"][2]["metadata"]["tags"] == ["hide-input"]       # glue_text shows nothing


def test_every_page_with_budget_notes_ends_with_its_provenance_section():
    """A chapter whose tables or figures carry budget notes (which link to the page's provenance
    section) has that section: the labelled heading, then the cell that prints it, last."""
    import json
    from pathlib import Path
    from lra.analysis.report import provenance_anchor
    book = Path(__file__).resolve().parents[2] / "book"
    notes = re.compile(r"budget_note\(|rows_provenance\(|glue_gradient_flow\(|glue_lambda_sens")
    pages = []
    for nb in sorted(book.glob("*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        if not notes.search(code):
            continue
        pages.append(nb.stem)
        head, last = "".join(cells[-2]["source"]), "".join(cells[-1]["source"])
        assert head.startswith(f"({provenance_anchor(nb.stem)})=\n## Provenance"), nb.name
        assert "provenance_footer()" in last, nb.name
        # a page not named by setup() must name itself before its first note
        assert "setup(" in code or f'start_page("{nb.stem}")' in code, nb.name
    print("pages with a provenance section:", pages)
    assert len(pages) >= 8
