"""Result bundles: the rows one campaign computed, with their provenance, carried to another
checkout and merged into its ``results/`` only after they verify.

A bundle is a ``.tgz`` holding ``manifest.json`` and the files it lists::

    manifest.json                                  format, commit, dirty flag, sha256 of the lra/
                                                   sources that ran, code version, device, torch,
                                                   python, platform, date, command; per table the
                                                   sha256 of its file, each row's key and sha256,
                                                   and the provenance of the write behind each row
    tables/<experiment>/<budget>/runs.csv          exactly the rows this campaign computed
    tables/<experiment>/<budget>/probes/<key>.json their gradient-flow probes (Figures 2-4)
    checkpoints/<budget>/<population>.pt           populations this campaign stopped at its time
                                                   limit (resumable where the bundle is ingested)

:func:`ingest` verifies every bundle before it writes anything, and refuses a bundle (one line,
:class:`BundleRefused`) whose archive breaks the limits of :mod:`lra.campaign.tarball` (a member
that is not a regular file of a bundle's kinds, too large, too many: checked from the tar headers
before any content is read), whose files are not where the format puts them, whose checkpoint is
not a checkpoint of this program (:func:`lra.engine.checkpoints.read`: tensors and plain data
read with ``weights_only=True``, nothing that could run code), whose rows belong to no
experiment spec, whose commit is not in this repository's history, whose code was dirty (or
whose sources are not that commit's), whose rows say another device or torch than its manifest,
whose files or rows do not match their hashes, or which holds a key already stored (or in
another bundle) with other numbers. Identical duplicates are skipped. Rows are written through
the store's lock and atomic writes, every table's lock held from the duplicate check to the last
write. *Verified* here means undamaged, made by clean code of this history, and free of code;
that the numbers are genuine (each row follows from its curve and names its run; randomly
chosen rows' first checks recomputed on this machine; an optional signature) is checked by the
``vouch`` that :func:`ingest` is given (:mod:`lra.campaign.recompute`, ``lra ingest``).
"""
from __future__ import annotations

import contextlib
import datetime
import hashlib
import io
import json
import math
import platform
import subprocess
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from lra.campaign.store import (CODE_MODULES, COLUMNS, ResultsStore, atomic_write_bytes, code_version,
                    file_lock, repo_root)
from lra.campaign.tarball import BundleRefused, read_members
from lra.engine.checkpoints import CheckpointError, read as read_checkpoint

FORMAT = "lra-bundle/1"
# The columns that make a row's numbers: a duplicate key must agree on all of them. (wall time,
# population size, device, commit and code version describe where and how fast it ran.)
NUMBER_COLUMNS = [c for c in COLUMNS
                  if c not in ("wall_seconds", "population", "device", "commit", "code_version")]


# Columns read as text when rows are merged (a hex key or commit of digits only must not become
# a number).
TEXT_COLUMNS = ["key", "experiment", "budget", "algorithm", "variant", "switches", "task", "loss",
                "norm", "optimiser", "stop_reason", "device", "commit", "curve", "code_version",
                "best_correct", "best_test_correct", "final_test_correct"]
# What a bundle's manifest says of the machine and code behind all its rows.
MACHINE_FIELDS = ("commit", "dirty", "device", "torch", "python")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def row_sha256(row: dict) -> str:
    """The hash of one row: its values as the CSV spells them, in column order."""
    return sha256(json.dumps([[c, str(row[c])] for c in sorted(row)]).encode())


def source_sha256(package_dir: Path | None = None) -> str:
    """sha256 of every ``lra/**/*.py`` concatenated in byte order of their paths: the same as
    ``find lra -name '*.py' | LC_ALL=C sort | xargs cat | sha256sum`` (scripts/device_campaign.sh)."""
    pkg = Path(package_dir) if package_dir else Path(__file__).resolve().parents[1]
    paths = sorted((p.relative_to(pkg.parent).as_posix(), p) for p in pkg.rglob("*.py"))
    h = hashlib.sha256()
    for _, p in paths:
        h.update(p.read_bytes())
    return h.hexdigest()


