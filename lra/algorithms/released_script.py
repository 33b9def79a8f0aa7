"""The released script's training step as the script computes it: autograd through the unrolled graph.

Book chapter "The paper and its released code", section "The released script itself". The
paper's released code (``nmanchev/lra-rnn``, ``lra2_reg.py`` at commit :data:`RELEASED_COMMIT`,
GPL-3) is *read*, not copied: this module is our own implementation of the computation that
script performs, so that it can be compared, run for run, with the script's printed output
(``results/released_script/``) and with this package's local one-step reading of the same
departures (:class:`lra.algorithms.lra_diff.ReleasedCodeSwitches`). Those runs are written, read
back and compared by :mod:`lra.campaign.released_runs`.

What the script computes for one mini-batch (line numbers of ``lra2_reg.py``), in this package's
row-vector, 0-based notation (steps t = 0..T-1, state s fed to W_hh before step 0)::

    forward (lines 121-138): h_t = z_{t-1} W_hh + x_t W_xh + b_h, z_t = tanh(h_t)   (eq. 1)
        training: z_{-1} = 0 (line 329); validation: z_{-1} = x_0 W_xh + b_h (line 178)
    E = mean_b sum_k -y log softmax(z_{T-1} W_hy + b_y)                       (eq. 2; lines 112, 151)
    grad W_hy, b_y = dE/d(.)  (lines 238-239); grad W_hy <- Normalize(., c)    (line 249)
    top target, K steps (lines 251-265, Alg. 1 lines 8-13 read as A1):
        Delta = Normalize(dE_k/dh_bar, c);  h_bar <- h_bar - gamma Delta;
        E_{k+1} = E(tanh(h_bar) W_hy + b_y)
        Delta comes out of ``autograd.grad`` without a graph: a constant. So
        z_hat_{T-1} = tanh(h_{T-1} - gamma sum_k Delta_k) *is a function of h_{T-1}*, hence of
        every parameter through the whole unrolled forward pass (notes, deviation 2).
    L = L(z_{T-1}, z_hat_{T-1})                                                 (line 273)
    for l = T-1 .. 1  (layer 0 never trained: deviation 4; lines 275-298):
        grad^l W_hh, b_h, W_xh = dL/d(.) by autograd over the *whole* graph L depends on
            (lines 283-285): both arguments of L, every earlier time step (deviation 12);
        grad^l W_hh, W_xh <- Normalize(., c) (lines 295-296); grad^l b_h is not clipped
        target of layer l-1, K steps (``get_target``, lines 195-216):
            h_bar <- h_{l-1};  k = 0: Delta = Normalize(dL/dh_bar, c) with L the loss in hand
            (for l = T-1: L(z_{T-1}, z_hat_{T-1}); below: the loss returned by the layer above),
            differentiated through *every* path from h_{l-1} to L;
            h_bar <- h_bar - gamma Delta;  z_hat_{l-1} = tanh(h_bar);
            L <- L(z_l, tanh(z_hat_{l-1} W_hh + x_l W_xh + b_h))                 (line 214)
            (k >= 1: the same with the new L: the distance from the *original* z_l, deviation 3)
        the L after the K steps is the loss that trains layer l-1 at the next l (deviation 3)
    the updates are the per-layer terms summed over l (lines 342-346); plain SGD (line 475)
    the reported "train loss" is E_K, after the K target steps (deviation 8)

with Normalize(D, c) = D c/||D||_F if c != 0 and ||D||_F >= c (lines 98-109; paper line 29, one
constant c for every clip: deviation 1) and L the mean squared error (``nn.MSELoss``; paper A4).
The training loop (lines 303-373) validates every ``check_every`` iterations on a fixed set of
10,000 examples drawn *before* any training batch, in batches of 1,000, and stops when the error
is below 1e-4 ("solved"), after 30 checks without a new lowest error (deviation 7, "patience"), or
when the top layer's local loss is NaN.

Only lambda = 0 (Algorithm 1) is implemented here: the script's regulariser (Algorithm 2,
deviation 5) is outside this module's scope (the step takes no lambda).

The data stream is the one the script sees: one ``numpy.random.RandomState(seed)`` draws the
validation set and then every training batch, in the order of the task generators of
``pascanur/trainingRNNs`` (re-implemented in :func:`stream_batch`); the initial weights are
``torch.nn.init.orthogonal_`` on W_xh, W_hh, W_hy in that order after ``torch.manual_seed(seed)``.
With the same stream, initial weights and floating-point operations, a run of :func:`train` with
``reading="autograd"`` can be compared with the script's printed accuracies check by check.

``reading="local"`` trains on the same stream with :func:`lra.algorithms.lra_diff.lra_diff_grads` (one
member) and a set of :class:`~lra.algorithms.lra_diff.ReleasedCodeSwitches`: the package's local one-step
reading of the same departures, for the comparison and the per-switch ablation.
"""
from __future__ import annotations

