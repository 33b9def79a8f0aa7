"""What a device slice need not measure again: the GPU self-test's verdict and the engine benchmark,
each once per (code version, device kind).

A lent GPU slice (``scripts/device_campaign.sh``) used to spend up to 240 s on the self-test and
150 s on the benchmark of every slice. Both answer questions about the code and the device, not
about the slice: once a device kind has passed the self-test at a code version, the next slice of
that kind and version need not run it again, and likewise for the benchmark.

* **Self-test verdicts** are stored with the results, one small JSON per (code version, device
  kind): ``results/_device/selftest-<device slug>-<code version>.json`` (:func:`selftest_path`),
  with the verdict, the report it was read from and its provenance (device, torch, Triton,
  commit, date, mode, seconds). A lookup (:func:`lookup_selftest`) hits only for the same code
  version (:func:`lra.campaign.store.code_version`, the hash of the modules that compute numbers),
  the same device name, the same self-test sources (:func:`harness_version`: the harness, the
  capture check and the chain kernel's check) and the same torch and Triton; anything else is a
  miss, and the slice runs the quick self-test again. A *failed* verdict is cached too, and a
  cached failure blocks training as a fresh one does (:func:`gate`): the slice trains nothing
  until the code or the device changes.
* **Benchmarks** live where the projection reads them (``benchmarks/results/<device slug>.json``);
  :func:`benchmark_is_current` says whether the device kind's newest one was measured by the
  current code version (``meta.code_version``, written by ``benchmarks/engine_throughput.py``;
  a benchmark from before that field counts as current only where git can show that its commit's
  sources have the current version).

The verdict of a report is the one the slice script always read: ``other`` (an algorithm, the
capture check or the graph failed: no training), ``kernel`` (only the chain kernel failed: train
with the PyTorch chain), ``pass``; ``+serial`` appended when only the concurrent-populations check
failed (one population at a time). ``missing``: no report (the self-test crashed or ran out of
time: no training, and nothing cached).

    python -m lra.campaign.device_cache gate --device NAME       shell assignments for the slice
    python -m lra.campaign.device_cache record --device NAME --json selftest.json [--mode fast]
    python -m lra.campaign.device_cache bench --device NAME      exit 0 when the benchmark is current
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import shlex
import sys
from pathlib import Path

from lra.campaign.projection import BenchmarkNotFound, load_benchmark, slug
from lra.campaign.store import atomic_write_bytes, code_version, current_versions, default_root
from lra.engine.provenance import git_state, repo_root

# What the self-test runs beside the numeric modules (a change to any of them is another test)
HARNESS_FILES = ("scripts/gpu_selftest.py", "tests/engine/test_capture_safety.py",
                 "tests/algorithms/chain_kernel_equivalence.py", "lra/engine/capture.py",
                 "lra/engine/capture_check.py")
FAILED = ("other", "missing")       # verdicts under which a slice trains nothing


def harness_version(root: Path | None = None) -> str:
    """SHA-256 (12 hex digits) of the self-test's own sources (:data:`HARNESS_FILES`); a file
    that is absent hashes as absent."""
    root = Path(root) if root is not None else repo_root()
    h = hashlib.sha256()
    for name in HARNESS_FILES:
        p = root / name
        h.update(name.encode() + b"\0" + (p.read_bytes() if p.is_file() else b"(absent)") + b"\0")
    return h.hexdigest()[:12]


def device_dir(results_root: Path | None = None) -> Path:
    return Path(results_root if results_root is not None else default_root()) / "_device"


def selftest_path(device: str, version: str, results_root: Path | None = None) -> Path:
    return device_dir(results_root) / f"selftest-{slug(device)}-{version}.json"


def verdict_of(report) -> str:
    """The slice's verdict of a self-test report (list of (label, ok, message)); ``missing``
    when there is none."""
    if not report:
        return "missing"
    kernel_bad = any(not ok for label, ok, _ in report if "kernel" in label)
    conc_bad = any(not ok for label, ok, _ in report if "concurrent" in label)
    other_bad = any(not ok for label, ok, _ in report
                    if "kernel" not in label and "concurrent" not in label)
    if other_bad:
        return "other"
    return ("kernel" if kernel_bad else "pass") + ("+serial" if conc_bad else "")


def _versions() -> dict:
    import torch
    try:
        import triton
        tv = triton.__version__
    except ImportError:
        tv = "absent"
    return dict(torch=torch.__version__, triton=tv)


def record_selftest(report_json: Path, device: str, *, mode: str = "fast", seconds=None,
                    results_root: Path | None = None, version: str | None = None,
                    harness: str | None = None, versions: dict | None = None) -> Path | None:
    """Cache the verdict of the self-test report ``report_json`` (``gpu_selftest.py --json``) for
    ``device`` at the current code version. A missing or unreadable report is not cached (a crash
    or a timeout says nothing about the code); returns the file written, or None."""
    try:
        data = json.loads(Path(report_json).read_text())
        report = data["report"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    commit, dirty = git_state()
    entry = dict(kind="gpu self-test verdict", device=device, code_version=version or
                 code_version(), harness=harness or harness_version(),
                 **(versions if versions is not None else _versions()),
                 verdict=verdict_of(report),
                 ok=bool(data.get("ok")), mode=mode, seconds=seconds, commit=commit, dirty=dirty,
                 date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                 reported_device=data.get("device"), report=report,
                 kernel_variants=list(data.get("kernel_variants") or []))
    path = selftest_path(device, entry["code_version"], results_root)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, (json.dumps(entry, indent=1, default=str) + "\n").encode())
    return path


def lookup_selftest(device: str, *, results_root: Path | None = None,
                    version: str | None = None, harness: str | None = None,
                    versions: dict | None = None) -> tuple[dict | None, str]:
    """(the cached verdict entry, why) for ``device`` at the current code version; (None, why
    not) on a miss: no entry for this code version and device, or one of other self-test sources,
    torch or Triton, or an unreadable one."""
    version = version or code_version()
    path = selftest_path(device, version, results_root)
    if not path.is_file():
        return None, f"no cached verdict for {device} at code version {version}"
    try:
        entry = json.loads(path.read_text())
    except (OSError, ValueError):
        return None, f"{path.name}: unreadable"
    if not isinstance(entry, dict):
        return None, f"{path.name}: not a verdict"
    # versions={}: torch and Triton not compared (planning from another machine)
    want = dict(device=device, code_version=version, harness=harness or harness_version(),
                **(versions if versions is not None else _versions()))
    for k, v in want.items():
        if entry.get(k) != v:
            return None, f"{path.name}: cached for {k} {entry.get(k)!r}, this is {v!r}"
    if entry.get("verdict") not in ("pass", "kernel", "other", "pass+serial", "kernel+serial"):
        return None, f"{path.name}: unknown verdict {entry.get('verdict')!r}"
    return entry, f"cached {entry['date']} ({entry.get('mode')}, commit {entry.get('commit')})"


def gate(device: str, benchmarks=None, **kw) -> dict:
    """What the slice does now: ``cached`` (1/0), ``verdict`` (the cached one, or ``none``),
    ``campaign`` (1: may train; 0: a cached failure), ``chain`` (``pytorch`` after a kernel
    failure, or when the engine would take a kernel variant the self-test did not check; else
    empty), ``serial`` (1: one population at a time), ``why``. On a miss the slice
    runs the self-test, records it and asks again (``record`` then ``gate``); a verdict that
    could not be recorded (no report) stays a miss, and the slice trains nothing."""
    entry, why = lookup_selftest(device, **kw)
    if entry is None:
        return dict(cached=0, verdict="none", campaign=0, chain="", serial=1, why=why)
    v = entry["verdict"]
    chain = "pytorch" if v.startswith("kernel") else ""
    taken = engine_variant(device, benchmarks)
    if not chain and taken and taken not in (entry.get("kernel_variants") or []):
        chain = "pytorch"
        why += f"; the engine's kernel variant {taken} was not checked: PyTorch chain"
    return dict(cached=1, verdict=v, campaign=0 if v in FAILED else 1, chain=chain,
                serial=1 if v.endswith("+serial") else 0, why=why)


def engine_variant(device: str, directory=None) -> str | None:
    """The chain kernel variant a campaign takes on ``device`` (its benchmark's fastest; what
    :func:`lra.campaign.projection.auto_chain_variant` gives there), None for the PyTorch chain."""
    from lra.campaign.projection import fastest_method
    try:
        method = fastest_method(device, directory)
    except (BenchmarkNotFound, ValueError):
        return None
    return method.split("kernel:", 1)[1] if "kernel:" in method else None


def benchmark_is_current(device: str, directory=None, version: str | None = None
                         ) -> tuple[bool, str]:
    """(True, why) when ``device``'s newest committed benchmark was measured by code of the
    current version (or one :mod:`lra.campaign.lineage` records as computing the same numbers)."""
    version = version or code_version()
    try:
        bench = load_benchmark(device, directory)
    except BenchmarkNotFound:
        return False, f"no benchmark of {device}"
    theirs = bench.meta.get("code_version")
    how = "its meta.code_version"
    if not theirs and bench.meta.get("commit"):
        from lra.campaign.population_checkpoints import commit_code_version
        theirs, how = commit_code_version(str(bench.meta["commit"])), "its commit's sources"
    if not theirs:
        return False, f"{bench.path.name} ({bench.date}) names no code version"
    if theirs in current_versions(version):
        return True, f"{bench.path.name} ({bench.date}) is of code version {theirs} ({how})"
    return False, f"{bench.path.name} ({bench.date}) is of code version {theirs}, not {version}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lra.campaign.device_cache",
                                 description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gate", help="shell assignments: cached, verdict, campaign, chain, serial")
    g.add_argument("--device", required=True)
    r = sub.add_parser("record", help="cache the verdict of a self-test report")
    r.add_argument("--device", required=True)
    r.add_argument("--json", required=True)
    r.add_argument("--mode", default="fast")
    r.add_argument("--seconds", type=float, default=None)
    b = sub.add_parser("bench", help="exit 0 when the device's benchmark is of the current code")
    b.add_argument("--device", required=True)
    a = ap.parse_args(argv)
    if a.cmd == "gate":
        for k, v in gate(a.device).items():
            print(f"selftest_{k}={shlex.quote(str(v))}")
        return 0
    if a.cmd == "record":
        path = record_selftest(Path(a.json), a.device, mode=a.mode, seconds=a.seconds)
        print(f"self-test verdict cached in {path}" if path else
              "self-test left no report: nothing cached", file=sys.stderr)
        return 0 if path else 1
    ok, why = benchmark_is_current(a.device)
    print(("benchmark current: " if ok else "benchmark needed: ") + why)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
