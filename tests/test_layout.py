"""The package's layout holds: wings import downward only, no import cycle, no module over 600 lines,
each wing says what it is for, and the chapters import public names only (README, "Layout").

Every import counts, those inside functions included: a lazy import is still a dependency.
"""
import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "lra"
# ground <- algorithms <- engine <- campaign <- analysis <- faces
WINGS = ["ground", "algorithms", "engine", "campaign", "analysis", "faces"]
MAX_LINES = 600


def wing_of(module: str) -> str:
    """The wing of a dotted module name under lra (``lra`` itself: the package's front door)."""
    parts = module.split(".")
    if module == "lra":
        return "front"
    if parts[1] in ("tasks", "model"):
        return "ground"
    if parts[1] in ("algorithms", "engine", "campaign", "analysis"):
        return parts[1]
    if parts[1] in ("cli", "notebook", "__main__") or parts[1].startswith("cli_"):
        return "faces"
    raise AssertionError(f"{module} belongs to no wing: add it to one (tests/test_layout.py)")


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def known(name: str, modules: set[str]) -> str | None:
    """The longest known module that ``name`` is or lies in (``lra.x.y.attr`` -> ``lra.x.y``)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def import_graph(pkg: Path = PKG) -> dict[str, set[str]]:
    """module -> the lra modules it imports (absolute and relative imports, at any depth)."""
    files = {module_name(p): p for p in pkg.rglob("*.py")}
    modules = set(files)
    graph = {}
    for mod, path in files.items():
        deps = set()
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = mod.split(".")
                    anchor = anchor[:len(anchor) - node.level + (1 if is_pkg else 0)]
                    base = ".".join(anchor + ([base] if base else []))
                # ``from pkg import sub`` depends on the submodule; ``from pkg import name`` on
                # the package's __init__ (where the name lives)
                subs = [f"{base}.{a.name}" for a in node.names]
                names = [n for n in subs if n in modules]
                if len(names) < len(subs):
                    names.append(base)
            else:
                continue
            for n in names:
                if n == "lra" or n.startswith("lra."):
                    target = known(n, modules)
                    if target and target != mod:
                        deps.add(target)
        graph[mod] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for mod, deps in sorted(graph.items()):
        w = wing_of(mod)
        for d in sorted(deps):
            dw = wing_of(d)
            if w == "front":
                ok = dw != "faces"            # lra/__init__ offers names from below the faces
            elif dw == "front":
                ok = False                    # inside the package, import the module itself
            else:
                ok = WINGS.index(dw) <= WINGS.index(w)
            if not ok:
                bad.append(f"{mod} ({w}) imports {d} ({dw})")
    return bad


def test_the_checks_catch_a_cycle_and_an_upward_import(tmp_path):
    """The walker itself, on a hand-made package: a cycle and an upward import are found."""
    pkg = tmp_path / "lra"
    (pkg / "algorithms").mkdir(parents=True)
    (pkg / "engine").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "model.py").write_text("def f():\n    from lra.engine.trainer import g\n")
    (pkg / "algorithms" / "__init__.py").write_text("")
    (pkg / "algorithms" / "a.py").write_text("from .b import x\n")
    (pkg / "algorithms" / "b.py").write_text("from lra.algorithms import a\n")
    (pkg / "engine" / "__init__.py").write_text("")
    (pkg / "engine" / "trainer.py").write_text("from lra.model import f\n")
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        g = import_graph(pkg)
    finally:
        ROOT = saved
    print(g)
    assert cycles(g) == [["lra.algorithms.a", "lra.algorithms.b"],
                         ["lra.engine.trainer", "lra.model"]]
    assert upward_imports(g) == ["lra.model (ground) imports lra.engine.trainer (engine)"]


def test_wings_import_downward_only_and_no_module_is_in_a_cycle():
    g = import_graph()
    between = sorted({(wing_of(m), wing_of(d)) for m, ds in g.items() for d in ds
                      if wing_of(m) != wing_of(d)})
    print("imports between wings:", ", ".join(f"{a} -> {b}" for a, b in between))
    up, cyc = upward_imports(g), cycles(g)
    print("upward imports:", up or "none")
    print("cycles:", cyc or "none")
    assert not up and not cyc


def test_no_module_is_over_600_lines():
    sizes = {p.relative_to(ROOT).as_posix(): len(p.read_text().splitlines())
             for p in PKG.rglob("*.py")}
    print("largest:", sorted(sizes.items(), key=lambda kv: -kv[1])[:5])
    offenders = {k: v for k, v in sizes.items() if v > MAX_LINES}
    assert not offenders, f"split these modules (over {MAX_LINES} lines): {offenders}"


@pytest.mark.parametrize("wing", ["algorithms", "engine", "campaign", "analysis"])
def test_each_wing_says_what_it_is_for_and_what_it_may_import(wing):
    doc = ast.get_docstring(ast.parse((PKG / wing / "__init__.py").read_text()))
    print(doc)
    assert doc and "May import" in doc


def test_chapters_import_public_names_only():
    """A chapter is read by people: it uses what a wing offers, never its private helpers."""
    private = []
    for nb in sorted((ROOT / "book").glob("*.ipynb")):
        for cell in json.loads(nb.read_text())["cells"]:
            if cell["cell_type"] != "code":
                continue
            src = "".join(cell["source"])
            for m in re.finditer(r"from (lra[\w.]*) import \(?([^)\n]+)", src):
                private += [f"{nb.name}: {m.group(1)}.{n.strip()}" for n in
                            m.group(2).split(",") if n.strip().split(" ")[0].startswith("_")]
            private += [f"{nb.name}: {m.group(0)}" for m in re.finditer(r"\blra(\.\w+)*\._\w+", src)]
            # a module imported under a short name: ``from lra.analysis import verdicts as V``
            aliases = re.findall(r"from lra[\w.]* import (\w+) as (\w+)", src)
            aliases += [(n, n) for n in re.findall(r"from lra[\w.]* import (\w+)$", src, re.M)]
            for _, alias in aliases:
                private += [f"{nb.name}: {m.group(0)}"
                            for m in re.finditer(rf"\b{alias}\._(?!_)\w+", src)]
    print(private or "no private names")
    assert not private
