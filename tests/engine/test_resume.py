"""Resume after a kill at any point, including between a population's last checkpoint and the
store write, when the iteration cap is not a multiple of the check interval (issue 13: the
resumed run found nothing left to do and failed with UnboundLocalError in lra/engine/trainer.py)."""
import pandas as pd
import pytest

import lra.campaign.store
from lra.engine.trainer import PopulationTrainer
from lra.algorithms.lra_diff import LRADiff, LRADiffConfig
from lra.campaign.runner import run_experiments
from lra.campaign.store import ResultsStore

VOLATILE = ["wall_seconds", "device", "commit"]


def test_trainer_resumed_from_its_final_checkpoint_returns_the_same_results(tmp_path):
    ck = str(tmp_path / "ck.pt")
    kw = dict(validation_size=100, check_every=10, max_iterations=25, device="cpu")
    configs = [LRADiffConfig(alpha=0.01, gamma=1.0, K=2), LRADiffConfig(alpha=0.0, K=2)]
    first = PopulationTrainer(LRADiff(configs), "temporal_order", 10, [0, 1],
                              checkpoint_path=ck, **kw)
    results = first.run()                      # writes its final checkpoint at the cap (25)
    assert first.finished and first.iteration == 25
    # killed here, before the rows were stored: the next run starts from that checkpoint
    again = PopulationTrainer(LRADiff(configs), "temporal_order", 10, [0, 1],
                              checkpoint_path=ck, **kw)
    resumed = again.run()
    assert again.finished and again.iteration == 25
    assert [r.numbers() for r in resumed] == [r.numbers() for r in results]


def test_campaign_killed_before_its_store_write_resumes(tmp_path, monkeypatch):
    """fig2 at a cap of 45 (smoke checks every 50): the population finishes, its checkpoint is
    saved, and the process dies before store.append; the next campaign must store the same rows
    as an uninterrupted one."""
    def campaign(root):
        return run_experiments(["fig2"], "smoke", device="cpu", max_iterations=45,
                               store=ResultsStore(root), log=lambda s: None)

    campaign(tmp_path / "ref")
    real = lra.campaign.store.ResultsStore.append

    def killed(self, *a, **k):
        raise KeyboardInterrupt                # the process dies before any byte is written

    monkeypatch.setattr(lra.campaign.store.ResultsStore, "append", killed)
    with pytest.raises(KeyboardInterrupt):
        campaign(tmp_path / "killed")
    ck_dir = tmp_path / "killed" / "_populations" / "smoke-cap45"   # merged populations' folder
    assert list(ck_dir.glob("*.pt"))
    monkeypatch.setattr(lra.campaign.store.ResultsStore, "append", real)
    res = campaign(tmp_path / "killed")
    assert res["finished"]
    ref = ResultsStore(tmp_path / "ref").load("fig2", "smoke-cap45")
    got = ResultsStore(tmp_path / "killed").load("fig2", "smoke-cap45")
    assert len(ref) == 1
    pd.testing.assert_frame_equal(ref.drop(columns=VOLATILE), got.drop(columns=VOLATILE),
                                  check_dtype=False)
    assert not list(ck_dir.glob("*"))