# ----------------------------------------------------------------------------- git
def _git(repo: Path, *args, binary=False):
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, timeout=60,
                          text=not binary)


def commit_in_history(commit: str, repo: Path) -> bool:
    """``commit`` names a commit of this repository that HEAD descends from."""
    if not commit or commit == "unknown" or commit.startswith("-"):
        return False
    try:
        if _git(repo, "cat-file", "-e", f"{commit}^{{commit}}").returncode != 0:
            return False
        return _git(repo, "merge-base", "--is-ancestor", commit, "HEAD").returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _blob(repo: Path, commit: str, path: str) -> bytes:
    out = _git(repo, "cat-file", "blob", f"{commit}:{path}", binary=True)
    if out.returncode != 0:
        raise FileNotFoundError(f"{path} is not in commit {commit}")
    return out.stdout


def source_sha256_at(commit: str, repo: Path) -> str:
    """:func:`source_sha256` of the ``lra/`` sources of ``commit``."""
    names = _git(repo, "ls-tree", "-r", "--name-only", commit, "--", "lra").stdout.split("\n")
    h = hashlib.sha256()
    for name in sorted(n for n in names if n.endswith(".py")):
        h.update(_blob(repo, commit, name))
    return h.hexdigest()


def code_version_at(commit: str, repo: Path) -> str:
    """:func:`lra.campaign.store.code_version` of the sources of ``commit``, over the modules that
    commit's store names (its ``CODE_MODULES``: the list and the layout change over history)."""
    names = _code_modules_at(commit, repo)
    h = hashlib.sha256()
    for name in names:
        h.update(name.encode() + b"\0" + _blob(repo, commit, f"lra/{name}") + b"\0")
    return h.hexdigest()[:12]


def _code_modules_at(commit: str, repo: Path) -> tuple[str, ...]:
    """The ``CODE_MODULES`` tuple of the store module at ``commit`` (read, never executed)."""
    import ast
    for path in ("lra/campaign/store.py", "lra/store.py"):
        try:
            source = _blob(repo, commit, path)
        except Exception:
            continue
        for node in ast.parse(source).body:
            if isinstance(node, ast.Assign) and any(
                    getattr(t, "id", None) == "CODE_MODULES" for t in node.targets):
                return tuple(ast.literal_eval(node.value))
    raise BundleRefused(f"commit {commit[:12]} has no lra store module naming CODE_MODULES")


# ----------------------------------------------------------------------------- recording
class RecordingStore(ResultsStore):
    """A results store that also journals what this campaign appended (table, keys, provenance)
    and which populations it stopped at the time limit: the contents of its bundle.

    The journal is a JSON-lines file, so the shard jobs of one campaign (other processes,
    requeued jobs included) can share it."""

    def __init__(self, root=None, journal: Path | None = None):
        super().__init__(root)
        self.journal = Path(journal) if journal else None
        self._memory: list[dict] = []

    def _record(self, entry: dict) -> None:
        if self.journal is None:
            self._memory.append(entry)
            return
        with file_lock(self.journal.with_name(self.journal.name + ".lock")):
            with open(self.journal, "a") as fh:
                fh.write(json.dumps(entry) + "\n")

    def append(self, experiment, budget, rows, prov, probes=None) -> int:
        entry = dict(experiment=experiment, budget=budget, keys=[r["key"] for r in rows], prov=prov)
        # journaled first too: a process killed between storing rows and journaling them must not
        # leave rows that no bundle carries (found by tools/trust_probes.py)
        self._record({**entry, "pending": True})
        n = super().append(experiment, budget, rows, prov, probes)
        self._record(entry)
        return n

    def record_stopped(self, checkpoints) -> None:
        for ck in checkpoints:
            self._record(dict(checkpoint=str(ck)))

    def entries(self) -> list[dict]:
        if self.journal is None:
            return list(self._memory)
        out = []
        for line in self.journal.read_text().splitlines() if self.journal.exists() else []:
            with contextlib.suppress(ValueError):      # a line a full disk cut short
                out.append(json.loads(line))
        return out


