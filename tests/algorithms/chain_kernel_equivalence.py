"""Every variant of the fused chain kernel against the PyTorch chain (and the gradients against
float64). Prints a short human-readable report, then one JSON line (the last line of stdout).

- On a machine without CUDA (or with TRITON_INTERPRET=1 already set, as tests/algorithms/test_chain_kernel.py does)
  the kernels run in Triton's interpreter on the CPU, on small cases.
- With CUDA the compiled kernels run on the GPU (``python tests/algorithms/chain_kernel_equivalence.py``), on the
  same cases plus T = 30 ones, and the gradient acceptance is checked too: for every variant and
  task, the distance of the fused path's updates to float64 is at most 1.5x the distance of the
  PyTorch float32 path's. The kernel's tanh is also compared with torch.tanh bit for bit (the
  gradients hinge on it: targets minus forward activities cancel to float32 resolution, so a tanh
  that differs from the forward pass's by an ulp shows up in the updates; on the CPU the
  interpreter's tanh is correctly rounded like torch's, on CUDA it is libdevice's tanhf, which
  torch.tanh also calls).
- On the CPU the default variant gets every case; the others every code path (switches 1 and 3,
  both losses, all normalisation modes, probes, mixed lengths) on one task at T = 6. A variant
  whose interpreted program equals an earlier one's (the same constexprs: they differ only in
  launch options -- num_warps, num_stages, maxnreg -- which the interpreter ignores) is not run
  again there; ``same_program_as`` names the variant that ran its program. There the
  chain-only comparisons use hidden size H_INTERP = 20 instead of the model's 100 (see
  ``H_INTERP``); the gradients and the trained weights keep H = 100.

On CUDA it also times the chain alone per variant (``--no-bench`` skips it; a few seconds plus
compilation) and compares the kernel's tanh with torch.tanh bit for bit.

Exit status 1 when a chain output differs from PyTorch by more than 1e-5 (relative to the largest
entry) or, on CUDA, when the gradient acceptance fails.
"""
import json
import os
import sys
import time

import torch

if os.environ.get("TRITON_INTERPRET") == "1" or not torch.cuda.is_available():
    os.environ["TRITON_INTERPRET"] = "1"      # Triton reads it at import
    DEVICE = "cpu"
else:
    DEVICE = "cuda"
    torch.backends.cuda.matmul.allow_tf32 = False    # the reference path in true fp32
    torch.backends.cudnn.allow_tf32 = False



def patch_the_language_once_per_launch():
    """Triton's interpreter (3.x) patches triton.language for the interpreter (inspect.getmembers
    over tl, tl.tensor and tl.math, every builtin wrapped) when a kernel launches, and again at
    every call of a @triton.jit helper inside it (the chain kernel's tanh and products: thousands
    per launch, a third of the interpreted time), though the launch's patches are in place: the
    repeat changes nothing (its scope is never restored; it re-sets the same attributes to the
    same wrappers). A helper defined beside the kernel being launched (the same module globals)
    skips the repeat; every operation of the kernel still runs in the interpreter, and the chain's
    outputs are bit-identical with and without. A Triton without these internals is left as is."""
    try:
        from triton.runtime import interpreter
        patch, grid_call = interpreter._patch_lang, interpreter.GridExecutor.__call__
        interpreter._LangPatchScope
    except (ImportError, AttributeError):
        return
    launching = []      # [module globals, patched yet] of the kernels being launched, innermost last

    def launch(self, *args, **kwargs):
        launching.append([self.fn.__globals__, False])
        try:
            return grid_call(self, *args, **kwargs)
        finally:
            launching.pop()

    def patch_once(fn):
        if launching and fn.__globals__ is launching[-1][0]:
            if launching[-1][1]:            # a helper's call: the launch has patched
                return interpreter._LangPatchScope()
            launching[-1][1] = True         # the launch's own patching
        return patch(fn)

    interpreter.GridExecutor.__call__ = launch
    interpreter._patch_lang = patch_once


if DEVICE == "cpu":
    patch_the_language_once_per_launch()

from lra.algorithms import chain_kernel as fused  # noqa: E402
from lra.engine.trainer import PopulationTrainer  # noqa: E402
from lra.algorithms.lra_diff import (PAPER, Hyper, LRADiff, LRADiffConfig, ReleasedCodeSwitches,  # noqa: E402
                          hidden_target_chain, lra_diff_grads)
from lra.model import HIDDEN, init_population, input_projection, unroll  # noqa: E402
from lra.tasks import generate, get_task, make_generator  # noqa: E402

