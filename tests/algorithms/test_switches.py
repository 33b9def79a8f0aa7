"""Each released-code switch changes exactly what it claims (notes, "lra-rnn", deviations 1-8)."""
import dataclasses

import pytest
import torch

from conftest import population, population_batch
from lra.engine.trainer import PopulationTrainer
from lra.algorithms.lra_diff import (PAPER, Hyper, LRADiff, LRADiffConfig, ReleasedCodeSwitches,
                          lra_diff_grads, member_norm)

T = 10
U = torch.finfo(torch.float64).eps / 2
# Rescaling to norm c computes a norm of N <= 10,000 squares (relative error <= N u whatever the
# summation order), divides and multiplies (2 u), and the probe computes the norm again (N u):
# a clipped norm is c (1 +- CLIP), CLIP = (2 N + 2) u ~ 2.2e-12 in float64.
CLIP = (2 * 100 * 100 + 2) * U


def run(switches, configs, probe=True, task="temporal_order"):
    """In float64, so that each tolerance below is a rounding bound, not float32 noise."""
    P = len(configs)
    params = population(task, P)
    params = type(params)(**{k: v.double() for k, v in params.items()})
    x, y = population_batch(task, T, P)
    return lra_diff_grads(params, x.double(), y, Hyper(configs), switches, probe=probe)


def sw(name):
    return dataclasses.replace(PAPER, **{name: True})


def test_all_switches_listed():
    assert ReleasedCodeSwitches.names() == [
        "single_clip", "targets_not_detached", "loss_from_original_activity", "skip_first_step",
        "released_regularizer", "validation_h0_quirk", "patience", "report_post_target_loss"]
    assert ReleasedCodeSwitches.all_on().enabled() == ReleasedCodeSwitches.names()


def test_1_single_clip():
    # a large gamma makes the clipped top displacement (norm c) still move the targets far
    c = float(torch.tensor(1e-2, dtype=torch.float32))     # as Hyper holds it
    cfg = [LRADiffConfig(gamma=1000.0, K=3, c0=c, c1=5.0)]
    g0, s0 = run(PAPER, cfg)
    g1, s1 = run(sw("single_clip"), cfg)
    # W_hy clipped to c = c0 only under the switch; the paper never clips it
    assert member_norm(g0.W_hy) > c * (1 + CLIP) and member_norm(g1.W_hy) <= c * (1 + CLIP)
    assert torch.equal(g0.b_y, g1.b_y)
    # top-layer displacement clipped with c0 (paper: unclipped at line 10)
    assert s1["dh_norm"][0, -1] <= c * (1 + CLIP) < s0["dh_norm"][0, -1]
    # b_h: per-step terms clipped in the paper, never under the switch (1.01: well clear of c)
    assert (s0["db_h_norm"] <= c * (1 + CLIP)).all() and (s1["db_h_norm"] > c * 1.01).any()
    assert (s1["dW_hh_norm"] <= c * (1 + CLIP)).all()


def test_2_targets_not_detached_changes_hidden_updates_only():
    cfg = [LRADiffConfig(gamma=1.0, K=3, c0=0, c1=0)]
    g0, _ = run(PAPER, cfg)
    g1, _ = run(sw("targets_not_detached"), cfg)
    assert torch.equal(g0.W_hy, g1.W_hy) and torch.equal(g0.b_y, g1.b_y)
    # "differs": by far more than float64 rounding (allclose's default rtol 1e-5 is 1e11 u)
    assert not torch.allclose(g0.W_hh, g1.W_hh)


def test_3_loss_from_original_activity():
    cfg = [LRADiffConfig(gamma=1.0, K=4, c0=0, c1=0)]
    g0, s0 = run(PAPER, cfg)
    g1, s1 = run(sw("loss_from_original_activity"), cfg)
    # the top layer's update and its first displacement below are the same ...
    assert torch.equal(s0["dW_hh_norm"][:, -1], s1["dW_hh_norm"][:, -1])
    assert torch.equal(s0["dh_norm"][:, -2], s1["dh_norm"][:, -2])
    # ... but the layers below are trained by another loss
    assert not torch.allclose(s0["dW_hh_norm"][:, :-1], s1["dW_hh_norm"][:, :-1], atol=0)
    # with K = 1 the inner loop is the paper's, yet the loss passed down still differs
    k1 = [LRADiffConfig(gamma=1.0, K=1, c0=0, c1=0)]
    assert not torch.allclose(run(PAPER, k1)[1]["local_loss"][:, :-1],
                              run(sw("loss_from_original_activity"), k1)[1]["local_loss"][:, :-1],
                              atol=0)