# ----------------------------------------------------------------------------- writing
def _read_str(data: bytes) -> pd.DataFrame:
    """A CSV table with every value exactly as spelled (no typing, empty = "")."""
    return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, 0o644
    tar.addfile(info, io.BytesIO(data))


def write_bundle(out: Path, store: ResultsStore, entries: list[dict], prov: dict) -> dict:
    """Pack the rows named by ``entries`` (RecordingStore journal) as stored in ``store``, with
    their probes, the checkpoints it names, and ``prov`` (lra.campaign.store.provenance of this campaign).
    Returns the manifest. The file appears complete or not at all."""
    tables: dict[tuple, dict] = {}
    done = {(e["experiment"], e["budget"], k) for e in entries if "keys" in e
            and not e.get("pending") for k in e["keys"]}
    for e in entries:      # (a pending entry counts only for rows no completed entry names)
        if "keys" not in e or e.get("pending") and all(
                (e["experiment"], e["budget"], k) in done for k in e["keys"]):
            continue
        t = tables.setdefault((e["experiment"], e["budget"]), {"writes": [], "keys": {}})
        t["writes"].append(e["prov"])
        for k in e["keys"]:
            t["keys"].setdefault(k, len(t["writes"]) - 1)
    files: dict[str, bytes] = {}
    manifest_tables = []
    for (exp, budget), t in sorted(tables.items()):
        data = store._state(exp, budget)[1] or b""
        df = _read_str(data) if data else pd.DataFrame(columns=COLUMNS)
        df = df[df["key"].isin(t["keys"])]
        folder = f"tables/{exp}/{budget}"
        csv = df.to_csv(index=False).encode()
        files[f"{folder}/runs.csv"] = csv
        rows, probes = [], {}
        for row in df.to_dict("records"):
            rows.append(dict(key=row["key"], sha256=row_sha256(row), write=t["keys"][row["key"]]))
            p = store.probe_path(exp, budget, row["key"])
            if p.exists():
                name = f"{folder}/probes/{row['key']}.json"
                files[name] = p.read_bytes()
                probes[row["key"]] = dict(file=name, sha256=sha256(files[name]))
        manifest_tables.append(dict(experiment=exp, budget=budget, file=f"{folder}/runs.csv",
                                    sha256=sha256(csv), rows=rows, writes=t["writes"],
                                    probes=probes))
    checkpoints = []
    for e in entries:
        ck = Path(e["checkpoint"]) if "checkpoint" in e else None
        if ck is None or not ck.exists():
            continue          # finished since (by a later job of the same campaign)
        name = f"checkpoints/{ck.parent.name}/{ck.name}"
        if name in files:
            continue          # stopped again (a requeued job): its latest state is read once
        files[name] = ck.read_bytes()
        checkpoints.append(dict(file=name, budget=ck.parent.name, population=ck.stem,
                                sha256=sha256(files[name])))
    # The machine of a bundle is the one its rows were written on (one per bundle: the rows of
    # several machines need several bundles); ``prov`` only where no row was written.
    machines = {tuple(str(w.get(f)) for f in MACHINE_FIELDS)
                for t in manifest_tables for w in t["writes"]}
    if len(machines) > 1:
        raise ValueError(f"the rows were written by {len(machines)} machines or code versions "
                         f"({sorted(machines)}); a bundle holds one machine's rows")
    if manifest_tables:
        prov = {**prov, **manifest_tables[0]["writes"][0]}
    manifest = dict(format=FORMAT, created=datetime.datetime.now(datetime.timezone.utc)
                    .isoformat(timespec="seconds"),
                    commit=prov["commit"], dirty=bool(prov["dirty"]),
                    source_sha256=source_sha256(), code_version=code_version(),
                    device=prov["device"], torch=prov["torch"], python=prov["python"],
                    platform=prov.get("platform", platform.platform()),
                    command=prov.get("command", " ".join(sys.argv)),
                    tables=manifest_tables, checkpoints=checkpoints)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        _add(tar, "manifest.json", json.dumps(manifest, indent=1).encode())
        for name in sorted(files):
            _add(tar, name, files[name])
    atomic_write_bytes(Path(out), buf.getvalue())
    return manifest


