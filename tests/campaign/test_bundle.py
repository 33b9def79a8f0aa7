"""Result bundles (issue 14, item 1): a campaign in one checkout packs the rows it computed with
their provenance; `lra ingest` in another checkout verifies and merges them, and `lra status`
shows the machine they came from. Every refusal is one line, exit status 2, nothing written.

The checkouts are two clones of a throwaway git repository holding this tree's lra/ (committed,
so the campaign runs clean code whatever the state of the developer's checkout)."""
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pandas as pd
import pytest

from lra.campaign import bundle as B
from lra.cli import main
from lra.campaign.store import ResultsStore

ROOT = Path(__file__).resolve().parents[2]
BUDGET = "smoke-cap20"
CAMPAIGN = ["campaign", "--budget", "smoke", "--max-iterations", "20", "--threads", "1",
            "--device", "cpu"]


def git(cwd, *args):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


def make_checkout(path: Path, extra=(), message="snapshot") -> Path:
    """A minimal project checkout (lra/, _toc.yml, book/, the ``extra`` folders) committed in a
    fresh git repository."""
    path.mkdir(parents=True)
    for folder in ("lra", *extra):
        shutil.copytree(ROOT / folder, path / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("_toc.yml", ".gitignore"):     # .gitignore: __pycache__/ is not dirt
        shutil.copy(ROOT / name, path / name)
    (path / "book").mkdir()
    (path / "book" / "README.md").write_text("placeholder\n")
    git(path, "init", "-q")
    git(path, "add", "-A")
    git(path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", message)
    return path


def lra(checkout: Path, *args, results=None):
    env = {**os.environ, "PYTHONPATH": str(checkout), "OMP_NUM_THREADS": "1",
           "LRA_RESULTS": str(results or checkout / "results")}
    for k in ("LRA_GIT_COMMIT", "LRA_GIT_DIRTY", "PYTHONDONTWRITEBYTECODE"):
        env.pop(k, None)                            # (bytecode written, as on most machines)
    return subprocess.run([sys.executable, "-m", "lra", *args], cwd=checkout, env=env,
                          capture_output=True, text=True, timeout=600)


# ~20 s, once for the module (--dist loadfile: on one xdist worker): a
# checkout, a clone and a campaign of two experiments in a fresh process
@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Checkout A (where the campaign runs, with its bundle) and B (a clone: where it is ingested)."""
    tmp = tmp_path_factory.mktemp("bundles")
    a = make_checkout(tmp / "a")
    b = tmp / "b"
    git(tmp, "clone", "-q", str(a), str(b))
    out = lra(a, *CAMPAIGN, "--experiments", "fig2", "fig2_released", "--bundle",
              str(tmp / "run.tgz"))
    print(out.stdout, out.stderr[-1500:])
    assert out.returncode == 0, out.stderr[-2000:]
    return dict(tmp=tmp, a=a, b=b, bundle=tmp / "run.tgz", commit=git(a, "rev-parse", "HEAD"))


def files_of(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()} if root.exists() else {}


def ingest(checkout, results, *bundles, capsys):
    """`lra ingest` in-process, in ``checkout`` (its git history), into ``results``."""
    old_cwd, old_env = os.getcwd(), os.environ.get("LRA_RESULTS")
    os.chdir(checkout)
    os.environ["LRA_RESULTS"] = str(results)
    try:
        code = main(["ingest", *map(str, bundles)])
    finally:
        os.chdir(old_cwd)
        if old_env is None:
            os.environ.pop("LRA_RESULTS", None)
        else:
            os.environ["LRA_RESULTS"] = old_env
    out, err = capsys.readouterr()
    return code, out, err


def repack(src: Path, dst: Path, edit, rehash=True) -> Path:
    """A copy of bundle ``src`` after ``edit(manifest, files)``; with ``rehash``, every hash in
    the manifest is recomputed (so that only the check under test can object)."""
    b = B.read_bundle(src)
    manifest, files = json.loads(json.dumps(b.manifest)), dict(b.files)
    edit(manifest, files)
    if rehash:
        for t in manifest["tables"]:
            t["sha256"] = B.sha256(files[t["file"]])
            if rehash == "files":
                continue
            df = B._read_str(files[t["file"]])
            by_key = {r["key"]: r for r in t["rows"]}
            t["rows"] = [dict(key=r["key"], sha256=B.row_sha256(r),
                              write=by_key.get(r["key"], {"write": 0})["write"])
                         for r in df.to_dict("records")]
            for p in t["probes"].values():
                p["sha256"] = B.sha256(files[p["file"]])
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in [("manifest.json", json.dumps(manifest).encode()), *files.items()]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    dst.write_bytes(buf.getvalue())
    return dst


def edit_rows(fn):
    """An edit applying ``fn(row dict)`` to every row of every table."""
    def edit(manifest, files):
        for t in manifest["tables"]:
            df = B._read_str(files[t["file"]])
            rows = df.to_dict("records")
            for r in rows:
                fn(r)
            df = pd.DataFrame(rows)
            files[t["file"]] = df.to_csv(index=False).encode()
    return edit


def test_round_trip_campaign_bundle_ingest_status(world, capsys, tmp_path):
    m = B.read_bundle(world["bundle"]).manifest
    print(json.dumps({k: v for k, v in m.items() if k != "tables"}, indent=1))
    assert m["commit"] == world["commit"] and m["dirty"] is False
    assert m["source_sha256"] == B.source_sha256(world["a"] / "lra")
    assert sorted((t["experiment"], t["budget"], len(t["rows"])) for t in m["tables"]) == \
        [("fig2", BUDGET, 1), ("fig2_released", BUDGET, 1)]
    assert all(t["probes"] for t in m["tables"])          # Figure 2's probes travel with it
    res = lra(world["b"], "ingest", str(world["bundle"]))
    print(res.stdout, res.stderr)
    assert res.returncode == 0 and "2 row(s) added" in res.stdout, res.stderr
    a, b = ResultsStore(world["a"] / "results"), ResultsStore(world["b"] / "results")
    for exp in ("fig2", "fig2_released"):
        ta, tb = a.load(exp, BUDGET), b.load(exp, BUDGET)
        pd.testing.assert_frame_equal(ta, tb, check_dtype=False)
        key = ta["key"].iloc[0]
        assert a.probes(exp, BUDGET, key) == b.probes(exp, BUDGET, key)
        write = b.meta(exp, BUDGET)["writes"][-1]
        assert write["ingested_from"] == "run.tgz" and write["commit"] == world["commit"]
    st = lra(world["b"], "status", "--budget", BUDGET)
    print(st.stdout)
    device = ta["device"].iloc[0]
    assert st.returncode == 0
    assert f"1 row(s) from {device} @ {world['commit'][:12]}" in st.stdout
    # a second ingest adds nothing and says so
    again = lra(world["b"], "ingest", str(world["bundle"]))
    assert again.returncode == 0 and "2 identical duplicate(s) skipped" in again.stdout, \
        again.stdout + again.stderr


def on_writes(manifest_too=True, **values):
    """An edit setting ``values`` in every write's provenance (and in the manifest)."""
    def edit(manifest, files):
        if manifest_too:
            manifest.update({k: v for k, v in values.items() if k in manifest})
        for t in manifest["tables"]:
            for w in t["writes"]:
                w.update(values)
    return edit


def foreign_commit(manifest, files):
    on_writes(commit="f" * 40)(manifest, files)
    edit_rows(lambda r: r.update(commit="f" * 12))(manifest, files)


def unknown_experiment(manifest, files):
    for t in manifest["tables"]:
        t["experiment"] = "table9"
    edit_rows(lambda r: r.update(experiment="table9"))(manifest, files)


REFUSALS = {
    "unknown experiment": (unknown_experiment, "unknown experiment spec"),
    "key of no run of the spec": (
        edit_rows(lambda r: r.update(key="0123456789abcdef")), "unknown experiment spec"),
    "commit not in history": (foreign_commit, "is not in this repository's history"),
    "dirty flag": (on_writes(dirty=True), "dirty code"),
    "sources not the commit's": (lambda m, f: m.update(source_sha256="0" * 64), "dirty code"),
    "row on another device": (
        edit_rows(lambda r: r.update(device="NVIDIA H100 80GB HBM3")), "device/torch mismatch"),
    "written with another torch": (on_writes(False, torch="2.0.0"), "device/torch mismatch"),
    "code version not the commit's": (
        edit_rows(lambda r: r.update(code_version="0" * 12)), "provenance mismatch"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refusals(world, capsys, tmp_path, case):
    edit, reason = REFUSALS[case]
    bad = repack(world["bundle"], tmp_path / "bad.tgz", edit)
    results = tmp_path / "results"
    code, out, err = ingest(world["b"], results, bad, capsys=capsys)
    print(case, "->", err.strip())
    assert code == 2 and reason in err and len(err.strip().splitlines()) == 1, (out, err)
    assert files_of(results) == {}


@pytest.mark.parametrize("what", ["table", "row", "probe", "unlisted file"])
def test_hash_mismatch_refused(world, capsys, tmp_path, what):
    def edit(m, f):
        t = m["tables"][0]
        if what in ("table", "row"):
            edit_rows(lambda r: r.update(iterations="7"))(m, f)
        elif what == "probe":
            p = next(iter(t["probes"].values()))["file"]
            f[p] = f[p].replace(b"1", b"2", 1)
        else:
            f["tables/extra.csv"] = b"x\n"
    # "row": the table's file hash is updated, so the row's own hash must catch the edit
    bad = repack(world["bundle"], tmp_path / "bad.tgz", edit,
                 rehash="files" if what == "row" else False)
    code, out, err = ingest(world["b"], tmp_path / "results", bad, capsys=capsys)
    print(what, "->", err.strip())
    assert code == 2 and "hash mismatch" in err, (out, err)
    assert files_of(tmp_path / "results") == {}


def test_duplicate_key_with_other_numbers_refused_and_nothing_written(world, capsys, tmp_path):
    """A bundle clashing with the stored rows, or with another bundle of the same ingest, is
    refused before anything is written: the valid bundle beside it is not merged either."""
    results = tmp_path / "results"
    code, out, err = ingest(world["b"], results, world["bundle"], capsys=capsys)
    assert code == 0, err
    before = files_of(results)
    changed = repack(world["bundle"], tmp_path / "changed.tgz",
                     edit_rows(lambda r: r.update(best_accuracy="0.123")))
    code, out, err = ingest(world["b"], results, changed, capsys=capsys)
    print(err.strip())
    assert code == 2 and "different numbers" in err
    assert files_of(results) == before
    fresh = tmp_path / "fresh"
    code, out, err = ingest(world["b"], fresh, world["bundle"], changed, capsys=capsys)
    print(err.strip())
    assert code == 2 and "different numbers" in err and files_of(fresh) == {}
    # the same rows from another copy of the bundle are identical duplicates: skipped
    twin = repack(world["bundle"], tmp_path / "twin.tgz", lambda m, f: None)
    code, out, err = ingest(world["b"], fresh, world["bundle"], twin, capsys=capsys)
    print(out.strip())
    assert code == 0 and "2 row(s) added, 2 identical duplicate(s) skipped" in out


def test_not_a_bundle_refused(world, capsys, tmp_path):
    junk = tmp_path / "junk.tgz"
    junk.write_bytes(b"not a tarball")
    code, out, err = ingest(world["b"], tmp_path / "results", junk, capsys=capsys)
    print(err.strip())
    assert code == 2 and "not a readable bundle" in err
    torn = repack(world["bundle"], tmp_path / "torn.tgz",
                  lambda m, f: [t.pop("rows") for t in m["tables"]], rehash=False)
    code, out, err = ingest(world["b"], tmp_path / "results", torn, capsys=capsys)
    print(err.strip())
    assert code == 2 and "malformed manifest" in err and err.count("\n") == 1
    assert not (tmp_path / "results").exists()


def test_checkpoint_of_a_stopped_population_travels(world, capsys, tmp_path, monkeypatch):
    """A population stopped at the time limit is carried as its checkpoint and resumes where the
    bundle is ingested (unless a checkpoint there is as far along)."""
    from lra.campaign.experiments import get_budget
    from lra.campaign.runner import checkpoint_path, plan_campaign, run_population
    monkeypatch.chdir(world["a"])
    store = B.RecordingStore(tmp_path / "a-results")
    budget = get_budget("smoke")
    pop = plan_campaign(["fig4"], budget, store, 64)[0]
    assert run_population(pop, budget, store, "cpu", stop_after_seconds=1e-9) is False
    ck = checkpoint_path(store, budget, pop)
    store.record_stopped([ck])
    from lra.campaign.store import provenance
    import torch
    out = tmp_path / "stopped.tgz"
    m = B.write_bundle(out, store, store.entries(), provenance(torch.device("cpu"), "smoke"))
    assert [c["population"] for c in m["checkpoints"]] == [pop.id] and not m["tables"]
    results = tmp_path / "b-results"
    code, o, err = ingest(world["b"], results, out, capsys=capsys)
    print(o.strip())
    assert code == 0 and "1 checkpoint(s)" in o, err
    assert (results / "_populations" / "smoke" / f"{pop.id}.pt").read_bytes() == ck.read_bytes()
    code, o, err = ingest(world["b"], results, out, capsys=capsys)
    assert code == 0 and "1 kept" in o, o + err


def test_checkpoint_outside_the_populations_folder_refused(world, capsys, tmp_path):
    def edit(m, f):
        f["checkpoints/x.pt"] = b"x"
        m["checkpoints"] = [dict(file="checkpoints/x.pt", budget="../../etc", population="x",
                                 sha256=B.sha256(b"x"))]
    bad = repack(world["bundle"], tmp_path / "bad.tgz", edit)
    code, out, err = ingest(world["b"], tmp_path / "results", bad, capsys=capsys)
    print(err.strip())
    assert code == 2 and "names budget '../../etc'" in err and files_of(tmp_path) == {
        "bad.tgz": bad.read_bytes()}
