"""The readout-only control: the recurrent network frozen at its initialisation, only the readout
(W_hy, b_y) trained (book chapter on controls; the reservoir argument).

An orthogonally initialised tanh RNN is a reservoir: its last state may already carry what a linear
readout needs. If training only the readout reaches a number, that number says nothing about the
learning rule that trained the recurrent weights. Same forward pass (eq. 1-2), same loss (the
batch-mean cross-entropy E), same batch, plain SGD on W_hy and b_y only::

    dE/dW_hy = z_{T-1}^T (softmax - onehot) / B,   dE/db_y = sum_b (softmax - onehot) / B.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from lra.model import RNNParams, cross_entropy, cross_entropy_grad, forward, output_grads
from lra.algorithms.optim import sgd_


@dataclass(frozen=True)
class ReadoutConfig:
    """One readout-only member: the SGD learning rate of W_hy and b_y."""
    alpha: float = 0.01

    def __post_init__(self):
        a = self.alpha
        if not isinstance(a, (int, float)) or isinstance(a, bool) or not a >= 0 or a == float("inf"):
            raise ValueError(f"alpha must be a finite non-negative number, got {a!r}")


def readout_grads(params: RNNParams, x: torch.Tensor, y: torch.Tensor):
    """Gradients of E for every member with W_xh, W_hh, b_h frozen (zero gradients)."""
    _, z, logits = forward(params, x)
    dW_hy, db_y = output_grads(z[:, -1], cross_entropy_grad(logits, y))
    grads = RNNParams(W_xh=torch.zeros_like(params.W_xh), W_hh=torch.zeros_like(params.W_hh),
                      W_hy=dW_hy, b_h=torch.zeros_like(params.b_h), b_y=db_y)
    return grads, {"global_loss": cross_entropy(logits, y)}


class ReadoutOnly:
    """Population step of the readout-only control (plain SGD on W_hy and b_y).

    Members of one seed share that seed's frozen reservoir (W_xh, W_hh, b_h at their
    initialisation) and its data stream, so each step runs the reservoir once per seed and only
    the readout per member; the engine likewise computes each stream's validation and test states
    once (``frozen_recurrent``). The numbers are those of :func:`readout_grads` on every member
    (``tests/algorithms/test_readout.py``).
    """
    name = "readout_only"
    frozen_recurrent = True

    def __init__(self, configs: list[ReadoutConfig], device="cpu"):
        self.configs = list(configs)
        self.device = device
        self.alpha = torch.tensor([c.alpha for c in configs], dtype=torch.float32, device=device)
        self._seeds = None

    def select(self, rows: list[int]) -> None:
        seeds = None if self._seeds is None else [self._seeds[i] for i in rows]
        reservoir = getattr(self, "_reservoir", None)
        self.__init__([self.configs[i] for i in rows], self.device)
        if seeds is not None:
            self._share(seeds, reservoir)

    def init_state(self, params: RNNParams, seeds) -> dict:
        seeds = [int(s) for s in seeds]
        first = [seeds.index(s) for s in sorted(set(seeds))]
        # a copy of each seed's reservoir as initialised: a member zeroed on divergence does not
        # change its seed-mates' reservoir (it is frozen, and its readout is zero)
        idx = torch.tensor(first, dtype=torch.long, device=params.W_hh.device)
        self._reservoir = {sorted(set(seeds))[i]: i for i in range(len(first))}, \
            params.select(idx).clone()
        self._share(seeds, self._reservoir)
        return {}

    def _share(self, seeds: list[int], reservoir) -> None:
        """Which row's batch each seed's reservoir reads, and which seed each row is."""
        self._seeds = list(seeds)
        self._reservoir = reservoir
        index_of, res = reservoir
        order = sorted(set(seeds))
        dev = res.W_hh.device
        self._res_rows = torch.tensor([index_of[s] for s in order], dtype=torch.long, device=dev)
        self._batch_rows = torch.tensor([seeds.index(s) for s in order], dtype=torch.long,
                                        device=dev)
        self._seed_of_row = torch.tensor([order.index(s) for s in seeds], dtype=torch.long,
                                         device=dev)

    def train_step(self, params: RNNParams, state: dict, x, y, active, probe=False):
        if self._seeds is None:          # built without init_state: every member on its own
            grads, stats = readout_grads(params, x, y)
            sgd_(params, grads, self.alpha * active)
            stats["train_loss"] = stats["global_loss"]
            return stats
        reservoir = self._reservoir[1].select(self._res_rows)
        _, z, _ = forward(reservoir, x[self._batch_rows])          # once per seed
        z_last = z[:, -1][self._seed_of_row]                        # (P, B, H)
        logits = torch.bmm(z_last, params.W_hy) + params.b_y.unsqueeze(1)
        dW_hy, db_y = output_grads(z_last, cross_entropy_grad(logits, y))
        lr = self.alpha * active
        for p, g in ((params.W_hy, dW_hy), (params.b_y, db_y)):   # the frozen weights stay
            l = lr.view(-1, *([1] * (p.dim() - 1)))
            p.copy_(torch.where(l != 0, p - l * g, p))
        loss = cross_entropy(logits, y)
        return {"global_loss": loss, "train_loss": loss}


def reservoir_states(task: str, T: int, seed: int, sym: torch.Tensor,
                     chunk: int = 10_000) -> torch.Tensor:
    """The last hidden state z_{T-1} of seed's frozen reservoir (its initialisation, eq. 1) for
    symbol sequences ``sym`` (T, N): (N, H), computed in chunks."""
    from lra.model import init_population
    from lra.tasks import get_task, one_hot_inputs
    spec = get_task(task)
    params = init_population([seed], spec.n_in, spec.n_out)
    out = []
    for i in range(0, sym.shape[1], chunk):
        x = one_hot_inputs(sym[:, i:i + chunk], spec.n_in).unsqueeze(0)   # (1, T, n, n_in)
        _, z, _ = forward(params, x)
        out.append(z[0, -1])
    return torch.cat(out)


def fit_linear_readout(z: torch.Tensor, y: torch.Tensor, n_out: int, l2: float = 1e-6,
                       max_iter: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """The linear readout (W, b) minimising the mean cross-entropy of softmax(z W + b) on
    (z, y), plus ``l2`` |W|^2 to keep it finite where the classes separate: multinomial logistic
    regression, fitted by L-BFGS in float64. The best a readout trained by gradient descent on
    this reservoir's states can approach, fitted on far more samples than SGD sees in a run."""
    z, y = z.double(), y.long()
    W = torch.zeros(z.shape[1], n_out, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(n_out, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([W, b], lr=1.0, max_iter=max_iter, tolerance_grad=1e-10,
                            tolerance_change=1e-12, history_size=20,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(z @ W + b, y) + l2 * (W * W).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return W.detach(), b.detach()


def readout_accuracy(z: torch.Tensor, y: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> float:
    """Accuracy of the readout (W, b) on states z with labels y."""
    return float(((z.double() @ W + b).argmax(-1) == y).double().mean())
