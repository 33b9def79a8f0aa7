"""Member-iterations per second of RNN-LRA-diff training: naive loop vs population vs CUDA graph.

    python benchmarks/engine_throughput.py [--device auto] [--populations 45 405 1215]
                                           [--seconds 5] [--out benchmarks/results/NAME.md]

* naive: one configuration at a time, the readable autograd implementation
  (:func:`lra.reference.lra_diff_single`) plus an SGD step — what a straightforward script does;
* population eager: P members as one tensor program (:class:`lra.engine.PopulationTrainer`);
* population + CUDA graph: the same, the iteration captured once and replayed (CUDA only).

Each cell runs warm-up iterations, then as many timed iterations as fit in ``--seconds`` (at least
one). Batch 20, hidden 100, temporal order; data generation is included (as in training).
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import subprocess
import time

import torch

from lra.engine import PopulationTrainer, resolve_device
from lra.lra_diff import LRADiff, LRADiffConfig
from lra.model import init_population
from lra.reference import lra_diff_single
from lra.tasks import generate, make_generator

SHAPES = [(10, 10), (30, 30)]


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(step, device, seconds, warmup=2):
    for _ in range(warmup):
        step()
    sync(device)
    n, start = 0, time.perf_counter()
    while True:
        step()
        n += 1
        sync(device)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n / elapsed


def naive(T, K, device, seconds):
    cfg = LRADiffConfig(K=K, gamma=1.0)
    W = {k: v[0].to(device) for k, v in init_population([0], 6, 4).items()}
    g = make_generator("temporal_order", T, 0, "train")

    def step():
        x, y = generate("temporal_order", T, 20, g)
        grads = lra_diff_single(W, x.to(device), y.to(device), gamma=cfg.gamma, K=K)
        for k in W:
            W[k] = W[k] - cfg.alpha * grads[k]

    return timed(step, device, seconds)


def flops_per_member_iteration(T, K, B=20, H=100, n_in=6, n_out=4):
    """Multiply-adds x 2 of one LRA-diff iteration (forward, top target, chain, weight grads)."""
    mm = 2 * B * H * H
    forward = T * (mm + 2 * B * n_in * H) + 2 * B * H * n_out
    top = K * 2 * (2 * B * H * n_out)
    chain = (T - 1) * K * 2 * mm
    weight_grads = T * (mm + 2 * B * n_in * H)
    return forward + top + chain + weight_grads


def population(T, K, P, device, seconds, graph, fused=False):
    configs = [LRADiffConfig(K=K, gamma=[10.0, 1.0, 0.1, 0.01, 0.001][i % 5]) for i in range(P)]
    tr = PopulationTrainer(LRADiff(configs, device=device, fused=fused), "temporal_order", T,
                           [0] * P, device=device, cuda_graph=graph, max_iterations=10 ** 9,
                           check_every=10 ** 9, progress=False)

    def step():
        tr.next_batch()
        tr._graphed_step() if graph else tr._step()

    return P * timed(step, device, seconds)


def project_campaign(rows):
    """Upper bound on the Tables I-IV campaign time: every run of the paper grid to the cap,
    each (T, K) priced at the fastest measured rate, scaled by FLOPs from the nearest shape."""
    from lra.experiments import BUDGETS, EXPERIMENTS
    budget = BUDGETS["paper"]
    best = {}
    for r in rows:
        key = (r["T"], r["K"])
        if key not in best or r["rate"] > best[key]["rate"]:
            best[key] = r
    seconds, member_its = 0.0, 0.0
    for name in ("table1", "table2", "table3", "table4"):
        for run in EXPERIMENTS[name].runs(budget):
            K = dict(run.config)["K"]
            ref = min(best.values(), key=lambda r: abs(r["T"] * r["K"] - run.T * K))
            flop_ratio = flops_per_member_iteration(run.T, K) / flops_per_member_iteration(
                ref["T"], ref["K"])
            seconds += budget.max_iterations * flop_ratio / ref["rate"]
            member_its += budget.max_iterations
    fastest = max(best.values(), key=lambda r: r["speedup"])
    return dict(hours=seconds / 3600, member_iterations=member_its, method=fastest["method"])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--populations", type=int, nargs="+", default=[45, 405, 1215])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--out", default=None, help="write the table (markdown + JSON) here")
    a = ap.parse_args(argv)
    device = resolve_device(a.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    rows = []
    for T, K in SHAPES:
        base = naive(T, K, device, a.seconds)
        rows.append(dict(T=T, K=K, method="naive loop (1 config, autograd)", P=1, rate=base))
        print(f"T={T} K={K} naive: {base:,.1f} member-it/s", flush=True)
        methods = [("population eager", False, False)]
        if device.type == "cuda":
            methods += [("population + CUDA graph", True, False),
                        ("population + fused kernel", False, True),
                        ("population + fused kernel + CUDA graph", True, True)]
        for P in a.populations:
            for label, graph, fused in methods:
                try:
                    r = population(T, K, P, device, a.seconds, graph, fused)
                except Exception as e:  # report and go on: one failing method must not hide the rest
                    print(f"T={T} K={K} {label} P={P}: failed: {e!r}", flush=True)
                    continue
                rows.append(dict(T=T, K=K, method=label, P=P, rate=r))
                print(f"T={T} K={K} {label} P={P}: {r:,.1f} member-it/s ({r / base:,.1f}x)",
                      flush=True)
        for row in rows:
            if row["T"] == T:
                row["speedup"] = row["rate"] / base
                row["tflops"] = row["rate"] * flops_per_member_iteration(T, K) / 1e12
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
    except OSError:
        commit = "unknown"
    meta = dict(device=name, torch=torch.__version__, python=platform.python_version(),
                date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                commit=commit, seconds_per_cell=a.seconds)
    meta["projection"] = project_campaign(rows)
    lines = [f"# Engine throughput on {name}", "",
             f"torch {meta['torch']}, Python {meta['python']}, commit {commit}, {meta['date']}; "
             "batch 20, hidden 100, temporal order.", "",
             "| T | K | method | P | member-iterations/s | vs naive | TFLOP/s |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['T']} | {r['K']} | {r['method']} | {r['P']} | {r['rate']:,.1f} | "
              f"{r['speedup']:,.1f}x | {r['tflops']:.4f} |" for r in rows]
    pr = meta["projection"]
    lines += ["", f"Projected Tables I-IV campaign at the paper's protocol, every run to the "
              f"100,000-iteration cap (an upper bound), with the fastest method measured "
              f"({pr['method']}): {pr['hours']:,.2f} h ({pr['member_iterations']:.3g} "
              "member-iterations; cost scaled from the measured shapes by FLOPs)."]
    table = "\n".join(lines)
    print(table)
    if a.out:
        with open(a.out, "w") as fh:
            fh.write(table + "\n")
        with open(a.out.rsplit(".", 1)[0] + ".json", "w") as fh:
            json.dump(dict(meta=meta, rows=rows), fh, indent=1)


if __name__ == "__main__":
    main()
