"""Result bundles (issue 14, item 1): a campaign in one checkout packs the rows it computed with
their provenance; `lra ingest` in another checkout verifies and merges them, and `lra status`
shows the machine they came from. Every refusal is one line, exit status 2, nothing written.

The checkouts are two clones of a throwaway git repository holding this tree's lra/ (committed,
so the campaign runs clean code whatever the state of the developer's checkout)."""
import gzip
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tarfile
import time
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


# ----------------------------------------------------------------------------- issue 20: trust
# A bundle comes from a machine we do not control: its archive is read within limits checked
# from the tar headers, and nothing in it is unpickled (a checkpoint is read as tensors and plain
# data, weights_only=True). "Verified" means undamaged and free of code, not recomputed.
POPULATION = "0123456789abcdef"


class Payload:
    """Pickles as a call of os.system: what a hostile checkpoint holds."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def hostile_checkpoint(marker: Path) -> bytes:
    import torch
    buf = io.BytesIO()
    torch.save(dict(fingerprint="0" * 64, iteration=10, results=[Payload(marker)]), buf)
    return buf.getvalue()


def one_line_refusal(code, out, err, phrase):
    print(err.strip())
    assert code == 2 and phrase in err and len(err.strip().splitlines()) == 1, (code, out, err)


def test_a_bundle_with_a_code_running_checkpoint_is_refused_and_nothing_runs(world, capsys,
                                                                            tmp_path):
    """Its manifest lists it with the right sha256 and a proper budget and population: ingest
    reads it as the engine would, refuses the bundle (nothing merged, nothing run), and a
    campaign that finds such a file in its populations' folder refuses it too."""
    marker = tmp_path / "payload-ran"
    name = f"checkpoints/{BUDGET}/{POPULATION}.pt"

    def edit(m, f):
        f[name] = hostile_checkpoint(marker)
        m["checkpoints"] = [dict(file=name, budget=BUDGET, population=POPULATION,
                                 sha256=B.sha256(f[name]))]
    bad = repack(world["bundle"], tmp_path / "bad.tgz", edit)
    results = tmp_path / "results"
    code, out, err = ingest(world["b"], results, bad, capsys=capsys)
    one_line_refusal(code, out, err, f"checkpoint {name} is not a checkpoint of this program")
    assert files_of(results) == {} and not marker.exists()
    dry = ["campaign", "--budget", "smoke", "--max-iterations", "20", "--experiments", "fig2",
           "--device", "cpu", "--dry-run"]
    res = lra(world["b"], *dry, results=results)
    print(res.stdout[-500:], res.stderr[-500:])
    assert res.returncode == 0 and not marker.exists()
    # the same file put in the populations' folder by hand: refused before anything runs
    folder = results / "_populations" / BUDGET
    folder.mkdir(parents=True)
    (folder / f"{POPULATION}.pt").write_bytes(hostile_checkpoint(marker))
    res = lra(world["b"], *dry, results=results)
    print(res.stderr)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "is unreadable" in res.stderr and not marker.exists()


def test_a_bundle_checkpoint_that_is_not_a_checkpoint_is_refused(world, capsys, tmp_path):
    name = f"checkpoints/{BUDGET}/{POPULATION}.pt"

    def edit(m, f):
        f[name] = b"PK\x03\x04 not really"
        m["checkpoints"] = [dict(file=name, budget=BUDGET, population=POPULATION,
                                 sha256=B.sha256(f[name]))]
    bad = repack(world["bundle"], tmp_path / "bad.tgz", edit)
    code, out, err = ingest(world["b"], tmp_path / "results", bad, capsys=capsys)
    one_line_refusal(code, out, err, "is not a checkpoint of this program")
    assert files_of(tmp_path / "results") == {}


def gzip_of_zeros(size: int):
    """Gzip members that decompress to ``size`` zero bytes (a multiple of 1 MiB), written one
    MiB at a time: a gzip file may be a sequence of members, so 1 GiB is 1,024 copies of one
    compressed MiB (~1 MB in all), never held whole."""
    one = gzip.compress(bytes(1 << 20), compresslevel=9)
    for _ in range(size >> 20):
        yield one


def huge_member_bundle(src: Path, dst: Path, name: str, size: int) -> Path:
    """``src``'s manifest, then a member ``name`` of ``size`` zeros (streamed to ``dst``)."""
    manifest = B.read_bundle(src).manifest
    data = json.dumps(manifest).encode()
    head = tarfile.TarInfo("manifest.json")
    head.size = len(data)
    big = tarfile.TarInfo(name)
    big.size = size
    with open(dst, "wb") as fh:
        fh.write(gzip.compress(head.tobuf() + data + bytes(-len(data) % 512) + big.tobuf()))
        for chunk in gzip_of_zeros(size):
            fh.write(chunk)
        fh.write(gzip.compress(bytes(1024)))            # the end of the archive
    return dst


@pytest.mark.parametrize("name", [f"tables/fig2/{BUDGET}/runs.csv",
                                  f"checkpoints/{BUDGET}/{POPULATION}.pt"])
