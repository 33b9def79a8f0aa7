"""The released script's step (lra.algorithms.released_script) against hand-derived formulas, and against
this package's local one-step reading of the same departures (lra.algorithms.lra_diff, all switches on).

Tiny case in float64: T = 4, batch 3, 5 hidden, 6 inputs, 4 classes, K = 3, gamma = 2, c = 1/16
(small enough that Normalize clips: checked below, so the clip is exercised; gamma and c are exact
in float32, in which lra.algorithms.lra_diff.Hyper stores them). Tolerances: every
quantity compared is a short chain of float64 products and sums of O(1) numbers, so agreement to
1e-10 (relative) is ~1e6 ulps of headroom and a wrong term shows as O(1).
"""
import numpy as np
import pytest
import torch

from lra.algorithms.lra_diff import Hyper, LRADiffConfig, ReleasedCodeSwitches, lra_diff_grads
from lra.model import RNNParams
from lra.algorithms.released_script import clip, released_step, stream_batch

T, B, H, N_IN, N_OUT, K, GAMMA, C = 4, 3, 5, 6, 4, 3, 2.0, 0.0625
RTOL = 1e-10


def close(a, b, what):
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    err = float((a - b).norm() / max(float(b.norm()), 1e-300))
    print(f"{what}: |a|={float(a.norm()):.6e} |b|={float(b.norm()):.6e} relative difference {err:.2e}")
    assert err < RTOL, what


@pytest.fixture(scope="module")
def case():
    g = torch.Generator().manual_seed(7)
    W = dict(W_xh=torch.randn(N_IN, H, generator=g, dtype=torch.float64) * 0.8,
             W_hh=torch.randn(H, H, generator=g, dtype=torch.float64) * 0.6,
             W_hy=torch.randn(H, N_OUT, generator=g, dtype=torch.float64),
             b_h=torch.randn(H, generator=g, dtype=torch.float64) * 0.1,
             b_y=torch.randn(N_OUT, generator=g, dtype=torch.float64) * 0.1)
    sym = torch.randint(0, N_IN, (T, B), generator=g)
    x = torch.nn.functional.one_hot(sym, N_IN).double()
    y = torch.randint(0, N_OUT, (B,), generator=g)
    oh = torch.nn.functional.one_hot(y, N_OUT).double()
    # the forward pass by hand (eq. 1), zero state before step 0
    hs, zs, s = [], [], torch.zeros(B, H, dtype=torch.float64)
    for t in range(T):
        hs.append(s @ W["W_hh"] + x[t] @ W["W_xh"] + W["b_h"])
        s = torch.tanh(hs[-1])
        zs.append(s)
    return W, x, y, oh, hs, zs, released_step(W, x, oh, GAMMA, K, C)


def top_target(W, oh, h_top):
    """Lines 251-265 by hand: dE/dh = ((softmax - y)/B) W_hy^T (1 - z^2), clipped, K steps."""
    h_bar, norms = h_top, []
    for _ in range(K):
        z = torch.tanh(h_bar)
        d = ((torch.softmax(z @ W["W_hy"] + W["b_y"], 1) - oh) / B) @ W["W_hy"].T * (1 - z * z)
        norms.append(float(d.norm()))
        h_bar = h_bar - GAMMA * clip(d, C)
    return torch.tanh(h_bar), norms


def test_output_layer_and_top_target_match_formulas(case):
    W, x, y, oh, hs, zs, R = case
    p = torch.softmax(zs[-1] @ W["W_hy"] + W["b_y"], 1)
    g_logits = (p - oh) / B
    close(R.grads["W_hy"], clip(zs[-1].T @ g_logits, C), "grad W_hy = Normalize(z^T dE/dlogits, c)")
    close(R.grads["b_y"], g_logits.sum(0), "grad b_y = sum_b dE/dlogits (not clipped)")
    z_hat, norms = top_target(W, oh, hs[-1])
    assert max(norms) > C, "the tiny case must exercise the clip of the top target step"
    close(R.top_dh, norms, "||dE/dh_bar|| at each of the K top steps")
    close(R.targets[-1], z_hat, "top target z_hat_{T-1}")


