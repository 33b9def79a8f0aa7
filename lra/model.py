"""A population of vanilla tanh RNNs held as batched tensors (book chapter "The RNN and BPTT").

Eq. (1)-(2) of the paper, in the row-vector convention used throughout this package::

    h_t = z_{t-1} W_hh + x_t W_xh + b_h,   z_t = tanh(h_t),   z_{-1} = 0       (1)
    y_hat = z_{T-1} W_hy + b_y   (softmax, cross-entropy E)                    (2)

Time steps are numbered 0..T-1 (the paper's 0..t_max with t_max = T-1).  Every tensor carries the
population axis P first, so member p is ``W_hh[p]`` etc.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import torch

HIDDEN = 100


@dataclass
class RNNParams:
    W_xh: torch.Tensor  # (P, n_in, H)
    W_hh: torch.Tensor  # (P, H, H)
    W_hy: torch.Tensor  # (P, H, n_out)
    b_h: torch.Tensor   # (P, H)
    b_y: torch.Tensor   # (P, n_out)

    def items(self):
        return [(f.name, getattr(self, f.name)) for f in fields(self)]

    def select(self, idx) -> "RNNParams":
        return RNNParams(**{k: v[idx] for k, v in self.items()})

    def clone(self) -> "RNNParams":
        return RNNParams(**{k: v.clone() for k, v in self.items()})

    def state_dict(self) -> dict:
        return {k: v.detach().cpu() for k, v in self.items()}


def orthogonal(rows: int, cols: int, generator: torch.Generator) -> torch.Tensor:
    """A (rows, cols) matrix with orthonormal rows or columns (Saxe et al.; as ``orthogonal_``).

    Drawn from our own generator so that each member's initialisation depends only on its seed.
    """
    a = torch.randn(max(rows, cols), min(rows, cols), generator=generator, dtype=torch.float64)
    q, r = torch.linalg.qr(a)
    q = q * torch.sign(torch.diagonal(r)).unsqueeze(0)  # make the decomposition unique
    return (q if rows >= cols else q.T).to(torch.float32).contiguous()


def init_member(seed: int, n_in: int, n_out: int, hidden: int = HIDDEN) -> dict[str, torch.Tensor]:
    """Orthogonal W_xh, W_hh, W_hy and zero biases for one member, a function of its seed only."""
    g = torch.Generator().manual_seed(int(seed))
    return dict(W_xh=orthogonal(n_in, hidden, g), W_hh=orthogonal(hidden, hidden, g),
                W_hy=orthogonal(hidden, n_out, g), b_h=torch.zeros(hidden),
                b_y=torch.zeros(n_out))


def init_population(seeds, n_in: int, n_out: int, hidden: int = HIDDEN, device="cpu") -> RNNParams:
    members = [init_member(s, n_in, n_out, hidden) for s in seeds]
    return RNNParams(**{k: torch.stack([m[k] for m in members]).to(device)
                        for k in members[0]})


def input_projection(params: RNNParams, x: torch.Tensor) -> torch.Tensor:
    """x_t W_xh for every step at once: x (P, T, B, n_in) -> (P, T, B, H)."""
    P, T, B, n_in = x.shape
    return torch.bmm(x.reshape(P, T * B, n_in), params.W_xh).reshape(P, T, B, -1)


def forward(params: RNNParams, x: torch.Tensor, h_init: torch.Tensor | None = None):
    """Unroll eq. (1)-(2). x: (P, T, B, n_in). Returns h, z: (P, T, B, H) and logits (P, B, n_out).

    ``h_init`` is the state fed to W_hh at step 0 (zeros by default, the paper's h_0 = 0).
    """
    return unroll(params, input_projection(params, x), h_init)


def unroll(params: RNNParams, xw: torch.Tensor, h_init: torch.Tensor | None = None):
    """Eq. (1)-(2) from precomputed input projections xw = x W_xh, (P, T, B, H)."""
    T = xw.shape[1]
    hs, zs = [], []
    z = h_init
    for t in range(T):
        h = xw[:, t] + params.b_h.unsqueeze(1)
        if z is not None:
            h = h + torch.bmm(z, params.W_hh)
        z = torch.tanh(h)
        hs.append(h)
        zs.append(z)
    logits = torch.bmm(z, params.W_hy) + params.b_y.unsqueeze(1)
    return torch.stack(hs, 1), torch.stack(zs, 1), logits


def cross_entropy_grad(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """dE/d(logits) for the batch-mean cross-entropy: (softmax - onehot) / B."""
    p = torch.softmax(logits, -1)
    onehot = torch.nn.functional.one_hot(y, logits.shape[-1]).to(p.dtype)
    return (p - onehot) / logits.shape[-2]


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Batch-mean cross-entropy per member: logits (P, B, k), y (P, B) -> (P,)."""
    logp = torch.log_softmax(logits, -1)
    return -logp.gather(-1, y.unsqueeze(-1)).squeeze(-1).mean(-1)


def output_grads(z_last: torch.Tensor, g_logits: torch.Tensor):
    """(dE/dW_hy, dE/db_y) from the last state and dE/dlogits."""
    return torch.bmm(z_last.transpose(1, 2), g_logits), g_logits.sum(1)


def input_weight_grads(x_t, z_prev, delta):
    """Local gradients of a loss with dL/dh_t = delta w.r.t. (W_hh, W_xh, b_h) at one step."""
    g_hh = torch.bmm(z_prev.transpose(1, 2), delta) if z_prev is not None else torch.zeros(
        delta.shape[0], delta.shape[2], delta.shape[2], dtype=delta.dtype, device=delta.device)
    return g_hh, torch.bmm(x_t.transpose(1, 2), delta), delta.sum(1)