CONFIGS = [LRADiffConfig(gamma=1.0, K=3), LRADiffConfig(gamma=0.1, K=2, loss="log_penalty", c1=1e-3),
           LRADiffConfig(gamma=10.0, K=1, norm="forced", c1=1.0),
           LRADiffConfig(gamma=1.0, K=4, norm="off", lam=0.5), LRADiffConfig(gamma=0.01, K=2, c0=0, c1=0)]
# on the GPU also the paper's inner-step counts (K = 10 and 30 members mixed in one launch)
CONFIGS_GPU = CONFIGS + [LRADiffConfig(gamma=1.0, K=10), LRADiffConfig(gamma=0.1, K=30),
                         LRADiffConfig(gamma=10.0, K=10, loss="log_penalty")]
CHAIN_TOL, GRAD_RATIO = 1e-5, 1.5
# Hidden size of the chain-only comparisons in Triton's interpreter (the CPU). The interpreter
# costs about a millisecond per operation whatever its size, and most operations are the two
# products' loop over KC = 16-wide chunks of the reduction axis: 7 chunks at the model's H = 100,
# 2 at H = 20. H = 20 keeps every code path of H = 100: output columns padded to a power of two
# and masked (20 -> 32 as 100 -> 128), the reduction axis padded to whole chunks with a last
# chunk of 4 real rows and 12 zero ones (20 -> 32 as 100 -> 112), a loop of more than one chunk,
# the 16 + 4 row tiles of B = 20. The gradients and the trained weights stay at H = 100, so the
# default variant is also checked at the shipped geometry. On CUDA every case uses H = 100.
H_INTERP = 20
SWITCHES = (("paper", PAPER),
            ("from_original", ReleasedCodeSwitches(loss_from_original_activity=True)),
            ("single_clip", ReleasedCodeSwitches(single_clip=True)))


def interpreted_program(variant, B=20, H=100, T=10, K_max=3, from_original=False, probe=False):
    """What Triton's interpreter executes for one variant and chain shape: the kernel and its
    constexprs. Launch options (num_warps, num_stages, maxnreg) only shape compiled code."""
    kernel, const, _ = fused.launch_spec(variant, B, H, T, K_max, from_original, probe, interp=True)
    return kernel, tuple(sorted(const.items()))


def rel(a, b):
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def to(params, **kw):
    return type(params)(**{k: v.to(**kw) for k, v in params.items()})


def batch(task, T, P):
    """(x, y) of P batches of 20; T < 10 (shorter than any task allows, for the chain-only
    cases) takes the first T steps of T = 10 sequences."""
    g = make_generator(task, max(T, 10), 0, "fused-check")
    bs = [generate(task, max(T, 10), 20, g) for _ in range(P)]
    return (torch.stack([b[0] for b in bs])[:, :T].to(DEVICE),
            torch.stack([b[1] for b in bs]).to(DEVICE))


def chain_inputs(params, x, seed=0):
    xw = input_projection(params, x)
    h, z, _ = unroll(params, xw)
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(h[:, -1].shape, generator=g).to(h.device)
    top = torch.tanh(h[:, -1] - 0.3 * noise)
    return h, z, xw + params.b_h[:, None, None], top


def compare_chain(chain, params, x, switches, configs, lengths=None):
    hy = Hyper(configs, device=DEVICE)
    h, z, xwb, top = chain_inputs(params, x)
    out = {}
    if lengths is None:
        ref = hidden_target_chain(params.W_hh, h, z, xwb, top, hy, switches, True)
        got = chain(params.W_hh, h, z, xwb, top, hy, switches, True)
        for name, a, b in zip(("targets", "z_check", "dh_norm"), got, ref):
            out[name] = rel(a, b)
        return out
    # members of different lengths in one launch: each equals its own PyTorch chain
    got = chain(params.W_hh, h, z, xwb, top, hy, switches, True, lengths=lengths)
    worst = 0.0
    for p, T_p in enumerate(lengths.tolist()):
        sub = Hyper([configs[p]], device=DEVICE)
        sl = lambda a: a[p:p + 1, :T_p]
        ref = hidden_target_chain(params.W_hh[p:p + 1], sl(h), sl(z), sl(xwb), top[p:p + 1], sub,
                                  switches, True)
        worst = max(worst, rel(got[0][p, :T_p], ref[0][0]), rel(got[1][p, :T_p], ref[1][0]),
                    rel(got[2][p, :T_p - 1], ref[2][0, :-1]))
    return {"mixed_lengths": worst}