def test_a_member_of_1_gib_is_refused_from_its_header(world, capsys, tmp_path, name):
    """1 GiB of zeros (~1 MB compressed) is refused at its header: quickly, and without the
    process's peak memory growing by anything like 1 GiB."""
    bomb = huge_member_bundle(world["bundle"], tmp_path / "bomb.tgz", name, 1 << 30)
    print(f"{bomb.stat().st_size} bytes compressed")
    assert bomb.stat().st_size < 4 << 20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss        # KiB on Linux
    start = time.monotonic()
    code, out, err = ingest(world["b"], tmp_path / "results", bomb, capsys=capsys)
    took = time.monotonic() - start
    grew = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak) / 1024
    print(f"refused in {took:.2f} s, peak memory grew {grew:.0f} MB")
    one_line_refusal(code, out, err, "more than a")
    assert "1.0 GiB" in err and took < 3 and grew < 200
    assert files_of(tmp_path / "results") == {}


def tar_with(src: Path, dst: Path, *extra) -> Path:
    """``src``'s members (manifest first), then each ``(TarInfo, bytes)`` of ``extra``."""
    b = B.read_bundle(src)
    with tarfile.open(dst, "w:gz") as tar:
        for name, data in [("manifest.json", json.dumps(b.manifest).encode()), *b.files.items()]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info, data in extra:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return dst


def member(name, type=tarfile.REGTYPE, data=b"x", **kw):
    info = tarfile.TarInfo(name)
    info.type = type
    info.size = len(data) if type == tarfile.REGTYPE else 0
    for k, v in kw.items():
        setattr(info, k, v)
    return info, (data if type == tarfile.REGTYPE else None)


UNSAFE = {   # member -> a phrase of the refusal
    "symbolic link": (member(f"tables/fig2/{BUDGET}/probes/{POPULATION}.json",
                             tarfile.SYMTYPE, linkname="/etc/passwd"), "a symbolic link"),
    "hard link": (member("tables/x/y/runs.csv", tarfile.LNKTYPE, linkname="manifest.json"),
                  "a hard link"),
    "../ in the name": (member("../evil.json"), "not a file of a bundle"),
    ".. inside the name": (member("tables/../../evil.csv"), "not a file of a bundle"),
    "absolute path": (member("/tmp/evil.csv"), "not a file of a bundle"),
    "character device": (member("tables/x/y/runs.csv", tarfile.CHRTYPE), "a character device"),
    "FIFO": (member("tables/x/y/runs.csv", tarfile.FIFOTYPE), "a FIFO"),
    "folder": (member("tables/x", tarfile.DIRTYPE), "a folder"),
    "file of no bundle kind": (member("run.sh", data=b"rm -rf ~\n"), "not a file of a bundle"),
    "file twice": (member("manifest.json", data=b"{}"), "in the archive twice"),
    "pax header setting a size": (member("tables/x/y/runs.csv", pax_headers={"size": "1"}),
                                  "a pax header sets 'size'"),
    "pax header of 1 MiB": (member("tables/x/y/runs.csv",
                                   pax_headers={"comment": "x" * (1 << 20)}), "a pax header of"),
}


@pytest.mark.parametrize("case", sorted(UNSAFE))
def test_an_unsafe_member_is_refused(world, capsys, tmp_path, case):
    (info, data), phrase = UNSAFE[case]
    bad = tar_with(world["bundle"], tmp_path / "bad.tgz", (info, data))
    code, out, err = ingest(world["b"], tmp_path / "results", bad, capsys=capsys)
    one_line_refusal(code, out, err, phrase)
    assert "unsafe member" in err
    assert files_of(tmp_path / "results") == {}


def test_a_long_name_written_as_a_pax_header_is_read(world, tmp_path):
    name = f"tables/{'a' * 120}/{BUDGET}/runs.csv"
    bundle = tar_with(world["bundle"], tmp_path / "long.tgz", member(name, data=b"key\n"))
    from lra.campaign import tarball as T
    files, digest = T.read_members(bundle)
    assert files[name] == b"key\n" and digest == B.sha256(bundle.read_bytes())


@pytest.mark.parametrize("limit,value,phrase", [("MAX_MEMBERS", 3, "more than 3 members"),
                                                ("MAX_TOTAL_BYTES", 4096, "hold more than")])
def test_the_member_count_and_total_size_are_limited(world, capsys, tmp_path, monkeypatch, limit,
                                                    value, phrase):
    from lra.campaign import tarball as T
    monkeypatch.setattr(T, limit, value)
    code, out, err = ingest(world["b"], tmp_path / "results", world["bundle"], capsys=capsys)
    one_line_refusal(code, out, err, phrase)
    assert files_of(tmp_path / "results") == {}


def test_a_file_listed_where_the_format_does_not_put_it_is_refused(world, capsys, tmp_path):
    def edit(m, f):
        t = m["tables"][0]
        new = f"tables/elsewhere/{BUDGET}/runs.csv"
        f[new] = f.pop(t["file"])
        t["file"] = new
    bad = repack(world["bundle"], tmp_path / "bad.tgz", edit)
    code, out, err = ingest(world["b"], tmp_path / "results", bad, capsys=capsys)
    one_line_refusal(code, out, err, "the bundle format puts this file at")
