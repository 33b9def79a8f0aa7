"""Merged populations: members sorted by K run inner step k on a prefix, finished members are
compacted out at checks, and neither changes any member's numbers (bit for bit on one device)."""
import os

import torch

from lra.algorithms.bptt import BPTT, BPTTConfig
from lra.engine.trainer import PopulationTrainer
from lra.algorithms.lra_diff import Hyper, LRADiff, LRADiffConfig
from lra.algorithms.tptt import TPTT, TPTTConfig

SMALL = dict(validation_size=200, check_every=10, device="cpu")


def equal_params(a, b, rows_a, rows_b):
    return all(torch.equal(va[rows_a], vb[rows_b]) for (_, va), (_, vb) in zip(a.items(), b.items()))


def test_hyper_prefix_rows():
    hy = Hyper([LRADiffConfig(K=k) for k in (3, 3, 2, 1)])
    print("rows stepping at k = 0, 1, 2:", hy.rows_at)
    assert hy.K_sorted and hy.rows_at == [4, 3, 2]
    assert not Hyper([LRADiffConfig(K=k) for k in (1, 3)]).K_sorted


def test_members_with_smaller_K_equal_themselves_alone():
    """Sorted K (prefix path): every member equals the same member trained alone, exactly."""
    configs = [LRADiffConfig(alpha=0.05, gamma=1.0, K=4, lam=0.1),
               LRADiffConfig(alpha=0.1, gamma=0.1, K=3, loss="log_penalty"),
               LRADiffConfig(alpha=0.01, gamma=10.0, K=2, norm="forced"),
               LRADiffConfig(alpha=0.1, gamma=1.0, K=1, c0=0.0, c1=0.0)]
    pop = PopulationTrainer(LRADiff(configs), "temporal_order", 10, [0, 1, 0, 2],
                            **{**SMALL, "max_iterations": 25, "check_every": 1000})
    assert pop.algorithm.hyper.K_sorted and not pop.algorithm.hyper.K_uniform
    pop.run()
    for p, (cfg, seed) in enumerate(zip(configs, [0, 1, 0, 2])):
        alone = PopulationTrainer(LRADiff([cfg]), "temporal_order", 10, [seed],
                                  **{**SMALL, "max_iterations": 25, "check_every": 1000})
        alone.run()
        print(f"member {p} (K={cfg.K}) equals itself alone:",
              equal_params(pop.params, alone.params, [p], [0]))
        assert equal_params(pop.params, alone.params, [p], [0]), p


def _mixed_population(compact, algo="lra", **kw):
    if algo == "lra":
        configs = [LRADiffConfig(alpha=0.1, gamma=1.0, K=3),       # solves early
                   LRADiffConfig(alpha=1e38, gamma=1.0, K=2),      # diverges
                   LRADiffConfig(alpha=0.0, K=2),                  # frozen: patience
                   LRADiffConfig(alpha=0.01, gamma=0.1, K=1)]      # runs to the cap
        algorithm = LRADiff(configs)
    elif algo == "bptt":
        algorithm = BPTT([BPTTConfig(0.5), BPTTConfig(1e38), BPTTConfig(0.0), BPTTConfig(0.01)])
    else:
        algorithm = TPTT([TPTTConfig(lr_f=0.05), TPTTConfig(lr_f=1e38), TPTTConfig(lr_f=0.0),
                          TPTTConfig(lr_f=0.01)])
    # the last LRA-diff member stops at the cap, after every other stop (solved at 120, diverged
    # at 10, patience at 30; BPTT's and TPTT's members all stop by 120 before it): 200 keeps every
    # stop and compaction of 400, the cap it had (the member then trained alone 2.5x as long)
    return PopulationTrainer(algorithm, "temporal_order", 10, [0, 0, 1, 0],
                             **{**SMALL, "max_iterations": 200, "validation_size": 300,
                                "patience": 3, "compact": compact, "compact_fraction": 0.0,
                                **kw})


def test_compaction_changes_no_result():
    for algo in ("lra", "bptt", "tptt"):
        plain = _mixed_population(False, algo)
        plain_res = plain.run()
        packed = _mixed_population(True, algo)
        packed_res = packed.run()
        reasons = [r.stop_reason for r in packed_res]
        print(f"{algo}: stop reasons {reasons}; live rows at the end {packed.member_ids}; "
              f"compactions {packed.recaptures}")
        assert packed.recaptures >= 1 and len(packed.member_ids) < 4
        assert [r.numbers() for r in plain_res] == [r.numbers() for r in packed_res], algo
        full = packed.full_params()
        assert equal_params(plain.params, full, list(range(4)), list(range(4))), algo


def test_resume_of_a_compacted_population(tmp_path):
    ck = str(tmp_path / "ck.pt")
    full = _mixed_population(True)
    full_res = full.run()
    part = _mixed_population(True, checkpoint_path=ck, checkpoint_every=10)
    part.run(stop_after_seconds=0)
    while not part.finished:       # stop at every check, resume in a fresh trainer each time
        part = _mixed_population(True, checkpoint_path=ck, checkpoint_every=10)
        part.run(stop_after_seconds=0)
    assert [r.numbers() for r in full_res] == [r.numbers() for r in part.results]
    assert equal_params(full.full_params(), part.full_params(), list(range(4)), list(range(4)))


def test_resume_after_a_kill_at_the_cap(tmp_path):
    """The final checkpoint (written after the last check at a cap that is not a multiple of the
    check interval) resumes to the same results instead of failing."""
    ck = str(tmp_path / "ck.pt")
    kw = dict(max_iterations=35, checkpoint_path=ck)
    first = _mixed_population(True, **kw)
    res = [r.numbers() for r in first.run()]
    assert os.path.exists(ck)      # the process "dies" here, before the store write
    again = _mixed_population(True, **kw)
    assert [r.numbers() for r in again.run()] == res and again.finished
