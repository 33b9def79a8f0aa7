"""A checkpoint is resumed only by the code that wrote it (issue 20, item 6).

A campaign's checkpoints carry the code version and the rows they feed; one of other code is
discarded with one line and its population recomputed; an older one (no code version) is judged
by its segments' commits, or set aside when they cannot tell and stamped by hand
(tools/stamp_checkpoint.py); one whose rows are all stored is removed by the next campaign, so the
README's stale-row recipe (move the table away, rerun) recomputes. Each test prints what it
checks. Populations: Figure 2's single member at the smoke budget, capped at 100 iterations.
"""
import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

import lra
from lra.campaign.experiments import get_budget
from lra.campaign.runner import (budget_with_cap, checkpoint_path, plan_campaign, run_experiments,
                                 run_population)
from lra.campaign.store import CODE_MODULES, ResultsStore, code_version
from lra.engine.checkpoints import read

ROOT = Path(__file__).resolve().parents[2]
CAP = 100
BUDGET = budget_with_cap(get_budget("smoke"), CAP)
NUMBERS = ["key", "solved", "stop_reason", "iterations", "best_accuracy", "final_accuracy",
           "curve", "best_correct"]
MARK = 0.123456          # a validation accuracy no real check gives: a resumed run shows it


def campaign(root, log=None):
    return run_experiments(["fig2"], "smoke", device="cpu", max_iterations=CAP,
                           store=ResultsStore(root), log=log or (lambda s: None))


def rows(root):
    return ResultsStore(root).load("fig2", BUDGET.name)[NUMBERS].to_dict("records")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Figure 2's row computed by one uninterrupted campaign."""
    root = tmp_path_factory.mktemp("reference")
    campaign(root)
    return rows(root)


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """A git repository with the current sources of CODE_MODULES at commit ``same`` and one of
    them changed at commit ``other`` (a stand-in for this repository's history)."""
    root = tmp_path_factory.mktemp("history")

    def git(*a):
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *a], cwd=root,
                              check=True, capture_output=True, text=True).stdout.strip()
    git("init", "-q")
    pkg = Path(lra.__file__).parent
    for m in CODE_MODULES:
        (root / "lra" / m).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(pkg / m, root / "lra" / m)
    git("add", "-A")
    git("commit", "-qm", "same")
    same = git("rev-parse", "HEAD")
    with open(root / "lra" / "engine" / "trainer.py", "a") as fh:
        fh.write("# another code version\n")
    git("commit", "-qam", "other")
    return dict(root=str(root), same=same[:12], other=git("rev-parse", "HEAD")[:12])


def stopped(root):
    """The checkpoint of Figure 2's population stopped at its first check (iteration 50)."""
    store = ResultsStore(root)
    pop = plan_campaign(["fig2"], BUDGET, store, 64)[0]
    assert run_population(pop, BUDGET, store, "cpu", stop_after_seconds=1e-9) is False
    return pop, checkpoint_path(store, BUDGET, pop)


def rewrite(ck, **changes):
    """Edit the checkpoint as a file of older or other code would hold it; ``legacy=True`` drops
    what only this code writes; the first check's accuracy becomes MARK."""
    raw = torch.load(ck, map_location="cpu", weights_only=True)
    if changes.pop("legacy", False):
        for k in ("code_version", "rows", "stamp"):
            raw.pop(k, None)
    commit = changes.pop("commit", None)
    if commit is not None:
        for seg in raw["segments"]:
            seg["commit"] = commit
    raw.update(changes)
    for r in raw["results"]:
        r["curve"][0] = (0, MARK, None)
    torch.save(raw, ck)


def use_history(monkeypatch, history):
    """Older checkpoints' commits are looked up in ``history`` instead of this checkout."""
    try:
        import lra.campaign.population_checkpoints as pc
    except ImportError:                    # (the code before checkpoints had versions)
        return
    monkeypatch.setattr(pc, "repo_root", lambda: Path(history["root"]))
    pc.commit_code_version.cache_clear()


def test_a_campaign_checkpoint_names_its_code_version_and_its_rows(tmp_path):
    pop, ck = stopped(tmp_path)
    raw = read(ck)
    print("code version", raw.get("code_version"), "rows", raw.get("rows"))
    assert raw.get("code_version") == code_version()
    assert raw.get("rows") == {"fig2": [r.key for r in pop.runs]}


