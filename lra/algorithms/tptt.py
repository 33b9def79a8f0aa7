"""Target propagation through time (Manchev & Spratling 2020), the Table V baseline.

Book chapter "TPTT". Difference target propagation in an unrolled tanh RNN, as in the reference code
``nmanchev/tptt`` (``RNN_dtp.py``; notes "TPTT"), with states z_t = tanh(h_t)::

    F(x, z) = tanh(z W_hh + x W_xh + b_h)             forward map
    G(x, z) = tanh(x W_xh + z V_hh + c_h)             learned inverse (shares W_xh)
    z_hat_{T-1} = z_{T-1} - lr_i dE/dz_{T-1}           first target
    z_hat_t = z_t - G(x_{t+1}, z_{t+1}) + G(x_{t+1}, z_hat_{t+1})     difference correction
    forward loss   sum_t MSE(F(x_t, z_{t-1}), z_hat_t)           (z_{t-1}, z_hat_t constant) -> W_hh, W_xh, b_h
    inverse loss   sum_t MSE(G(x_t, F(x_t, z~_{t-1})), z~_{t-1}), z~ = z + N(0, noise^2) -> V_hh, c_h

W_hy and b_y take the ordinary gradient of E. Each iteration takes the inverse step, then the forward
step (which recomputes the targets with the updated inverse). SGD or Nesterov momentum 0.9.
The reference aborts when the spectral radius of W_hh or V_hh exceeds 20; so does :meth:`TPTT.stop_mask`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from lra.model import (RNNParams, cross_entropy, cross_entropy_grad, input_projection,
                    input_weight_grads, orthogonal, output_grads, unroll)
from lra.algorithms.optim import nesterov_, sgd_

OPTIMISERS = ("sgd", "nesterov")
SPECTRAL_RADIUS_LIMIT = 20.0


@dataclass(frozen=True)
class TPTTConfig:
    """One TPTT member. Defaults are the reference code's; ``noise`` is our default (the reference
    takes it as an argument and the tuned per-task values are in the JMLR paper)."""
    lr_i: float = 0.1
    lr_f: float = 0.01
    lr_g: float = 0.001
    noise: float = 0.1
    optimiser: str = "nesterov"

    def __post_init__(self):
        for name in ("lr_i", "lr_f", "lr_g", "noise"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 <= v < float("inf"):
                raise ValueError(f"{name} must be a finite non-negative number, got {v!r}")
        if self.optimiser not in OPTIMISERS:
            raise ValueError(f"unknown optimiser {self.optimiser!r}; valid: {', '.join(OPTIMISERS)}")


class _Inverse:
    """(V_hh, c_h) viewed like RNNParams so the optimisers can walk it."""

    def __init__(self, V_hh, c_h):
        self.V_hh, self.c_h = V_hh, c_h

    def items(self):
        return [("V_hh", self.V_hh), ("c_h", self.c_h)]


def inverse_G(params: RNNParams, V_hh, c_h, xw_t, z):
    return torch.tanh(xw_t + torch.bmm(z, V_hh) + c_h.unsqueeze(1))


def forward_pass(params: RNNParams, x):
    """(x W_xh, h, z, logits): the forward quantities both TPTT steps use. The inverse step
    changes only V_hh and c_h, so one forward pass serves the whole iteration."""
    xw = input_projection(params, x)
    return (xw, *unroll(params, xw))


def tptt_targets(params: RNNParams, V_hh, c_h, x, y, lr_i, fwd=None):
    """Forward pass and the difference targets z_hat_t for every step. lr_i: (P,)."""
    xw, h, z, logits = fwd if fwd is not None else forward_pass(params, x)
    T = x.shape[1]
    g_logits = cross_entropy_grad(logits, y)
    dE_dz = torch.bmm(g_logits, params.W_hy.transpose(1, 2))
    targets = [None] * T
    targets[-1] = z[:, -1] - lr_i.view(-1, 1, 1) * dE_dz
    for t in range(T - 2, -1, -1):
        targets[t] = (z[:, t] - inverse_G(params, V_hh, c_h, xw[:, t + 1], z[:, t + 1])
                      + inverse_G(params, V_hh, c_h, xw[:, t + 1], targets[t + 1]))
    return h, z, logits, g_logits, torch.stack(targets, 1), xw


def tptt_inverse_grads(params: RNNParams, V_hh, c_h, x, z, noise_std, noise, xw=None):
    """Gradients of the inverse (reconstruction) loss w.r.t. V_hh and c_h.

    ``noise``: standard normal draws of z's shape (P, T, B, H), or a CPU generator to draw them
    from (the engine draws them before the step, see :meth:`TPTT.prepare_step`)."""
    P, T, B, H = z.shape
    xw = input_projection(params, x) if xw is None else xw
    prev = torch.cat([torch.zeros_like(z[:, :1]), z[:, :-1]], 1)       # z_{t-1}, z_{-1} = 0
    if isinstance(noise, torch.Generator):
        noise = torch.randn(prev.shape, generator=noise, device="cpu").to(z.device)
    prev_noisy = prev + noise * noise_std.view(-1, 1, 1, 1)
    dV, dc = torch.zeros_like(V_hh), torch.zeros_like(c_h)
    for t in range(T):
        f = torch.tanh(torch.bmm(prev_noisy[:, t], params.W_hh) + xw[:, t]
                       + params.b_h.unsqueeze(1))
        g = inverse_G(params, V_hh, c_h, xw[:, t], f)
        delta = 2 * (g - prev_noisy[:, t]) / (B * H) * (1 - g * g)
        dV += torch.bmm(f.transpose(1, 2), delta)
        dc += delta.sum(1)
    return dV, dc


def tptt_forward_grads(params: RNNParams, V_hh, c_h, x, y, lr_i, fwd=None):
    """Gradients of the forward (target-matching) loss, and the ordinary output gradients."""
    h, z, logits, g_logits, targets, _ = tptt_targets(params, V_hh, c_h, x, y, lr_i, fwd)
    P, T, B, H = z.shape
    dW_hy, db_y = output_grads(z[:, -1], g_logits)
    dW_hh, dW_xh, db_h = (torch.zeros_like(params.W_hh), torch.zeros_like(params.W_xh),
                          torch.zeros_like(params.b_h))
    for t in range(T):
        delta = 2 * (z[:, t] - targets[:, t]) / (B * H) * (1 - z[:, t] ** 2)
        a, b, c = input_weight_grads(x[:, t], z[:, t - 1] if t > 0 else None, delta)
        dW_hh += a
        dW_xh += b
        db_h += c
    grads = RNNParams(W_xh=dW_xh, W_hh=dW_hh, W_hy=dW_hy, b_h=db_h, b_y=db_y)
    return grads, {"global_loss": cross_entropy(logits, y), "targets": targets}


class TPTT:
    name = "tptt"
    graph_safe = True   # the noise is drawn before the step (prepare_step), not inside it

    def __init__(self, configs: list[TPTTConfig], device="cpu"):
        self.configs = list(configs)
        f32 = dict(dtype=torch.float32, device=device)
        self.lr_i = torch.tensor([c.lr_i for c in configs], **f32)
        self.lr_f = torch.tensor([c.lr_f for c in configs], **f32)
        self.lr_g = torch.tensor([c.lr_g for c in configs], **f32)
        self.noise = torch.tensor([c.noise for c in configs], **f32)
        self.optimisers = {c.optimiser for c in configs}
        if len(self.optimisers) > 1:
            raise ValueError("one optimiser per TPTT population")
        self.device = device

    def select(self, rows: list[int]) -> None:
        """Keep only the members at ``rows`` (the engine compacts finished members out)."""
        self.__init__([self.configs[i] for i in rows], self.device)

    def init_state(self, params: RNNParams, seeds) -> dict:
        H = params.W_hh.shape[1]
        V = []
        for s in seeds:
            g = torch.Generator().manual_seed(int(s) + 7_919)  # the inverse has its own draw
            V.append(orthogonal(H, H, g))
        dev = params.W_hh.device
        state = {"V_hh": torch.stack(V).to(dev), "c_h": torch.zeros_like(params.b_h),
                 "noise_seed": int(seeds[0]) if len(seeds) else 0}
        for name, p in params.items():
            state["vel_" + name] = torch.zeros_like(p)
        state["vel_V_hh"] = torch.zeros_like(state["V_hh"])
        state["vel_c_h"] = torch.zeros_like(state["c_h"])
        return state

    def _generator(self, state):
        # Noise is drawn on the CPU from a generator whose state lives in ``state`` so that a
        # checkpointed run resumes bit-for-bit and every device sees the same numbers.
        if "noise_rng" not in state:
            g = torch.Generator().manual_seed(state["noise_seed"] + 104_729)
            state["noise_rng"] = g.get_state()
        g = torch.Generator()
        g.set_state(state["noise_rng"])
        return g

    def prepare_step(self, state, member_ids, members, T, batch, hidden):
        """Draw this iteration's noise before the (captured) step: one draw of the whole
        population's shape (members, T, batch, hidden), rows of the live members kept, so that
        compacting finished members out changes nobody's noise."""
        g = self._generator(state)
        noise = torch.randn((members, T, batch, hidden), generator=g)
        state["noise_rng"] = g.get_state()
        if len(member_ids) != members:
            noise = noise[torch.tensor(member_ids)]
        dev = torch.device(self.device)
        if dev.type == "cuda":
            noise = noise.pin_memory().to(dev, non_blocking=True)
        if torch.is_tensor(state.get("noise")) and state["noise"].shape == noise.shape:
            state["noise"].copy_(noise)      # in place: a captured step reads this buffer
        else:
            state["noise"] = noise.to(dev)
        state["noise_drawn"] = True

    def train_step(self, params: RNNParams, state: dict, x, y, active, probe=False):
        nesterov = "nesterov" in self.optimisers
        inv = _Inverse(state["V_hh"], state["c_h"])
        if not state.get("noise_drawn"):   # called outside the engine: draw here
            P, T, B, _ = x.shape
            self.prepare_step(state, list(range(P)), P, T, B, params.W_hh.shape[1])
        state["noise_drawn"] = False          # (Python only: a graph replay never reads it)
        fwd = forward_pass(params, x)
        dV, dc = tptt_inverse_grads(params, inv.V_hh, inv.c_h, x, fwd[2], self.noise,
                                    state["noise"], xw=fwd[0])
        inv_grads = _Inverse(dV, dc)
        if nesterov:
            nesterov_(inv, inv_grads, {"V_hh": state["vel_V_hh"], "c_h": state["vel_c_h"]},
                      self.lr_g * active)
        else:
            sgd_(inv, inv_grads, self.lr_g * active)
        grads, stats = tptt_forward_grads(params, inv.V_hh, inv.c_h, x, y, self.lr_i, fwd)
        stats.pop("targets")
        if nesterov:
            nesterov_(params, grads, {n: state["vel_" + n] for n, _ in params.items()},
                      self.lr_f * active)
        else:
            sgd_(params, grads, self.lr_f * active)
        stats["train_loss"] = stats["global_loss"]
        return stats

    def stop_mask(self, params: RNNParams, state: dict) -> torch.Tensor:
        """Members whose W_hh or V_hh has spectral radius > 20 (the reference code aborts them)."""
        rad = lambda M: torch.linalg.eigvals(M.detach().double().cpu()).abs().amax(-1)
        return ((rad(params.W_hh) > SPECTRAL_RADIUS_LIMIT)
                | (rad(state["V_hh"]) > SPECTRAL_RADIUS_LIMIT)).to(params.W_hh.device)
