"""The population training engine (book chapter "The engine and its performance").

Protocol (paper IV-A and the reference code): a fresh mini-batch of 20 per iteration, plain SGD,
validation every 100 iterations on a fixed 10,000-sample set, *solved* when the validation error is
below 1e-4 (no mistake in 10,000), stop when solved or at the iteration cap (100,000).

Many members — any mix of hyperparameters and seeds for one (task, T) — train as one tensor program:

* member p sees the data stream of (task, T, seed_p) whatever else is in the population, so a member
  trained alone and the same member trained in a grid compute the same numbers;
* solved, stopped (patience) and diverged members are frozen (learning rate 0) while the others go on;
  a member whose weights become NaN/inf is marked *diverged* and its weights zeroed, which disturbs
  no other member (every operation is batched per member);
* checkpoints are written atomically; a resumed run ends exactly as an uninterrupted one;
* on CUDA the training iteration is captured once in a CUDA graph and replayed;
* gradient-flow probes (local loss, ||Delta h_t||, ||grad W_hh^t||, ||grad W_xh^t|| per step, and the
  global loss) are recorded every ``probe_every`` iterations (Figs. 2-4).
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass, field

import torch

from .model import init_population, unroll
from .tasks import (VALIDATION_SIZE, check_length, generate_symbols, get_task, make_generator,
                    one_hot_inputs, validation_symbols)

SOLVED_ERROR = 1e-4
MAX_ITERATIONS = 100_000
CHECK_EVERY = 100
BATCH = 20
RELEASED_PATIENCE = 30


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """"auto" means CUDA when available, else CPU."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@dataclass
class MemberResult:
    solved: bool = False
    diverged: bool = False
    stop_reason: str = "running"   # solved | cap | patience | diverged
    iterations: int = 0            # iterations run (to the solving check when solved)
    best_accuracy: float = 0.0
    final_accuracy: float = 0.0
    curve: list = field(default_factory=list)   # [(iteration, validation accuracy, train loss)]


