"""The book's configuration for one build: _config.yml, plus the repository link and a Binder
launch button when the project's public repository is named.

    LRA_REPOSITORY_URL=https://github.com/OWNER/REPO [LRA_REPOSITORY_BRANCH=main] \
        python tools/book_config.py _build/_config.yml

prints the path of the configuration to build with: _config.yml itself when LRA_REPOSITORY_URL is
unset (the book then has no repository or launch buttons: they would point nowhere), otherwise the
written file. `make book` builds with it. Binder builds the reader's environment from the
repository's binder/ folder (a slim environment with CPU PyTorch; postBuild installs the package
from the clone, which brings results/), so a chapter opened there runs as in the book. No Colab button: Colab opens a notebook alone, without the package or
the stored results its first cell imports.
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
GITHUB = re.compile(r"^https://github\.com/[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")
BRANCH = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$")


def publishing(url: str, branch: str = "main") -> dict:
    """The jupyter-book 1.x keys that add the repository, issues and Binder launch buttons."""
    url = url.rstrip("/")
    if url.endswith(".git"):
        url = url[:-4]
    if not GITHUB.match(url):
        raise ValueError(f"LRA_REPOSITORY_URL must be https://github.com/OWNER/REPO "
                         f"(the launch button opens it on mybinder.org), not {url!r}")
    if not BRANCH.match(branch) or ".." in branch:
        raise ValueError(f"LRA_REPOSITORY_BRANCH is not a branch name: {branch!r}")
    return {
        "repository": {"url": url, "branch": branch, "path_to_book": ""},
        "html": {"use_repository_button": True, "use_issues_button": True},
        "launch_buttons": {"notebook_interface": "classic",
                           "binderhub_url": "https://mybinder.org"},
    }


def merged(config: dict, extra: dict) -> dict:
    """config with extra's keys set (one level of nesting merged, as jupyter-book reads them)."""
    out = dict(config)
    for k, v in extra.items():
        out[k] = {**out.get(k, {}), **v} if isinstance(v, dict) else v
    return out


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    url = os.environ.get("LRA_REPOSITORY_URL", "").strip()
    if not url:
        print(ROOT / "_config.yml")
        return 0
    try:
        extra = publishing(url, os.environ.get("LRA_REPOSITORY_BRANCH", "main").strip() or "main")
    except ValueError as e:
        print(f"book_config: {e}", file=sys.stderr)
        return 2
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    out = Path(argv[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("# written by tools/book_config.py from _config.yml: do not edit\n"
                   + yaml.safe_dump(merged(config, extra), sort_keys=False, allow_unicode=True))
    print(out.resolve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
