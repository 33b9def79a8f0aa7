"""tools/book_fresh.py: `make unit` reuses `make book`'s build only while no source of the book is
newer than it (issue 25: the browser test used to build the whole book a second time)."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("book_fresh", ROOT / "tools" / "book_fresh.py")
book_fresh = importlib.util.module_from_spec(spec)
spec.loader.exec_module(book_fresh)


def age(path: Path, seconds: float):
    """Set ``path``'s modification time ``seconds`` in the past."""
    t = path.stat().st_mtime - seconds
    os.utime(path, (t, t))


@pytest.fixture(params=["git", "no git"])
def checkout(request, tmp_path, monkeypatch):
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):     # a CI's own git must not leak in
        monkeypatch.delenv(var, raising=False)
    root = tmp_path / "repo"
    for name in ("book/intro.ipynb", "book/references.bib", "_config.yml", "_toc.yml",
                 "lra/engine/trainer.py", "results/table1/smoke/runs.csv", "README.md"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x\n")
    (root / ".gitignore").write_text("results/**/.lock\n__pycache__/\n_build/\n")
    if request.param == "git":
        env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
        for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "sources"]):
            subprocess.run(["git", *cmd], cwd=root, env=env, check=True, capture_output=True)
    html = root / "_build" / "html"
    html.mkdir(parents=True)
    for p in root.rglob("*"):
        if p.is_file():
            age(p, 100)                       # sources (and the build) older than the stamp
    return root, html


def test_a_finished_build_is_current_until_a_source_changes(checkout):
    root, html = checkout
    assert not book_fresh.fresh(html, root)[0]                  # no stamp: not a finished build
    (html / book_fresh.STAMP).touch()
    age(html / book_fresh.STAMP, 50)      # sources 100 s old, the stamp 50 s: a touch is newer by
    assert book_fresh.fresh(html, root)[0]  # far more than a file-time tick on any file system
    for name in ("book/intro.ipynb", "book/references.bib", "_config.yml", "_toc.yml",
                 "lra/engine/trainer.py", "results/table1/smoke/runs.csv"):
        (root / name).touch()                                   # newer than the stamp
        ok, why = book_fresh.fresh(html, root)
        assert not ok and name in why, (name, why)
        age(root / name, 100)
    assert book_fresh.fresh(html, root)[0]
    (root / "lra" / "new_module.py").write_text("x\n")         # an untracked source counts too
    assert not book_fresh.fresh(html, root)[0]
    (root / "lra" / "new_module.py").unlink()


def test_a_source_saved_in_the_same_tick_as_the_stamp_counts_as_newer(checkout):
    root, html = checkout
    (html / book_fresh.STAMP).touch()
    t = (html / book_fresh.STAMP).stat().st_mtime
    os.utime(root / "_toc.yml", (t, t))
    ok, why = book_fresh.fresh(html, root)
    print("equal file times, stamp and _toc.yml:", t, "->", why)
    assert not ok and "_toc.yml" in why


def test_what_is_not_a_source_does_not_make_it_stale(checkout):
    root, html = checkout
    (html / book_fresh.STAMP).touch()
    (root / "README.md").touch()
    (root / "results" / "table1" / "smoke" / ".lock").write_text("")
    (root / "lra" / "engine" / "__pycache__").mkdir()
    (root / "lra" / "engine" / "__pycache__" / "trainer.pyc").write_text("")
    assert book_fresh.fresh(html, root)[0], book_fresh.fresh(html, root)[1]


def test_command_line_exit_status(tmp_path):
    run = [sys.executable, str(ROOT / "tools" / "book_fresh.py"), str(tmp_path / "nothing")]
    r = subprocess.run(run, capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 1 and "no finished build" in r.stderr
