"""Checkpoints are data, never code (issue 20): a checkpoint may come from another machine (a
result bundle carries the populations it stopped), so it is read with
``torch.load(weights_only=True)`` and held to the schema of what the engine writes before the
trainer changes. Every refusal is one line naming the file and the fix; nothing in the file runs.
"""
import dataclasses
import os
import zipfile

import pytest
import torch

from lra.algorithms.lra_diff import LRADiff, LRADiffConfig
from lra.algorithms.tptt import TPTT, TPTTConfig
from lra.engine import checkpoints as C
from lra.engine.results import MemberResult
from lra.engine.trainer import PopulationTrainer

# small populations that compact (patience 1) and probe, so every entry of a checkpoint is there
KW = dict(validation_size=100, check_every=10, max_iterations=40, device="cpu", patience=1,
          compact=True, compact_fraction=0.0, probe_every=10)
FIX = "delete it to start this population afresh"


def make_trainer(ck, algo="tptt"):
    if algo == "tptt":
        algorithm = TPTT([TPTTConfig(lr_f=0.05), TPTTConfig(lr_f=1e38), TPTTConfig(lr_f=0.0)])
    else:
        algorithm = LRADiff([LRADiffConfig(alpha=0.1, K=2), LRADiffConfig(alpha=1e38, K=2),
                             LRADiffConfig(alpha=0.0, K=2)])
    return PopulationTrainer(algorithm, "temporal_order", 10, [0, 1, 0], checkpoint_path=str(ck),
                             **KW)


def stopped_checkpoint(ck, algo="tptt"):
    """The checkpoint of a population stopped twice (at iteration 20, compacted): the trainer."""
    t = make_trainer(ck, algo)
    t.run(stop_after_seconds=0)
    t = make_trainer(ck, algo)
    t.run(stop_after_seconds=0)
    return t


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """A checkpoint the engine writes today (TPTT: algorithm state, generator in the state,
    archive, probes, segments) and its trainer."""
    ck = tmp_path_factory.mktemp("ck") / "tptt.pt"
    t = stopped_checkpoint(ck)
    assert len(t.member_ids) < 3 and t.iteration == 20, (t.member_ids, t.iteration)
    return ck, t


class Payload:
    """Pickles as a call of os.system: what a hostile checkpoint holds."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def refused(trainer, phrase="is unreadable ("):
    """The one-line RuntimeError of loading ``trainer``'s checkpoint; the trainer unchanged."""
    with pytest.raises(RuntimeError) as e:
        trainer.load_checkpoint()
    msg = str(e.value)
    print(msg)
    assert "\n" not in msg and msg.startswith(f"checkpoint {trainer.checkpoint_path} ")
    assert phrase in msg and msg.endswith(FIX), msg
    assert trainer.iteration == 0 and trainer.member_ids == [0, 1, 2]
    return msg


def test_a_checkpoint_whose_pickle_runs_code_is_refused_and_nothing_runs(tmp_path):
    ck, marker = tmp_path / "ck.pt", tmp_path / "ran"
    t = make_trainer(ck)
    torch.save(dict(fingerprint=t.fingerprint(), iteration=0, results=[Payload(marker)]), ck)
    msg = refused(t)
    assert "posix.system" in msg or "os.system" in msg or "nt.system" in msg
    with pytest.raises(C.CheckpointError):
        C.read(ck)
    with pytest.raises(C.CheckpointError):
        C.read(ck.read_bytes())
    assert not marker.exists()
    # the same through the loop: run() refuses before training
    with pytest.raises(RuntimeError, match="is unreadable"):
        make_trainer(ck).run()
    assert not marker.exists()


def test_a_checkpoint_pickled_by_the_previous_code_with_objects_is_refused_in_one_line(tmp_path):
    """Older code could pickle what weights_only refuses (here the results as MemberResult
    objects, as a dataclass would be pickled): one line, the class named, nothing loaded."""
    ck = tmp_path / "old.pt"
    t = make_trainer(ck)
    torch.save(dict(fingerprint=t.fingerprint(), iteration=0, results=[MemberResult()] * 3), ck)
    assert "MemberResult" in refused(t)


def test_a_torn_or_foreign_file_is_refused_in_one_line(tmp_path):
    ck = tmp_path / "ck.pt"
    stopped_checkpoint(ck, "lra")
    ck.write_bytes(ck.read_bytes()[:1000])            # torn
    refused(make_trainer(ck, "lra"))
    ck.write_bytes(b"not a checkpoint")
    refused(make_trainer(ck, "lra"))


def test_what_the_engine_writes_round_trips_through_the_safe_reader(written, tmp_path):
    """(Resuming exactly is tests/engine/test_resume.py's and test_compaction.py's.)"""
    ck, writer = written
    assert {i.compress_type for i in zipfile.ZipFile(ck).infolist()} == {zipfile.ZIP_STORED}
    raw = torch.load(ck, map_location="cpu", weights_only=True)
    # a bare trainer writes every entry but those a campaign sets (the code version, the rows
    # fed: tests/engine/test_checkpoint_versions.py) and a hand stamp's
    assert set(raw) == set(C.KEYS) - {"code_version", "rows", "stamp"}
    assert raw["state"] and raw["probes"] and raw["segments"]
    assert raw["archive"] is not None and "noise_rng" in raw["state"]
    assert all(g.dtype == torch.uint8 for g in raw["generators"])
    C.read(ck)
    C.read(ck.read_bytes())
    again = make_trainer(ck)
    assert again.load_checkpoint()
    assert again.iteration == writer.iteration and again.member_ids == writer.member_ids
    assert [r.numbers() for r in again.results] == [r.numbers() for r in writer.results]
    other = tmp_path / "lra.pt"                # an algorithm without state
    make_trainer(other, "lra").run(stop_after_seconds=0)
    C.read(other)
    assert make_trainer(other, "lra").load_checkpoint()