# ----------------------------------------------------------------------------- reading
@dataclass
class Bundle:
    path: Path
    sha256: str
    manifest: dict
    files: dict[str, bytes] = field(default_factory=dict)

    def refuse(self, why: str):
        raise BundleRefused(f"bundle {self.path}: {why}")

    def table(self, t: dict) -> pd.DataFrame:
        return _read_str(self.files[t["file"]])


def read_bundle(path: Path) -> Bundle:
    """The bundle at ``path``, its members read within the limits of :mod:`lra.campaign.tarball`
    (checked from the tar headers first); not yet verified (:func:`verify`)."""
    path = Path(path)
    files, digest = read_members(path)
    try:
        manifest = json.loads(files.pop("manifest.json"))
    except (KeyError, ValueError, RecursionError) as e:
        raise BundleRefused(f"bundle {path}: not a readable bundle ({type(e).__name__}: "
                            f"{' '.join(str(e).split())[:160]})") from None
    b = Bundle(path, digest, manifest, files)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        b.refuse(f"not a bundle of format {FORMAT} (manifest says "
                 f"{manifest.get('format') if isinstance(manifest, dict) else manifest!r})")
    return b


# ----------------------------------------------------------------------------- verifying
def known_budget(name: str):
    """The base budget of a stored budget name (``smoke``, ``paper``, ``smoke-cap20``), or None."""
    from lra.campaign.experiments import BUDGETS
    base, sep, cap = name.partition("-cap")
    if base not in BUDGETS or (sep and not (cap.isdigit() and int(cap) >= 1)) or \
            (not sep and cap):
        return None
    return BUDGETS[base]


def spec_keys(experiment: str, budget_name: str, seeds: int) -> set[str] | None:
    """Every run key the spec of ``experiment`` can ask for at this budget (seeds 0..seeds-1,
    every curriculum stage), or None when no such experiment or budget exists."""
    from lra.campaign.experiments import EXPERIMENTS, runs_by_key
    budget = known_budget(budget_name)
    if experiment not in EXPERIMENTS or budget is None:
        return None
    return set(runs_by_key(experiment, budget, seeds))


def _verify_hashes(b: Bundle) -> None:
    m = b.manifest
    listed = {t["file"]: t["sha256"] for t in m.get("tables", [])}
    for t in m.get("tables", []):
        listed.update({p["file"]: p["sha256"] for p in t.get("probes", {}).values()})
    listed.update({c["file"]: c["sha256"] for c in m.get("checkpoints", [])})
    for name, digest in sorted(listed.items()):
        if name not in b.files:
            b.refuse(f"hash mismatch: {name} is listed in the manifest but missing")
        if sha256(b.files[name]) != digest:
            b.refuse(f"hash mismatch: {name} has sha256 {sha256(b.files[name])[:16]}..., the "
                     f"manifest says {digest[:16]}...")
    extra = sorted(set(b.files) - set(listed))
    if extra:
        b.refuse(f"hash mismatch: {extra[0]} is not listed in the manifest")
    for t in m.get("tables", []):
        df = b.table(t)
        rows = {r["key"]: r for r in t["rows"]}
        if sorted(df["key"]) != sorted(rows) or df["key"].duplicated().any():
            b.refuse(f"hash mismatch: the keys of {t['file']} are not the manifest's")
        for row in df.to_dict("records"):
            if row_sha256(row) != rows[row["key"]]["sha256"]:
                b.refuse(f"hash mismatch: row {row['key']} of {t['file']} does not match its "
                         "recorded sha256")


