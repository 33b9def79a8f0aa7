#!/usr/bin/env python3
"""Rerun issue 20's hostile-tester probes against this code and print one table.

    .venv/bin/python tools/trust_probes.py                   # every family (~10 min on one core)
    .venv/bin/python tools/trust_probes.py --quick           # fewer variants of each (~5 min)
    .venv/bin/python tools/trust_probes.py --only cli honest-exits --json probes.json

Issue 20 ("Results you can trust from machines you do not control") was filed after probes made
as a hostile tester would make them: bundles with a code-running checkpoint, forged numbers, a
decompression bomb; readers racing a writer; a writer in another PID namespace; kills at awkward
moments; full and read-only disks; selections that plan nothing; malformed command lines. This
script makes those probes again, against the ``lra/`` of ``--target`` (default: this checkout),
and prints, per family, how many probes it tried, how many passed and failed, its seconds, and
what "passed" means. Each probe prints what it checked as it runs.

Nothing here touches the repository's own ``results/``: everything happens under a temporary
folder (removed at the end unless ``--keep``): a throwaway git checkout holding a copy of the
target's ``lra/`` (with ``book/``'s notebooks, ``_toc.yml``, ``README.md`` and
``tools/stamp_checkpoint.py``), committed so that its campaigns run clean code and its bundles
verify, a clone of it where bundles are ingested, and results folders named by ``LRA_RESULTS``.
Every campaign runs at the smoke budget on the CPU with one thread (``--threads 1``,
``OMP_NUM_THREADS=1``), as a real ``python -m lra`` process, except the malformed command lines,
each of which runs ``lra.cli.main`` in a process forked from one that imported it once (a real
process with its own exit status and stderr, without 60 PyTorch imports).

A probe that cannot run here says so ("skipped: why"): a second PID namespace needs
``unshare --pid`` (root or CAP_SYS_ADMIN), a full disk a tmpfs mount (root). Exit status 0 only
when every probe that ran passed, 1 when any failed, 2 for bad arguments.
"""
from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import json
import os
import pickle
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ["--budget", "smoke", "--device", "cpu", "--threads", "1"]
POPULATION = "0123456789abcdef"          # a population id no spec has
MARK = 0.123456                          # an accuracy no real check gives: resumed numbers show it
VOLATILE = ["wall_seconds", "device", "commit"]   # what two identical runs may differ in
MB = 1 << 20


class SetupError(RuntimeError):
    """The probes' own setup failed (not a finding about the code)."""


# ============================================================================ bookkeeping
class Family:
    """One probe family: its probes, what passing means, its time."""

    def __init__(self, number: int, key: str, title: str, meaning: str):
        self.number, self.key, self.title, self.meaning = number, key, title, meaning
        self.tried = self.passed = self.failed = 0
        self.skipped: str | None = None
        self.seconds = 0.0
        self.probes: list[dict] = []
        self.notes: list[str] = []

    def check(self, what: str, problems: list[str], detail: str = "") -> bool:
        """Record one probe: passed when ``problems`` (what went wrong) is empty."""
        ok = not problems
        self.tried += 1
        self.passed += ok
        self.failed += not ok
        said = detail if ok else "; ".join(problems)
        self.probes.append(dict(what=what, passed=ok, detail=said))
        print(f"  {'ok  ' if ok else 'FAIL'} {what}" + (f" -- {said}" if said else ""), flush=True)
        return ok

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"  note: {text}", flush=True)

    def skip(self, why: str) -> None:
        self.skipped = why
        print(f"  skipped: {why}", flush=True)

    def as_dict(self) -> dict:
        return dict(number=self.number, key=self.key, title=self.title, meaning=self.meaning,
                    tried=self.tried, passed=self.passed, failed=self.failed,
                    skipped=self.skipped, seconds=round(self.seconds, 1), probes=self.probes,
                    notes=self.notes)


def one_line_exit_2(r, *phrases, last_line=False) -> list[str]:
    """What is wrong with ``r`` (a finished process) as a refusal: exit 2, no traceback, one
    ``lra: error:`` line on stderr (with ``last_line``: the last of stderr's lines, after a
    training run's progress lines), holding each of ``phrases``."""
    problems = []
    err = r.stderr or ""
    if r.returncode != 2:
        problems.append(f"exit {r.returncode}, not 2")
    if "Traceback" in err:
        problems.append("a traceback: " + " | ".join(err.strip().splitlines()[-2:])[:300])
    lines = [ln for ln in err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("lra: error: ")]
    if last_line:
        if errors != lines[-1:]:
            problems.append(f"the last stderr line is not the one error line: {lines[-3:]}")
    elif lines != errors or len(errors) != 1:
        problems.append(f"stderr is {len(lines)} line(s), not one 'lra: error:' line: "
                        f"{' | '.join(lines[:3])[:300]}")
    text = errors[-1] if errors else err
    for p in phrases:
        if p not in text:
            problems.append(f"the error does not say {p!r}: {text.strip()[:300]}")
    return problems


def first_error(r) -> str:
    """The (last) ``lra: error:`` line of ``r``'s stderr, else its last line."""
    err = (r.stderr or "").strip().splitlines()
    errors = [ln for ln in err if ln.startswith("lra: error: ")]
    return (errors[-1] if errors else err[-1] if err else "")[:220]


def files_under(root: Path) -> dict:
    """{relative path: bytes} of every file under ``root`` ({} when absent)."""
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def temps_under(*roots: Path) -> list[str]:
    return [str(p) for r in roots if r.exists() for p in r.rglob("*.tmp.*")]