def atomic_save(obj, path: str) -> None:
    """torch.save to a temporary file, fsync, then rename: a reader never sees half a file."""
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "wb") as fh:
        torch.save(obj, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class PopulationTrainer:
    """Train one population of members sharing (task, T) with one algorithm object.

    ``algorithm`` is an :class:`lra.lra_diff.LRADiff`, :class:`lra.bptt.BPTT` or
    :class:`lra.tptt.TPTT` over the same number of members as ``seeds``.
    """

    def __init__(self, algorithm, task: str, T: int, seeds, *, device="auto", batch=BATCH,
                 max_iterations=MAX_ITERATIONS, check_every=CHECK_EVERY,
                 validation_size=VALIDATION_SIZE, patience: int | None = None,
                 probe_every: int | None = None, checkpoint_path: str | None = None,
                 checkpoint_every: int = 1000, cuda_graph: bool | str = "auto",
                 hidden: int = 100, progress: bool | None = None, validation_h0_quirk=None):
        self.spec = get_task(task)
        self.task, self.T = task, check_length(T)
        self.seeds = [int(s) for s in seeds]
        if len(self.seeds) != len(algorithm.configs):
            raise ValueError("one seed per member is required")
        if max_iterations < 1 or check_every < 1 or batch < 1 or validation_size < 1:
            raise ValueError("max_iterations, check_every, batch and validation_size must be >= 1")
        self.algorithm = algorithm
        self.device = resolve_device(device)
        self.batch, self.max_iterations, self.check_every = batch, max_iterations, check_every
        self.validation_size = validation_size
        switches = getattr(algorithm, "switches", None)
        if patience is None and switches is not None and switches.patience:
            patience = RELEASED_PATIENCE
        self.patience = patience
        if validation_h0_quirk is None:
            validation_h0_quirk = bool(switches is not None and switches.validation_h0_quirk)
        self.validation_h0_quirk = validation_h0_quirk
        self.probe_every = probe_every
        self.checkpoint_path, self.checkpoint_every = checkpoint_path, checkpoint_every
        graph_safe = getattr(algorithm, "graph_safe", True)
        self.use_graph = (self.device.type == "cuda" and graph_safe) if cuda_graph == "auto" \
            else bool(cuda_graph)
        self.progress = sys.stderr.isatty() if progress is None else progress

        P = len(self.seeds)
        self.stream_seeds = sorted(set(self.seeds))
        self.stream_of = torch.tensor([self.stream_seeds.index(s) for s in self.seeds],
                                      device=self.device)
        self.params = init_population(self.seeds, self.spec.n_in, self.spec.n_out, hidden,
                                      self.device)
        self.state = algorithm.init_state(self.params, self.seeds)
        self.generators = [make_generator(task, T, s, "train") for s in self.stream_seeds]
        self.active = torch.ones(P, device=self.device)
        self.diverged = torch.zeros(P, dtype=torch.bool, device=self.device)
        self.results = [MemberResult() for _ in range(P)]
        self.since_best = [0] * P
        self.iteration = 0
        self.probes: list[dict] = []
        self._val = None
        self._graph = None
        self.x_buf = torch.zeros(P, T, batch, self.spec.n_in, device=self.device)
        self.y_buf = torch.zeros(P, batch, dtype=torch.long, device=self.device)

    # ----------------------------------------------------------------------------- data
    def next_batch(self):
        """Draw the next mini-batch of every data stream (on the CPU: identical on any device)."""
        xs, ys = [], []
        for g in self.generators:
            sym, lab = generate_symbols(self.task, self.T, self.batch, g)
            xs.append(sym)
            ys.append(lab)
        sym = torch.stack(xs).to(self.device)[self.stream_of]          # (P, T, B)
        self.x_buf.copy_(one_hot_inputs(sym, self.spec.n_in))
        self.y_buf.copy_(torch.stack(ys).to(self.device)[self.stream_of])

    def validation_data(self):
        if self._val is None:
            sets = [validation_symbols(self.task, self.T, s, self.validation_size)
                    for s in self.stream_seeds]
            sym = torch.stack([x for x, _ in sets]).to(self.device)  # (S, T, N)
            self._val = sym, torch.stack([y for _, y in sets]).to(self.device)
        return self._val

    # ----------------------------------------------------------------------------- evaluation
    @torch.no_grad()
    def validate(self, members: list[int] | None = None, chunk_bytes=256 << 20):
        """Validation accuracy of the given members (all by default) -> {member: accuracy}."""
        members = list(range(len(self.seeds))) if members is None else members
        if not members:
            return {}
        sym, lab = self.validation_data()
        N, H = sym.shape[2], self.params.W_hh.shape[1]
        per_member = self.T * N * H * 4 * 3
        step = max(1, chunk_bytes // per_member)
        out = {}
        for i in range(0, len(members), step):
            idx = torch.tensor(members[i:i + step], device=self.device)
            p = self.params.select(idx)
            s = sym[self.stream_of[idx]]                                 # (Pc, T, N)
            xw = p.W_xh[torch.arange(len(idx), device=self.device).view(-1, 1, 1), s]
            h_init = None
            if self.validation_h0_quirk:
                # released code: h0 = x_0 W_xh + b_h fed to W_hh as the state before step 0
                h_init = xw[:, 0] + p.b_h.unsqueeze(1)
            _, _, logits = unroll(p, xw, h_init)
            correct = (logits.argmax(-1) == lab[self.stream_of[idx]]).float().mean(-1)
            for m, acc in zip(members[i:i + step], correct.tolist()):
                out[m] = acc
        return out

    # ----------------------------------------------------------------------------- stepping
    def _step(self, probe=False):
        stats = self.algorithm.train_step(self.params, self.state, self.x_buf, self.y_buf,
                                          self.active, probe)
        finite = torch.ones_like(self.diverged)
        for _, v in self.params.items():
            finite &= torch.isfinite(v.flatten(1)).all(1)
        for _, v in self.params.items():
            v.copy_(torch.where(finite.view(-1, *([1] * (v.dim() - 1))), v, torch.zeros_like(v)))
        self.diverged |= ~finite
        self.active.mul_(finite.to(self.active.dtype))
        return stats

    def _graphed_step(self):
        if self._graph is None:
            # Warm up on a copy (so the real weights are untouched), then capture.
            saved = (self.params.clone(), {k: v.clone() if torch.is_tensor(v) else v
                                           for k, v in self.state.items()},
                     self.active.clone(), self.diverged.clone())
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):
                for _ in range(3):
                    self._step()
            torch.cuda.current_stream().wait_stream(s)
            self._restore_tensors(*saved)
            self._graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self._graph):
                self._graph_stats = self._step()
        self._graph.replay()
        return self._graph_stats

    def _restore_tensors(self, params, state, active, diverged):
        for (_, dst), (_, src) in zip(self.params.items(), params.items()):
            dst.copy_(src)
        for k, v in state.items():
            if torch.is_tensor(v):
                self.state[k].copy_(v)
        self.active.copy_(active)
        self.diverged.copy_(diverged)

    # ----------------------------------------------------------------------------- checkpoints
    def fingerprint(self) -> str:
        desc = dict(algorithm=self.algorithm.name, configs=[repr(c) for c in self.algorithm.configs],
                    switches=repr(getattr(self.algorithm, "switches", None)), task=self.task,
                    T=self.T, seeds=self.seeds, batch=self.batch, cap=self.max_iterations,
                    check=self.check_every, val=self.validation_size, patience=self.patience,
                    probe=self.probe_every, quirk=self.validation_h0_quirk)
        return hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()

    def save_checkpoint(self):
        if not self.checkpoint_path:
            return
        atomic_save(dict(fingerprint=self.fingerprint(), iteration=self.iteration,
                         params=self.params.state_dict(),
                         state={k: (v.detach().cpu() if torch.is_tensor(v) else v)
                                for k, v in self.state.items()},
                         active=self.active.cpu(), diverged=self.diverged.cpu(),
                         results=[vars(r) for r in self.results], since_best=self.since_best,
                         generators=[g.get_state() for g in self.generators],
                         probes=self.probes), self.checkpoint_path)

    def load_checkpoint(self) -> bool:
        if not self.checkpoint_path or not os.path.exists(self.checkpoint_path):
            return False
        try:
            ck = torch.load(self.checkpoint_path, map_location="cpu", weights_only=False)
        except Exception as e:  # a torn or foreign file must not be silently ignored
            raise RuntimeError(f"checkpoint {self.checkpoint_path} is unreadable ({e}); "
                               "delete it to start this population afresh") from None
        if ck.get("fingerprint") != self.fingerprint():
            raise RuntimeError(f"checkpoint {self.checkpoint_path} belongs to another run; "
                               "delete it or choose another path")
        for k, dst in self.params.items():
            dst.copy_(ck["params"][k].to(self.device))
        for k, v in ck["state"].items():
            if torch.is_tensor(v) and k in self.state and self.state[k].shape == v.shape:
                self.state[k].copy_(v.to(self.device))
            else:
                self.state[k] = v
        self.active.copy_(ck["active"].to(self.device))
        self.diverged.copy_(ck["diverged"].to(self.device))
        self.results = [MemberResult(**r) for r in ck["results"]]
        self.since_best = ck["since_best"]
        for g, s in zip(self.generators, ck["generators"]):
            g.set_state(s)
        self.probes = ck["probes"]
        self.iteration = ck["iteration"]
        self._graph = None
        return True

    # ----------------------------------------------------------------------------- the loop
    def _check(self):
        """Validate the members still training; freeze those solved / out of patience."""
        live = [m for m in range(len(self.seeds)) if self.active[m] > 0]
        diverged = self.diverged.tolist()
        for m, r in enumerate(self.results):
            if diverged[m] and not r.diverged:
                r.diverged, r.stop_reason, r.iterations = True, "diverged", self.iteration
        if hasattr(self.algorithm, "stop_mask") and live:
            aborted = self.algorithm.stop_mask(self.params, self.state).tolist()
            for m in [m for m in live if aborted[m]]:
                r = self.results[m]
                r.stop_reason, r.iterations = "spectral_radius", self.iteration
                self.active[m] = 0
            live = [m for m in live if not aborted[m]]
        accs = self.validate(live)
        loss = self._last_train_loss
        for m, acc in accs.items():
            r = self.results[m]
            r.curve.append((self.iteration, acc, float(loss[m]) if loss is not None else None))
            r.final_accuracy, r.iterations = acc, self.iteration
            if acc > r.best_accuracy:
                r.best_accuracy, self.since_best[m] = acc, 0
            else:
                self.since_best[m] += 1
            if 1 - acc < SOLVED_ERROR:
                r.solved, r.stop_reason = True, "solved"
                self.active[m] = 0
            elif self.patience is not None and self.since_best[m] >= self.patience:
                r.stop_reason = "patience"
                self.active[m] = 0

    def run(self, stop_after_seconds: float | None = None) -> list[MemberResult]:
        """Train until every member has stopped or the cap is reached.

        ``stop_after_seconds`` ends the call early (at a check, after a checkpoint) so that a
        time-limited campaign can resume later; :attr:`finished` tells whether it completed.
        """
        resumed = self.load_checkpoint()
        start = time.monotonic()
        self._last_train_loss = None
        if not resumed and self.iteration == 0:
            first = self.validate()
            for m, acc in first.items():
                self.results[m].best_accuracy = acc
                self.results[m].final_accuracy = acc
                self.results[m].curve.append((0, acc, None))
        bar = None
        if self.progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=self.max_iterations, initial=self.iteration, unit="it",
                       desc=f"{self.algorithm.name} {self.task} T={self.T} P={len(self.seeds)}")
        try:
            while self.iteration < self.max_iterations and bool(self.active.any()):
                self.iteration += 1
                self.next_batch()
                probe = bool(self.probe_every) and self.iteration % self.probe_every == 0
                if self.use_graph and not probe:
                    stats = self._graphed_step()
                else:
                    stats = self._step(probe)
                if probe:
                    self.probes.append({"iteration": self.iteration,
                                        **{k: v.detach().cpu() for k, v in stats.items()}})
                if self.iteration % self.check_every == 0:
                    self._last_train_loss = stats.get("train_loss", stats["global_loss"]).tolist()
                    self._check()
                    if bar is not None:
                        bar.update(self.iteration - bar.n)
                        bar.set_postfix(solved=sum(r.solved for r in self.results),
                                        active=int(self.active.sum()))
                    if self.iteration % self.checkpoint_every == 0:
                        self.save_checkpoint()
                    if stop_after_seconds is not None and \
                            time.monotonic() - start > stop_after_seconds:
                        self.save_checkpoint()
                        return self.results
            if self.iteration % self.check_every and bool(self.active.any()):
                # the cap is not a multiple of the check interval: one last check at the cap
                self._last_train_loss = stats.get("train_loss", stats["global_loss"]).tolist()
                self._check()
        except KeyboardInterrupt:
            self.save_checkpoint()
            raise
        finally:
            if bar is not None:
                bar.close()
        for m, r in enumerate(self.results):
            if r.stop_reason == "running":
                r.stop_reason, r.iterations = "cap", self.iteration
            if self.diverged[m] and not r.diverged:
                r.diverged, r.stop_reason = True, "diverged"
        self.save_checkpoint()
        return self.results

    @property
    def finished(self) -> bool:
        return all(r.stop_reason != "running" for r in self.results)
