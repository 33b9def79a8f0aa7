"""tools/book_config.py: the repository and Binder buttons appear only when the public
repository is named, with a URL the launch button can open."""
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "book_config.py"


def run(tmp_path, env_extra):
    env = {"PATH": "/usr/bin:/bin", **env_extra}
    return subprocess.run([sys.executable, str(TOOL), str(tmp_path / "cfg.yml")],
                          capture_output=True, text=True, env=env, cwd=ROOT)


def test_without_a_repository_the_book_builds_with_its_own_config(tmp_path):
    r = run(tmp_path, {})
    print(r.stdout, r.stderr)
    assert r.returncode == 0 and Path(r.stdout.strip()) == ROOT / "_config.yml"
    assert not (tmp_path / "cfg.yml").exists()
    assert "launch_buttons" not in yaml.safe_load((ROOT / "_config.yml").read_text())


def test_a_named_repository_adds_its_buttons_and_keeps_every_other_key(tmp_path):
    r = run(tmp_path, {"LRA_REPOSITORY_URL": "https://github.com/someone/lra-book.git",
                       "LRA_REPOSITORY_BRANCH": "gh-pages-src"})
    print(r.stdout, r.stderr)
    assert r.returncode == 0 and Path(r.stdout.strip()) == (tmp_path / "cfg.yml").resolve()
    base = yaml.safe_load((ROOT / "_config.yml").read_text())
    cfg = yaml.safe_load((tmp_path / "cfg.yml").read_text())
    print("repository:", cfg["repository"], "launch:", cfg["launch_buttons"], "html:", cfg["html"])
    assert cfg["repository"] == {"url": "https://github.com/someone/lra-book",
                                 "branch": "gh-pages-src", "path_to_book": ""}
    assert cfg["launch_buttons"]["binderhub_url"] == "https://mybinder.org"
    assert cfg["html"]["use_repository_button"] is True
    for k, v in base.items():           # nothing else changed
        if k != "html":
            assert cfg[k] == v, k
    assert {k: v for k, v in cfg["html"].items() if k in base["html"] and
            k != "use_repository_button"} == \
        {k: v for k, v in base["html"].items() if k != "use_repository_button"}


def test_a_url_binder_cannot_open_is_refused_in_one_line(tmp_path):
    for url in ("http://github.com/a/b", "https://gitlab.com/a/b", "github.com/a/b",
                "https://github.com/a", "https://github.com/a/b/tree/main"):
        r = run(tmp_path, {"LRA_REPOSITORY_URL": url})
        print(url, "->", r.returncode, r.stderr.strip())
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "OWNER/REPO" in r.stderr
        assert not (tmp_path / "cfg.yml").exists()
