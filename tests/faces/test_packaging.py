"""environment.yml (conda) and pyproject.toml (pip) declare the same dependencies."""
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONDA_TO_PIP = {"pytorch": "torch"}


def requirement_name_and_spec(req: str):
    m = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*([^;]*)", req)     # drop environment markers
    return m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")


def test_environment_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip = dict(requirement_name_and_spec(r) for r in project["dependencies"])
    for extra in project["optional-dependencies"].values():
        pip.update(requirement_name_and_spec(r) for r in extra)
    conda, in_deps = {}, False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        in_deps = in_deps or line.startswith("dependencies:")
        m = re.match(r"  - ([A-Za-z][^:#]*)$", line) if in_deps else None
        if m and not m.group(1).startswith(("pip", "python")):
            name, spec = requirement_name_and_spec(m.group(1))
            conda[CONDA_TO_PIP.get(name, name)] = spec
    assert conda == pip
    assert "- -e ." in (ROOT / "environment.yml").read_text()


def test_torch_is_a_range_and_the_lock_pins_the_cpu_wheel():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    torch = [r for r in project["dependencies"] if r.startswith("torch")]
    assert torch == ["torch>=2.4"]
    assert "torch==2.13.0" in (ROOT / "constraints.txt").read_text()