SCHEMA = {   # what is changed -> (the edit of the loaded dict, a phrase of the refusal)
    "unknown entry": (lambda ck: ck.update(extra=1), "entry 'extra'"),
    "missing entry": (lambda ck: ck.pop("params"), "no 'params'"),
    "weights of inconsistent shapes": (
        lambda ck: ck["params"].update(W_hh=torch.zeros(len(ck["member_ids"]), 50, 50)),
        "params W_hh"),
    "weights of another dtype": (
        lambda ck: ck["params"].update(b_y=ck["params"]["b_y"].double()), "params b_y"),
    "a tensor requiring grad": (
        lambda ck: ck["params"]["W_hh"].requires_grad_(), "not a plain tensor"),
    "member ids out of range": (lambda ck: ck.update(member_ids=[0, 7]), "member_ids"),
    "member ids as text": (lambda ck: ck.update(member_ids=["0"]), "member_ids"),
    "a result of the wrong type": (lambda ck: ck["results"][0].update(solved="yes"),
                                   "result 0: solved is a str"),
    "a result field MemberResult lacks": (lambda ck: ck["results"][1].update(evil=1),
                                          "'evil'"),
    "a tensor in a curve": (lambda ck: ck["results"][0]["curve"].append(torch.zeros(1)),
                            "not plain data"),
    "a float generator state": (
        lambda ck: ck["generators"].__setitem__(0, ck["generators"][0].float()),
        "generator state 0"),
    "archive of another size": (
        lambda ck: ck.update(archive={k: v[:2] for k, v in ck["archive"].items()}), "archive"),
    "a probe without its iteration": (lambda ck: ck["probes"][0].pop("iteration"), "probe 0"),
    "segments holding a tensor": (lambda ck: ck["segments"][0].update(t=torch.zeros(1)),
                                  "segments"),
    "a code version that is not one": (lambda ck: ck.update(code_version="HEAD"),
                                       "its code_version is not a code version"),
    "rows fed that are not row keys": (lambda ck: ck.update(rows={"fig2": [1]}),
                                       "its rows are not a dict"),
    # consistent in itself, but not this population's (check_fits)
    "another number of data streams": (lambda ck: ck["generators"].pop(), "does not fit"),
    "algorithm state of another shape": (
        lambda ck: ck["state"].update(V_hh=ck["state"]["V_hh"][:, :50, :50].clone()),
        "state V_hh"),
    "algorithm state missing an entry": (lambda ck: ck["state"].pop("c_h"), "'c_h'"),
    "a torn generator state in the algorithm state": (
        lambda ck: ck["state"].update(noise_rng=ck["state"]["noise_rng"][:100].clone()),
        "state noise_rng"),
    "an iteration past the cap": (lambda ck: ck.update(iteration=10_000), "past the cap"),
}


@pytest.mark.parametrize("case", sorted(SCHEMA))
def test_a_checkpoint_off_the_schema_is_refused_in_one_line(written, tmp_path, case):
    edit, phrase = SCHEMA[case]
    ck = torch.load(written[0], map_location="cpu", weights_only=True)
    edit(ck)
    path = tmp_path / "ck.pt"
    torch.save(ck, path)
    t = make_trainer(path)
    msg = refused(t, phrase="")
    assert phrase in msg and ("is unreadable (" in msg or "does not fit this population (" in msg)


def test_a_result_field_missing_from_an_older_checkpoint_takes_its_default(written, tmp_path):
    ck = torch.load(written[0], map_location="cpu", weights_only=True)
    for r in ck["results"]:
        del r["best_correct"], r["wall_seconds"]
    path = tmp_path / "ck.pt"
    torch.save(ck, path)
    t = make_trainer(path)
    assert t.load_checkpoint()
    assert all(r.best_correct == "" and r.wall_seconds is None for r in t.results)


def test_the_result_schema_follows_member_result(monkeypatch):
    """The fields come from dataclasses.fields(MemberResult): a field added there (floats or
    None, strings) is accepted without touching the schema."""
    assert set(C.result_schema()) == {f.name for f in dataclasses.fields(MemberResult)}
    Wider = dataclasses.make_dataclass(
        "Wider", [("best_test_accuracy", "float | None", dataclasses.field(default=None)),
                  ("best_test_correct", "str", dataclasses.field(default=""))],
        bases=(MemberResult,))
    monkeypatch.setattr(C, "MemberResult", Wider)
    schema = C.result_schema()
    assert schema["best_test_accuracy"] == (float, int, type(None))
    assert schema["best_test_correct"] == (str,)
    C._results([dict(best_test_accuracy=0.5, best_test_correct="10:AA==")], schema)
    C._results([dict(best_test_accuracy=None)], schema)
    with pytest.raises(C.CheckpointError, match="best_test_accuracy is a str"):
        C._results([dict(best_test_accuracy="0.5")], schema)
