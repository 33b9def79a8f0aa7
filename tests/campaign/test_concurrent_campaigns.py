"""Several `lra campaign` processes on one results directory: no row lost, duplicated or
corrupted, and no population trained twice (a lease per population, table writes under a lock);
shards split the populations deterministically (issue 14, items 2-3)."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd

from lra.campaign.store import ResultsStore

ROOT = Path(__file__).resolve().parents[2]
EXPS = ["table1", "table2", "table3", "table1_released", "readout_only"]
ARGS = ["campaign", "--budget", "smoke", "--max-iterations", "20", "--threads", "1",
        "--experiments", *EXPS]
VOLATILE = ["wall_seconds", "device", "commit", "population"]


def launch(root, extra=()):
    env = {**os.environ, "LRA_RESULTS": str(root), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "lra", *ARGS, *extra], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def trained(stderr: str) -> list[str]:
    """The populations a process trained (it logs one line per population it holds)."""
    return re.findall(r"^\[smoke-cap20\] (.+?) members=", stderr, flags=re.M)


def tables(root):
    store = ResultsStore(root)
    return {e: store.load(e, "smoke-cap20").drop(columns=VOLATILE).sort_values("key")
            .reset_index(drop=True) for e in EXPS}


# ~25 s: five experiments' campaign four times over (sequential, three at once on one results
# folder, then a check that nothing is left), each a fresh process that imports torch
def test_three_concurrent_campaigns_equal_one_sequential(tmp_path):
    seq = launch(tmp_path / "seq")
    out, err = seq.communicate(timeout=600)
    assert seq.returncode == 0, err[-2000:]
    seq_pops = trained(err)
    procs = [launch(tmp_path / "par") for _ in range(3)]
    outs = [p.communicate(timeout=600) for p in procs]
    par_pops = [pop for _, err in outs for pop in trained(err)]
    print(f"sequential: {len(seq_pops)} populations; concurrent: {len(par_pops)} in all, "
          f"{[len(trained(e)) for _, e in outs]} per process; exit codes "
          f"{[p.returncode for p in procs]}")
    assert sorted(par_pops) == sorted(seq_pops)           # every population once, none twice
    assert all(p.returncode in (0, 1) for p in procs)     # 1: others were still training
    again = launch(tmp_path / "par")                      # afterwards: nothing left to do
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0 and "complete" in out and not trained(err), out + err[-1000:]
    a, b = tables(tmp_path / "seq"), tables(tmp_path / "par")
    for e in EXPS:
        assert len(a[e]) == len(b[e]) > 0
        pd.testing.assert_frame_equal(a[e], b[e], check_dtype=False)


# ~15 s: three campaign processes (two shards, then a check that nothing is left)
def test_shards_split_the_populations(tmp_path):
    logs = []
    for shard in ("0/2", "1/2"):
        p = launch(tmp_path, ("--shard", shard))
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-2000:]
        logs.append(trained(err))
    print("shard 0:", logs[0], "\nshard 1:", logs[1])
    assert logs[0] and logs[1] and not set(logs[0]) & set(logs[1])
    again = launch(tmp_path)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0 and not trained(err), out + err[-1000:]
