"""Fig. 3's two readings of forced normalisation (book chapter "Vanishing gradients", Figure 3).

``norm="forced"`` forces every Normalize of Algorithm 1 (Delta h on line 21 *and* the weight
gradients on lines 16-18) to norm c; ``norm="forced_dh"`` forces Delta h alone (the paper's
"c1 = 1.0 always enforced"), the weight gradients keeping line 29's clip. Both are checked
against the single-network autograd reference (lra.algorithms.reference), which states the two readings
independently.
"""
import pytest
import torch

from conftest import population, population_batch
from lra.algorithms.lra_diff import NORM_MODES, Hyper, LRADiffConfig, dh_rule, lra_diff_grads, weight_rule
from lra.notebook import check_against_reference

T = 10
U = torch.finfo(torch.float64).eps / 2
# A rescaled norm is c (1 +- CLIP): a norm of N <= B H = 2,000 squares (N u), a division and a
# product (2 u), and the probe's norm again (N u) — see tests/algorithms/test_switches.py.
CLIP = (2 * 20 * 100 + 2) * U


def run(configs, task="random_permutation"):
    P = len(configs)
    params = population(task, P)
    params = type(params)(**{k: v.double() for k, v in params.items()})
    x, y = population_batch(task, T, P)
    grads, stats = lra_diff_grads(params, x.double(), y, Hyper(configs), probe=True)
    return params, x.double(), y, grads, stats


def test_modes_and_their_rules():
    assert NORM_MODES == ("standard", "off", "forced", "forced_dh")
    rules = {m: (dh_rule(m), weight_rule(m)) for m in NORM_MODES}
    print(rules)
    assert rules["forced"] == ("forced", "forced")
    assert rules["forced_dh"] == ("forced", "standard")
    assert rules["standard"] == ("standard", "standard")


def test_forced_dh_rescales_delta_h_only():
    """Under forced_dh every Delta h below the top has norm c1 (it would vanish otherwise), while
    the weight gradients are clipped (<= c0), not forced: with c0 = 1 most layers' gradients are
    far below 1, which the "forced" reading would have lifted to exactly c0."""
    c0, c1 = 1.0, 1.0
    cfgs = [LRADiffConfig(gamma=1.0, K=3, c0=c0, c1=c1, norm=m)
            for m in ("standard", "forced", "forced_dh")]
    *_, stats = run(cfgs)
    dh, ghh, gxh = stats["dh_norm"], stats["dW_hh_norm"], stats["dW_xh_norm"]
    for name, row in zip(("standard", "forced", "forced_dh"), range(3)):
        print(f"{name:10s} ||Delta h_t|| t<T-1: {dh[row, :-1].tolist()}")
        print(f"{name:10s} ||dW_hh^t||:          {ghh[row].tolist()}")
        print(f"{name:10s} ||dW_xh^t||:          {gxh[row].tolist()}")
    # Delta h (first inner step, steps 0..T-2) forced to c1 in both forced readings
    for row in (1, 2):
        assert torch.all((dh[row, :-1] - c1).abs() <= CLIP * c1), dh[row]
    # the standard rule only clips: the displacement vanishes below the top
    assert dh[0, :-1].min() < 1e-3 * c1
    # "forced": every layer's weight gradient is exactly c0 (all nonzero here)
    assert torch.all((ghh[1, 1:] - c0).abs() <= CLIP) and torch.all((gxh[1] - c0).abs() <= CLIP)
    # "forced_dh": clipped to <= c0, and not forced: some layers well below c0
    assert torch.all(ghh[2] <= c0 * (1 + CLIP)) and torch.all(gxh[2] <= c0 * (1 + CLIP))
    assert gxh[2].min() < 0.5 * c0, gxh[2]
    # forcing Delta h changes the targets, hence the gradients, relative to the standard rule
    assert not torch.allclose(gxh[2], gxh[0])


@pytest.mark.parametrize("task", ["random_permutation", "temporal_order"])
def test_forced_dh_matches_autograd_reference(task):
    """The population implementation of both readings against lra.algorithms.reference in float64, with the
    conditioning-derived bound of lra.notebook.check_against_reference (which refuses members whose
    signal is at rounding level rather than passing them)."""
    cfgs = [LRADiffConfig(gamma=1.0, K=3, c0=1.0, c1=1.0, norm="forced_dh"),
            LRADiffConfig(gamma=0.1, K=2, c0=0.5, c1=1.0, norm="forced_dh", loss="log_penalty"),
            LRADiffConfig(gamma=1.0, K=3, c0=1.0, c1=1.0, norm="forced"),
            LRADiffConfig(gamma=1.0, K=3, c0=1.0, c1=1.0, norm="standard")]
    params, x, y, *_ = run(cfgs, task)
    failures = check_against_reference(params, x, y, cfgs)
    print("\n".join(failures) or "all members within their bounds")
    assert not failures


def test_reference_would_catch_the_other_reading():
    """The comparison can fail: the population's forced_dh update is not the reference's
    "forced" update (the weight gradients differ by far more than rounding)."""
    from lra.algorithms.reference import lra_diff_single
    cfgs = [LRADiffConfig(gamma=1.0, K=3, c0=1.0, c1=1.0, norm="forced_dh")]
    params, x, y, grads, _ = run(cfgs)
    member = {k: v[0] for k, v in params.items()}
    other = lra_diff_single(member, x[0], y[0], gamma=1.0, K=3, c0=1.0, c1=1.0, norm="forced")
    same = lra_diff_single(member, x[0], y[0], gamma=1.0, K=3, c0=1.0, c1=1.0, norm="forced_dh")
    err_other = float((grads.W_xh[0] - other["W_xh"]).norm() / other["W_xh"].norm())
    err_same = float((grads.W_xh[0] - same["W_xh"]).norm() / same["W_xh"].norm())
    print(f"relative error of W_xh vs reference 'forced': {err_other:.2e}, "
          f"vs 'forced_dh': {err_same:.2e}")
    assert err_other > 1e-2 and err_same < 1e-8


def test_fused_chain_sees_the_delta_h_rule():
    """The fused chain kernel (lra.algorithms.chain_kernel) normalises Delta h only, reading Hyper.mode: for
    forced_dh that must be the "forced" rule (its chain equals the "forced" member's), while the
    weight gradients, normalised outside the kernel, read Hyper.mode_w ("standard")."""
    hy = Hyper([LRADiffConfig(norm=m) for m in ("standard", "off", "forced", "forced_dh")])
    print("mode (Delta h):", hy.mode.tolist(), " mode_w (weights):", hy.mode_w.tolist())
    assert hy.mode.tolist() == [0, 1, 2, 2]
    assert hy.mode_w.tolist() == [0, 1, 2, 0]
    assert hy.head(2).mode_w.tolist() == [0, 1]