def test_4_skip_first_step():
    # forced c1 = 1 keeps the displacement from vanishing before it reaches t = 0
    cfg = [LRADiffConfig(gamma=1.0, K=3, c0=0, c1=1.0, norm="forced")]
    g0, s0 = run(PAPER, cfg)
    g1, s1 = run(sw("skip_first_step"), cfg)
    assert s1["dW_hh_norm"][0, 0] == 0 and s1["dW_xh_norm"][0, 0] == 0
    assert s0["dW_xh_norm"][0, 0] > 0            # the paper reading (A6) updates from t = 0
    assert torch.equal(s0["dW_xh_norm"][:, 1:], s1["dW_xh_norm"][:, 1:])
    # the first step's W_hh term is zero in both (z_{-1} = 0), so the sums over t differ only by
    # the order of T additions: <= T u sum_t ||term_t|| (per-step norms from the probe)
    assert (g0.W_hh - g1.W_hh).norm() <= T * U * s0["dW_hh_norm"].sum()
    assert not torch.allclose(g0.W_xh, g1.W_xh)          # differs by far more than rounding


def test_5_released_regularizer():
    cfg = [LRADiffConfig(gamma=1.0, K=3, lam=1.0), LRADiffConfig(gamma=1.0, K=3, lam=0.0)]
    _, paper = run(PAPER, cfg)
    _, rel = run(sw("released_regularizer"), cfg)
    # lambda = 0: the switch changes nothing
    assert torch.equal(paper["dW_hh_norm"][1], rel["dW_hh_norm"][1])
    # top layer: the paper regularises grad W_hh, the released code does not
    _, plain = run(PAPER, [LRADiffConfig(gamma=1.0, K=3, lam=0.0)] * 2)
    assert torch.equal(rel["dW_hh_norm"][0, -1], plain["dW_hh_norm"][0, -1])
    assert not torch.equal(paper["dW_hh_norm"][0, -1], plain["dW_hh_norm"][0, -1])
    # ... and it moves the displacement Delta h, which the paper's eq. (5) reading leaves alone
    assert torch.equal(paper["dh_norm"][0], plain["dh_norm"][0])
    assert not torch.equal(rel["dh_norm"][0], plain["dh_norm"][0])


def test_6_validation_h0_quirk():
    cfgs = [LRADiffConfig()]
    a = PopulationTrainer(LRADiff(cfgs), "temporal_order", T, [0], validation_size=300)
    b = PopulationTrainer(LRADiff(cfgs, sw("validation_h0_quirk")), "temporal_order", T, [0],
                          validation_size=300)
    assert b.validation_h0_quirk and not a.validation_h0_quirk
    # by hand: the state before step 0 is x_0 W_xh + b_h (pre-activation), not zero
    sym, lab = b.validation_data()
    p = b.params
    xw = p.W_xh[0][sym[0]]                      # (T, N, H)
    z = xw[0] + p.b_h[0]
    for t in range(T):
        z = torch.tanh(z @ p.W_hh[0] + xw[t] + p.b_h[0])
    logits = z @ p.W_hy[0] + p.b_y[0]
    acc = (logits.argmax(-1) == lab[0]).float().mean().item()
    # float32 logits from two orderings of the same sums differ by <= n u32 |logit| with
    # n = T (H + 1) ~ 1000 operations; only a prediction whose top-two margin is within that can
    # flip, so the accuracies agree up to those samples (none, typically)
    top2 = logits.topk(2, dim=-1).values
    n, u32 = T * (p.W_hh.shape[-1] + 1), torch.finfo(torch.float32).eps / 2
    near = int(((top2[:, 0] - top2[:, 1]) <= 2 * n * u32 * logits.abs().amax(-1)).sum())
    assert abs(b.validate()[0] - acc) <= near / len(lab[0]), (b.validate()[0], acc, near)


def test_7_patience():
    t = PopulationTrainer(LRADiff([LRADiffConfig()], sw("patience")), "temporal_order", T, [0])
    assert t.patience == 30
    frozen = PopulationTrainer(LRADiff([LRADiffConfig(alpha=0.0)]), "temporal_order", T, [0],
                               patience=2, check_every=5, validation_size=100, max_iterations=500)
    (r,) = frozen.run()
    assert r.stop_reason == "patience" and r.iterations == 10


def test_8_report_post_target_loss():
    params = population("temporal_order", 1)
    x, y = population_batch("temporal_order", T, 1)
    for switches, key in ((PAPER, "global_loss"), (sw("report_post_target_loss"), "post_target_loss")):
        algo = LRADiff([LRADiffConfig(gamma=1.0)], switches)
        stats = algo.train_step(params.clone(), {}, x, y, torch.zeros(1))
        assert torch.equal(stats["train_loss"], stats[key])
    assert not torch.equal(stats["global_loss"], stats["post_target_loss"])
