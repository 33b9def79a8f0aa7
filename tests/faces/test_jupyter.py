"""A chapter run outside the book (papermill, nbconvert, JupyterLab) behaves as in the book
(issue 24): it shows its figures, and a misspelt parameter, a bad value or a CUDA device that
does not exist is one clear line, not a run with defaults or a deep traceback."""
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "book"


def execute(chapter: str, out: Path, **parameters):
    """Run a chapter as a user runs it with papermill (nbclient where papermill is missing)."""
    try:
        import papermill as pm
    except ImportError:
        pm = None
    if pm is not None:
        return pm.execute_notebook(str(BOOK / f"{chapter}.ipynb"), str(out), cwd=str(BOOK),
                                   parameters=parameters, progress_bar=False)
    import nbclient
    import nbformat
    assert not parameters, "without papermill this test cannot inject parameters"
    nb = nbformat.read(BOOK / f"{chapter}.ipynb", as_version=4)
    nbclient.NotebookClient(nb, resources={"metadata": {"path": str(BOOK)}}).execute()
    nbformat.write(nb, out)
    return nb


# ~10-20 s: a kernel, torch's import and one figure (tasks is the cheapest chapter with one)
def test_a_chapter_run_by_papermill_shows_its_figure(tmp_path):
    execute("tasks", tmp_path / "tasks.ipynb")
    nb = json.loads((tmp_path / "tasks.ipynb").read_text())
    shown = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
             if o.get("output_type") == "display_data"]
    images = [o for o in shown if "image/png" in o["data"]]
    print("outputs:", [(sorted(o["data"]), o.get("metadata", {}).get("scrapbook")) for o in shown])
    assert images, "the executed chapter holds no image: its figure is only glued"
    # the same output is the one the book pastes ({glue:figure} tasks_examples), under its name
    assert images[0]["metadata"]["scrapbook"]["name"] == "tasks_examples"
    assert any("text/markdown" in o["data"] for o in shown), "the figure's reading is not shown"


# ~10-20 s: a kernel and the setup cell's imports, up to the check (nothing is read or run)
def test_a_misspelt_parameter_is_one_clear_error(tmp_path):
    pm = pytest.importorskip("papermill")
    with pytest.raises(pm.PapermillExecutionError) as err:
        execute("sensitivity", tmp_path / "out.ipynb", budgett="smoke")
    e = err.value
    print(e.ename, e.evalue, e.traceback)
    assert e.ename == "ParameterError"
    assert "'budgett'" in e.evalue and "did you mean 'budget'?" in e.evalue
    assert len(e.traceback) == 1, "a traceback instead of one line"


# the kernel's side of the check, in this process (an IPython shell stands in for the kernel)
@pytest.fixture
def shell():
    from IPython.core.interactiveshell import InteractiveShell
    sh = InteractiveShell.instance()
    yield sh
    InteractiveShell.clear_instance()


def run(shell, source):
    result = shell.run_cell(source, store_history=True)
    return result.error_in_exec


def test_the_check_reads_the_parameters_cell_just_run(shell):
    params = "".join(next(c["source"] for c in json.loads((BOOK / "sensitivity.ipynb").read_text())
                          ["cells"] if "parameters" in c["metadata"].get("tags", [])))
    check = 'from lra.notebook import check_parameters\ncheck_parameters("sensitivity", budget=budget)'
    assert run(shell, params) is None
    assert run(shell, check) is None                          # the chapter as written
    assert run(shell, params) is None
    assert run(shell, '# Parameters\nbudget = "smoke"\n') is None   # papermill, a known name
    assert run(shell, check) is None
    run(shell, params)
    run(shell, '# Parameters\nbuget = "smoke"\n')             # papermill, a misspelt one
    e = run(shell, check)
    print(e)
    assert type(e).__name__ == "ParameterError" and "'buget'" in str(e)
    assert e._render_traceback_() == [f"ParameterError: {e}"]
    run(shell, "x = [1, 2]\ny = x[0]")                         # later: no parameters cell before
    assert run(shell, check) is None


def test_cuda_without_cuda_is_one_line(monkeypatch):
    import torch

    from lra.notebook import ParameterError, check_parameters
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ParameterError) as err:
        check_parameters("sensitivity", device="cuda")
    print(err.value)
    assert "device='cuda'" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ParameterError, match="unknown budget"):
        check_parameters("sensitivity", budget="smok")


def test_every_chapter_that_reads_results_takes_budget_first():
    """Its first code cell is the tagged parameters cell, and it declares budget."""
    readers = {"setup(", "results_store(", "ResultsStore(", "ctx.results("}
    bad = []
    for path in sorted(BOOK.glob("*.ipynb")):
        cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        code = "".join("".join(c["source"]) for c in cells)
        if not any(r in code for r in readers):
            continue
        first = cells[0]
        if "parameters" not in first["metadata"].get("tags", []) or \
                not any(line.startswith("budget =") for line in "".join(first["source"]).splitlines()):
            bad.append(path.name)
    print("chapters without budget in a first parameters cell:", bad)
    assert not bad


def test_without_myst_nb_a_figure_is_still_shown(monkeypatch):
    """binder/ and the jupyter extra have no myst-nb: the chapters show, and glue nothing."""
    import sys

    import IPython.display

    from lra.analysis import page
    from lra.notebook import glue_text
    shown = []
    monkeypatch.setitem(sys.modules, "myst_nb", None)        # import myst_nb raises ImportError
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    with page.style():
        fig = page.new_figure(2.0)
        ax = fig.add_subplot()
        ax.plot([0, 1], [0, 1])
        ax.set_xlabel("x")
        ax.set_ylabel("y")
    page.glue_figure("f", fig)
    page.glue_markdown("m", "a reading")
    glue_text("t", "3")
    print(shown)
    assert shown[0] is fig and shown[1].data == "a reading" and len(shown) == 2
