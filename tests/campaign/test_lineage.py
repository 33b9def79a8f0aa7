"""Code versions recorded as computing the same numbers (lra.campaign.lineage) keep their rows
current; nothing else does; and tools/compare_rows.py, the evidence behind a record, finds a
changed number."""
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

import lra.campaign.lineage as lineage
import lra.campaign.store as st
from lra.campaign.lineage import SameNumbers, same_numbers_as

ROOT = Path(__file__).resolve().parents[2]


def test_a_chain_of_records_is_followed_back_and_never_forward():
    chain = (SameNumbers("a", "b", "move", "rerun"), SameNumbers("b", "c", "split", "rerun"),
             SameNumbers("x", "y", "other", "rerun"))
    print(same_numbers_as("c", chain), same_numbers_as("b", chain))
    assert same_numbers_as("c", chain) == {"a", "b", "c"}
    assert same_numbers_as("b", chain) == {"a", "b"}      # c's rows are not b's
    assert same_numbers_as("z", chain) == {"z"}


def test_rows_of_a_recorded_version_are_not_stale_and_others_are(monkeypatch):
    df = pd.DataFrame({"code_version": ["old", "new", "other", ""]})
    monkeypatch.setattr(lineage, "LINEAGE", ())
    monkeypatch.setattr(lineage.same_numbers_as, "__defaults__", ((),))
    print(st.stale_rows(df, "new").tolist())
    assert st.stale_rows(df, "new").tolist() == [True, False, True, True]
    record = (SameNumbers("old", "new", "move", "rerun"),)
    monkeypatch.setattr(lineage.same_numbers_as, "__defaults__", (record,))
    print(st.stale_rows(df, "new").tolist())
    assert st.stale_rows(df, "new").tolist() == [False, False, True, True]


def test_every_record_names_its_change_and_its_stored_evidence():
    for e in lineage.LINEAGE:
        print(e)
        assert len(e.old) == len(e.new) == 12 and e.old != e.new
        assert e.change and e.evidence
        evidence = ROOT / "results" / "lineage" / f"{e.old}-{e.new}.txt"
        assert evidence.exists(), evidence
        assert evidence.read_text().rstrip().endswith("every row equal")


def test_compare_rows_finds_a_changed_number(tmp_path):
    src = ROOT / "results" / "fig3" / "smoke"
    copy = tmp_path / "fig3" / "smoke"
    shutil.copytree(src, copy, ignore=shutil.ignore_patterns("probes", "checkpoints"))
    tool = [sys.executable, str(ROOT / "tools" / "compare_rows.py"), str(tmp_path)]
    same = subprocess.run(tool, capture_output=True, text=True)
    print(same.stdout)
    assert same.returncode == 0 and "every row equal" in same.stdout
    store = st.ResultsStore(tmp_path)
    df = store.load("fig3", "smoke")
    df.loc[0, "best_accuracy"] = float(df.loc[0, "best_accuracy"]) - 0.001
    shutil.rmtree(copy)
    store.append("fig3", "smoke", df.to_dict("records"), {"note": "one number changed on purpose"})
    changed = subprocess.run(tool, capture_output=True, text=True)
    print(changed.stdout)
    assert changed.returncode == 1 and "best_accuracy" in changed.stdout