import hashlib
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

RELEASED_REPO = "nmanchev/lra-rnn"
RELEASED_COMMIT = "da7dcb957279eb0f6622b679df6089a4fb4f8999"
RELEASED_TASK_NAMES = {"random_permutation": "perm", "temporal_order": "temp"}
TASK_SHAPES = {"random_permutation": (100, 100), "temporal_order": (6, 4)}   # (n_in, n_out)
HIDDEN = 100
BATCH = 20
VALIDATION_SIZE = 10_000
VALIDATION_BATCH = 1_000
PATIENCE = 30            # validation checks without a new lowest error (line 313)
SOLVED_ERROR = 1e-4      # line 363
# The source that ran (hashed at import, so a file edited during a run cannot be misrecorded).
SOURCE_SHA256 = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]


# ----------------------------------------------------------------------------- data and init


def stream_batch(rng: np.random.RandomState, task: str, T: int, batch: int):
    """One batch of the script's data stream: one-hot x (T, batch, n_in) float32, labels (batch,).

    The draws, in order, of the generators the script imports (Pascanu et al.'s; reference-code
    notes, "Task generators"): random permutation — T+1 symbols uniform in {2..99}, then the bit v
    of each example, written at the first and the last position (the input is the first T, the
    label the last); temporal order — p0, v0, p1, v1, then the distractors in {2..5}.
    """
    if task == "random_permutation":
        sym = rng.randint(98, size=(T + 1, batch)) + 2
        v = rng.randint(2, size=(batch,))
        sym[0] = v
        inputs, label = sym[:T], v
    elif task == "temporal_order":
        span = (T * 1) // 10
        p0 = rng.randint(span, size=(batch,)) + span
        v0 = rng.randint(2, size=(batch,))
        p1 = rng.randint(span, size=(batch,)) + (T * 5) // 10
        v1 = rng.randint(2, size=(batch,))
        inputs = rng.randint(4, size=(T, batch)) + 2
        cols = np.arange(batch)
        inputs[p0, cols] = v0
        inputs[p1, cols] = v1
        label = v0 + 2 * v1
    else:
        raise ValueError(f"task {task!r} not supported; valid: {', '.join(TASK_SHAPES)}")
    n_in = TASK_SHAPES[task][0]
    x = torch.nn.functional.one_hot(torch.from_numpy(inputs).long(), n_in).to(torch.float32)
    return x, torch.from_numpy(np.asarray(label)).long()


def released_init(task: str, seed: int, hidden: int = HIDDEN) -> dict:
    """The script's initial weights: ``torch.manual_seed(seed)`` (line 418), then
    ``orthogonal_`` on W_xh, W_hh, W_hy in that order (lines 84-86), zero biases (lines 87-88).
    Note: reseeds torch's global generator, as the script does."""
    n_in, n_out = TASK_SHAPES[task]
    torch.manual_seed(seed)
    init = torch.nn.init.orthogonal_
    return dict(W_xh=init(torch.empty(n_in, hidden)), W_hh=init(torch.empty(hidden, hidden)),
                W_hy=init(torch.empty(hidden, n_out)), b_h=torch.zeros(hidden),
                b_y=torch.zeros(n_out))


# ----------------------------------------------------------------------------- the step