def test_a_checkpoint_of_other_code_is_discarded_in_one_line_and_recomputed(tmp_path, reference):
    _, ck = stopped(tmp_path)
    rewrite(ck, code_version="0123456789ab")
    lines = []
    res = campaign(tmp_path, lines.append)
    said = [s for s in lines if str(ck) in s]
    print(said)
    assert res["finished"] and len(said) == 1 and "\n" not in said[0]
    assert "code version 0123456789ab" in said[0] and "discarded" in said[0], said
    assert rows(tmp_path) == reference, "the population was resumed, not recomputed"


def test_an_older_checkpoint_is_judged_by_its_segments_commits(tmp_path, history, monkeypatch):
    """No code version: the commits of its segments, looked up in git, give it; it is resumed
    when they are the current code, discarded when they are another's, set aside when they
    cannot tell (a dirty tree, a commit git does not know, no segment, or iterations after the
    last segment: a process killed before it recorded one)."""
    import lra.campaign.population_checkpoints as pc
    use_history(monkeypatch, history)
    assert pc.commit_code_version(history["same"]) == code_version()
    assert pc.commit_code_version(history["other"]) != code_version()
    _, ck = stopped(tmp_path)
    original = ck.read_bytes()
    cases = {   # what the segments say -> what becomes of the checkpoint
        "same": (dict(commit=history["same"]), "resumed"),
        "other": (dict(commit=history["other"]), "discarded"),
        "dirty": (dict(commit=history["same"] + "+dirty"), "set aside"),
        "unknown commit": (dict(commit="0badc0ffee00"), "set aside"),
        "no segment": (dict(segments=[]), "set aside"),
        "iterations after the last segment": (dict(commit=history["same"], iteration=100),
                                              "set aside"),
    }
    for case, (edit, fate) in cases.items():
        aside = ck.with_name(ck.name + ".unverified")
        aside.unlink(missing_ok=True)
        ck.write_bytes(original)
        rewrite(ck, legacy=True, **edit)
        if case == "iterations after the last segment":   # (the cap is 100: within it)
            raw = torch.load(ck, weights_only=True)
            assert raw["segments"][-1]["iterations"][1] < raw["iteration"]
        lines = []
        kept = pc.vet(ck, log=lines.append)
        print(f"{case}: {lines}")
        assert len(lines) == 1 and fate in lines[0], (case, lines)
        assert kept == (fate == "resumed") and ck.exists() == kept, case
        assert aside.exists() == (fate == "set aside"), case
        if fate == "set aside":
            assert "tools/stamp_checkpoint.py" in lines[0]


def test_the_stale_row_recipe_recomputes(tmp_path, reference, history, monkeypatch):
    """Rows of other code and the finished checkpoint that fed them (killed between storing the
    rows and removing it): moving the table away and rerunning recomputes the row, rather than
    storing the old checkpoint's numbers stamped as this code's."""
    real = ResultsStore.append

    def stored_then_killed(self, *a, **k):
        real(self, *a, **k)
        raise KeyboardInterrupt

    monkeypatch.setattr(ResultsStore, "append", stored_then_killed)
    with pytest.raises(KeyboardInterrupt):
        campaign(tmp_path)
    monkeypatch.setattr(ResultsStore, "append", real)
    (ck,) = (tmp_path / "_populations" / BUDGET.name).glob("*.pt")
    # as older code of another version would have left it
    use_history(monkeypatch, history)
    rewrite(ck, legacy=True, commit=history["other"])
    shutil.move(tmp_path / "fig2", tmp_path / "moved-away")
    lines = []
    campaign(tmp_path, lines.append)
    print(lines)
    assert rows(tmp_path) == reference, "the old checkpoint's numbers were stored"
    assert any("discarded" in s for s in lines)


