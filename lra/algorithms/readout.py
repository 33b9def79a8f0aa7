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
    """Population step of the readout-only control (plain SGD on W_hy and b_y)."""
    name = "readout_only"

    def __init__(self, configs: list[ReadoutConfig], device="cpu"):
        self.configs = list(configs)
        self.device = device
        self.alpha = torch.tensor([c.alpha for c in configs], dtype=torch.float32, device=device)

    def select(self, rows: list[int]) -> None:
        self.__init__([self.configs[i] for i in rows], self.device)

    def init_state(self, params: RNNParams, seeds) -> dict:
        return {}

    def train_step(self, params: RNNParams, state: dict, x, y, active, probe=False):
        grads, stats = readout_grads(params, x, y)
        sgd_(params, grads, self.alpha * active)
        stats["train_loss"] = stats["global_loss"]
        return stats