def released_top_delta(z, z_hat):
    """dL/dh_{T-1} of L = MSE(z, z_hat) with z = tanh(h), z_hat = tanh(h - gamma sum Delta),
    Delta constant: both arguments depend on h (deviation 2): 2(z - z_hat)/n (z_hat^2 - z^2)."""
    return 2 * (z - z_hat) / z.numel() * ((1 - z * z) - (1 - z_hat * z_hat))


def test_top_layer_gradient_is_bptt_of_the_local_loss(case):
    """Lines 283-285 for l = T-1: autograd of L(z_{T-1}, z_hat_{T-1}) through every step, i.e.
    BPTT of the local loss: delta_{t-1} = delta_t W_hh^T (1 - z_{t-1}^2)."""
    W, x, y, oh, hs, zs, R = case
    delta = released_top_delta(zs[-1], R.targets[-1])
    g_hh, g_xh, g_b = 0, 0, 0
    for t in range(T - 1, -1, -1):
        if t > 0:
            g_hh = g_hh + zs[t - 1].T @ delta
        g_xh = g_xh + x[t].T @ delta
        g_b = g_b + delta.sum(0)
        if t > 0:
            delta = delta @ W["W_hh"].T * (1 - zs[t - 1] ** 2)
    close(R.layer["W_hh"][-1], clip(g_hh, C), "layer T-1: grad W_hh (BPTT, clipped)")
    close(R.layer["W_xh"][-1], clip(g_xh, C), "layer T-1: grad W_xh (BPTT, clipped)")
    close(R.layer["b_h"][-1], g_b, "layer T-1: grad b_h (BPTT, not clipped)")
    # the first step of the chain below: dL/dh_{T-2} through both arguments
    d0 = released_top_delta(zs[-1], R.targets[-1]) @ W["W_hh"].T * (1 - zs[-2] ** 2)
    close(R.chain_dh[T - 2, 0], d0.norm(), "||Delta h_{T-2}|| at k = 0 (both arguments of L)")
    assert float(R.layer["W_hh"][0].abs().max()) == 0, "layer 0 is never trained (deviation 4)"


def local(W, x, y, switches):
    hyper = Hyper([LRADiffConfig(alpha=1.0, gamma=GAMMA, K=K, c0=C, c1=C, lam=0.0, loss="mse")])
    params = RNNParams(**{k: v.unsqueeze(0) for k, v in W.items()})
    return lra_diff_grads(params, x.unsqueeze(0), y.unsqueeze(0), hyper, switches, probe=True)


def test_local_switches_equal_where_claimed_and_where_they_differ(case):
    """With every switch on, the local reading equals the released step on the output layer, the
    top target and the top local loss. It differs on (a) the top layer's weight gradient: the
    local form keeps only the last step of the BPTT sum above (the released one adds the history,
    t < T-1), and (b) the first target step below the top: the local form differentiates
    L(z_{T-1}(h_bar), z_hat_{T-1}) through z only, the released one also through z_hat_{T-1}."""
    W, x, y, oh, hs, zs, R = case
    grads, stats = local(W.copy(), x, y, ReleasedCodeSwitches.all_on())
    close(grads.W_hy[0], R.grads["W_hy"], "equal: grad W_hy")
    close(grads.b_y[0], R.grads["b_y"], "equal: grad b_y")
    close(stats["post_target_loss"][0], R.train_loss, "equal: E after the K top steps")
    close(stats["local_loss"][0, -1], R.layer_loss[-1], "equal: top local loss")
    # (a) one-step top-layer gradient = the t = T-1 term of the BPTT sum (switch 2's form)
    delta = released_top_delta(zs[-1], R.targets[-1])
    one_step = clip(zs[-2].T @ delta, C)
    close(stats["dW_hh_norm"][0, -1], one_step.norm(), "local top layer ||grad W_hh|| = one step")
    history = float((R.layer["W_hh"][-1] - one_step).norm() / one_step.norm())
    print(f"released top layer vs its one-step term: relative difference {history:.3f}")
    assert history > 1e-3, "the history terms must be visible in this case"
    # (b) local first chain step: through z only; released: also through the target
    z, z_hat = zs[-1], R.targets[-1]
    through_z = (2 * (z - z_hat) / z.numel() * (1 - z * z)) @ W["W_hh"].T * (1 - zs[-2] ** 2)
    close(stats["dh_norm"][0, T - 2], clip(through_z, C).norm(),
          "local ||Delta h_{T-2}|| at k = 0 (through z only, clipped)")
    ratio = float(R.chain_dh[T - 2, 0]) / float(through_z.norm())
    print(f"released / local first chain displacement (before clip): {ratio:.3f}")
    assert abs(ratio - 1) > 1e-3