def test_a_finished_checkpoint_whose_rows_are_stored_is_removed(tmp_path, reference,
                                                                monkeypatch):
    real = ResultsStore.append

    def stored_then_killed(self, *a, **k):
        real(self, *a, **k)
        raise KeyboardInterrupt

    monkeypatch.setattr(ResultsStore, "append", stored_then_killed)
    with pytest.raises(KeyboardInterrupt):
        campaign(tmp_path)
    monkeypatch.setattr(ResultsStore, "append", real)
    (ck,) = (tmp_path / "_populations" / BUDGET.name).glob("*.pt")
    rewrite(ck)                          # were it ever resumed, its row would show MARK
    lines = []
    campaign(tmp_path, lines.append)
    print(lines)
    assert not ck.exists(), "the finished checkpoint was left behind"
    assert not ck.with_suffix(".lock").exists()
    assert [s for s in lines if str(ck) in s and "stored: removed" in s]
    shutil.move(tmp_path / "fig2", tmp_path / "moved-away")       # the stale-row recipe
    campaign(tmp_path)
    assert rows(tmp_path) == reference


def stamp_tool():
    spec = importlib.util.spec_from_file_location("stamp_checkpoint",
                                                  ROOT / "tools" / "stamp_checkpoint.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_an_unknown_checkpoint_is_set_aside_and_can_be_stamped_by_hand(tmp_path, reference,
                                                                       capsys):
    """No code version and no segment (killed before its first segment ended): the campaign sets
    it aside, says how to stamp it, and recomputes; stamped with the evidence, it is resumed."""
    import lra.campaign.population_checkpoints as pc
    _, ck = stopped(tmp_path)
    rewrite(ck, legacy=True, segments=[])
    lines = []
    campaign(tmp_path, lines.append)
    print(lines)
    aside = ck.with_name(ck.name + ".unverified")
    assert aside.exists() and rows(tmp_path) == reference
    assert [s for s in lines if "set aside" in s and "tools/stamp_checkpoint.py" in s]
    tool = stamp_tool()
    assert tool.main([str(aside)]) == 2                        # its segments cannot tell
    assert "code version unknown" in capsys.readouterr().err
    assert tool.main([str(aside), "--code-version", "HEAD", "--evidence", "x"]) == 2
    assert tool.main([str(aside), "--code-version", code_version(),
                      "--evidence", "campaign log: commit c5794c2, code version 471e17a07746"]) == 0
    raw = read(aside)
    print(capsys.readouterr().out, raw["code_version"], raw["stamp"])
    assert raw["code_version"] == code_version() and "c5794c2" in raw["stamp"]
    assert tool.main([str(aside), "--code-version", code_version(), "--evidence", "y"]) == 2
    assert "already says" in capsys.readouterr().err
    assert tool.main([str(aside)]) == 0 and "unchanged" in capsys.readouterr().out  # rerun
    assert read(aside)["stamp"] == raw["stamp"]
    shutil.move(aside, ck)
    assert pc.vet(ck, log=print)                               # resumed


def test_the_committed_older_checkpoints_establish_their_code_version_here():
    """The checkpoints committed under results/_populations/ (written before checkpoints named
    their code) must resume in this checkout whenever their commits are the current code: their
    segments cover their iterations from commits of this history."""
    import lra.campaign.population_checkpoints as pc
    if not (ROOT / ".git").exists():
        pytest.skip("no git history in this copy")
    pc.commit_code_version.cache_clear()          # (looked up in this checkout, not a test's)
    found = sorted((ROOT / "results" / "_populations").glob("*/*.pt"))
    for path in found:
        ck = read(path)
        versions, how = pc.written_by(ck)
        print(path.name, versions, how)
        assert versions is not None, f"{path}: {how}"


def test_the_iterations_a_checkpoint_trained_count_only_for_the_current_code(tmp_path):
    """What the plan prices as already trained (lra campaign --plan evidence --dry-run): each row
    a checkpoint feeds, at the checkpoint's iteration; nothing for a checkpoint of other code (the
    campaign would discard it) or one it cannot read."""
    from lra.campaign.population_checkpoints import trained_iterations
    pop, ck = stopped(tmp_path)
    at = int(read(ck)["iteration"])
    got = trained_iterations(ck.parent)
    print("stopped at", at, "->", got)
    assert at > 0 and got == {r.key: at for r in pop.runs}
    rewrite(ck, code_version="0123456789ab")
    print("other code ->", trained_iterations(ck.parent))
    assert trained_iterations(ck.parent) == {}
    ck.write_bytes(b"not a checkpoint")
    assert trained_iterations(ck.parent) == {}