def _verify_specs(b: Bundle) -> None:
    for t in b.manifest.get("tables", []):
        df = b.table(t)
        seeds = int(pd.to_numeric(df["seed"]).max()) + 1 if len(df) else 1
        keys = spec_keys(t["experiment"], t["budget"], seeds)
        if keys is None:
            b.refuse(f"unknown experiment spec: {t['experiment']} at budget {t['budget']} is "
                     "not an experiment of this checkout (lra list)")
        for row in df.to_dict("records"):
            if row["experiment"] != t["experiment"] or row["budget"] != t["budget"]:
                b.refuse(f"unknown experiment spec: row {row['key']} says {row['experiment']}/"
                         f"{row['budget']} inside {t['experiment']}/{t['budget']}")
            if row["key"] not in keys:
                b.refuse(f"unknown experiment spec: row {row['key']} of {t['experiment']} "
                         f"({row['algorithm']} {row['task']} T={row['T']}) is no run of that "
                         f"spec at budget {t['budget']}")


def _verify_checkpoints(b: Bundle) -> None:
    """A checkpoint names a budget of this checkout and a population id (16 hex digits): it is
    written to results/_populations/<budget>/<population>.pt and nowhere else. It is read as the
    engine reads one (tensors and plain data only, weights_only=True) and must have the schema of
    a checkpoint: nothing in it is run, here or where the population resumes."""
    for c in b.manifest.get("checkpoints", []):
        budget, pop = str(c.get("budget", "")), str(c.get("population", ""))
        if known_budget(budget) is None or len(pop) != 16 or \
                any(ch not in "0123456789abcdef" for ch in pop):
            b.refuse(f"unknown experiment spec: checkpoint {c.get('file')} names budget "
                     f"{budget!r} and population {pop!r}")
        try:
            read_checkpoint(b.files[c["file"]])
        except CheckpointError as e:
            b.refuse(f"checkpoint {c['file']} is not a checkpoint of this program ({e})")


def _verify_layout(b: Bundle) -> None:
    """Every file the manifest lists is where the bundle format puts it (write_bundle)."""
    m = b.manifest
    expected = [(t["file"], f"tables/{t['experiment']}/{t['budget']}/runs.csv")
                for t in m.get("tables", [])]
    expected += [(p["file"], f"tables/{t['experiment']}/{t['budget']}/probes/{key}.json")
                 for t in m.get("tables", []) for key, p in t.get("probes", {}).items()]
    expected += [(c["file"], f"checkpoints/{c['budget']}/{c['population']}.pt")
                 for c in m.get("checkpoints", [])]
    for got, want in expected:
        if got != want:
            b.refuse(f"unsafe member {got!r}: the bundle format puts this file at {want!r}")


def _verify_code(b: Bundle, repo: Path) -> None:
    m = b.manifest
    commit = str(m.get("commit", ""))
    writes = [w for t in m.get("tables", []) for w in t.get("writes", [])]
    rows = [r for t in m.get("tables", []) for r in b.table(t).to_dict("records")]
    dirty_row = next((r for r in rows if str(r["commit"]).endswith("+dirty")), None)
    if m.get("dirty") or any(w.get("dirty") for w in writes) or dirty_row is not None:
        b.refuse(f"dirty code: the rows were computed by uncommitted changes to commit "
                 f"{commit[:12]} (commit first, then rerun)")
    if not commit_in_history(commit, repo):
        b.refuse(f"commit {commit[:12] or '(none)'} is not in this repository's history "
                 "(fetch or merge it first)")
    ran = m.get("source_sha256")
    if ran != source_sha256_at(commit, repo):
        b.refuse(f"dirty code: the lra/ sources that ran (sha256 {str(ran)[:12]}) are not "
                 f"commit {commit[:12]}'s")
    version = code_version_at(commit, repo)
    for w in writes:
        if w.get("commit") != commit:
            b.refuse(f"provenance mismatch: a write says commit {str(w.get('commit'))[:12]}, the "
                     f"manifest {commit[:12]}")
    for r in rows:
        if r["commit"] != commit[:12]:
            b.refuse(f"provenance mismatch: row {r['key']} says commit {r['commit']}, the "
                     f"manifest {commit[:12]}")
        if r["code_version"] != version or m.get("code_version") != version:
            b.refuse(f"provenance mismatch: row {r['key']} says code version "
                     f"{r['code_version']}, commit {commit[:12]} has {version}")


