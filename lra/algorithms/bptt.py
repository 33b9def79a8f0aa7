"""Backpropagation through time for a population (book chapter "The RNN and BPTT", eq. 3).

    dE/dW_hh = sum_t  dE/dh_t^T-contributions = sum_t z_{t-1}^T delta_t,
    delta_{T-1} = (dE/dlogits W_hy^T) * tanh'(h_{T-1}),   delta_{t-1} = (delta_t W_hh^T) * tanh'(h_{t-1}).

Closed form, no autograd: the test suite checks it against autograd through an unrolled module.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from lra.model import (RNNParams, cross_entropy, cross_entropy_grad, forward, input_weight_grads,
                    output_grads)
from lra.algorithms.optim import sgd_


def bptt_grads(params: RNNParams, x: torch.Tensor, y: torch.Tensor):
    """Gradients of the batch-mean cross-entropy for every member. x: (P,T,B,n_in), y: (P,B)."""
    h, z, logits = forward(params, x)
    T = x.shape[1]
    g_logits = cross_entropy_grad(logits, y)
    dW_hy, db_y = output_grads(z[:, -1], g_logits)
    delta = torch.bmm(g_logits, params.W_hy.transpose(1, 2)) * (1 - z[:, -1] ** 2)
    dW_hh = torch.zeros_like(params.W_hh)
    dW_xh = torch.zeros_like(params.W_xh)
    db_h = torch.zeros_like(params.b_h)
    for t in range(T - 1, -1, -1):
        z_prev = z[:, t - 1] if t > 0 else None
        g_hh, g_xh, g_b = input_weight_grads(x[:, t], z_prev, delta)
        dW_hh += g_hh
        dW_xh += g_xh
        db_h += g_b
        if t > 0:
            delta = torch.bmm(delta, params.W_hh.transpose(1, 2)) * (1 - z_prev ** 2)
    grads = RNNParams(W_xh=dW_xh, W_hh=dW_hh, W_hy=dW_hy, b_h=db_h, b_y=db_y)
    return grads, {"global_loss": cross_entropy(logits, y)}


@dataclass
class BPTTConfig:
    """One BPTT member: learning rate alpha (plain SGD)."""
    alpha: float = 0.01


class BPTT:
    """Plain-SGD BPTT over a population; every member may have its own learning rate."""
    name = "bptt"

    def __init__(self, configs: list[BPTTConfig], device="cpu"):
        self.configs = list(configs)
        self.device = device
        self.alpha = torch.tensor([c.alpha for c in configs], dtype=torch.float32, device=device)

    def select(self, rows: list[int]) -> None:
        """Keep only the members at ``rows`` (the engine compacts finished members out)."""
        self.__init__([self.configs[i] for i in rows], self.device)

    def init_state(self, params: RNNParams, seeds) -> dict:
        return {}

    def train_step(self, params: RNNParams, state: dict, x, y, active, probe=False):
        grads, stats = bptt_grads(params, x, y)
        sgd_(params, grads, self.alpha * active)
        return stats
