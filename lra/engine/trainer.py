"""The population training loop (book chapter "The engine and its performance").

Protocol (paper IV-A and the reference code): a fresh mini-batch of 20 per iteration, plain SGD,
validation every 100 iterations on a fixed 10,000-sample set, *solved* when the validation error is
below 1e-4 (no mistake in 10,000), stop when solved or at the iteration cap (100,000).

Many members — any mix of hyperparameters and seeds for one (task, T) — train as one tensor program:

* member p sees the data stream of (task, T, seed_p) whatever else is in the population, so a member
  trained alone and the same member trained in a grid compute the same numbers;
* solved, stopped (patience) and diverged members are frozen (learning rate 0) while the others go on;
  a member whose weights become NaN/inf is marked *diverged* and its weights zeroed, which disturbs
  no other member (every operation is batched per member);
* checkpoints are written atomically; a resumed run ends exactly as an uninterrupted one
  (:mod:`lra.engine.checkpoints`);
* on CUDA the training iteration is captured once in a CUDA graph and replayed
  (:mod:`lra.engine.capture`; the step makes no host copy or synchronisation:
  :mod:`lra.engine.capture_check` checks this on the CPU);
* with ``compact=True`` finished members (solved, stopped, diverged) are removed from the tensors
  at checks, so they stop costing (:mod:`lra.engine.compaction`); ``member_ids`` maps the remaining
  rows to the original members and the results, probes and checkpoints keep the original numbering;
* validation is one batched pass over the live members (chunked by memory) with one host read
  (:mod:`lra.engine.validation`); each member keeps which validation samples it got right at its
  best check (:mod:`lra.engine.predictions`, for paired tests between methods) and the seconds
  until it stopped (:class:`lra.engine.results.MemberResult`);
* gradient-flow probes (local loss, ||Delta h_t||, ||grad W_hh^t||, ||grad W_xh^t|| per step, and the
  global loss) are recorded every ``probe_every`` iterations (Figs. 2-4);
* each call of :meth:`PopulationTrainer.run` that trains records a *segment* (commit, device,
  iterations, seconds: :mod:`lra.engine.provenance`), since a population may be finished elsewhere.

This module is the loop (:meth:`PopulationTrainer.run`, the checks, the stepping); it keeps
:func:`last_state`, :func:`atomic_save`, :class:`MemberResult` and the protocol's constants
importable from here, their former home.
"""
from __future__ import annotations

import sys
import time

import torch

from lra.engine import checkpoints, compaction
from lra.engine.capture import capture
from lra.engine.checkpoints import atomic_save  # noqa: F401  (importable from here, its old home)
from lra.engine.predictions import pack
from lra.engine.provenance import device_name, git_state
from lra.engine.results import (BATCH, CHECK_EVERY, MAX_ITERATIONS, RELEASED_PATIENCE,  # noqa: F401
                                SOLVED_ERROR, MemberResult)
from lra.engine.validation import ValidationSet, last_state  # noqa: F401  (callers import it here)
from lra.model import init_population
from lra.tasks import (VALIDATION_SIZE, check_length, generate_symbols, get_task, make_generator,
                       one_hot_inputs)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """"auto" means CUDA when available, else CPU."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Copy a CPU tensor to the device without making the host wait for the GPU: through pinned
    memory, asynchronously (PyTorch's pinned-memory cache keeps the block until the copy is done)."""
    if device.type != "cuda":
        return t.to(device)
    return t.pin_memory().to(device, non_blocking=True)


def training_step(algorithm, params, state, x, y, active, diverged, probe=False):
    """One training iteration of every live member: the algorithm's update, then divergence
    isolation (a member whose weights became NaN/inf is zeroed, marked diverged and frozen).

    This is exactly what a CUDA graph captures, so it must not talk to the host: no Python scalar
    written into a device tensor, no ``.item()``/``bool()``, no CPU tensor (``lra.engine.capture_check``).
    """
    stats = algorithm.train_step(params, state, x, y, active, probe)
    finite = torch.ones_like(diverged)
    for _, v in params.items():
        finite &= torch.isfinite(v.flatten(1)).all(1)
    for _, v in params.items():
        v.copy_(torch.where(finite.view(-1, *([1] * (v.dim() - 1))), v, torch.zeros_like(v)))
    diverged |= ~finite
    active.mul_(finite.to(active.dtype))
    return stats