def clip(d: torch.Tensor, c: float, rule: str = "standard") -> torch.Tensor:
    """Normalize(D, c) (lines 98-109; paper line 29): rescale to Frobenius norm c when ||D|| >= c.

    ``rule`` (not the script's: for the norm modes of :data:`lra.algorithms.lra_diff.NORM_RULES`,
    Figure 3): "standard" is the script's; "forced" always rescales to norm c (when c > 0 and
    ||D|| > 0); "off" never rescales."""
    if c == 0 or rule == "off":
        return d
    n = torch.linalg.norm(d, ord="fro")
    if rule == "forced":
        return (c / n) * d if n > 0 else d
    return (c / n) * d if n >= c else d


def global_loss(logits: torch.Tensor, y_onehot: torch.Tensor) -> torch.Tensor:
    """E (eq. 2; lines 112-113, 151-154): batch mean of -sum_k y_k log softmax_k, written as the
    script writes it (log of the softmax, not log_softmax), so that its rounding is the same."""
    p = torch.softmax(logits, dim=1)
    return torch.mean(torch.sum(-y_onehot * torch.log(p), 1))


def mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The local loss L (``nn.MSELoss``: the mean over batch and units; paper A4), differentiable
    in both arguments (the script does not detach the target: deviation 2)."""
    return torch.nn.functional.mse_loss(a, b)


def unroll(W: dict, x: torch.Tensor, state: torch.Tensor):
    """Eq. (1)-(2) as lines 121-138: h_t = s W_hh + x_t W_xh + b_h in that order of operations."""
    hs, zs = [], []
    s = state
    for t in range(x.shape[0]):
        h = s @ W["W_hh"] + x[t] @ W["W_xh"] + W["b_h"]
        s = torch.tanh(h)
        hs.append(h)
        zs.append(s)
    return hs, zs, zs[-1] @ W["W_hy"] + W["b_y"]


@dataclass
class StepResult:
    """The released step's gradients and what it reports.

    ``layer`` maps W_hh, W_xh, b_h to (T, ...) per-layer terms (after Normalize; row 0 zero:
    layer 0 is never trained), ``grads`` the summed updates (lines 342-346), ``targets`` the
    (T, B, H) targets z_hat_t (row 0 as well: z_hat_0 is computed, then unused), ``top_dh`` the
    (K,) norms of the top target steps before Normalize, ``chain_dh`` the (T, K) norms of the hidden
    target steps before Normalize (row l-1 for the target of layer l-1), ``layer_loss`` the (T,)
    losses that train each layer (line 277), ``train_loss`` E_K (deviation 8).
    """
    grads: dict
    layer: dict
    targets: torch.Tensor
    top_dh: torch.Tensor
    chain_dh: torch.Tensor
    layer_loss: torch.Tensor
    train_loss: float


def released_step(W: dict, x: torch.Tensor, y_onehot: torch.Tensor, gamma: float, K: int = 10,
                  c: float = 1.0, history: bool = True, chain: str = "released",
                  norm: str = "standard") -> StepResult:
    """``calc_grads`` (lines 231-300) for one mini-batch, by autograd over the unrolled graph.

    W: dict of W_xh (n_in, H), W_hh (H, H), W_hy (H, n_out), b_h (H,), b_y (n_out,); x (T, B, n_in);
    y_onehot (B, n_out). The training forward pass starts from a zero state (line 329).
    Every gradient is a separate ``autograd.grad`` call on the retained graph, in the script's
    order, so that the accumulation (and its rounding) is the same.

    Two ablations localise the two places where the script's computation is not one-step (the
    defaults are the script's computation):

    * ``history=False``: each layer's weight gradient (lines 283-285) is taken from the same loss
      rebuilt on a one-step graph — every state entering a step is a constant — so that only the
      steps the loss touches directly contribute: step l+1 (z_{l+1} and the recomputed activity
      tanh(z_hat_l W_hh + ...)) and step l (through z_hat_l = tanh(h_l - gamma sum Delta)).
    * ``chain="local"``: the first target step below each layer (k = 0 in ``get_target``)
      differentiates L(z_l(h_bar), z_hat_l) through z_l only (the target z_hat_l a constant),
      instead of the loss in hand through every path.

    With both, the step is the package's local reading with every released-code switch on
    (:func:`lra.algorithms.lra_diff.lra_diff_grads`; checked in ``tests/algorithms/test_released_script.py``).

    ``norm`` (not the script's; default its own rule): a mode of
    :data:`lra.algorithms.lra_diff.NORM_RULES` (Figure 3's forced normalisation): the target steps
    Delta follow its Delta h rule, the clipped weight gradients (W_hy, W_hh, W_xh) its weight
    rule. The population step (:mod:`lra.algorithms.released_population`) is checked against this.
    """
    from lra.algorithms.lra_diff import dh_rule, weight_rule
    rule_d, rule_w = dh_rule(norm), weight_rule(norm)
    if chain not in ("released", "local"):
        raise ValueError(f"chain must be 'released' or 'local', got {chain!r}")
    P = {k: v.detach().clone().requires_grad_(True) for k, v in W.items()}
    T, B = x.shape[:2]
    H = P["W_hh"].shape[0]
    grad = lambda out, wrt: torch.autograd.grad(out, wrt, retain_graph=True)[0]
    f = dict(dtype=P["W_hh"].dtype)
    hs, zs, logits = unroll(P, x, torch.zeros(B, H, **f))

    # Lines 235-249: output layer, ordinary gradient of E; W_hy's gradient clipped (deviation 1).
    E = global_loss(logits, y_onehot)
    g_hy = clip(grad(E, P["W_hy"]), c, rule_w)
    g_by = grad(E, P["b_y"])

    # Lines 251-265: K steps on h_{T-1}; Delta constant, h_bar keeps its graph to h_{T-1}.
    h_bar = hs[-1]
    top_dh = torch.zeros(K, **f)
    for k in range(K):
        d = grad(E, h_bar)
        top_dh[k] = torch.linalg.norm(d, ord="fro")
        h_bar = h_bar - gamma * clip(d, c, rule_d)
        z_hat = torch.tanh(h_bar)
        E = global_loss(z_hat @ P["W_hy"] + P["b_y"], y_onehot)
    h_hat = [None] * T                # final pre-activation of each target (for history=False)
    h_hat[T - 1] = h_bar.detach()

    g = {"W_hh": torch.zeros(T, H, H, **f), "b_h": torch.zeros(T, H, **f),
         "W_xh": torch.zeros(T, *P["W_xh"].shape, **f)}
    targets = torch.zeros(T, B, H, **f)
    targets[T - 1] = z_hat.detach()
    chain_dh = torch.zeros(T, K, **f)
    layer_loss = torch.zeros(T, **f)
    L = mse(zs[-1], z_hat)                                       # line 273
    for l in range(T - 1, 0, -1):                                # lines 275-298
        layer_loss[l] = L.detach()
        # Lines 283-285: the layer's gradients through the whole graph L depends on.
        L_w, Q = (L, P) if history else _one_step_loss(P, x, zs, h_hat, l)
        g["W_hh"][l] = grad(L_w, Q["W_hh"])
        g["b_h"][l] = grad(L_w, Q["b_h"])
        g["W_xh"][l] = grad(L_w, Q["W_xh"])
        g["W_hh"][l] = clip(g["W_hh"][l], c, rule_w)       # lines 295-296 (b_h unclipped)
        g["W_xh"][l] = clip(g["W_xh"][l], c, rule_w)
        # ``get_target`` (lines 195-216): K steps on h_{l-1} against the loss in hand.
        h_bar = hs[l - 1]
        for k in range(K):
            if k == 0 and chain == "local":
                z_l = torch.tanh(torch.tanh(h_bar) @ P["W_hh"] + x[l] @ P["W_xh"] + P["b_h"])
                d = grad(mse(z_l, targets[l]), h_bar)
            else:
                d = grad(L, h_bar)
            chain_dh[l - 1, k] = torch.linalg.norm(d, ord="fro")
            h_bar = h_bar - gamma * clip(d, c, rule_d)
            z_below = torch.tanh(h_bar)
            L = mse(zs[l], torch.tanh(z_below @ P["W_hh"] + x[l] @ P["W_xh"] + P["b_h"]))
        targets[l - 1] = z_below.detach()
        h_hat[l - 1] = h_bar.detach()
    grads = {"W_xh": g["W_xh"].sum(0), "W_hh": g["W_hh"].sum(0), "W_hy": g_hy,
             "b_h": g["b_h"].sum(0), "b_y": g_by}
    return StepResult(grads, g, targets, top_dh, chain_dh, layer_loss, float(E.detach()))


def _one_step_loss(P: dict, x: torch.Tensor, zs: list, h_hat: list, l: int):
    """The loss that trains layer l, rebuilt on a one-step graph with fresh weight leaves Q (same
    value): every state entering a step is a constant, and z_hat_t = tanh(h_t - gamma sum Delta)
    keeps its dependence on its own step's h_t (derivative 1, value h_hat_t exactly)."""
    Q = {k: v.detach().clone().requires_grad_(True) for k, v in P.items()}
    T = x.shape[0]

    def h_at(t):
        state = zs[t - 1].detach() if t > 0 else torch.zeros_like(zs[0])
        return state @ Q["W_hh"] + x[t] @ Q["W_xh"] + Q["b_h"]

    def target(t):
        h = h_at(t)
        return torch.tanh(h - h.detach() + h_hat[t])

    if l == T - 1:
        h = h_at(l)
        return mse(torch.tanh(h), torch.tanh(h - h.detach() + h_hat[l])), Q
    z_up = torch.tanh(h_at(l + 1))
    return mse(z_up, torch.tanh(target(l) @ Q["W_hh"] + x[l + 1] @ Q["W_xh"] + Q["b_h"])), Q


def local_step(W: dict, x: torch.Tensor, y: torch.Tensor, gamma: float, K: int, c: float,
               switches) -> tuple[dict, float, float]:
    """This package's reading (:func:`lra.algorithms.lra_diff.lra_diff_grads`, one member, lambda = 0, MSE,
    c0 = c1 = c) with the given :class:`~lra.algorithms.lra_diff.ReleasedCodeSwitches`.

    Returns the summed updates, the top local loss L(z_{T-1}, z_hat_{T-1}) and the reported train
    loss (E_K under switch 8, E otherwise)."""
    from lra.algorithms.lra_diff import Hyper, LRADiffConfig, lra_diff_grads
    from lra.model import RNNParams
    hyper = Hyper([LRADiffConfig(alpha=1.0, gamma=float(gamma), K=int(K), c0=float(c),
                                 c1=float(c), lam=0.0, loss="mse")])
    params = RNNParams(**{k: v.unsqueeze(0) for k, v in W.items()})
    grads, stats = lra_diff_grads(params, x.unsqueeze(0), y.unsqueeze(0), hyper, switches,
                                  probe=True)
    loss = stats["post_target_loss" if switches.report_post_target_loss else "global_loss"]
    return ({k: v[0] for k, v in grads.items()}, float(stats["local_loss"][0, -1]), float(loss))


# ----------------------------------------------------------------------------- the training loop


def validate(W: dict, x: torch.Tensor, y: torch.Tensor, h0_quirk: bool = True):
    """``validate`` (lines 161-192): batches of 1,000; the state fed to W_hh before step 0 is
    x_0 W_xh + b_h (deviation 6) unless ``h0_quirk`` is False; returns (loss, error), each the mean
    over the batches of the batch means."""
    n_in, n_out = W["W_xh"].shape[0], W["W_hy"].shape[1]
    losses, errors = [], []
    with torch.no_grad():
        for start in range(0, x.shape[1], VALIDATION_BATCH):
            xb, yb = x[:, start:start + VALIDATION_BATCH], y[start:start + VALIDATION_BATCH]
            zero = torch.zeros(xb.shape[1], W["W_hh"].shape[0])
            state = (zero @ W["W_hh"] + xb[0] @ W["W_xh"] + W["b_h"]) if h0_quirk else zero
            _, _, logits = unroll(W, xb, state)
            onehot = torch.nn.functional.one_hot(yb, n_out).to(torch.float32)
            losses.append(float(global_loss(logits, onehot)))
            errors.append(float((~torch.eq(torch.argmax(logits, 1), yb)).float().mean()))
    return float(np.mean(losses)), float(np.mean(errors))


@dataclass(frozen=True)
class RunSpec:
    """One run: the script's ``run_experiment`` arguments we vary (lr = the paper's alpha, gamma =
    the script's ``glr``) and, for ``reading="local"``, the switches on (names)."""
    task: str
    lr: float
    gamma: float
    reading: str = "autograd"          # "autograd" (this module) or "local" (lra.algorithms.lra_diff)
    switches: tuple = ()
    T: int = 10
    K: int = 10
    c: float = 1.0
    seed: int = 1234
    max_iterations: int = 10_000
    check_every: int = 100
    patience: bool = True
    history: bool = True               # autograd reading: see released_step
    chain: str = "released"
    monitor: bool = False              # also record saturation and weight norms at each check

    def label(self) -> str:
        base = f"{self.task}_a{self.lr:g}_g{self.gamma:g}"
        if self.reading == "autograd":
            ablation = ("" if self.history else "_nohistory") + (
                "" if self.chain == "released" else f"_chain{self.chain}")
            return f"autograd{ablation}_{base}" + ("_monitor" if self.monitor else "")
        return f"local_{'+'.join(self.switches) or 'paper'}_{base}"


def train(spec: RunSpec, log=None) -> dict:
    """The script's ``train`` loop (lines 303-373) on the script's data stream; returns the curve
    (every check: iteration, validation accuracy, highest so far, reported train loss) and how the
    run stopped ("solved", "patience", "nan" or "max_iterations")."""
    from lra.algorithms.lra_diff import ReleasedCodeSwitches
    if spec.reading not in ("autograd", "local"):
        raise ValueError(f"unknown reading {spec.reading!r}")
    rng = np.random.RandomState(spec.seed)
    x_val, y_val = stream_batch(rng, spec.task, spec.T, VALIDATION_SIZE)   # before init: line 54
    W = released_init(spec.task, spec.seed)
    n_out = TASK_SHAPES[spec.task][1]
    switches = ReleasedCodeSwitches(**{s: True for s in spec.switches})
    _, lowest = validate(W, x_val, y_val)
    curve = {"iteration": [], "accuracy": [], "highest": [], "train_loss": [], "val_loss": []}
    start_accuracy, patience, stop, it = 1 - lowest, 0, "max_iterations", 0
    t0 = time.time()
    for it in range(1, spec.max_iterations + 1):
        x, y = stream_batch(rng, spec.task, spec.T, BATCH)
        if spec.reading == "autograd":
            res = released_step(W, x, torch.nn.functional.one_hot(y, n_out).float(), spec.gamma,
                                spec.K, spec.c, spec.history, spec.chain)
            grads, top_loss, train_loss = res.grads, float(res.layer_loss[-1]), res.train_loss
        else:
            grads, top_loss, train_loss = local_step(W, x, y, spec.gamma, spec.K, spec.c, switches)
        if math.isnan(top_loss):                                  # line 338
            stop = "nan"
            break
        with torch.no_grad():                                     # SGD, momentum 0 (line 475)
            for k in W:
                W[k].add_(grads[k], alpha=-spec.lr)
        if it % spec.check_every == 0:
            patience += 1
            val_loss, err = validate(W, x_val, y_val)
            if err < lowest:
                patience, lowest = 0, err
            for key, v in zip(curve, (it, 1 - err, 1 - lowest, train_loss, val_loss)):
                curve[key].append(v)
            if spec.monitor:
                for key, v in monitor_state(W, x_val).items():
                    curve.setdefault(key, []).append(v)
            if log:
                log(f"{spec.label()} it {it} acc {1 - err:.4%} highest {1 - lowest:.4%}")
            if err < SOLVED_ERROR:
                stop = "solved"
                break
            if spec.patience and patience >= PATIENCE:
                stop = "patience"
                break
    return {"spec": asdict(spec), "start_accuracy": start_accuracy, "curve": curve,
            "stop_reason": stop, "iterations": it, "best_accuracy": 1 - lowest,
            "wall_seconds": round(time.time() - t0, 1)}


def step_diagnostic(task: str, gamma: float, K: int = 10, c: float = 1.0, T: int = 10,
                    seed: int = 1234) -> dict:
    """Where the released step and the local reading part, on one batch: the script's initial
    weights and first training batch. Per layer t (lists over t = 0..T-1): the local loss that
    trains layer t, the norms of its W_hh, W_xh, b_h terms (after Normalize), the norm of the
    first target step Delta h_t (k = 0, after Normalize) and of the target displacement
    z_hat_t - z_t; and the summed updates' relative differences. ``local`` is
    :func:`lra.algorithms.lra_diff.lra_diff_grads` with every released-code switch on."""
    from lra.algorithms.lra_diff import (Hyper, LRADiffConfig, ReleasedCodeSwitches, hidden_target_chain,
                           lra_diff_grads)
    from lra.model import RNNParams, input_projection, unroll as unroll_population
    rng = np.random.RandomState(seed)
    stream_batch(rng, task, T, VALIDATION_SIZE)
    W = released_init(task, seed)
    x, y = stream_batch(rng, task, T, BATCH)
    R = released_step(W, x, torch.nn.functional.one_hot(y, TASK_SHAPES[task][1]).float(),
                      gamma, K, c)
    _, zs, _ = unroll(W, x, torch.zeros(BATCH, HIDDEN))
    z = torch.stack(zs).detach()
    norms = lambda a: torch.linalg.vector_norm(a.flatten(1), dim=1).tolist()
    clipped = lambda n: [min(v, c) if c > 0 else v for v in n]
    released = {"local_loss": R.layer_loss.tolist(), "dW_hh": norms(R.layer["W_hh"]),
                "dW_xh": norms(R.layer["W_xh"]), "db_h": norms(R.layer["b_h"]),
                "dh_k0": clipped(R.chain_dh[:, 0].tolist()[:-1]) + [min(float(R.top_dh[0]), c)],
                "target_displacement": norms(R.targets - z)}
    sw = ReleasedCodeSwitches.all_on()
    hyper = Hyper([LRADiffConfig(alpha=1.0, gamma=float(gamma), K=K, c0=c, c1=c, lam=0.0)])
    params = RNNParams(**{k: v.unsqueeze(0) for k, v in W.items()})
    grads, st = lra_diff_grads(params, x.unsqueeze(0), y.unsqueeze(0), hyper, sw, probe=True)
    xw = input_projection(params, x.unsqueeze(0))
    h, zp, _ = unroll_population(params, xw)
    targets, _, _ = hidden_target_chain(params.W_hh, h, zp, xw + params.b_h[:, None, None],
                                        R.targets[-1].unsqueeze(0), hyper, sw)
    local = {"local_loss": st["local_loss"][0].tolist(), "dW_hh": st["dW_hh_norm"][0].tolist(),
             "dW_xh": st["dW_xh_norm"][0].tolist(), "db_h": st["db_h_norm"][0].tolist(),
             "dh_k0": st["dh_norm"][0].tolist(), "target_displacement": norms(targets[0] - zp[0])}
    rel = {k: float((R.grads[k] - v[0]).norm() / R.grads[k].norm()) for k, v in grads.items()}
    return {"task": task, "gamma": gamma, "K": K, "c": c, "T": T, "seed": seed,
            "released_autograd": released, "local_all_switches": local,
            "summed_update_relative_difference": rel,
            "post_target_loss": {"released_autograd": R.train_loss,
                                 "local_all_switches": float(st["post_target_loss"][0])}}


def monitor_state(W: dict, x_val: torch.Tensor, n: int = 1000) -> dict:
    """What the network's state looks like (first n validation examples, the script's validation
    state): the fraction of last-step units with |z_{T-1}| > 0.99 (saturated), the mean |h_{T-1}|,
    the largest singular value of W_hh and the norms of W_xh and b_h."""
    with torch.no_grad():
        xb = x_val[:, :n]
        state = torch.zeros(n, W["W_hh"].shape[0]) @ W["W_hh"] + xb[0] @ W["W_xh"] + W["b_h"]
        hs, zs, _ = unroll(W, xb, state)
        return {"saturated_fraction": float((zs[-1].abs() > 0.99).float().mean()),
                "mean_abs_h_last": float(hs[-1].abs().mean()),
                "W_hh_spectral_norm": float(torch.linalg.matrix_norm(W["W_hh"], ord=2)),
                "W_xh_norm": float(torch.linalg.norm(W["W_xh"])),
                "b_h_norm": float(torch.linalg.norm(W["b_h"]))}