def test_stream_batch_semantics():
    """The script's generators: random permutation's label is its first symbol (0 or 1),
    distractors in {2..99}; temporal order at T = 10 plants v0 at 1 and v1 at 5."""
    rng = np.random.RandomState(0)
    x, y = stream_batch(rng, "random_permutation", 10, 50)
    sym = x.argmax(-1)
    assert x.shape == (10, 50, 100) and torch.equal(sym[0], y) and set(y.tolist()) <= {0, 1}
    assert int(sym[1:].min()) >= 2
    x, y = stream_batch(rng, "temporal_order", 10, 50)
    sym = x.argmax(-1)
    assert torch.equal(sym[1] + 2 * sym[5], y)
    others = torch.cat([sym[:1], sym[2:5], sym[6:]])
    assert int(others.min()) >= 2 and int(others.max()) <= 5


def test_both_ablations_give_exactly_the_local_reading(case):
    """The local switches are the one-step form of the script's step: without the history terms
    (``history=False``) and with the first chain step through z only (``chain="local"``), the
    released step's summed updates equal lra_diff_grads with every switch on. Each ablation alone
    still differs (both differences are real)."""
    W, x, y, oh, hs, zs, R = case
    grads, _ = local(W.copy(), x, y, ReleasedCodeSwitches.all_on())
    both = released_step(W, x, oh, GAMMA, K, C, history=False, chain="local")
    for k in ("W_hh", "W_xh", "b_h", "W_hy", "b_y"):
        close(both.grads[k], getattr(grads, k)[0], f"one-step released step = local reading: {k}")
    for kw in (dict(history=False), dict(chain="local")):
        one = released_step(W, x, oh, GAMMA, K, C, **kw)
        d = float((one.grads["W_hh"] - grads.W_hh[0]).norm() / grads.W_hh[0].norm())
        print(f"{kw} alone vs local reading, grad W_hh: relative difference {d:.3e}")
        assert d > 1e-6, kw


def test_parse_released_output():
    """The script's printed curve (line 359) and stop lines (lines 339, 364, 368) are read back."""
    from lra.campaign.released_runs import parse_released_output
    text = ("Starting val loss: 4.5041\t Starting val accuracy: 3.8200%\n\n"
            "It 100/10,000\t\tTrain loss: 0.0226\t\tVal loss: 0.3594\tVal Acc: 97.1100%\t"
            "Highest: 97.1100% 0\n"
            "It 1,200/10,000\t\tTrain loss: 0.0118\t\tVal loss: 0.1983\tVal Acc: 50.3200%\t"
            "Highest: 97.1100% 11\n"
            "Validation error not reducing. Val acc: 0.9711 Aborting...\n")
    r = parse_released_output(text)
    print(r)
    assert r["curve"]["iteration"] == [100, 1200]
    assert r["curve"]["accuracy"] == pytest.approx([0.9711, 0.5032], abs=1e-12)
    assert r["start_accuracy"] == pytest.approx(0.0382) and r["stop_reason"] == "patience"
    assert r["best_accuracy"] == pytest.approx(0.9711)


def test_the_stored_runs_are_found():
    """The chapter reads results/released_script/ through lra.campaign.released_runs: the script's
    printed output and our readings' runs are all found there."""
    from lra.campaign.released_runs import STORED, load_runs
    runs = load_runs(STORED)
    readings = {r["reading"] for r in runs}
    print(len(runs), sorted(readings))
    assert readings >= {"released script", "autograd", "local"}
    assert all(r["curve"]["iteration"] for r in runs if r["reading"] == "released script")