def grads(chain, params, x, y, configs):
    """Unregularised members' updates (Algorithms 1-2) through the fused chain and through the
    PyTorch chain, each against float64. The updates depend on z - z_hat, a difference at
    float32's resolution below the top layers; with lambda > 0 Omega acts on it whatever its
    scale, so regularised updates differ by rounding at any precision (engine chapter)."""
    hy = Hyper(configs, device=DEVICE)
    a, _ = lra_diff_grads(params, x, y, hy, PAPER)
    b, _ = lra_diff_grads(params, x, y, hy, PAPER, chain=chain)
    ref, _ = lra_diff_grads(to(params, dtype=torch.float64), x.double(), y, hy, PAPER)
    plain = [p for p, c in enumerate(configs) if c.lam == 0]
    err = lambda g, r: max(rel(getattr(g, k)[p].double(), getattr(r, k)[p].double())
                           for k, _ in r.items() for p in plain)
    return {"fused_vs_torch": err(b, a), "torch_fp32_vs_float64": err(a, ref),
            "fused_fp32_vs_float64": err(b, ref)}


def tanh_check():
    """The kernel's tanh against torch.tanh on this device: share of bit-identical results and
    the largest difference in ulps (over [-10, 10] and a normal sample)."""
    g = torch.Generator().manual_seed(1)
    x = torch.cat([torch.linspace(-10, 10, 1 << 18), 2 * torch.randn(1 << 18, generator=g)])
    x = x.to(DEVICE)
    a, b = fused.kernel_tanh(x), torch.tanh(x)
    ulp = ((a.double() - b.double()).abs() / torch.finfo(torch.float32).eps
           / b.abs().double().clamp_min(torch.finfo(torch.float32).tiny))
    return {"identical": float((a == b).double().mean()), "max_ulp": float(ulp.max())}


def bench(variants, shapes=((15, 10, 10), (1215, 10, 10), (15, 30, 30), (1215, 30, 30)), reps=3):
    """Chain-only member-iterations per second (one chain = one training iteration's lines
    19-26) of each variant and of the PyTorch chain (eager), on random inputs, CUDA only."""
    out = {}
    B, H = 20, 100
    for P, T, K in shapes:
        g = torch.Generator(device=DEVICE).manual_seed(0)
        h = torch.randn(P, T, B, H, device=DEVICE, generator=g)
        z, xwb = torch.tanh(h), 0.3 * torch.randn(P, T, B, H, device=DEVICE, generator=g)
        W = 0.1 * torch.randn(P, H, H, device=DEVICE, generator=g)
        top = torch.tanh(h[:, -1] - 0.01)
        hy = Hyper([LRADiffConfig(gamma=1.0, K=K)] * P, device=DEVICE)
        flop = 2 * 2 * (T - 1) * K * B * H * H * P
        runs = [(v, fused.make_chain(v)) for v in variants] + [("pytorch", hidden_target_chain)]
        for name, chain in runs:
            if name == "pytorch" and P * T * K > 15 * 30 * 30:
                continue        # eager PyTorch at P = 1215, T = 30: slow and known
            chain(W, h, z, xwb, top, hy, PAPER)                  # compile / warm up
            torch.cuda.synchronize()
            e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            e0.record()
            for _ in range(reps):
                chain(W, h, z, xwb, top, hy, PAPER)
            e1.record()
            torch.cuda.synchronize()
            sec = e0.elapsed_time(e1) / 1e3 / reps
            out[f"{name}/P{P}/T{T}K{K}"] = {"member_it_per_s": P / sec, "ms": 1e3 * sec,
                                             "tflops": flop / sec / 1e12}
    return out