def _verify_machine(b: Bundle) -> None:
    m = b.manifest
    for t in m.get("tables", []):
        for w in t.get("writes", []):
            if w.get("device") != m.get("device") or w.get("torch") != m.get("torch"):
                b.refuse(f"device/torch mismatch: {t['experiment']}/{t['budget']} was written on "
                         f"{w.get('device')} with torch {w.get('torch')}, the manifest says "
                         f"{m.get('device')} with torch {m.get('torch')}")
        for r in b.table(t).to_dict("records"):
            if r["device"] != m.get("device"):
                b.refuse(f"device/torch mismatch: row {r['key']} says device {r['device']}, the "
                         f"manifest {m.get('device')}")


def _number(v: str):
    try:
        return float(v)
    except ValueError:
        return v


def same_numbers(a: dict, b: dict) -> bool:
    """Two rows of one key agree on everything that makes their numbers (NUMBER_COLUMNS);
    numbers compare as numbers ("10" == "10.0"), curves as JSON."""
    for c in NUMBER_COLUMNS:
        x, y = str(a.get(c, "")), str(b.get(c, ""))
        if x == y:
            continue
        if c == "curve":
            try:
                if json.loads(x) == json.loads(y):
                    continue
            except ValueError:
                pass
            return False
        if c == "switches" and {x, y} <= {"", "nan"}:
            continue
        nx, ny = _number(x), _number(y)
        if isinstance(nx, float) and isinstance(ny, float) and (
                nx == ny or (math.isnan(nx) and math.isnan(ny))):
            continue
        if {x.lower(), y.lower()} <= {"", "nan"}:
            continue
        return False
    return True


def verify(b: Bundle, repo: Path | None = None) -> None:
    """Every check that needs only the bundle and this repository; raises BundleRefused."""
    repo = Path(repo) if repo else repo_root()
    _verify_hashes(b)
    _verify_specs(b)
    _verify_checkpoints(b)
    _verify_layout(b)
    _verify_code(b, repo)
    _verify_machine(b)


# ----------------------------------------------------------------------------- ingesting
@dataclass
class IngestReport:
    added: dict = field(default_factory=dict)       # (experiment, budget) -> rows written
    skipped: int = 0                                # identical duplicates
    checkpoints: list = field(default_factory=list)  # checkpoint files written
    kept: list = field(default_factory=list)        # checkpoints not written (rows stored or
                                                    # a local checkpoint as far along)
    verified: list = field(default_factory=list)    # one line per bundle: what it holds


def _checkpoint_iteration(source) -> int:
    """The iteration of a checkpoint (a path or bytes), read as the engine reads one."""
    return read_checkpoint(source)["iteration"]


