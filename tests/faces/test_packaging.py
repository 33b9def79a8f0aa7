"""environment.yml (conda) and pyproject.toml (pip) declare the same dependencies; the files a
user looks for (LICENSE, CITATION.cff, binder/) say what pyproject and the paper say."""
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CONDA_TO_PIP = {"pytorch": "torch", "pytorch-cpu": "torch"}
TEST_TOOLS = {"pytest", "nbval", "pytest-xdist", "triton", "jupyter-book", "sphinxcontrib-bibtex"}


def requirement_name_and_spec(req: str):
    m = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*([^;]*)", req)     # drop environment markers
    return m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")


def conda_dependencies(path: Path) -> dict:
    """name -> spec of an environment file's conda and pip dependencies (pip's markers dropped)."""
    out = {}
    for dep in yaml.safe_load(path.read_text())["dependencies"]:
        for req in (dep["pip"] if isinstance(dep, dict) else [dep]):
            if not req.startswith(("pip", "python", "-e")):
                name, spec = requirement_name_and_spec(req)
                out[CONDA_TO_PIP.get(name, name)] = spec
    return out


def test_environment_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip = dict(requirement_name_and_spec(r) for r in project["dependencies"])
    for extra in project["optional-dependencies"].values():
        pip.update(requirement_name_and_spec(r) for r in extra)
    assert conda_dependencies(ROOT / "environment.yml") == pip
    assert "- -e ." in (ROOT / "environment.yml").read_text()


def test_triton_only_where_it_has_wheels():
    """conda-forge and PyPI have Triton for Linux x86-64 only: the environment asks for it there."""
    env = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
    assert not any(isinstance(d, str) and d.startswith("triton") for d in env), \
        "triton is a conda dependency without a platform guard"
    pip = next(d["pip"] for d in env if isinstance(d, dict))
    triton = [r for r in pip if r.startswith("triton")]
    assert triton and 'platform_system == "Linux" and platform_machine == "x86_64"' in triton[0]


def test_torch_is_a_range_and_the_lock_pins_the_cpu_wheel():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    torch = [r for r in project["dependencies"] if r.startswith("torch")]
    assert torch == ["torch>=2.4"]
    assert "torch==2.13.0" in (ROOT / "constraints.txt").read_text()


def test_readme_names_the_cpu_index_and_the_makefile_uses_it():
    cpu = "https://download.pytorch.org/whl/cpu"
    readme = (ROOT / "README.md").read_text()
    assert f"pip install --extra-index-url {cpu} -c constraints.txt -e '.[book,test]'" in readme
    assert "tools/check_install.py --index-args" in (ROOT / "Makefile").read_text()
    assert "make check-install" in (ROOT / ".ci/run").read_text()


def test_jupyter_extra():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    names = {requirement_name_and_spec(r)[0] for r in extras["jupyter"]}
    assert {"jupyterlab", "nbconvert"} <= names


def test_license_is_the_one_pyproject_names():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    text = (ROOT / "LICENSE").read_text()
    assert project["license"] == "MIT" and text.startswith("MIT License")
    assert "Copyright (c) 2026 the lra-book authors" in text


def test_citation_names_the_reproduction_and_the_paper():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert cff["cff-version"] == "1.2.0" and cff["version"] == project["version"]
    assert cff["license"] == project["license"]
    paper = cff["references"][0]
    assert paper["title"] == "Can Local Representation Alignment RNNs Solve Temporal Tasks?"
    assert [a["family-names"] for a in paper["authors"]] == ["Manchev", "Garcia-Peraza-Herrera"]
    assert paper["year"] == 2025 and paper["url"] == "https://arxiv.org/abs/2504.13531"
    assert "doi" not in paper and "doi" not in cff       # none is assigned: none is made up


def test_binder_is_slim_with_a_cpu_torch():
    deps = conda_dependencies(ROOT / "binder/environment.yml")
    env = (ROOT / "binder/environment.yml").read_text()
    assert "pytorch-cpu" in env and "torch" in deps
    assert not TEST_TOOLS & set(deps), f"test or book tools in binder: {TEST_TOOLS & set(deps)}"
    core = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert {requirement_name_and_spec(r)[0] for r in core} <= set(deps)
    assert "pip install --no-deps -e ." in (ROOT / "binder/postBuild").read_text()


def _check_install():
    import importlib.util
    spec = importlib.util.spec_from_file_location("check_install",
                                                  ROOT / "tools" / "check_install.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_lock_is_checked_for_what_comes_in_and_what_is_left_out(tmp_path):
    """tools/check_install.py's lock check (no network: a hand-made resolution report)."""
    ci = _check_install()
    lock = tmp_path / "lock.txt"
    lock.write_text("# comment\nnumpy==2.3.1\ntorch==2.13.0+cpu\n\nold-package==1.0\n")
    pinned = ci.read_lock(lock)
    assert pinned == {"numpy": "2.3.1", "torch": "2.13.0+cpu", "old-package": "1.0"}
    report = {"install": [{"metadata": {"name": n, "version": v}} for n, v in
                          (("numpy", "2.3.1"), ("torch", "2.13.0+cpu"), ("new-package", "0.1"),
                           ("lra-book", "0.1"))]}
    problems = ci.check_lock(0, report, "", pinned)
    print(problems)
    assert len(problems) == 2
    assert "new-package" in problems[0] and "old-package" in problems[1]
    ok = {"install": [r for r in report["install"] if r["metadata"]["name"] != "new-package"]
          + [{"metadata": {"name": "old-package", "version": "1.0"}}]}
    assert ci.check_lock(0, ok, "", pinned) == []              # this project itself is not locked


def test_the_committed_lock_pins_the_cpu_torch_and_every_constraint():
    ci = _check_install()
    lock = ci.read_lock(ROOT / "locks" / "cpu-py311-linux-x86_64.txt")
    constraints = ci.read_lock(ROOT / "constraints.txt")
    print(len(lock), "locked;", constraints)
    assert lock["torch"].endswith("+cpu") and "lra-book" not in lock
    for name, version in constraints.items():
        version = version.split(";")[0].strip()
        assert lock.get(name, "").startswith(version), (name, version, lock.get(name))