def git(cwd, *args) -> str:
    return subprocess.run(["git", "-c", "user.name=probe", "-c", "user.email=probe@localhost",
                           *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


def mount_tmpfs(path: Path, size: str) -> str | None:
    """Mount a tmpfs of ``size`` at ``path``; None when done, else why not."""
    path.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None:
        return "mount(8) is not installed"
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return f"cannot mount a tmpfs ({(r.stderr.strip() or 'exit %d' % r.returncode)[:120]})"
    return None


def umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


# ============================================================================ the world
class World:
    """The throwaway checkout A (campaigns run here), its clone B (bundles are ingested here),
    and the lra of A for the probes' own helpers (forging a bundle, reading a store)."""

    def __init__(self, target: Path, tmp: Path):
        self.target, self.tmp = target, tmp
        self.a = self._checkout(tmp / "a")
        self.b = tmp / "b"
        git(tmp, "clone", "-q", str(self.a), str(self.b))
        self.commit = git(self.a, "rev-parse", "HEAD")
        self._bundle = None
        self._stopped = None
        self._counter = 0
        self.mounts: list[Path] = []

    def _checkout(self, path: Path) -> Path:
        path.mkdir(parents=True)
        if not (self.target / "lra" / "cli" / "__init__.py").exists():
            raise SetupError(f"--target {self.target} holds no lra/ package")
        shutil.copytree(self.target / "lra", path / "lra",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))

        def source(rel):                     # the target's, else this repository's
            p = self.target / rel
            return p if p.exists() else ROOT / rel
        for rel in ("_toc.yml", ".gitignore", "README.md", "tools/stamp_checkpoint.py"):
            if source(rel).exists():
                (path / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(source(rel), path / rel)
        (path / "book").mkdir()
        for nb in sorted(source("book").glob("*.ipynb")):
            shutil.copy(nb, path / "book" / nb.name)
        git(path, "init", "-q")
        git(path, "add", "-A")
        git(path, "commit", "-q", "-m", "probe snapshot")
        return path

    def fresh(self, name: str) -> Path:
        """A new, empty folder under the world's temporary folder."""
        self._counter += 1
        p = self.tmp / f"{self._counter:03d}-{name}"
        p.mkdir(parents=True)
        return p

    def env(self, results: Path, checkout: Path | None = None, **extra) -> dict:
        env = {**os.environ, "PYTHONPATH": str(checkout or self.a), "OMP_NUM_THREADS": "1",
               "LRA_RESULTS": str(results), **extra}
        for k in ("LRA_GIT_COMMIT", "LRA_GIT_DIRTY", "PYTHONDONTWRITEBYTECODE", "LRA_CHAIN"):
            env.pop(k, None)
        return env

    def lra(self, *args, results: Path, checkout: Path | None = None, timeout=600, env=None):
        """``python -m lra ARGS`` in ``checkout`` (default A), results in ``results``."""
        return self.python(["-m", "lra", *map(str, args)], results=results, checkout=checkout,
                           timeout=timeout, env=env)

    def python(self, argv, *, results: Path, checkout: Path | None = None, timeout=600,
               env=None):
        checkout = checkout or self.a
        try:
            return subprocess.run([sys.executable, *argv], cwd=checkout,
                                  env=self.env(results, checkout, **(env or {})),
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            return subprocess.CompletedProcess(e.cmd, 124, _text(e.stdout),
                                               _text(e.stderr) + f"\n[probe: timed out after "
                                               f"{timeout} s]")

    def script(self, code: str, *args, results: Path, checkout=None, timeout=600, env=None):
        return self.python(["-c", code, *map(str, args)], results=results, checkout=checkout,
                           timeout=timeout, env=env)

    def helpers(self):
        """The checkout's lra, imported here (bundle format, store, checkpoint reader)."""
        if str(self.a) not in sys.path:
            sys.path.insert(0, str(self.a))
        import lra.campaign.bundle as B                    # noqa: F401
        import lra.campaign.store as S                     # noqa: F401
        return B, S

    def bundle(self) -> Path:
        """A bundle of two rows (fig2 and fig2_released, 20 iterations), made in A: ~15 s."""
        if self._bundle is None:
            out = self.tmp / "run.tgz"
            r = self.lra("campaign", *SMOKE, "--max-iterations", "20", "--experiments", "fig2",
                         "fig2_released", "--bundle", out, results=self.a / "results")
            if r.returncode != 0 or not out.exists():
                raise SetupError(f"the reference campaign with --bundle failed (exit "
                                 f"{r.returncode}): {r.stderr.strip()[-600:]}")
            self._bundle = out
        return self._bundle

    def stopped_bundle(self) -> Path:
        """A bundle carrying a real checkpoint: fig2 at the smoke budget stopped at 1 s."""
        if self._stopped is None:
            out = self.tmp / "stopped.tgz"
            results = self.fresh("stopped-results")
            r = self.lra("campaign", *SMOKE, "--experiments", "fig2", "--time-limit", "1s",
                         "--bundle", out, results=results)
            if r.returncode != 1 or not out.exists():
                raise SetupError(f"the campaign stopped at 1 s did not leave a bundle (exit "
                                 f"{r.returncode}): {r.stderr.strip()[-600:]}")
            self._stopped = out
        return self._stopped


def _text(b) -> str:
    return b.decode(errors="replace") if isinstance(b, bytes) else (b or "")


# ============================================================================ bundle forging
def read_bundle(world: World, path: Path):
    B, _ = world.helpers()
    return B.read_bundle(path)


def repack(world: World, src: Path, dst: Path, edit, rehash=True) -> Path:
    """A copy of bundle ``src`` after ``edit(manifest, files)``, every hash in its manifest
    recomputed (what a forger with the source code does), so only the check under test objects."""
    B, _ = world.helpers()
    b = B.read_bundle(src)
    manifest, files = json.loads(json.dumps(b.manifest)), dict(b.files)
    edit(manifest, files)
    if rehash:
        for t in manifest["tables"]:
            t["sha256"] = B.sha256(files[t["file"]])
            df = B._read_str(files[t["file"]])
            by_key = {r["key"]: r for r in t["rows"]}
            t["rows"] = [dict(key=r["key"], sha256=B.row_sha256(r),
                              write=by_key.get(r["key"], {"write": 0})["write"])
                         for r in df.to_dict("records")]
            for p in t["probes"].values():
                p["sha256"] = B.sha256(files[p["file"]])
        for c in manifest.get("checkpoints", []):
            c["sha256"] = B.sha256(files[c["file"]])
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in [("manifest.json", json.dumps(manifest).encode()), *files.items()]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    dst.write_bytes(buf.getvalue())
    return dst


def edit_rows(world: World, fn, keys=None):
    """An edit applying ``fn(row)`` to every row (of ``keys``) of every table."""
    B, _ = world.helpers()

    def edit(manifest, files):
        import pandas as pd
        for t in manifest["tables"]:
            rows = B._read_str(files[t["file"]]).to_dict("records")
            for r in rows:
                if keys is None or r["key"] in keys:
                    fn(r)
            files[t["file"]] = pd.DataFrame(rows).to_csv(index=False).encode()
    return edit


def shift_curve(by):
    """Every check's accuracy moved by ``by``, best and final following (and the validation bits
    dropped): a forgery that every consistency check accepts."""
    def fn(row):
        curve = json.loads(row["curve"])
        for check in curve:
            check[1] = min(1.0, max(0.0, check[1] + by))
        row["curve"] = json.dumps(curve)
        row["best_accuracy"] = str(max(c[1] for c in curve))
        row["final_accuracy"] = str(curve[-1][1])
        row["best_correct"] = ""
    return fn


def packed_bits(world: World, n: int, correct: int) -> str:
    """Validation or test bits packed as the engine packs them (lra.engine.predictions.pack):
    ``n`` samples of which the first ``correct`` are right (a forger's bits for the accuracy
    they want)."""
    world.helpers()
    from lra.engine.predictions import pack
    return pack([i < correct for i in range(n)])


# ============================================================================ 1. pickles
class Payload:
    """Pickles as a call: ``fn(arg)`` when unpickled (what a hostile checkpoint holds)."""

    def __init__(self, fn, arg):
        self.fn, self.arg = fn, arg

    def __reduce__(self):
        return (self.fn, (self.arg,))


def hostile_checkpoints(world: World, marker_dir: Path, quick: bool) -> list[tuple]:
    """(name, budget, population, bytes of the file, its marker) of each hostile checkpoint."""
    import torch
    out = []

    def marker(name):
        return marker_dir / f"ran-{name}"

    def saved(obj) -> bytes:
        buf = io.BytesIO()
        torch.save(obj, buf)
        return buf.getvalue()
    m = marker("dict")
    out.append(("torch.save of a checkpoint-like dict whose results call os.system",
                "smoke-cap20", POPULATION,
                saved(dict(fingerprint="0" * 64, iteration=10,
                           results=[Payload(os.system, f"touch {m}")])), m))
    # a real checkpoint of this program (fig2 stopped at 1 s) with one pickled call added: the
    # population a campaign of fig2 at the smoke budget would resume
    B, _ = world.helpers()
    stopped = B.read_bundle(world.stopped_bundle())
    c = stopped.manifest["checkpoints"][0]
    real = torch.load(io.BytesIO(stopped.files[c["file"]]), map_location="cpu",
                      weights_only=True)
    m = marker("real")
    real["segments"] = list(real.get("segments", [])) + [Payload(os.system, f"touch {m}")]
    out.append(("a real checkpoint of this program's fig2 population with a call of os.system "
                "in its segments", c["budget"], c["population"], saved(real), m))
    if quick:
        return out
    m = marker("top")
    out.append(("torch.save of the payload itself (a call at the top of data.pkl)",
                "smoke-cap20", POPULATION, saved(Payload(os.system, f"touch {m}")), m))
    m = marker("legacy")
    out.append(("a plain pickle (torch's legacy, non-zip format) calling os.system",
                "smoke-cap20", POPULATION, pickle.dumps(Payload(os.system, f"touch {m}"),
                                                        protocol=2), m))
    m = marker("eval")
    out.append(("torch.save of a builtins.eval of __import__('os').system(...)", "smoke-cap20",
                POPULATION, saved(dict(iteration=1, results=[Payload(
                    eval, f"__import__('os').system('touch {m}')")])), m))
    return out


def family_pickle(world: World, fam: Family, quick: bool) -> None:
    markers = world.fresh("markers")
    variants = hostile_checkpoints(world, markers, quick)
    shared = world.fresh("pickle-ingested")          # every refused ingest goes here
    for i, (what, budget, pop, data, marker) in enumerate(variants):
        src = world.stopped_bundle() if pop != POPULATION else world.bundle()
        name = f"checkpoints/{budget}/{pop}.pt"

        def edit(m, f, name=name, data=data, budget=budget, pop=pop):
            f[name] = data
            m["checkpoints"] = [dict(file=name, budget=budget, population=pop, sha256="")]
        bad = repack(world, src, world.tmp / f"hostile-{i}.tgz", edit)
        before = files_under(shared)
        r = world.lra("ingest", bad, results=shared, checkout=world.b)
        problems = one_line_exit_2(r, "not a checkpoint of this program")
        if files_under(shared) != before:
            problems.append("ingest wrote into the results folder")
        if marker.exists():
            problems.append("THE PAYLOAD RAN during ingest")
        fam.check(f"ingest of a bundle whose manifest lists, with its right sha256, {what}",
                  problems, first_error(r))
    # the campaign the issue ran next, over the results folder those ingests left
    r = world.lra("campaign", *SMOKE, "--max-iterations", "20", "--experiments", "fig2",
                  "--dry-run", results=shared, checkout=world.b)
    ran = [m.name for *_, m in variants if m.exists()]
    problems = ([f"exit {r.returncode}: {first_error(r)}"] if r.returncode != 0 else []) + \
        ([f"THE PAYLOAD RAN: {ran}"] if ran else [])
    fam.check(f"`lra campaign --dry-run` after those {len(variants)} refused ingests", problems,
              "exit 0, no payload ran")
    # the same files put by hand where a campaign looks for checkpoints
    for i, (what, budget, pop, data, marker) in enumerate(variants):
        results = world.fresh("planted")
        folder = results / "_populations" / budget
        folder.mkdir(parents=True)
        (folder / f"{pop}.pt").write_bytes(data)
        cap = ["--max-iterations", "20"] if budget.endswith("cap20") else []
        before = files_under(results)
        r = world.lra("campaign", *SMOKE, *cap, "--experiments", "fig2", "--dry-run",
                      results=results)
        problems = one_line_exit_2(r, "unreadable")
        if marker.exists():
            problems.append("THE PAYLOAD RAN in the dry run")
        if files_under(results) != before:
            problems.append("the dry run changed the results folder")
        fam.check(f"`lra campaign --dry-run` finding in its populations' folder {what}",
                  problems, first_error(r))
        if pop != POPULATION:
            # the population this campaign would resume: a real run, not a dry one
            r = world.lra("campaign", *SMOKE, "--experiments", "fig2", "--time-limit", "20s",
                          results=results)
            problems = one_line_exit_2(r, "unreadable")
            if marker.exists():
                problems.append("THE PAYLOAD RAN in the campaign")
            if (results / "fig2").exists() and files_under(results / "fig2"):
                problems.append("the campaign stored rows")
            fam.check("`lra campaign` (no --dry-run) whose population that file would resume",
                      problems, first_error(r))
        tool = world.a / "tools" / "stamp_checkpoint.py"
        if tool.exists():
            r = world.python([str(tool), str(folder / f"{pop}.pt")], results=results)
            problems = []
            if r.returncode != 2:
                problems.append(f"exit {r.returncode}, not 2")
            if "Traceback" in r.stderr:
                problems.append("a traceback")
            if marker.exists():
                problems.append("THE PAYLOAD RAN in tools/stamp_checkpoint.py")
            fam.check(f"tools/stamp_checkpoint.py on that file", problems,
                      (r.stdout + r.stderr).strip().splitlines()[-1][:200]
                      if (r.stdout + r.stderr).strip() else "")
    ran = [m.name for *_, m in variants if m.exists()]
    if ran:
        fam.note(f"payload markers found at the end: {ran}")
    # control: the payloads are live, so the markers' absence means something
    import torch
    control = markers / "ran-control"
    path = world.tmp / "control.pt"
    buf = io.BytesIO()
    torch.save(dict(iteration=1, results=[Payload(os.system, f"touch {control}")]), buf)
    path.write_bytes(buf.getvalue())
    world.script("import sys, torch; torch.load(sys.argv[1], weights_only=False)", path,
                 results=markers)
    fam.check("control: the same kind of file unpickled naively (torch.load(weights_only=False))",
              [] if control.exists() else ["the payload did not run: the probes above prove "
                                           "nothing"], "the payload ran (its marker appeared)")


# ============================================================================ 2. forgery
def family_forgery(world: World, fam: Family, quick: bool) -> None:
    B, _ = world.helpers()
    src = world.bundle()
    keys = [r["key"] for t in read_bundle(world, src).manifest["tables"] for r in t["rows"]]

    def test_numbers(row, by):
        n = int(str(row["best_test_correct"]).split(":")[0]) if row.get("best_test_correct") \
            else 500
        acc = min(1.0, float(row["best_test_accuracy"]) + by)
        row["best_test_accuracy"] = str(acc)
        row["best_test_correct"] = packed_bits(world, n, round(acc * n))

    variants = [   # (what, edit of the rows, phrase of the refusal)
        ("every check of the curve raised by 0.05, best and final following",
         edit_rows(world, shift_curve(0.05)), "recomputation disagrees"),
        ("the best accuracy raised by 0.1 (the curve left alone)",
         edit_rows(world, lambda r: r.update(best_accuracy=str(float(r["best_accuracy"]) + 0.1))),
         "does not follow from its curve"),
        ("the test accuracy at the best check raised by 0.1, its test bits made to agree",
         edit_rows(world, lambda r: test_numbers(r, 0.1)), ""),
    ]
    if not quick:
        variants += [
            ("every check lowered by 0.05 (a result made worse)",
             edit_rows(world, shift_curve(-0.05)), "recomputation disagrees"),
            ("one row of two forged (curve raised by 0.1)",
             edit_rows(world, shift_curve(0.1), keys={keys[0]}), "recomputation disagrees"),
            ("the final accuracy lowered by 0.1",
             edit_rows(world, lambda r: r.update(
                 final_accuracy=str(float(r["final_accuracy"]) - 0.1))),
             "does not follow from its curve"),
            ("solved set with stop reason 'solved'",
             edit_rows(world, lambda r: r.update(solved="True", stop_reason="solved")),
             "does not follow from its curve"),
            ("the seed changed to 3",
             edit_rows(world, lambda r: r.update(seed="3")), "says seed"),
            ("the final test accuracy raised by 0.1",
             edit_rows(world, lambda r: r.update(final_test_accuracy=str(
                 min(1.0, float(r["final_test_accuracy"]) + 0.1)))), ""),
        ]
    for i, (what, edit, phrase) in enumerate(variants):
        bad = repack(world, src, world.tmp / f"forged-{i}.tgz", edit)
        results = world.fresh("forged")
        r = world.lra("ingest", bad, results=results, checkout=world.b)
        problems = one_line_exit_2(r, *([phrase] if phrase else []))
        if files_under(results):
            problems.append("rows were written")
        fam.check(f"{what}; every hash of the manifest recomputed", problems, first_error(r))
    fam.note("not probed, as the README says they are not checked: checks after the recomputed "
             "prefix, a curve's loss column, the probes, a carried checkpoint's weights")


# ============================================================================ 3. bombs
def gzip_zeros(size: int):
    one = gzip.compress(bytes(MB), compresslevel=9)
    for _ in range(size // MB):
        yield one


def bomb(path: Path, manifest: bytes, members, end=True) -> Path:
    """A .tgz of manifest.json then ``members`` ((TarInfo, size of zeros)), each streamed as
    gzip members of one compressed MiB each (a gzip file may be a sequence of members)."""
    head = tarfile.TarInfo("manifest.json")
    head.size = len(manifest)
    with open(path, "wb") as fh:
        fh.write(gzip.compress(head.tobuf() + manifest + bytes(-len(manifest) % 512)))
        for info, size in members:
            fh.write(gzip.compress(info.tobuf()))
            for chunk in gzip_zeros(size):
                fh.write(chunk)
            rest = size % MB
            if rest:
                fh.write(gzip.compress(bytes(rest)))
            pad = -size % 512
            if pad:
                fh.write(gzip.compress(bytes(pad)))
        if end:
            fh.write(gzip.compress(bytes(1024)))
    return path


def many_members(path: Path, manifest: bytes, n: int) -> Path:
    head = tarfile.TarInfo("manifest.json")
    head.size = len(manifest)
    raw = io.BytesIO()
    raw.write(head.tobuf() + manifest + bytes(-len(manifest) % 512))
    for i in range(n):
        info = tarfile.TarInfo(f"tables/fig2/smoke-cap20/probes/k{i:06d}.json")
        info.size = 0
        raw.write(info.tobuf())
    raw.write(bytes(1024))
    path.write_bytes(gzip.compress(raw.getvalue(), compresslevel=9))
    return path


# `lra ARGS` with its seconds and this process's peak resident memory (VmHWM: the high-water
# mark of this program's memory since its exec; ru_maxrss would carry over the forking parent's)
MEASURED = """
import json, os, sys, time
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
from lra.cli import main
before = hwm()
start = time.monotonic()
code = main(sys.argv[1:])
took = time.monotonic() - start
with open(os.environ["PROBE_STATS"], "w") as fh:
    json.dump(dict(seconds=took, rss_before_mb=before, rss_peak_mb=hwm()), fh)
sys.exit(code)
"""


def family_bomb(world: World, fam: Family, quick: bool) -> None:
    src = world.bundle()
    manifest = json.dumps(read_bundle(world, src).manifest).encode()
    tables = "tables/fig2/smoke-cap20/runs.csv"

    def big(name, size, **kw):
        info = tarfile.TarInfo(name)
        info.size = size
        for k, v in kw.items():
            setattr(info, k, v)
        return info, size

    pax = tarfile.TarInfo("././@PaxHeader")
    pax.type = tarfile.XHDTYPE
    pax.size = 1 << 30
    variants = [  # (what, build, phrase, limit seconds, limit MB of growth)
        ("a table (runs.csv) of 1 GiB of zeros", lambda p: bomb(p, manifest, [big(tables, 1 << 30)]),
         "more than a", 10, 200),
        ("a checkpoint of 1 GiB of zeros",
         lambda p: bomb(p, manifest, [big("checkpoints/smoke-cap20/%s.pt" % POPULATION, 1 << 30)]),
         "more than a", 10, 200),
        ("a pax header claiming 1 GiB", lambda p: bomb(p, manifest, [(pax, 1 << 30)]),
         "a pax header of", 10, 200),
    ]
    if not quick:
        variants += [
            ("a member of 1 GiB of zeros named as no bundle file",
             lambda p: bomb(p, manifest, [big("payload.bin", 1 << 30)]),
             "not a file of a bundle", 10, 200),
            ("100,001 empty members", lambda p: many_members(p, manifest, 100_001),
             "more than 100000 members", 30, 200),
            ("nine tables of 500 MiB each (4.4 GiB in all, each within its own limit)",
             lambda p: bomb(p, manifest, [big(f"tables/fig2/s{i}/runs.csv", 500 * MB)
                                          for i in range(9)]),
             "hold more than", 120, 200),
        ]
    for i, (what, build, phrase, max_s, max_mb) in enumerate(variants):
        path = build(world.tmp / f"bomb-{i}.tgz")
        stats = world.tmp / f"bomb-{i}.json"
        results = world.fresh("bomb")
        r = world.script(MEASURED, "ingest", path, results=results, checkout=world.b,
                         env=dict(PROBE_STATS=str(stats)), timeout=900)
        problems = one_line_exit_2(r, phrase)
        detail = ""
        if stats.exists():
            s = json.loads(stats.read_text())
            grew = s["rss_peak_mb"] - s["rss_before_mb"]
            detail = (f"{path.stat().st_size / MB:.1f} MB compressed; refused in "
                      f"{s['seconds']:.2f} s, peak RSS {s['rss_peak_mb']:.0f} MB "
                      f"({s['rss_before_mb']:.0f} MB once lra and torch were imported: "
                      f"+{grew:.0f} MB)")
            if s["seconds"] > max_s:
                problems.append(f"took {s['seconds']:.1f} s (limit {max_s} s)")
            if grew > max_mb:
                problems.append(f"peak memory grew by {grew:.0f} MB (limit {max_mb} MB)")
        else:
            problems.append("no measurement (the process died?)")
        if files_under(results):
            problems.append("something was written")
        fam.check(what, problems, detail + f"; {first_error(r)[12:100]}")
        path.unlink(missing_ok=True)


# ============================================================================ 4. readers
FAKE_ROWS = """
from lra.campaign.store import COLUMNS
PROV = dict(commit="abc", dirty=False, device="CPU", torch="x", python="x", platform="x",
            date="x", budget="smoke", command="probe")
def fake_rows(n, start=0):
    rows = []
    for i in range(start, start + n):
        r = {c: None for c in COLUMNS if c != "code_version"}
        r.update(key=f"k{i:04d}", experiment="fig2", budget="smoke", algorithm="lra_diff",
                 variant="paper", switches="", task="random_permutation", T=10, seed=i,
                 solved=False, diverged=False, stop_reason="cap", iterations=40,
                 best_accuracy=0.5, final_accuracy=0.5, wall_seconds=1.0, population=1,
                 device="CPU", commit="abc", curve="[]")
        rows.append(r)
    return rows
"""

WRITER = FAKE_ROWS + """
import sys, time
from pathlib import Path
from lra.campaign.store import ResultsStore
root, ctl, least_rows, least_reads = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def reads(i):
    try:
        return int((ctl / f"count{i}").read_text() or 0)
    except (OSError, ValueError):
        return 0
deadline = time.monotonic() + 300
while not all((ctl / f"ready{i}").exists() for i in (0, 1)) and time.monotonic() < deadline:
    time.sleep(0.01)
(ctl / "start").touch()
n = 0
while time.monotonic() < deadline:
    ResultsStore(root).append("fig2", "smoke", fake_rows(3, start=n), PROV)
    n += 3
    if n >= least_rows and reads(0) >= least_reads and reads(1) >= least_reads and \\
            (ctl / "status-done").exists():
        break
(ctl / "done").write_text(str(n))
print(n)
"""

READER = """
import json, sys, time
from pathlib import Path
from lra.campaign.store import CorruptResults, ResultsStore
root, ctl, me = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
store = ResultsStore(root)
(ctl / f"ready{me}").touch()
while not (ctl / "start").exists():
    time.sleep(0.001)
reads = false = other = 0
messages = []
while not (ctl / "done").exists():
    try:
        if reads % 10:            # mostly meta.json (the checksum check, where a race shows)
            store.meta("fig2", "smoke")
        else:
            store.load("fig2", "smoke")
    except CorruptResults as e:
        false += 1
        messages.append(str(e)[:200])
    except Exception as e:
        other += 1
        messages.append(f"{type(e).__name__}: {str(e)[:200]}")
    reads += 1
    if reads % 25 == 0:
        (ctl / f"count{me}").write_text(str(reads))
print(json.dumps(dict(reads=reads, false=false, other=other, messages=messages[:3])))
"""


def family_readers(world: World, fam: Family, quick: bool) -> None:
    results, ctl = world.fresh("race-results"), world.fresh("race-ctl")
    rows, least = 150, 1000
    readers = [subprocess.Popen([sys.executable, "-c", READER, str(results), str(ctl), str(i)],
                                cwd=world.a, env=world.env(results), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for i in (0, 1)]
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(results), str(ctl), str(rows),
                               str(least)], cwd=world.a, env=world.env(results),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # while the writer appends: `lra status`, which reads every table this way too
    statuses = []
    try:
        deadline = time.monotonic() + 300
        while not (ctl / "start").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        for _ in range(1 if quick else 3):
            if (ctl / "done").exists():
                break
            statuses.append(world.lra("status", "--budget", "smoke", results=results))
        (ctl / "status-done").touch()
        w_out, w_err = writer.communicate(timeout=600)
        outs = [r.communicate(timeout=120) for r in readers]
    finally:
        for p in [writer, *readers]:
            if p.poll() is None:
                p.kill()
    if writer.returncode != 0:
        fam.check("the writer's appends", [f"writer exit {writer.returncode}: "
                                           f"{w_err.strip()[-400:]}"])
        return
    written = int(w_out.strip() or 0)
    for i, (p, (out, err)) in enumerate(zip(readers, outs)):
        try:
            rep = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            fam.check(f"reader {i}", [f"exit {p.returncode}: {err.strip()[-400:]}"])
            continue
        # each read is one probe: a false corruption report (or any error) fails it
        bad = rep["false"] + rep["other"]
        fam.tried += rep["reads"]
        fam.passed += rep["reads"] - bad
        fam.failed += bad
        ok = bad == 0 and rep["reads"] >= least
        said = (f"reader {i} (a process of its own): {rep['reads']} reads of meta.json / "
                f"runs.csv during {written} rows appended 3 at a time by a writer process, "
                f"{rep['false']} false corruption report(s), {rep['other']} other error(s)"
                + (f": {rep['messages']}" if rep["messages"] else ""))
        fam.probes.append(dict(what=f"reader {i}", passed=ok, detail=said))
        print(f"  {'ok  ' if ok else 'FAIL'} {said}", flush=True)
        if rep["reads"] < least:
            fam.check(f"reader {i} made at least {least} reads", [f"only {rep['reads']}"])
    for j, s in enumerate(statuses):
        problems = []
        if s.returncode != 0 or "CORRUPT" in s.stdout or "does not match" in s.stderr:
            problems.append(f"exit {s.returncode}: {first_error(s)}")
        fam.check(f"`lra status` #{j + 1} while the writer appends", problems, "exit 0, no table "
                  "reported corrupt")
    _, S = world.helpers()
    try:
        n = len(S.ResultsStore(results).load("fig2", "smoke"))
        problems = [] if n == written else [f"{n} rows stored, {written} appended"]
    except Exception as e:          # a real corruption
        problems = [f"{type(e).__name__}: {e}"]
    fam.check("the table after the race", problems, f"all {written} rows, checksum matches")


# ============================================================================ 5. PID namespace
PAUSED_WRITER = FAKE_ROWS + """
import json, os, sys, time
from pathlib import Path
import lra.campaign.store as st
ready, go = Path(sys.argv[2]), Path(sys.argv[3])
real = os.replace
def paused(src, dst):          # the first rename waits: the temporary file stays, live
    if not ready.exists():
        ready.write_text(json.dumps(dict(pid=os.getpid(), temp=str(src))))
        deadline = time.monotonic() + 120
        while not go.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    real(src, dst)
os.replace = paused
st.ResultsStore(sys.argv[1]).append("fig2", "smoke", fake_rows(3), PROV)
print("appended")
"""

CLEANER = """
import sys
from lra.campaign.store import ResultsStore
ResultsStore(sys.argv[1]).clean("fig2", "smoke")
"""

OWN_TEMPS = """
import os, subprocess, sys, time
from pathlib import Path
from lra.engine.tempfiles import MAX_AGE, clean_stale_temps, owner
d = Path(sys.argv[1])
dead = subprocess.Popen([sys.executable, "-c", "pass"]); dead.wait()
files = {
    "a dead writer's of this host and namespace": (d / f"meta.json.tmp.{owner()}.{dead.pid}.0123abcd", False),
    "a writer's of another host whose PID is dead here": (d / f"meta.json.tmp.node7.89abcdef.{dead.pid}.0a0b0c0d", True),
    "another host's, a day old": (d / "runs.csv.tmp.node7.89abcdef.12.0a0b0c0d", False),
}
for name, (f, _) in files.items():
    f.write_text(name)
    if "a day old" in name:
        os.utime(f, (time.time() - MAX_AGE - 60,) * 2)
clean_stale_temps(d)
for name, (f, keep) in files.items():
    print(f"{name}|{keep}|{f.exists()}")
"""


def free_pid(lo=20000, hi=60000) -> int | None:
    for pid in range(lo, hi):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            continue
    return None


def waits_for_lock(p: subprocess.Popen, seconds: float) -> bool:
    """Whether process ``p`` is seen blocked on a file lock within ``seconds`` (/proc/locks
    lists a waiter as '-> FLOCK ... PID'; wchan names the lock wait where the kernel shows it)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and p.poll() is None:
        try:
            locks = Path("/proc/locks").read_text()
        except OSError:
            locks = ""
        if any("->" in ln and f" {p.pid} " in ln for ln in locks.splitlines()):
            return True
        try:
            if "lock" in Path(f"/proc/{p.pid}/wchan").read_text():
                return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def family_pidns(world: World, fam: Family, quick: bool) -> None:
    cmd = ["unshare", "--pid", "--fork", "--mount-proc"]
    if shutil.which("unshare") is None:
        fam.skip("unshare(1) is not installed: no second PID namespace")
        return
    probe = subprocess.run(cmd + ["sh", "-c", "echo 1 > /proc/sys/kernel/ns_last_pid"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        fam.skip(f"a second PID namespace is not permitted here (unshare: "
                 f"{probe.stderr.strip()[:120]}); needs root or CAP_SYS_ADMIN")
        return
    readers = [("the store's cleanup in a reader process (what every read does first)",
                lambda results: world.script(CLEANER, results, results=results)),
               ("`lra status` (blocked on the writer's lock after its cleanup)", None)]
    for what, run_reader in readers:
        pid = free_pid()
        if pid is None:
            fam.skip("no free PID in 20000..60000")
            return
        folder = world.fresh("pidns")
        results, ready, go = folder / "results", folder / "ready", folder / "go"
        script = folder / "writer.py"
        script.write_text(PAUSED_WRITER)
        shell = (f"echo {pid - 1} > /proc/sys/kernel/ns_last_pid; "
                 f"{sys.executable} {script} {results} {ready} {go}; exit $?")
        writer = subprocess.Popen(cmd + ["sh", "-c", shell], cwd=world.a,
                                  env=world.env(results), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        problems, detail, status = [], "", None
        try:
            deadline = time.monotonic() + 120
            while not ready.exists() and writer.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.1)
            if not ready.exists():
                problems.append("the writer never reached its rename")
            else:
                info = json.loads(ready.read_text())
                temp = Path(info["temp"])
                alive_here = True
                try:
                    os.kill(info["pid"], 0)
                except ProcessLookupError:
                    alive_here = False
                detail = (f"writer PID {info['pid']} in its namespace ("
                          f"{'a live process' if alive_here else 'no process'} has it here)")
                if info["pid"] != pid or alive_here:
                    problems.append(f"the writer's PID {info['pid']} is not one free here "
                                    f"(wanted {pid}): the probe proves nothing")
                if run_reader is not None:
                    r = run_reader(results)
                    if r.returncode != 0:
                        problems.append(f"the reader failed: {r.stderr.strip()[-300:]}")
                else:
                    status = subprocess.Popen(
                        [sys.executable, "-m", "lra", "status", "--budget", "smoke"],
                        cwd=world.a, env=world.env(results), stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, text=True)
                    if not waits_for_lock(status, 120):
                        problems.append("`lra status` was never seen waiting on the writer's "
                                        "lock: cannot tell that it cleaned first")
                if not temp.exists():
                    problems.append("THE READER REMOVED THE LIVE WRITER'S TEMPORARY FILE")
        finally:
            go.touch()
            try:
                out, err = writer.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                writer.kill()
                out, err = writer.communicate()
            if status is not None:
                try:
                    s_out, s_err = status.communicate(timeout=300)
                except subprocess.TimeoutExpired:
                    status.kill()
                    s_out, s_err = status.communicate()
                if status.returncode != 0:
                    problems.append(f"`lra status` exit {status.returncode}: "
                                    f"{s_err.strip()[-300:]}")
        if writer.returncode != 0 or "appended" not in out:
            problems.append(f"the writer crashed (exit {writer.returncode}): "
                            f"{err.strip()[-300:]}")
        else:
            _, S = world.helpers()
            n = len(S.ResultsStore(results).load("fig2", "smoke"))
            if n != 3:
                problems.append(f"{n} rows stored, not 3")
        fam.check(f"a live writer in a second PID namespace, paused before its rename, vs "
                  f"{what}", problems, detail + "; its temporary file survived, it completed")
    folder = world.fresh("own-temps")
    r = world.script(OWN_TEMPS, folder, results=folder)
    for line in r.stdout.strip().splitlines():
        name, keep, exists = line.split("|")
        fam.check(f"cleanup of a temporary file: {name}",
                  [] if keep == exists else [f"{'removed' if keep == 'True' else 'kept'}, "
                                             f"should be {'kept' if keep == 'True' else 'removed'}"],
                  "kept" if exists == "True" else "removed")
    if r.returncode != 0:
        fam.check("cleanup by owner and age", [f"exit {r.returncode}: {r.stderr[-300:]}"])


# ============================================================================ 6. stale checkpoints
# SIGKILL at the Nth os.replace (atomic write) whose destination ends with a suffix, before or
# after it: PROBE_KILL_AT="after:meta.json:2" is the moment after a population's rows are stored
# (their provenance entry made permanent) and before its checkpoint is removed.
KILLER = """
import os, signal, sys
spec = os.environ.get("PROBE_KILL_AT", "")
when, suffix, nth = spec.split(":") if spec else ("", "", "0")
nth, seen = int(nth), [0]
real = os.replace
def replace(src, dst, *a, **k):
    hit = bool(spec) and str(dst).endswith(suffix)
    if hit:
        seen[0] += 1
    if hit and seen[0] == nth and when == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    real(src, dst, *a, **k)
    if hit and seen[0] == nth and when == "after":
        os.kill(os.getpid(), signal.SIGKILL)
os.replace = replace
sys.argv[0] = "lra"
from lra.cli import main
sys.exit(main())
"""

REWRITE = """
import sys, torch
path, version, mark = sys.argv[1], sys.argv[2], float(sys.argv[3])
ck = torch.load(path, map_location="cpu", weights_only=True)
for r in ck["results"]:
    r["curve"][0] = (0, mark, None)
if version == "legacy":          # as code from before checkpoints named their code wrote it
    for k in ("code_version", "rows", "stamp"):
        ck.pop(k, None)
elif version != "-":
    ck["code_version"] = version
torch.save(ck, path)
"""

NUMBERS = ["key", "solved", "stop_reason", "iterations", "best_accuracy", "final_accuracy",
           "curve", "best_correct", "best_test_accuracy", "final_test_accuracy"]


def family_stale(world: World, fam: Family, quick: bool) -> None:
    """A campaign SIGKILLed after it stored its row and before it removed the population's
    (finished) checkpoint. The checkpoint's first check is then overwritten with MARK, so that
    a row resumed from it, rather than recomputed, shows it."""
    _, S = world.helpers()
    cap, budget = "100", "smoke-cap100"
    args = ["campaign", *SMOKE, "--experiments", "fig2", "--max-iterations", cap]

    def rows(results):
        df = S.ResultsStore(results).load("fig2", budget)[NUMBERS].astype(object)
        return df.where(df.notna(), "").astype(str).to_dict("records")

    ref_dir = world.fresh("stale-reference")
    r = world.lra(*args, results=ref_dir)
    if r.returncode != 0:
        raise SetupError(f"reference campaign failed: {r.stderr[-400:]}")
    reference = rows(ref_dir)

    def killed(label, checkout):
        results = world.fresh(label)
        r = world.script(KILLER, *args, results=results, checkout=checkout,
                         env=dict(PROBE_KILL_AT="after:meta.json:2"))
        cks = sorted((results / "_populations" / budget).glob("*.pt"))
        problems = []
        if r.returncode != -signal.SIGKILL:
            problems.append(f"the campaign was not killed at that point (exit {r.returncode})")
        if not cks:
            problems.append("no finished checkpoint was left: the kill point was not reached")
        if not problems and rows(results) != reference:
            problems.append("the row stored before the kill differs from the uninterrupted "
                            "run's")
        return results, (cks[0] if cks else None), problems

    # a. the next campaign (same code) removes the finished checkpoint, keeps the stored row
    results, ck, problems = killed("stale-next", world.a)
    if not problems:
        world.script(REWRITE, ck, "-", MARK, results=results)
        r = world.lra(*args, results=results)
        if r.returncode != 0:
            problems.append(f"the next campaign: exit {r.returncode}: {first_error(r)}")
        if ck.exists():
            problems.append("the finished checkpoint is still there")
        if not [ln for ln in r.stderr.splitlines() if str(ck) in ln and "removed" in ln]:
            problems.append("no line says it was removed")
        if "trained 0 population(s)" not in r.stdout:
            problems.append(f"it trained again: {r.stdout.strip()[-200:]}")
        if rows(results) != reference:
            problems.append("the stored row changed")
    fam.check("killed between the row's write and the checkpoint's removal; the next campaign",
              problems, "removed the checkpoint (one line), trained nothing, row unchanged")
    # b. the scenario: the code changes after the kill, so `lra status` calls the row
    # stale, and the README's recipe (move the table away, rerun) must recompute it
    variants = [("legacy", "a checkpoint in the older format (no code version: judged by its "
                           "segments' commits)"),
                ("-", "a checkpoint naming the code version that wrote it")]
    if quick:
        variants = variants[:1]
    for version, what in variants:
        c = world.fresh("stale-clone") / "c"
        git(world.tmp, "clone", "-q", str(world.a), str(c))
        results, ck, problems = killed("stale-recipe", c)
        took, said = 0.0, ""
        if not problems:
            world.script(REWRITE, ck, version, MARK, results=results, checkout=c)
            with open(c / "lra" / "engine" / "trainer.py", "a") as fh:
                fh.write("# (probe: another code version, the same numbers)\n")
            git(c, "commit", "-qam", "another code version")
            st = world.lra("status", "--budget", budget, results=results, checkout=c)
            line = [ln for ln in st.stdout.splitlines() if ln.startswith("fig2 ")]
            try:
                stale = int(line[0].split(budget, 1)[1].split()[2])   # done, missing, stale
            except (IndexError, ValueError):
                stale = None
            if stale != 1:
                problems.append(f"`lra status` does not count the row stale: {line[:1]}")
            shutil.move(results / "fig2", world.fresh("moved-away") / "fig2")
            start = time.monotonic()
            r = world.lra(*args, results=results, checkout=c)
            took = time.monotonic() - start
            if r.returncode != 0:
                problems.append(f"the rerun: exit {r.returncode}: {first_error(r)}")
            got = rows(results)
            if any(str(MARK) in g["curve"] for g in got):
                problems.append("THE ROW WAS RESURRECTED FROM THE CHECKPOINT (its curve carries "
                                "the mark written into the checkpoint)")
            elif got != reference:
                problems.append("the recomputed row differs from the uninterrupted run's")
            if ck.exists():
                problems.append("the checkpoint is still there")
            if "trained 1 population(s)" not in r.stdout:
                problems.append(f"it did not train: {r.stdout.strip()[-200:]}")
            told = [ln for ln in r.stderr.splitlines() if str(ck.name) in ln]
            if not told:
                problems.append("no line says what became of the checkpoint")
            said = f"checkpoint {told[0].split('.pt', 1)[-1].strip(': ')[:150]}; " if told else ""
            new_version = S.code_version(c / "lra")
            stamped = set(S.ResultsStore(results).load("fig2", budget)["code_version"])
            if stamped != {new_version}:
                problems.append(f"the row says code version {stamped}, not {new_version}")
        fam.check(f"code changed after the kill, `lra status` says stale, the README's recipe "
                  f"(move the table away, rerun), {what}", problems,
                  said + f"recomputed in {took:.1f} s, the same numbers as an uninterrupted run")


# ============================================================================ 7. filesystem
FILLED = """
import errno, os, sys, importlib
full, when = sys.argv[1], sys.argv[2]
mod, _, attr = when.partition(":")
target = importlib.import_module(mod)
*parents, name = attr.split(".")
for p in parents:
    target = getattr(target, p)
real = getattr(target, name)
def fill():
    with open(os.path.join(full, "filler"), "wb") as fh:
        try:
            while True:
                fh.write(b"x" * 65536)
                fh.flush()
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
def filled(*a, **k):
    fill()
    return real(*a, **k)
setattr(target, name, filled)
sys.argv[0] = "lra"
from lra.cli import main
sys.exit(main(sys.argv[3:]))
"""


def consistent(world: World, results: Path) -> list[str]:
    """Problems of the store at ``results``: a table that does not load, temporary files."""
    _, S = world.helpers()
    left = temps_under(results)                # (before a read, which removes dead writers')
    problems = [f"half-written files left: {left[:3]}"] if left else []
    for meta in results.rglob("meta.json") if results.exists() else ():
        exp, budget = meta.parent.parent.name, meta.parent.name
        try:
            S.ResultsStore(results).load(exp, budget)
        except Exception as e:
            problems.append(f"{exp}/{budget} does not load: {str(e)[:160]}")
    return problems


def fill(folder: Path) -> None:
    """Fill the (tmpfs) file system of ``folder`` to its last byte."""
    import errno
    with open(folder / "filler", "wb") as fh:
        try:
            while True:
                fh.write(b"x" * 65536)
                fh.flush()
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise


def family_fs(world: World, fam: Family, quick: bool) -> None:
    base = ["campaign", *SMOKE, "--experiments", "fig2", "--max-iterations", "40"]
    budget = "smoke-cap40"
    _, S = world.helpers()
    # a read-only store: a tmpfs remounted read-only (root ignores permissions), else folders
    # without write permission; it holds one stored row
    results = world.fresh("ro") / "results"
    why = mount_tmpfs(results, "4m")
    ro_how = None
    if why is None:
        world.mounts.append(results)
        r = world.lra(*base, results=results)
        if r.returncode == 0 and subprocess.run(["mount", "-o", "remount,ro", str(results)],
                                                capture_output=True).returncode == 0:
            ro_how = "a tmpfs remounted read-only"
        else:
            why = f"the tmpfs could not be filled or remounted ({first_error(r)})"
    elif os.geteuid() != 0:
        results.mkdir(parents=True, exist_ok=True)
        r = world.lra(*base, results=results)
        for p in [results, *results.rglob("*")]:
            if p.is_dir():
                p.chmod(0o555)
        ro_how = "folders without write permission"
    if ro_how is None:
        fam.note(f"a read-only store not probed: {why} (and root ignores permissions)")
    else:
        before = files_under(results)
        r = world.lra(*base[:-1], "60", results=results)       # a row still to compute
        problems = one_line_exit_2(r, "cannot be written", "nothing was trained")
        if files_under(results) != before:
            problems.append("the store changed")
        fam.check(f"`lra campaign` into a read-only store ({ro_how})", problems, first_error(r))
        r = world.lra("ingest", world.bundle(), results=results, checkout=world.b)
        problems = one_line_exit_2(r, last_line=True)
        if files_under(results) != before:
            problems.append("the store changed")
        fam.check(f"`lra ingest` into a read-only store ({ro_how})", problems, first_error(r))
    # unwritable bundle destinations: said before training
    dest = world.fresh("ro-dest")
    why_dest = mount_tmpfs(dest, "1m")
    if why_dest is None:
        world.mounts.append(dest)
        if subprocess.run(["mount", "-o", "remount,ro", str(dest)],
                          capture_output=True).returncode != 0:
            dest, why_dest = None, "the tmpfs could not be remounted read-only"
    elif os.geteuid() != 0:
        dest.chmod(0o555)
    else:
        dest = None
    targets = [("/dev/null/out.tgz", "a path under a file (/dev/null/out.tgz)")]
    if dest is not None:
        targets.insert(0, (str(dest / "out.tgz"), "a read-only folder"))
    else:
        fam.note(f"a read-only bundle folder not probed: {why_dest}")
    for path, what in targets:
        results = world.fresh("bundle-dest")
        r = world.lra(*base, "--bundle", path, results=results)
        problems = one_line_exit_2(r, "--bundle", "cannot write there")
        if (results / "fig2").exists():
            problems.append("a row was trained and stored before the refusal")
        fam.check(f"`lra campaign --bundle` to {what}", problems, first_error(r))
    # the same `--bundle` command run again once it completed: the bundle keeps its row
    folder = world.fresh("bundle-again")
    out = folder / "out.tgz"
    runs = [world.lra(*base, "--bundle", out, results=folder / "results") for _ in range(2)]
    problems = [f"run {i + 1}: exit {r.returncode}: {first_error(r)}"
                for i, r in enumerate(runs) if r.returncode != 0]
    try:
        m = read_bundle(world, out).manifest
        carried = sum(len(t["rows"]) for t in m["tables"])
    except Exception as e:
        carried = f"no readable bundle ({type(e).__name__})"
    if carried != 1:
        problems.append(f"after the second run the bundle carries {carried} row(s), not the "
                        "row the first computed")
    fam.check("the same `lra campaign --bundle` run again after it completed", problems,
              f"the bundle still carries the row; {runs[-1].stdout.strip().splitlines()[0][:120]}"
              if runs[-1].stdout.strip() else "")
    # full disks: small tmpfs mounts, filled just before a write (or before the command)
    probe_dir = world.fresh("can-mount")
    why_full = mount_tmpfs(probe_dir, "1m")
    if why_full is not None:
        fam.note(f"full disks not probed: {why_full} (needs root)")
        return
    umount(probe_dir)
    cases = [("table", "the store, at the table write (after training)")]
    if not quick:
        cases += [("bundle", "the bundle's folder, at the bundle write (after training)"),
                  ("start", "the store, full before the campaign starts"),
                  ("ingest", "the store, full before `lra ingest`")]
    for case, what in cases:
        folder = world.fresh("full")
        results, dest, scratch = folder / "results", folder / "dest", folder / "scratch"
        scratch.mkdir()
        full = dest if case == "bundle" else results
        mount_tmpfs(full, "512k" if case == "bundle" else "2m")
        world.mounts.append(full)
        env = dict(TMPDIR=str(scratch))       # where rows go when the store takes none
        args = base + (["--bundle", str(dest / "out.tgz")] if case == "bundle" else [])
        if case == "start":
            fill(results)
            r = world.lra(*args, results=results, env=env)
            problems = one_line_exit_2(r)
            if "using 1 CPU thread" in r.stderr or (results / "fig2" / budget).exists():
                problems.append("it went on to train")
        elif case == "ingest":
            fill(results)
            r = world.lra("ingest", world.bundle(), results=results, checkout=world.b, env=env)
            problems = one_line_exit_2(r, "No space left on device", last_line=True)
        else:
            when = ("lra.campaign.store:ResultsStore.append" if case == "table" else
                    "lra.cli.campaign:write_campaign_bundle")
            r = world.script(FILLED, full, when, *args, results=results, env=env)
            problems = one_line_exit_2(r, "No space left on device", last_line=True)
        problems += consistent(world, results)
        problems += [f"half-written in the bundle's folder: {t}" for t in temps_under(dest)]
        if case == "bundle" and (dest / "out.tgz").exists():
            problems.append("a bundle was written")
        said = first_error(r)
        if case in ("table", "bundle"):
            # room again: the same command recovers what the failed write kept
            (full / "filler").unlink(missing_ok=True)
            again = world.lra(*args, results=results, env=env)
            if again.returncode != 0:
                problems.append(f"the rerun with room: exit {again.returncode}: "
                                f"{first_error(again)}")
            if "trained 0 population(s)" not in again.stdout:
                problems.append(f"the rerun trained again (the row was lost): "
                                f"{again.stdout.strip()[-160:]}")
            try:
                n = len(S.ResultsStore(results).load("fig2", budget))
            except Exception as e:
                n = f"unreadable ({e})"
            if n != 1:
                problems.append(f"after the rerun {n} row(s) stored, not 1")
            if case == "bundle":
                try:
                    with tarfile.open(dest / "out.tgz") as tar:
                        m = json.load(tar.extractfile("manifest.json"))
                    if [len(t["rows"]) for t in m["tables"]] != [1]:
                        problems.append("the rerun's bundle does not carry the row")
                except (OSError, tarfile.TarError, KeyError, TypeError) as e:
                    problems.append(f"the rerun wrote no readable bundle ({e})")
            said += ("; with room again the same command "
                     + ("added the saved row" if "recovered" in again.stderr else
                        "packed the stored row") + ", training nothing")
        fam.check(f"a full disk (tmpfs): {what}", problems, said)


# ============================================================================ 8. honest exits
def family_honest(world: World, fam: Family, quick: bool) -> None:
    plans_nothing = [
        (["--experiments", "fig2", "--lengths", "20"], "no selected experiment has runs"),
        (["--lengths", "999"], "no selected experiment has runs"),
        (["--experiments", "table1", "table5_bptt", "--lengths", "40"],
         "no selected experiment has runs"),
        (["--plan", "evidence", "--lengths", "30", "--dry-run"], "no selected experiment has runs"),
    ]
    if quick:
        plans_nothing = plans_nothing[:2]
    for extra, phrase in plans_nothing:
        results = world.fresh("honest")
        r = world.lra("campaign", *SMOKE, *extra, results=results)
        problems = one_line_exit_2(r, phrase)
        if "complete" in r.stdout:
            problems.append(f"it says complete: {r.stdout.strip()[-160:]}")
        if files_under(results):
            problems.append("it wrote into the results folder")
        fam.check(f"`lra campaign {' '.join(extra)}` (plans nothing)", problems, first_error(r))
    results = world.fresh("honest-time")
    r = world.lra("campaign", *SMOKE, "--experiments", "fig2", "--time-limit", "1s",
                  results=results)
    problems = []
    if r.returncode != 1:
        problems.append(f"exit {r.returncode}, not 1")
    if "stopped at the time limit with 1 row(s) missing" not in r.stdout:
        problems.append(f"it does not say rows are missing: {r.stdout.strip()[-200:]}")
    if "complete;" in r.stdout:
        problems.append("it says complete")
    _, S = world.helpers()
    if len(S.ResultsStore(results).load("fig2", "smoke")):
        problems.append("a row was stored: the probe did not stop it early")
    fam.check("`lra campaign --experiments fig2 --time-limit 1s` (rows missing)", problems,
              r.stdout.strip().splitlines()[-1][:200] if r.stdout.strip() else "")
    # counts: what this process trained, not what was stored before
    results = world.fresh("honest-counts")
    argv = ["campaign", *SMOKE, "--experiments", "fig2", "--max-iterations", "20"]
    first, second = world.lra(*argv, results=results), world.lra(*argv, results=results)
    problems = []
    if first.returncode != 0 or "trained 1 population(s) and stored 1 row(s)" not in first.stdout:
        problems.append(f"the first run: exit {first.returncode}, {first.stdout.strip()[-160:]}")
    if second.returncode != 0 or "complete; this process trained 0 population(s) and stored 0 " \
            "row(s)" not in second.stdout:
        problems.append(f"the second run: exit {second.returncode}, "
                        f"{second.stdout.strip()[-160:]}")
    fam.check("counts of two identical campaigns (the second finds every row stored)", problems,
              "first: trained 1, stored 1; second: complete, trained 0, stored 0")


# ============================================================================ 9. SIGKILL
SIGKILL_EXPERIMENTS = ["table1", "table2", "table5_bptt"]
SIGKILL_CAP = "120"
# What a resumed campaign may record differently from an uninterrupted one: the time, the
# machine and commit, and the size of the population a row was trained in (a kill between two
# experiments' writes of one population leaves the other experiment's rows to a smaller
# population; their numbers are the same).
PROVENANCE = [*VOLATILE, "population"]


def stable_rows(df) -> dict:
    """{key: {column: text}} of a table, provenance columns dropped, missing values as ""."""
    df = df.drop(columns=PROVENANCE).astype(object)
    df = df.where(df.notna(), "").astype(str)
    return {r["key"]: r for r in df.to_dict("records")}


def kill_chain(world: World, fam: Family, label: str, args: list[str], plan: list, reference,
               n_ref: int, ref_seconds: float, results: Path, tables, rng):
    """Run the campaign ``args`` again and again in ``results``, each time SIGKILLed at the next
    point of ``plan``; after each kill the stored rows must load and equal the reference's.
    Returns (the number of kills, the run that completed or None): the chain ends early when a
    run completes before its kill point (that run is then the resume)."""
    kills = 0
    for what, how in plan:
        env, poll = {}, None
        if isinstance(how, str):
            env = dict(PROBE_KILL_AT=how)
        elif how[0] == "time":
            poll = ("time", how[1])
        elif how[0] == "random":        # (a run starts in ~4 s: imports, planning, sweep)
            poll = ("time", round(rng.uniform(0.5, 9.0), 2))
            what = f"at a random moment ({poll[1]} s after start)"
        else:
            poll = ("lock", None)
        p = subprocess.Popen([sys.executable, "-c", KILLER, *args], cwd=world.a,
                             env=world.env(results, **env), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        t0 = time.monotonic()
        locks0 = {str(x) for x in results.glob("_populations/*/*.lock")}
        if poll is not None:
            while p.poll() is None and time.monotonic() - t0 < 600:
                if poll[0] == "time" and time.monotonic() - t0 >= poll[1]:
                    break
                if poll[0] == "lock" and {str(x) for x in
                                          results.glob("_populations/*/*.lock")} - locks0:
                    break
                time.sleep(0.01)
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
        try:
            out, err = p.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        if p.returncode != -signal.SIGKILL:
            if p.returncode == 0:
                print(f"  ({label}: kill point not reached, the campaign completed: {what}; "
                      "that run is the resume)", flush=True)
                return kills, subprocess.CompletedProcess(args, 0, out, err)
            fam.check(f"{label}: SIGKILL {what}", [f"the campaign exited {p.returncode} "
                                                   f"instead: {err.strip()[-300:]}"])
            continue
        kills += 1
        problems = []
        try:
            got = tables(results)
            for exp, rows in got.items():
                for key, row in rows.items():
                    if key not in reference[exp]:
                        problems.append(f"{exp}: row {key} is no row of the uninterrupted run")
                    elif row != reference[exp][key]:
                        problems.append(f"{exp}: row {key} differs from the uninterrupted run's")
            stored = sum(map(len, got.values()))
        except Exception as e:
            problems.append(f"the store does not load: {type(e).__name__}: {str(e)[:200]}")
            stored = "?"
        fam.check(f"{label}: SIGKILL {what}", problems[:3],
                  f"store loads, {stored}/{n_ref} rows stored, each equal to the uninterrupted "
                  "run's")
    return kills, None


def family_sigkill(world: World, fam: Family, quick: bool) -> None:
    _, S = world.helpers()
    args = ["campaign", *SMOKE, "--experiments", *SIGKILL_EXPERIMENTS, "--max-iterations",
            SIGKILL_CAP]
    budget = f"smoke-cap{SIGKILL_CAP}"

    def tables(results):
        """The stored rows, read from a copy of the folder (a read removes a dead writer's
        temporary files: the next campaign must find what the kill left)."""
        copy = world.tmp / "kill-copy"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(results, copy) if results.exists() else copy.mkdir()
        out = {exp: stable_rows(S.ResultsStore(copy).load(exp, budget))
               for exp in SIGKILL_EXPERIMENTS}
        shutil.rmtree(copy, ignore_errors=True)
        return out

    ref_dir = world.fresh("kill-reference")
    start = time.monotonic()
    r = world.lra(*args, results=ref_dir)
    ref_seconds = time.monotonic() - start
    if r.returncode != 0:
        raise SetupError(f"the uninterrupted campaign failed: {r.stderr[-400:]}")
    reference = tables(ref_dir)
    n_ref = sum(map(len, reference.values()))
    fam.note(f"uninterrupted campaign ({' '.join(SIGKILL_EXPERIMENTS)}, cap {SIGKILL_CAP}): "
             f"{n_ref} rows in {ref_seconds:.1f} s")
    rng = random.Random(20)
    writes = [   # (kill point, PROBE_KILL_AT or a poll)
        ("0.5 s after start (importing)", ("time", 0.5)),
        ("a population's lease taken (training begun, no checkpoint yet)", ("lock", None)),
        ("a checkpoint's temporary file complete, before its rename", "before:.pt:1"),
        ("right after a checkpoint's rename", "after:.pt:1"),
        ("after meta.json announced a write, before the table's replacement",
         "after:meta.json:1"),
        ("a new runs.csv complete, before its rename", "before:runs.csv:1"),
        ("runs.csv replaced, before the write's provenance is made permanent",
         "after:runs.csv:1"),
        ("right after its first complete write (table1's rows of a population shared with "
         "table2, before table2's; or a population's only write, before its checkpoint's "
         "removal)", "after:meta.json:2"),
        ("right after its second complete write (a shared population's last, before its "
         "checkpoint's removal)", "after:meta.json:4"),
        ("at a random moment", ("random", None)),
    ]
    bundle = [
        ("a population's lease taken (training begun, no checkpoint yet)", ("lock", None)),
        ("a checkpoint's temporary file complete, before its rename", "before:.pt:1"),
        ("after meta.json announced a write, before the table's replacement",
         "after:meta.json:1"),
        ("right after its first complete write (the rows stored, before the process "
         "journals them for the bundle)", "after:meta.json:2"),
        ("a new runs.csv complete, before its rename", "before:runs.csv:1"),
        ("right after a checkpoint's rename", "after:.pt:1"),
        ("right after its first complete write (the rows stored, before the process "
         "journals them for the bundle)", "after:meta.json:2"),
        ("every row stored, the bundle's temporary file complete, before its rename",
         "before:.tgz:1"),
    ]
    moments = [("at a random moment", ("random", None))] * 8
    chains = [("writes", args, writes, None)]
    if not quick:
        chains += [("with --bundle", args + ["--bundle", str(world.tmp / "killed.tgz")], bundle,
                    world.tmp / "killed.tgz"),
                   ("random moments", args, moments, None)]
    for label, chain_args, plan, out in chains:
        results = world.fresh("kill-chain")
        kills, r = kill_chain(world, fam, label, chain_args, plan, reference, n_ref,
                              ref_seconds, results, tables, rng)
        if r is None:
            r = world.lra(*chain_args, results=results)           # resume to the end
        problems = []
        if r.returncode != 0:
            problems.append(f"the resume: exit {r.returncode}: {first_error(r)}")
        try:
            got = tables(results)
            for exp in SIGKILL_EXPERIMENTS:
                if got[exp] != reference[exp]:
                    diff = sorted(set(got[exp]) ^ set(reference[exp]))
                    changed = [k for k in set(got[exp]) & set(reference[exp])
                               if got[exp][k] != reference[exp][k]]
                    cols = sorted({c for k in changed for c in reference[exp][k]
                                   if got[exp][k].get(c) != reference[exp][k][c]})
                    example = {c: (reference[exp][changed[0]][c], got[exp][changed[0]].get(c))
                               for c in cols[:4]} if changed else {}
                    problems.append(f"{exp}: {len(diff)} row(s) only in one run, {len(changed)} "
                                    f"differ (columns {cols}; e.g. uninterrupted vs resumed "
                                    f"{example})")
            smaller = 0
            for exp in SIGKILL_EXPERIMENTS:
                a = S.ResultsStore(ref_dir).load(exp, budget).set_index("key")["population"]
                b = S.ResultsStore(results).load(exp, budget).set_index("key")["population"]
                smaller += int((b.reindex(a.index) != a).sum())
        except Exception as e:
            problems.append(f"the store does not load: {type(e).__name__}: {str(e)[:200]}")
            smaller = 0
        litter = temps_under(results)
        if litter:
            problems.append(f"temporary files left behind: {litter[:3]}")
        left = sorted(p.name for p in results.glob("_populations/*/*.pt*"))
        said = ""
        if left:
            # a finished checkpoint whose rows another population stored: the next campaign
            # must remove it (README: "removed when the next campaign starts")
            again = world.lra(*args, results=results)
            still = sorted(p.name for p in results.glob("_populations/*/*.pt*"))
            if still or "trained 0 population(s)" not in again.stdout:
                problems.append(f"checkpoints left behind, not removed by the next campaign: "
                                f"{still or left}")
            said = (f"; {len(left)} finished checkpoint(s) left by the resume, removed by the "
                    "next campaign")
        if out is not None:
            try:
                m = read_bundle(world, out).manifest
                packed = {r["key"] for t in m["tables"] for r in t["rows"]}
                want = {k for rows in reference.values() for k in rows}
                if packed != want:
                    problems.append(f"the bundle carries {len(packed)} row(s), not the "
                                    f"{len(want)} computed")
                said += f"; the bundle carries all {len(packed)} rows"
            except Exception as e:
                problems.append(f"no readable bundle: {type(e).__name__}: {str(e)[:200]}")
        if smaller:
            said += (f"; {smaller} row(s) record a smaller population than uninterrupted (a kill "
                     "between two experiments' writes of one population: the rest retrained "
                     "in one of their own, the same numbers)")
        fam.check(f"{label}: the resume after {kills} SIGKILLs equals the uninterrupted run",
                  problems, f"{n_ref} rows, every number equal (all columns but "
                  f"{', '.join(PROVENANCE)}); no temporary file left" + said)


# ============================================================================ 10. CLI
FORK_SERVER = r"""
import json, os, signal, sys, time, traceback
from lra.cli import main
print("ready", flush=True)
for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.chdir(job["cwd"])
            os.environ.clear()
            os.environ.update(job["env"])
            fi = os.open(os.devnull, os.O_RDONLY)
            fo = os.open(job["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            fe = os.open(job["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(fi, 0); os.dup2(fo, 1); os.dup2(fe, 2)
            try:
                code = main(job["argv"])
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 1
            except BaseException:
                traceback.print_exc()
                code = 1
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code if isinstance(code, int) else 1)
    deadline = time.monotonic() + job["timeout"]
    status = None
    while True:
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = os.waitstatus_to_exitcode(st)
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            break
        time.sleep(0.005)
    print(json.dumps(dict(rc=status)), flush=True)
"""

LONG = "x" * 100_000
# (argv, a phrase the one error line must hold, or "" for none); the first group is
# tests/faces/test_cli.py's, the rest a hostile tester's additions
BAD_INPUTS = [
    (["campaign", "--budget", "huge"], "unknown budget 'huge'"),
    (["campaign", "--experiments", "table9"], "unknown experiment 'table9'"),
    (["campaign", "--time-limit", "5x"], "bad duration"),
    (["campaign", "--seeds", "0"], "--seeds must be >= 1"),
    (["campaign", "--seeds", "two"], "invalid int value"),
    (["campaign", "--max-iterations", "0"], "--max-iterations must be >= 1"),
    (["campaign", "--device", "tpu"], "device must be one of"),
    (["status", "--budget", "huge"], "unknown budget"),
    (["run", "chapter99"], "unknown notebook 'chapter99'"),
    (["run", "lra_diff", "-p", "gamma", "1"], "has no parameter 'gamma'"),
    (["run", "lra_diff", "-p", "seeds", "two"], "expected an integer"),
    (["run", "lra_diff", "-p", "seeds", "0"], "seeds must be an integer >= 1"),
    (["run", "lra_diff", "-p", "budget", "huge"], "unknown budget 'huge'"),
    (["run", "lra_diff", "-p", "replay", "maybe"], "expected True or False"),
    (["run", "lra_diff", "-p", "max_iterations", "-5"], "max_iterations must be"),
    (["run", "lra_diff", "-p", "device", "tpu"], "device must be one of"),
    (["run", "explore", "-p", "T", "9"], "T must be an integer >= 10"),
    (["run", "explore", "-p", "K", "0"], "K must be an integer >= 1"),
    (["run", "explore", "-p", "alpha", "-0.1"], "alpha must be a finite non-negative number"),
    (["run", "explore", "-p", "gamma", "-1"], "gamma must be a finite non-negative number"),
    (["run", "explore", "-p", "lam", "-2"], "lam must be a finite non-negative number"),
    (["run", "explore", "-p", "alpha", "inf"], "alpha must be a finite"),
    (["run", "explore", "-p", "gamma", "1e400"], "gamma must be a finite"),
    (["run", "explore", "-p", "lam", "nan"], "lam must be a finite"),
    (["run", "explore", "-p", "T", "1e23"], "expected an integer"),
    (["run", "explore", "-p", "T", "1" + "0" * 23], "T must be an integer <= 10000"),
    (["run", "explore", "-p", "K", "1000000"], "K must be an integer <= 1000"),
    (["run", "explore", "-p", "seeds", "100000000"], "seeds must be an integer <= 1000"),
    (["run", "lra_diff", "--kernel", "bogus"], "unknown Jupyter kernel 'bogus'"),
    (["run", "lra_diff", "-o", "book/explore.ipynb"], "refusing to write under book/"),
    (["run", "lra_diff", "-o", "results/table1/smoke/runs.csv"], "refusing to write under results/"),
    (["run", "lra_diff", "-o", "README.md"], "refusing to overwrite a file tracked by git"),
    (["run", "lra_diff", "-o", "lra"], "is a directory"),
    (["campaign", "--population", "0"], "--population must be >= 1"),
    (["campaign", "--time-limit", "0"], "the time limit must be positive"),
    (["campaign", "--time-limit", ""], "bad duration ''"),
    (["campaign", "--seeds", "100000000"], "--seeds must be >= 1 and <= 1000"),
    (["campaign", "--max-iterations", "10000000000"], "--max-iterations must be >= 1 and <="),
    (["campaign", "--threads", "0"], "--threads must be >= 1"),
    (["campaign", "--shard-plan", "plan.json"], "--shard-plan goes with --shard I/N"),
    (["campaign", "--shard", "0/2", "--shard-plan", "no-such-plan.json"], "unreadable"),
    (["campaign", "--slurm-option", "account=xyz"], "--slurm-option is for --executor slurm"),
    (["campaign", "--experiments", "table1_multiseed"], "repeats the best configurations"),
    (["campaign", "--experiments", "fig2", "--lengths", "20"], "no selected experiment has runs"),
    (["run", "explore", "-p", "alpha", "fast"], "expected a number"),
    (["run", "explore", "-p", "task", "adding"], "unknown task 'adding'"),
    (["run", "lra_diff", "-p", "budget"], "expected 2 arguments"),
    (["frobnicate"], "invalid choice"),
    # a hostile tester's additions
    ([], "required"),
    (["list", "extra"], "unrecognized arguments"),
    (["verdicts", "--all"], "unrecognized arguments"),
    (["campaign", "--experiments"], "expected at least one argument"),
    (["campaign", "--experiments", ""], "unknown experiment ''"),
    (["campaign", "--budget", ""], "unknown budget"),
    (["campaign", "--budget", "smoke\nlra: error: forged second line"], ""),
    (["campaign", "--budget", "sm\udcffoke"], "unknown budget"),
    (["campaign", "--budget", LONG], "unknown budget"),
    (["campaign", "--lengths", "5"], "--lengths must be sequence lengths >= 10"),
    (["campaign", "--lengths", "-10"], "--lengths must be sequence lengths >= 10"),
    (["campaign", "--lengths", "ten"], "invalid int value"),
    (["campaign", "--shard", "2/2"], "--shard must be I/N with 0 <= I < N"),
    (["campaign", "--shard", "1/0"], "--shard must be I/N"),
    (["campaign", "--shard", "-1/2"], "argument --shard: expected one argument"),
    (["campaign", "--shard", "a/b"], "--shard must be I/N"),
    (["campaign", "--concurrent", "0"], "--concurrent must be between 1 and 64"),
    (["campaign", "--concurrent", "65"], "--concurrent must be between 1 and 64"),
    (["campaign", "--max-iterations", "-1"], "--max-iterations must be >= 1"),
    (["campaign", "--max-iterations", "1.5"], "invalid int value"),
    (["campaign", "--population", "1.5"], "invalid int value"),
    (["campaign", "--threads", "-3"], "--threads must be >= 1"),
    (["campaign", "--time-limit", "-5m"], ""),
    (["campaign", "--time-limit", "1e999h"], ""),
    (["campaign", "--device", ""], "device must be one of"),
    (["campaign", "--device", "cuda:x"], ""),
    (["campaign", "--plan", "everything"], "invalid choice"),
    (["campaign", "--plan", "evidence", "--experiments", "fig2"], "drop --experiments"),
    (["campaign", "--bundle", "out.zip"], "give a file name ending in .tgz"),
    (["campaign", "--bundle", "results/out.tgz"], "refusing to write under results/"),
    (["campaign", "--bundle", "lra/out.tgz"], "refusing to write under lra/"),
    (["campaign", "--bundle", "out.tgz", "--dry-run"], "--dry-run computes none"),
    (["campaign", "--executor", "ssh"], "invalid choice"),
    (["campaign", "--executor", "local", "--dry-run"], ""),
    (["ingest"], "required"),
    (["ingest", "no-such-bundle.tgz"], ""),
    (["ingest", "/dev/null"], ""),
    (["ingest", "lra"], ""),
    (["ingest", "README.md"], ""),
    (["ingest", "x.tgz", "--recompute", "-1"], "--recompute"),
    (["ingest", "x.tgz", "--recompute", "two"], "invalid int value"),
    (["ingest", "x.tgz", "--recompute-device", "tpu"], "device must be one of"),
    (["status", "--budget", ""], "unknown budget"),
    (["status", "--budget", "smoke-capx"], ""),
    (["run"], "required"),
    (["run", "../README"], "unknown notebook"),
    (["run", "lra_diff", "-p"], "expected 2 arguments"),
    (["run", "lra_diff", "-o", ""], "-o needs a file name"),
    (["run", "lra_diff", "-o", "/dev/null/x.ipynb"], ""),
    (["run", "explore", "-p", "T", ""], "expected an integer"),
]
QUICK_INPUTS = {"campaign --budget huge", "campaign --seeds 0", "campaign --seeds two",
                "run lra_diff -p gamma 1", "run explore -p T 9", "run lra_diff -o README.md",
                "campaign --experiments fig2 --lengths 20", "frobnicate", "",
                "campaign --budget smoke\nlra: error: forged second line",
                "campaign --lengths 5", "campaign --shard 2/2", "campaign --bundle out.zip",
                "ingest no-such-bundle.tgz", "ingest lra", "run lra_diff -o /dev/null/x.ipynb"}


def family_cli(world: World, fam: Family, quick: bool) -> None:
    inputs = [x for x in BAD_INPUTS if not quick or " ".join(x[0]) in QUICK_INPUTS]
    folder = world.fresh("cli")
    server = subprocess.Popen([sys.executable, "-c", FORK_SERVER], cwd=world.a,
                              env=world.env(folder / "unused"), stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def snapshot():
        out = {}
        for p in world.a.rglob("*"):
            rel = p.relative_to(world.a)
            if rel.parts[0] == ".git" or "__pycache__" in rel.parts or not p.is_file():
                continue
            st = p.stat()
            out[str(rel)] = (st.st_size, st.st_mtime_ns)
        return out
    try:
        ready = server.stdout.readline().strip()
        if ready != "ready":
            raise SetupError(f"the fork server did not start: {server.stderr.read()[-600:]}")
        for i, (argv, phrase) in enumerate(inputs):
            results = folder / f"results-{i}"
            out, err = folder / f"{i}.out", folder / f"{i}.err"
            before = snapshot()
            job = dict(argv=argv, cwd=str(world.a), out=str(out), err=str(err), timeout=60,
                       env=world.env(results))
            server.stdin.write(json.dumps(job) + "\n")
            server.stdin.flush()
            reply = json.loads(server.stdout.readline())
            rc = reply["rc"]
            r = subprocess.CompletedProcess(argv, rc if rc is not None else 124,
                                            out.read_text(errors="replace"),
                                            err.read_text(errors="replace"))
            problems = one_line_exit_2(r, *([phrase] if phrase else []))
            if rc is None:
                problems.insert(0, "still running after 60 s (it started computing?)")
            if results.exists():
                problems.append("it created the results folder")
            if snapshot() != before:
                problems.append("it changed files of the checkout")
            shown = " ".join(a if len(a) < 40 else a[:12] + f"...({len(a)} chars)"
                             for a in argv).replace("\n", "\\n")
            fam.check(f"lra {shown}".strip(), problems, first_error(r)[:150].replace("\n", " "))
    finally:
        server.stdin.close()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


# ============================================================================ the table
FAMILIES = [
    (1, "pickle", "code-running pickle checkpoints (right sha256)", family_pickle,
     "ingest exit 2, one line, nothing written; payload never ran (marker absent after "
     "ingest, dry run, campaign, stamp tool)"),
    (2, "forgery", "number edited, every hash recomputed", family_forgery,
     "ingest refuses (exit 2, one line: recomputation or consistency), nothing written"),
    (3, "bomb", "oversized members (decompression bombs)", family_bomb,
     "refused from the tar headers: exit 2, one line, within the stated seconds and memory"),
    (4, "readers", "readers racing a writer's appends", family_readers,
     "a read (meta/load in 2 reader processes, lra status) never reports false corruption"),
    (5, "pidns", "temp-file cleanup, writer in a 2nd PID namespace", family_pidns,
     "the live writer's temp file survives a reader's cleanup, the write completes"),
    (6, "stale", "stale checkpoints after a kill", family_stale,
     "next campaign removes the finished checkpoint; the stale-row recipe recomputes"),
    (7, "fs", "filesystem faults", family_fs,
     "one 'lra: error:' line, exit 2, nothing half-written, a computed row never lost"),
    (8, "honest", "honest exits", family_honest,
     "plans nothing: exit 2 with the reason; time-limit stop with rows missing: exit 1"),
    (9, "sigkill", "SIGKILL during a campaign, then resume", family_sigkill,
     "after each kill the store loads with only correct rows; the resume equals an "
     "uninterrupted run"),
    (10, "cli", "malformed command lines", family_cli,
     "exactly one 'lra: error:' line, exit 2, no traceback, nothing created or changed"),
]


def table(families: list[Family]) -> str:
    head = (f"{'probe family':52s} {'tried':>6s} {'passed':>6s} {'failed':>6s} {'seconds':>7s}"
            "  what \"passed\" means")
    lines = [head, "-" * len(head)]
    for f in families:
        name = f"{f.number:2d} {f.title}"[:52]
        if f.skipped:
            lines.append(f"{name:52s} {'-':>6s} {'-':>6s} {'-':>6s} {f.seconds:7.1f}  "
                         f"skipped: {f.skipped}")
        else:
            lines.append(f"{name:52s} {f.tried:6d} {f.passed:6d} {f.failed:6d} {f.seconds:7.1f}"
                         f"  {f.meaning}")
    tried = sum(f.tried for f in families)
    passed = sum(f.passed for f in families)
    failed = sum(f.failed for f in families)
    lines.append("-" * len(head))
    lines.append(f"{'all':52s} {tried:6d} {passed:6d} {failed:6d} "
                 f"{sum(f.seconds for f in families):7.1f}")
    return "\n".join(lines)


def parse_args(argv):
    keys = [k for _, k, *_ in FAMILIES]
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="fewer variants per family (every family still runs)")
    ap.add_argument("--only", nargs="+", metavar="FAMILY",
                    help=f"only these families (numbers or names: {', '.join(keys)})")
    ap.add_argument("--json", metavar="OUT", help="write the table and every probe as JSON")
    ap.add_argument("--target", default=str(ROOT),
                    help="the checkout whose lra/ is probed (default: this one)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args(argv)
    chosen = []
    for item in args.only or keys:
        found = [f for f in FAMILIES if item in (str(f[0]), f[1])]
        if not found:
            ap.error(f"unknown family {item!r}; valid: {', '.join(keys)} (or 1-10)")
        chosen += [f for f in found if f not in chosen]
    args.families = sorted(chosen)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    target = Path(args.target).resolve()
    tmp = Path(tempfile.mkdtemp(prefix="trust_probes_"))
    print(f"trust probes of {target} ({'quick' if args.quick else 'full'}), in {tmp}; "
          f"smoke budget, CPU, one thread", flush=True)
    families = [Family(n, k, t, m) for n, k, t, _, m in args.families]
    start = time.monotonic()
    world = None
    try:
        try:
            world = World(target, tmp)
        except (SetupError, subprocess.CalledProcessError, OSError) as e:
            for fam in families:
                fam.check("setting up the throwaway checkout", [f"{type(e).__name__}: {e}"])
            raise SystemExit(finish(args, families, target, start))
        for fam, (_, _, _, fn, _) in zip(families, args.families):
            print(f"\n[{fam.number}] {fam.title}", flush=True)
            t0 = time.monotonic()
            try:
                fn(world, fam, args.quick)
            except Exception as e:                  # the probe's own failure counts as one
                import traceback
                traceback.print_exc()
                fam.check("the family ran to its end", [f"{type(e).__name__}: "
                                                       f"{' '.join(str(e).split())[:400]}"])
            fam.seconds = time.monotonic() - t0
            if not fam.tried and not fam.skipped:
                fam.check("at least one probe ran", ["none did"])
    finally:
        if world is not None:
            for m in reversed(world.mounts):
                umount(m)
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return finish(args, families, target, start)


def finish(args, families, target, start) -> int:
    print("\n" + table(families), flush=True)
    failed = [f for f in families if f.failed]
    for f in failed:
        for p in f.probes:
            if not p["passed"]:
                print(f"FAILED [{f.number} {f.key}] {p['what']}: {p['detail']}")
    if args.json:
        try:
            commit = git(target, "rev-parse", "HEAD")
        except (subprocess.CalledProcessError, OSError):
            commit = None
        import torch
        Path(args.json).write_text(json.dumps(dict(
            date=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), target=str(target),
            commit=commit, quick=args.quick, seconds=round(time.monotonic() - start, 1),
            python=platform.python_version(), torch=torch.__version__,
            machine=platform.machine(), cpus=os.cpu_count(),
            families=[f.as_dict() for f in families],
            ok=not failed), indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