class PopulationTrainer:
    """Train one population of members sharing (task, T) with one algorithm object.

    ``algorithm`` is an :class:`lra.algorithms.lra_diff.LRADiff`, :class:`lra.algorithms.bptt.BPTT` or
    :class:`lra.algorithms.tptt.TPTT` over the same number of members as ``seeds``. ``params``, ``state``,
    ``active`` and ``diverged`` hold the *live* rows (all members unless ``compact``), whose
    original member numbers are ``member_ids``; :meth:`full_params` gives every member's weights.
    """

    def __init__(self, algorithm, task: str, T: int, seeds, *, device="auto", batch=BATCH,
                 max_iterations=MAX_ITERATIONS, check_every=CHECK_EVERY,
                 validation_size=VALIDATION_SIZE, patience: int | None = None,
                 probe_every: int | None = None, checkpoint_path: str | None = None,
                 checkpoint_every: int = 1000, cuda_graph: bool | str = "auto",
                 hidden: int = 100, progress: bool | None = None, validation_h0_quirk=None,
                 compact: bool = False, compact_fraction: float = 0.1,
                 test_size: int | None = None, stop_when_one_solves: bool = False):
        self.spec = get_task(task)
        self.task, self.T = task, check_length(T)
        self.seeds = [int(s) for s in seeds]
        if len(self.seeds) != len(algorithm.configs):
            raise ValueError("one seed per member is required")
        if max_iterations < 1 or check_every < 1 or batch < 1 or validation_size < 1:
            raise ValueError("max_iterations, check_every, batch and validation_size must be >= 1")
        test_size = validation_size if test_size is None else test_size
        if test_size < 1:
            raise ValueError(f"test_size must be >= 1, got {test_size}")
        self.algorithm = algorithm
        self.device = resolve_device(device)
        self.batch, self.max_iterations, self.check_every = batch, max_iterations, check_every
        self.validation_size, self.test_size = validation_size, test_size
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
        self.compact, self.compact_fraction = bool(compact), compact_fraction
        # A curriculum stage (Table V) reports only whether its length was solved: once one
        # member solves, the others stop at that check ("stage_solved"), and the next stage can
        # start. Off for every other population (each member's own numbers are reported).
        self.stop_when_one_solves = bool(stop_when_one_solves)
        self._config_reprs = [repr(c) for c in algorithm.configs]  # fixed: the fingerprint's

        P = len(self.seeds)
        self.stream_seeds = sorted(set(self.seeds))
        self.stream_of_member = torch.tensor([self.stream_seeds.index(s) for s in self.seeds])
        self.member_ids = list(range(P))
        self.params = init_population(self.seeds, self.spec.n_in, self.spec.n_out, hidden,
                                      self.device)
        self._archive = None            # weights of members compacted out (full P) or None
        self.state = algorithm.init_state(self.params, self.seeds)
        self.generators = [make_generator(task, T, s, "train") for s in self.stream_seeds]
        self.active = torch.ones(P, device=self.device)
        self.diverged = torch.zeros(P, dtype=torch.bool, device=self.device)
        self.results = [MemberResult() for _ in range(P)]
        self.since_best = [0] * P
        self.iteration = 0
        self.probes: list[dict] = []
        self.recaptures = 0
        # who trained this population, in order: a population checkpointed on one machine may be
        # finished on another (a later GPU slice); its rows then say so in their provenance
        self.segments: list[dict] = []
        # a frozen reservoir (readout only): each stream's last states are computed once
        frozen = bool(getattr(algorithm, "frozen_recurrent", False))
        self.validation = ValidationSet(task, self.T, self.stream_seeds, validation_size,
                                        self.device, "validation", frozen)
        self.test = ValidationSet(task, self.T, self.stream_seeds, test_size, self.device,
                                  "test", frozen)
        self._graph = None              # the captured step (lra.engine.capture), captured on use
        self._graph_stats = None
        self._last_train_loss = None
        self._alloc_buffers()

    # ----------------------------------------------------------------------------- rows
    def _alloc_buffers(self):
        P = len(self.member_ids)
        self.stream_of = self.stream_of_member[self.member_ids].to(self.device)
        self.x_buf = torch.zeros(P, self.T, self.batch, self.spec.n_in, device=self.device)
        self.y_buf = torch.zeros(P, self.batch, dtype=torch.long, device=self.device)

    def full_params(self):
        """Every member's weights (original numbering), compacted-out members included."""
        return compaction.full_params(self.params, self._archive, self.member_ids, self.device)

    def _compact_now(self):
        """Drop the rows of members that stopped, so that they no longer cost (at a check)."""
        compaction.compact(self)

    # ----------------------------------------------------------------------------- data
    def next_batch(self):
        """Draw the next mini-batch of every live data stream (on the CPU: identical on any device).

        Streams whose members have all finished are no longer drawn; every stream has its own
        generator, so this changes no other stream's data. Algorithms that need random numbers
        per step (TPTT's noise) draw them here too, outside the captured step.
        """
        live_streams = sorted(set(self.stream_of_member[self.member_ids].tolist()))
        sym = torch.zeros(len(self.stream_seeds), self.T, self.batch, dtype=torch.long)
        lab = torch.zeros(len(self.stream_seeds), self.batch, dtype=torch.long)
        for s in live_streams:
            sym[s], lab[s] = generate_symbols(self.task, self.T, self.batch, self.generators[s])
        sym, lab = _to_device(sym, self.device), _to_device(lab, self.device)
        self.x_buf.copy_(one_hot_inputs(sym[self.stream_of], self.spec.n_in))   # (P, T, B, n_in)
        self.y_buf.copy_(lab[self.stream_of])
        prepare = getattr(self.algorithm, "prepare_step", None)
        if prepare is not None:
            prepare(self.state, self.member_ids, len(self.seeds), self.T, self.batch,
                    self.params.W_hh.shape[1])

    def validation_data(self):
        """(symbols (S, T, N), labels (S, N)): every data stream's validation set, on the device."""
        return self.validation.data()

    # ----------------------------------------------------------------------------- evaluation
    @torch.no_grad()
    def validation_accuracy(self, rows: torch.Tensor, chunk_bytes: int | None = None):
        """Validation accuracy of the live rows ``rows`` as a device tensor (no host sync)."""
        return self.validation_correct(rows, chunk_bytes).float().mean(-1)

    @torch.no_grad()
    def validation_correct(self, rows: torch.Tensor, chunk_bytes: int | None = None):
        """(len(rows), N) bool device tensor: which validation samples each live row gets right."""
        return self.validation.correct(self.params, self.stream_of, rows,
                                       self.validation_h0_quirk, chunk_bytes)

    def validate(self, members: list[int] | None = None):
        """Validation accuracy of the given original members (all live ones by default)."""
        row_of = {m: i for i, m in enumerate(self.member_ids)}
        members = list(self.member_ids) if members is None else list(members)
        missing = [m for m in members if m not in row_of]
        if missing:
            raise ValueError(f"members {missing} are no longer in the population (compacted out)")
        if not members:
            return {}
        rows = torch.tensor([row_of[m] for m in members], dtype=torch.long, device=self.device)
        return dict(zip(members, self.validation_accuracy(rows).tolist()))

    # ----------------------------------------------------------------------------- stepping
    def _step(self, probe=False):
        return training_step(self.algorithm, self.params, self.state, self.x_buf, self.y_buf,
                             self.active, self.diverged, probe)

    def _graphed_step(self):
        """One iteration by replaying the captured step; captured first when there is none yet
        (at the first graphed step, and again after a compaction or a resume)."""
        if self._graph is None:
            self._graph, self._graph_stats = capture(self._step, self.params, self.state,
                                                     self.active, self.diverged)
        self._graph.replay()
        return self._graph_stats

    # ----------------------------------------------------------------------------- checkpoints
    def fingerprint(self) -> str:
        """What defines this run (lra.engine.checkpoints.fingerprint)."""
        return checkpoints.fingerprint(self)

    def save_checkpoint(self):
        checkpoints.save(self)

    def load_checkpoint(self) -> bool:
        """Resume from the checkpoint at ``checkpoint_path``; False when there is none."""
        return checkpoints.load(self)

    # ----------------------------------------------------------------------------- the loop
    def _record_probe(self, stats):
        """Probe statistics in the original numbering (NaN for members compacted out)."""
        P, ids = len(self.seeds), torch.tensor(self.member_ids, dtype=torch.long)
        rec = {"iteration": self.iteration}
        for k, v in stats.items():
            v = v.detach().cpu()
            if v.dim() and v.shape[0] == len(self.member_ids) and len(ids) != P:
                full = torch.full((P, *v.shape[1:]), float("nan"), dtype=v.dtype)
                full[ids] = v
                v = full
            rec[k] = v
        self.probes.append(rec)

    def _check(self):
        """Validate the members still training; freeze those solved / out of patience.

        One host read of the flags and one of the accuracies, whatever the population size.
        """
        active = self.active.tolist()
        diverged = self.diverged.tolist()
        ended = []                      # rows whose member stops at this check
        for row, m in enumerate(self.member_ids):
            r = self.results[m]
            if diverged[row] and not r.diverged:
                r.diverged, r.stop_reason, r.iterations = True, "diverged", self.iteration
                r.wall_seconds = self._elapsed()
                ended.append(row)
        live = [row for row in range(len(self.member_ids)) if active[row] > 0]
        stop_rows = []
        if hasattr(self.algorithm, "stop_mask") and live:
            aborted = self.algorithm.stop_mask(self.params, self.state).tolist()
            for row in [row for row in live if aborted[row]]:
                r = self.results[self.member_ids[row]]
                r.stop_reason, r.iterations = "spectral_radius", self.iteration
                r.wall_seconds = self._elapsed()
                stop_rows.append(row)
            live = [row for row in live if not aborted[row]]
        live_rows = torch.tensor(live, dtype=torch.long, device=self.device)
        correct = self.validation_correct(live_rows) if live else None
        accs = correct.float().mean(-1).tolist() if live else []
        loss = self._last_train_loss
        improved = []
        for i, (row, acc) in enumerate(zip(live, accs)):
            m = self.member_ids[row]
            r = self.results[m]
            r.curve.append((self.iteration, acc, float(loss[row]) if loss is not None else None))
            r.final_accuracy, r.iterations = acc, self.iteration
            if acc > r.best_accuracy:
                r.best_accuracy, self.since_best[m] = acc, 0
                improved.append(i)
            else:
                self.since_best[m] += 1
            if 1 - acc < SOLVED_ERROR:
                r.solved, r.stop_reason = True, "solved"
                stop_rows.append(row)
            elif self.patience is not None and self.since_best[m] >= self.patience:
                r.stop_reason = "patience"
                stop_rows.append(row)
            if r.stop_reason != "running":
                r.wall_seconds = self._elapsed()
        if self.stop_when_one_solves and any(r.solved for r in self.results):
            for row in live:
                r = self.results[self.member_ids[row]]
                if r.stop_reason == "running":
                    r.stop_reason, r.wall_seconds = "stage_solved", self._elapsed()
                    stop_rows.append(row)
        if improved:   # one host read, of the improved members' rows only
            self._record_correct([live[i] for i in improved],
                                 correct[torch.tensor(improved, device=self.device)])
        self._record_final_test(ended + stop_rows)    # before they can be compacted out
        if stop_rows:
            self.active[torch.tensor(stop_rows, dtype=torch.long, device=self.device)] = 0
        if self.compact:
            stopped = sum(self.results[m].stop_reason != "running" for m in self.member_ids)
            if stopped and stopped >= self.compact_fraction * len(self.member_ids):
                self._compact_now()

    def _record_correct(self, rows: list[int], correct: torch.Tensor) -> None:
        """Keep the packed per-sample correctness of live ``rows`` at their best check so far,
        on the validation set and on the test set (evaluated now, on the same networks)."""
        tested = self._test(rows)
        for row, bits, (acc, test_bits) in zip(rows, correct.cpu().numpy(), tested):
            r = self.results[self.member_ids[row]]
            r.best_correct = pack(bits)
            r.best_test_accuracy, r.best_test_correct = acc, test_bits

    def _record_final_test(self, rows: list[int]) -> None:
        """The final networks of live ``rows`` (members that stop now) on the test set."""
        for row, (acc, bits) in zip(rows, self._test(rows)):
            r = self.results[self.member_ids[row]]
            r.final_test_accuracy, r.final_test_correct = acc, bits

    @torch.no_grad()
    def _test(self, rows: list[int]) -> list[tuple[float, str]]:
        """(accuracy, packed bits) of live ``rows`` on the test set: one host read."""
        if not rows:
            return []
        idx = torch.tensor(rows, dtype=torch.long, device=self.device)
        correct = self.test.correct(self.params, self.stream_of, idx,
                                    self.validation_h0_quirk).cpu().numpy()
        return [(float(bits.mean()), pack(bits)) for bits in correct]

    def _elapsed(self) -> float:
        """Seconds this population has trained: earlier segments plus this call so far."""
        return round(self._seconds_before + time.monotonic() - self._call_start, 3)

    def _running(self) -> bool:
        return any(self.results[m].stop_reason == "running" for m in self.member_ids)

    def run(self, stop_after_seconds: float | None = None) -> list[MemberResult]:
        """Train until every member has stopped or the cap is reached.

        ``stop_after_seconds`` ends the call early (at a check, after a checkpoint) so that a
        time-limited campaign can resume later; :attr:`finished` tells whether it completed.
        """
        resumed = self.load_checkpoint()
        start = time.monotonic()
        self._call_start = start
        self._seconds_before = sum(seg["seconds"] for seg in self.segments)
        first_iteration = self.iteration
        self._last_train_loss = None
        if not resumed and self.iteration == 0:
            rows = list(range(len(self.member_ids)))
            correct = self.validation_correct(
                torch.tensor(rows, dtype=torch.long, device=self.device))
            for row, acc in zip(rows, correct.float().mean(-1).tolist()):
                r = self.results[self.member_ids[row]]
                r.best_accuracy = r.final_accuracy = acc
                r.curve.append((0, acc, None))
            self._record_correct(rows, correct)
        bar = None
        if self.progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=self.max_iterations, initial=self.iteration, unit="it",
                       desc=f"{self.algorithm.name} {self.task} T={self.T} P={len(self.seeds)}")
        stats = None
        try:
            # (no read of the device flags per iteration: that would make the host wait for
            # the GPU at every step; members stopped by divergence are found at the next check)
            while self.iteration < self.max_iterations and self._running():
                self.iteration += 1
                self.next_batch()
                probe = bool(self.probe_every) and self.iteration % self.probe_every == 0
                if self.use_graph and not probe:
                    stats = self._graphed_step()
                else:
                    stats = self._step(probe)
                if probe:
                    self._record_probe(stats)
                if self.iteration % self.check_every == 0:
                    self._last_train_loss = stats.get("train_loss", stats["global_loss"]).tolist()
                    self._check()
                    if bar is not None:
                        bar.update(self.iteration - bar.n)
                        bar.set_postfix(solved=sum(r.solved for r in self.results),
                                        live=len(self.member_ids))
                    if self.iteration % self.checkpoint_every == 0:
                        self.save_checkpoint()
                    if stop_after_seconds is not None and \
                            time.monotonic() - start > stop_after_seconds:
                        self._segment(first_iteration, start)
                        self.save_checkpoint()
                        return self.results
            if self.iteration % self.check_every and self._running():
                # the cap is not a multiple of the check interval: one last check at the cap
                # (after a resume at the cap, no step ran in this call: validate without a loss)
                self._last_train_loss = None if stats is None else \
                    stats.get("train_loss", stats["global_loss"]).tolist()
                self._check()
        except KeyboardInterrupt:
            self._segment(first_iteration, start)
            self.save_checkpoint()
            raise
        finally:
            if bar is not None:
                bar.close()
        diverged = self.diverged.tolist()
        ended = []
        for row, m in enumerate(self.member_ids):
            if diverged[row] and not self.results[m].diverged:
                self.results[m].diverged, self.results[m].stop_reason = True, "diverged"
                self.results[m].wall_seconds = self._elapsed()
                ended.append(row)
            elif self.results[m].stop_reason == "running":
                ended.append(row)               # stops at the cap, below
        self._record_final_test(ended)
        for m, r in enumerate(self.results):
            if r.stop_reason == "running":
                r.stop_reason, r.iterations = "cap", self.iteration
            if r.wall_seconds is None:
                r.wall_seconds = self._elapsed()
        self._segment(first_iteration, start)
        self.save_checkpoint()
        return self.results

    def _segment(self, first_iteration: int, start: float) -> None:
        """Record who ran iterations first_iteration+1 .. now (commit, device, seconds)."""
        if self.iteration == first_iteration:
            return
        commit, dirty = git_state()
        self.segments.append(dict(commit=commit[:12] + ("+dirty" if dirty else ""),
                                  device=device_name(self.device),
                                  iterations=[first_iteration + 1, self.iteration],
                                  seconds=round(time.monotonic() - start, 1)))

    @property
    def finished(self) -> bool:
        return all(r.stop_reason != "running" for r in self.results)