def ingest(paths, store: ResultsStore | None = None, repo: Path | None = None,
           vouch=None) -> IngestReport:
    """Verify every bundle, then merge their rows (and resumable checkpoints) into ``store``.
    Nothing is written unless every bundle verifies and no key clashes. ``vouch(bundle)``, when
    given, runs on each verified bundle before anything is written (the checks that its numbers
    are genuine, :mod:`lra.campaign.recompute`): it raises BundleRefused or returns what it
    checked, for the bundle's line of the report."""
    store = store or ResultsStore()
    bundles = [read_bundle(Path(p)) for p in paths]
    for b in bundles:
        try:
            verify(b, repo)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as e:
            b.refuse(f"malformed manifest or table ({type(e).__name__}: "
                     f"{' '.join(str(e).split())[:160]})")
    targets = sorted({(t["experiment"], t["budget"]) for b in bundles
                      for t in b.manifest.get("tables", [])})
    _plan(bundles, store, targets, IngestReport())    # refuse clashes before any lock file
    report = IngestReport()
    for b in bundles:
        m = b.manifest
        report.verified.append(
            f"verified {b.path.name}: {sum(len(t['rows']) for t in m.get('tables', []))} row(s), "
            f"{len(m.get('checkpoints', []))} checkpoint(s); commit {m['commit'][:12]} (clean, "
            f"in this history), {m['device']}, torch {m['torch']}, {m['created']}"
            + (f"; {vouch(b)}" if vouch else "; numbers not recomputed"))
    with contextlib.ExitStack() as locks:
        for exp, budget in targets:        # one order for every writer: no deadlock
            locks.enter_context(file_lock(store.dir(exp, budget) / ".lock"))
        plan = _plan(bundles, store, targets, report)     # again, now that no one else writes
        for (exp, budget), items in plan.items():     # one write per source provenance
            groups: dict[str, list] = {}
            for row, probe, prov in items:
                groups.setdefault(json.dumps(prov, sort_keys=True), []).append((row, probe))
            for prov_json, group in groups.items():
                rows = [{c: (None if isinstance(v, float) and math.isnan(v) else v)
                         for c, v in r.items()} for r, _ in group]
                probes = {r["key"]: p for r, p in group if p is not None}
                n = store._append_locked(exp, budget, rows, json.loads(prov_json), probes)
                report.added[(exp, budget)] = report.added.get((exp, budget), 0) + n
    for b in bundles:
        for c in b.manifest.get("checkpoints", []):
            _ingest_checkpoint(b, c, store, report)
    return report


def _plan(bundles, store, targets, report) -> dict:
    """The rows to write per table, [(typed row, probes, provenance)]; counts identical
    duplicates in ``report``; refuses a key stored (or in another bundle) with other numbers."""
    plan = {}
    for exp, budget in targets:
        _, data = store._state(exp, budget)
        seen = {r["key"]: r for r in _read_str(data).to_dict("records")} if data else {}
        for b in bundles:
            for t in b.manifest.get("tables", []):
                if (t["experiment"], t["budget"]) != (exp, budget):
                    continue
                typed = pd.read_csv(io.BytesIO(b.files[t["file"]]),
                                    dtype={c: str for c in TEXT_COLUMNS})
                typed = {r["key"]: r for r in typed.to_dict("records")}
                rows = {r["key"]: r for r in t["rows"]}
                for row in b.table(t).to_dict("records"):
                    k = row["key"]
                    if k in seen:
                        if not same_numbers(seen[k], row):
                            b.refuse(f"duplicate key {k} in {exp}/{budget} with different "
                                     "numbers from the stored (or another bundle's) row")
                        report.skipped += 1
                        continue
                    seen[k] = row
                    probe = t.get("probes", {}).get(k)
                    prov = {**t["writes"][rows[k]["write"]],
                            "ingested_from": b.path.name, "bundle_sha256": b.sha256}
                    plan.setdefault((exp, budget), []).append(
                        (typed[k], json.loads(b.files[probe["file"]]) if probe else None, prov))
    return plan


def _ingest_checkpoint(b: Bundle, c: dict, store: ResultsStore, report: IngestReport) -> None:
    """A population stopped at the bundle's time limit resumes here: its checkpoint is written
    unless a local checkpoint of that population is as far along."""
    target = Path(store.root) / "_populations" / c["budget"] / f"{c['population']}.pt"
    data = b.files[c["file"]]
    if target.exists():
        try:
            if _checkpoint_iteration(target) >= _checkpoint_iteration(data):
                report.kept.append(str(target))
                return
        except Exception:  # an unreadable local checkpoint: the bundle's replaces it
            pass
    atomic_write_bytes(target, data)
    report.checkpoints.append(str(target))