def main():
    t0 = time.time()
    gpu = DEVICE == "cuda"
    configs = CONFIGS_GPU if gpu else CONFIGS
    P = len(configs)
    lengths_T = [10, 30] if gpu else [10]
    H = HIDDEN if gpu else H_INTERP             # the chain-only comparisons' hidden size
    chain_err, grad_err, timing = {}, {}, {}
    # trained weights: 60 iterations of the PyTorch trainer first (on the CPU, then moved)
    trainer = PopulationTrainer(LRADiff(CONFIGS, fused=False), "temporal_order", 10,
                                list(range(len(CONFIGS))), device="cpu", max_iterations=60,
                                check_every=30, validation_size=100)
    trainer.run()
    trained = to(trainer.params, device=DEVICE)
    same_program_as, ran = {}, {}
    only = [v for v in os.environ.get("LRA_KERNEL_VARIANTS", "").split(",") if v]
    for variant in (only or fused.VARIANTS):     # LRA_KERNEL_VARIANTS: the self-test's --fast
        twin = None if gpu else ran.get(interpreted_program(variant))
        if twin is not None:        # the interpreter would run exactly twin's program again
            same_program_as[variant] = twin
            continue
        ran[interpreted_program(variant)] = variant
        chain = fused.make_chain(variant)
        tv = time.time()
        # the interpreter is slow: there the default variant gets every case, the others the
        # code paths (all switches and losses, probes, mixed lengths) on one task and T = 6
        full = gpu or variant == fused.DEFAULT_VARIANT
        for T in (lengths_T if full else [6]):
            for task in (("temporal_order", "random_permutation") if full else ("temporal_order",)):
                spec = get_task(task)
                params = init_population(range(P), spec.n_in, spec.n_out, H, device=DEVICE)
                x, y = batch(task, T, P)
                for sw_name, sw in SWITCHES:
                    for k, v in compare_chain(chain, params, x, sw, configs).items():
                        chain_err[f"{variant}/T{T}/{task}/{sw_name}/{k}"] = v
                if full:
                    params = init_population(range(P), spec.n_in, spec.n_out, device=DEVICE)
                    for k, v in grads(chain, params, x, y, configs).items():
                        grad_err[f"{variant}/T{T}/{task}/{k}"] = v
        if full:
            x, _ = batch("temporal_order", 10, len(CONFIGS))
            for k, v in compare_chain(chain, trained, x, PAPER, CONFIGS).items():
                chain_err[f"{variant}/trained/{k}"] = v
        lengths = [14, 10, 12, 11, 13] if full else [7, 5, 6, 4, 7]
        params = init_population(range(len(CONFIGS)), 6, 4, H, device=DEVICE)
        x, _ = batch("temporal_order", max(lengths), len(CONFIGS))
        for k, v in compare_chain(chain, params, x, PAPER, CONFIGS,
                                  lengths=torch.tensor(lengths)).items():
            chain_err[f"{variant}/{k}"] = v
        timing[variant] = time.time() - tv
    # acceptance
    bad_chain = {k: v for k, v in chain_err.items() if not v <= CHAIN_TOL}
    ratios = {}
    for k, v in grad_err.items():
        if k.endswith("fused_fp32_vs_float64"):
            stem = k[:-len("fused_fp32_vs_float64")]
            ratios[stem.rstrip("/")] = v / max(grad_err[stem + "torch_fp32_vs_float64"], 1e-30)
    bad_grads = {k: v for k, v in ratios.items() if not v <= GRAD_RATIO} if gpu else {}
    tanh = tanh_check()
    speed = bench(only or list(fused.VARIANTS)) if gpu and "--no-bench" not in sys.argv else {}
    algo = LRADiff(CONFIGS, fused=True, device=DEVICE)
    res = {"device": torch.cuda.get_device_name() if gpu else "cpu (Triton interpreter)",
           "variants": only or list(fused.VARIANTS), "default_variant": fused.DEFAULT_VARIANT,
           "chain": chain_err, "grads": grad_err, "grad_ratio_fused_over_torch": ratios,
           "seconds_per_variant": timing, "same_program_as": same_program_as,
           "tanh_vs_torch": tanh, "chain_speed": speed,
           "engine_uses_fused": getattr(algo.chain, "variant", None) == fused.DEFAULT_VARIANT,
           "ok": not bad_chain and not bad_grads}
    # one screen of report
    print(f"fused chain equivalence on {res['device']}  ({time.time() - t0:.0f} s)")
    for variant, twin in same_program_as.items():
        print(f"  {variant:10s} the same interpreted program as {twin} (not run again)")
    for variant in timing:
        ce = max(v for k, v in chain_err.items() if k.startswith(variant + "/"))
        line = f"  {variant:10s} worst chain rel. diff {ce:.1e} (tol {CHAIN_TOL:.0e})"
        for k, r in ratios.items():
            if k.startswith(variant + "/"):
                stem = k + "/"
                line += (f"\n      {k[len(variant) + 1:]:28s} grads: fused-f64 "
                         f"{grad_err[stem + 'fused_fp32_vs_float64']:.1e}  torch32-f64 "
                         f"{grad_err[stem + 'torch_fp32_vs_float64']:.1e}  ratio {r:.2f}"
                         f"  fused-torch {grad_err[stem + 'fused_vs_torch']:.1e}")
        print(line + f"\n      ({timing[variant]:.1f} s)")
    if bad_chain:
        print("  FAIL chain:", bad_chain)
    if bad_grads:
        print(f"  FAIL grads (ratio > {GRAD_RATIO}):", bad_grads)
    print(f"  kernel tanh vs torch.tanh: {100 * tanh['identical']:.2f}% bit-identical, "
          f"max {tanh['max_ulp']:.2f} ulp")
    if speed:
        print("  chain only, member-iterations/s (ms per call, TFLOP/s):")
        for k, v in speed.items():
            print(f"      {k:28s} {v['member_it_per_s']:10.0f}  ({v['ms']:.2f} ms, "
                  f"{v['tflops']:.1f} TFLOP/s)")
    print("  engine takes the fused chain when asked:", res["engine_uses_fused"])
    print("  OK" if res["ok"] else "  NOT OK")
    print(json.dumps(res))
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
