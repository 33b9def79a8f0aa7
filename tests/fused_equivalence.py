"""Run by tests/test_fused.py in a fresh interpreter with TRITON_INTERPRET=1 (Triton reads the
variable at import). Prints one JSON line: the largest relative difference between the fused
kernel and the PyTorch reference, per case."""
import json
import os

os.environ["TRITON_INTERPRET"] = "1"

import torch  # noqa: E402

from lra.engine import PopulationTrainer  # noqa: E402
from lra.fused import fused_chain  # noqa: E402
from lra.lra_diff import (PAPER, Hyper, LRADiff, LRADiffConfig, ReleasedCodeSwitches,  # noqa: E402
                          hidden_target_chain, lra_diff_grads)
from lra.model import init_population, input_projection, unroll  # noqa: E402
from lra.tasks import generate, get_task, make_generator  # noqa: E402

CONFIGS = [LRADiffConfig(gamma=1.0, K=3), LRADiffConfig(gamma=0.1, K=2, loss="log_penalty", c1=1e-3),
           LRADiffConfig(gamma=10.0, K=1, norm="forced", c1=1.0),
           LRADiffConfig(gamma=1.0, K=4, norm="off", lam=0.5), LRADiffConfig(gamma=0.01, K=2, c0=0, c1=0)]


def rel(a, b):
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def batch(task, T, P):
    g = make_generator(task, T, 0, "fused-check")
    bs = [generate(task, T, 20, g) for _ in range(P)]
    return torch.stack([b[0] for b in bs]), torch.stack([b[1] for b in bs])


def chain_inputs(params, x, seed=0):
    xw = input_projection(params, x)
    h, z, _ = unroll(params, xw)
    g = torch.Generator().manual_seed(seed)
    top = torch.tanh(h[:, -1] - 0.3 * torch.randn(h[:, -1].shape, generator=g))
    return h, z, xw + params.b_h[:, None, None], top


def compare_chain(params, x, switches, configs, lengths=None):
    hy = Hyper(configs)
    h, z, xwb, top = chain_inputs(params, x)
    out = {}
    if lengths is None:
        ref = hidden_target_chain(params.W_hh, h, z, xwb, top, hy, switches, True)
        got = fused_chain(params.W_hh, h, z, xwb, top, hy, switches, True)
        for name, a, b in zip(("targets", "z_check", "dh_norm"), got, ref):
            out[name] = rel(a, b)
        return out
    # members of different lengths in one launch: each equals its own PyTorch chain
    got = fused_chain(params.W_hh, h, z, xwb, top, hy, switches, True, lengths=lengths)
    worst = 0.0
    for p, T_p in enumerate(lengths.tolist()):
        sub = Hyper([configs[p]])
        sl = lambda a: a[p:p + 1, :T_p]
        ref = hidden_target_chain(params.W_hh[p:p + 1], sl(h), sl(z), sl(xwb), top[p:p + 1], sub,
                                  switches, True)
        worst = max(worst, rel(got[0][p, :T_p], ref[0][0]), rel(got[2][p, :T_p - 1], ref[2][0, :-1]))
    return {"mixed_lengths": worst}


def main():
    res = {}
    P, T = len(CONFIGS), 10
    for task in ("temporal_order", "random_permutation"):
        spec = get_task(task)
        params = init_population(range(P), spec.n_in, spec.n_out)
        x, y = batch(task, T, P)
        for sw_name, sw in (("paper", PAPER),
                            ("from_original", ReleasedCodeSwitches(loss_from_original_activity=True)),
                            ("single_clip", ReleasedCodeSwitches(single_clip=True))):
            for k, v in compare_chain(params, x, sw, CONFIGS).items():
                res[f"{task}/{sw_name}/{k}"] = v
        # The whole of Algorithm 1-2 with the fused chain. The weight updates depend on z - z_hat,
        # a difference at float32's resolution below the top layers; with lambda > 0 Omega acts
        # on it whatever its scale, so regularised updates differ by rounding at any precision
        # (engine chapter). Compare the unregularised members, against float64 as well.
        hy = Hyper(CONFIGS)
        a, _ = lra_diff_grads(params, x, y, hy, PAPER)
        b, _ = lra_diff_grads(params, x, y, hy, PAPER, chain=fused_chain)
        p64 = type(params)(**{k: v.double() for k, v in params.items()})
        ref, _ = lra_diff_grads(p64, x.double(), y, hy, PAPER)
        plain = [p for p, c in enumerate(CONFIGS) if c.lam == 0]
        err = lambda g, r: max(rel(getattr(g, k)[p].double(), getattr(r, k)[p].double())
                               for k, _ in r.items() for p in plain)
        res[f"{task}/grads_fused_vs_torch"] = err(b, a)
        res[f"{task}/grads_float32_torch_vs_float64"] = err(a, ref)
        res[f"{task}/grads_float32_fused_vs_float64"] = err(b, ref)
    # trained weights: 60 iterations of training first, then compare
    trainer = PopulationTrainer(LRADiff(CONFIGS), "temporal_order", T, list(range(P)),
                                device="cpu", max_iterations=60, check_every=30, validation_size=100)
    trainer.run()
    x, _ = batch("temporal_order", T, P)
    for k, v in compare_chain(trainer.params, x, PAPER, CONFIGS).items():
        res[f"trained/{k}"] = v
    # members with different T in one launch
    params = init_population(range(P), 6, 4)
    x, _ = batch("temporal_order", 14, P)
    res.update(compare_chain(params, x, PAPER, CONFIGS,
                             lengths=torch.tensor([14, 10, 12, 11, 13])))
    # the engine's algorithm object takes the fused chain when asked
    algo = LRADiff(CONFIGS, fused=True)
    res["engine_uses_fused"] = algo.chain is fused_chain
    print(json.dumps(res))


if __name__ == "__main__":
    main()
