"""RNN-LRA-diff (Algorithm 1) and its regularised form (Algorithm 2) for a population.

Book chapters "LRA-diff for RNNs" and "Regularisation in the direction of the update".

Algorithm 1 (paper, lines 2-28), in this package's row-vector, 0-based notation
(steps t = 0..T-1, the paper's t_max = T-1)::

    forward (1)-(2); grad W_hy, b_y of the global loss E                  (lines 2-7)
    h_bar <- h_{T-1};  K times:  h_bar <- h_bar - gamma * dE(y(h_bar))/dh_bar   (lines 8-13)
    z_hat_{T-1} <- tanh(h_bar)
    for t = T-1 .. 0:                                                      (lines 14-27)
        grad^t W_hh, b_h, W_xh <- Normalize[dL(z_t, z_hat_t)/d(.), c0]      (lines 16-18)
        h_bar <- h_{t-1};  K times:                                         (lines 19-26)
            Delta <- Normalize[dL(z_t(h_bar), z_hat_t)/dh_bar, c1]
            h_bar <- h_bar - gamma * Delta,   z_t(h_bar) = tanh(tanh(h_bar) W_hh + x_t W_xh + b_h)
        z_hat_{t-1} <- tanh(h_bar)
    return the per-step terms summed over t                               (line 28)

with Normalize(D, c) = D * c/||D|| if c > 0 and ||D|| >= c (line 29).

**Readings of the ambiguities** (``shared/paper/paper.md``, A1-A5), which this module implements:

* A1 — lines 10-13 iterate: h_bar <- h_hat and y is recomputed from tanh(h_hat) at every inner step
  (otherwise K would repeat one identical step); this is eq. (4).
* A2 — line 24 feeds z_hat_{t-1} = tanh(h_hat_{t-1}) (not the pre-activation) into W_hh, as eq. (1).
* A3 — ||.|| is the Frobenius norm of the whole mini-batch tensor of one member.
* A4 — MSE and the log-penalty (eq. 8) average over batch and units.
* A5 — targets z_hat are constants when L is differentiated (LRA's targets).
* A6 (ours) — the loop covers t = 0: line 23 computes z_hat_0, whose only possible use is the update
  of W_xh and b_h from L(z_0, z_hat_0) (dL/dW_hh is zero there since z_{-1} = 0). The released
  code stops at t = 1; that is switch 4 below.
* Line 10 (top layer) and line 7 (W_hy) carry no Normalize in the paper; they do in the released code
  (switch 1).

**Algorithm 2** (eqs. 5-7) replaces Normalize on lines 16-18 and 21 by Regularize: add
lambda * dOmega/dA, then Normalize. Following eq. (5) and Pascanu et al. (2013), the error signal
delta_t = dL(z_t, z_hat_t)/dh_t and tanh'(h_{t-1}) are constants::

    Omega_t = ( ||(delta_t W_hh^T) * tanh'(h_{t-1})|| / ||delta_t|| - 1 )^2
    dOmega_t/dW_hh = 2 (r - 1) / (||delta_t|| ||v||) * (v * tanh'(h_{t-1}))^T delta_t,
    v = (delta_t W_hh^T) * tanh'(h_{t-1}),  r = ||v|| / ||delta_t||.

With those constants Omega depends on no other argument, so on lines 17, 18 and 21 Regularize
reduces to Normalize: the regulariser acts on W_hh alone. (The released code instead differentiates
through tanh'; that is switch 5.)

**Released-code switches** (``reference-code-notes.md``, "lra-rnn", deviations 1-8), each usable
alone; see :class:`ReleasedCodeSwitches`. Where the released code differentiates through the whole
unrolled history with autograd, the switches keep to the local, one-step form and say so.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields

import torch

from lra.model import (RNNParams, cross_entropy, cross_entropy_grad, input_projection,
                    output_grads, unroll)
from lra.algorithms.optim import sgd_

LOCAL_LOSSES = ("mse", "log_penalty")
NORM_MODES = ("standard", "off", "forced", "forced_dh")
# What each mode does to the two kinds of Normalize call of Algorithm 1: the target displacement
# Delta h (line 21, constant c1) and the weight gradients (lines 16-18, constant c0), each as one of
# the three elementary rules of :func:`normalize` ("standard", "off", "forced"). "forced" is the
# book's first reading of Fig. 3 (every Normalize forced: Delta h and the weight gradients);
# "forced_dh" the second, the paper's "c1 = 1.0 always enforced" on Delta h alone, the weight
# gradients keeping line 29's rule.
NORM_RULES = {"standard": ("standard", "standard"), "off": ("off", "off"),
              "forced": ("forced", "forced"), "forced_dh": ("forced", "standard")}
ELEMENTARY = ("standard", "off", "forced")


def dh_rule(norm: str) -> str:
    """The elementary rule mode ``norm`` applies to Delta h (line 21)."""
    return NORM_RULES[norm][0]


def weight_rule(norm: str) -> str:
    """The elementary rule mode ``norm`` applies to the weight gradients (lines 16-18)."""
    return NORM_RULES[norm][1]


@dataclass(frozen=True)
class LRADiffConfig:
    """Hyperparameters of one population member (every field may differ between members).

    alpha: SGD learning rate; gamma: target step (eq. 4); K: inner steps; c0: Normalize constant of
    the weight gradients (lines 16-18); c1: of the target displacement Delta h (line 21);
    lam: regulariser weight lambda (Algorithm 2; 0 = Algorithm 1); loss: local loss L;
    norm: "standard" (line 29), "off" (never), "forced" (always rescale to norm c: Delta h and the
    weight gradients, Fig. 3's first reading), "forced_dh" (Delta h always rescaled to norm c1, the
    weight gradients by line 29: Fig. 3's second reading); see :data:`NORM_RULES`.
    """
    alpha: float = 0.1
    gamma: float = 0.1
    K: int = 10
    c0: float = 1.0
    c1: float = 1.0
    lam: float = 0.0
    loss: str = "mse"
    norm: str = "standard"

    def __post_init__(self):
        for name in ("alpha", "gamma", "c0", "c1", "lam"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 <= v < float("inf"):
                raise ValueError(f"{name} must be a finite non-negative number, got {v!r}")
        if not isinstance(self.K, int) or isinstance(self.K, bool) or self.K < 1:
            raise ValueError(f"K must be an integer >= 1, got {self.K!r}")
        if self.loss not in LOCAL_LOSSES:
            raise ValueError(f"unknown local loss {self.loss!r}; valid: {', '.join(LOCAL_LOSSES)}")
        if self.norm not in NORM_MODES:
            raise ValueError(f"unknown normalisation {self.norm!r}; valid: {', '.join(NORM_MODES)}")


@dataclass(frozen=True)
class ReleasedCodeSwitches:
    """One switch per departure of ``nmanchev/lra-rnn`` from the paper (notes, deviations 1-8).

    1 ``single_clip``: one constant c (= c0) for every clip, also on grad W_hy and the top-layer
      Delta h; grad b_h and grad b_y are never clipped.
    2 ``targets_not_detached``: L(z, z_hat) is also differentiated through the target
      z_hat_s = tanh(h_s - gamma * sum Delta) back into h_s (Delta constant: the released code takes
      it from ``autograd.grad`` without a graph).
    3 ``loss_from_original_activity``: inner steps k >= 2 minimise L(z_t, tanh(tanh(h_bar) W_hh +
      x_t W_xh + b_h)) — the distance from the *original* activity z_t, not from z_hat_t — and the
      loss after the last step is what trains the layer below (its gradient taken through both its
      arguments at step t).
    4 ``skip_first_step``: the first time step never gives a weight update (loop stops at t = 1).
    5 ``released_regularizer``: Omega with ``torch.diag`` of a (batch x hidden) matrix (only
      tanh'(h)[b, b] of each example b enters), differentiated through tanh'(h_{t-1}); its gradient
      is added to Delta h and to grad W_xh (through x_{t-1} W_xh, one step), not to grad W_hh.
    6 ``validation_h0_quirk``: validation feeds h0 = x_0 W_xh + b_h into W_hh as the state before
      step 0; training starts from zeros (engine).
    7 ``patience``: stop after 30 validation checks without improvement (engine).
    8 ``report_post_target_loss``: the reported training loss is the global loss after the K target
      steps, not the forward loss.
    """
    single_clip: bool = False
    targets_not_detached: bool = False
    loss_from_original_activity: bool = False
    skip_first_step: bool = False
    released_regularizer: bool = False
    validation_h0_quirk: bool = False
    patience: bool = False
    report_post_target_loss: bool = False

    @classmethod
    def all_on(cls) -> "ReleasedCodeSwitches":
        return cls(**{f.name: True for f in fields(cls)})

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def enabled(self) -> list[str]:
        return [k for k, v in asdict(self).items() if v]


PAPER = ReleasedCodeSwitches()


class Hyper:
    """Per-member hyperparameters as (P,) tensors on the population's device."""

    def __init__(self, configs: list[LRADiffConfig], device="cpu"):
        f32 = dict(dtype=torch.float32, device=device)
        self.alpha = torch.tensor([c.alpha for c in configs], **f32)
        self.gamma = torch.tensor([c.gamma for c in configs], **f32).view(-1, 1, 1)
        self.K = torch.tensor([c.K for c in configs], dtype=torch.long, device=device)
        self.c0 = torch.tensor([c.c0 for c in configs], **f32)
        self.c1 = torch.tensor([c.c1 for c in configs], **f32)
        self.lam = torch.tensor([c.lam for c in configs], **f32)
        self.log_penalty = torch.tensor([c.loss == "log_penalty" for c in configs],
                                        device=device).view(-1, 1, 1)
        # Elementary rule (index into ELEMENTARY) of each member's Delta h (``mode``, also what the
        # fused chain kernel reads) and of its weight gradients (``mode_w``).
        self.mode = torch.tensor([ELEMENTARY.index(dh_rule(c.norm)) for c in configs],
                                 device=device)
        self.mode_w = torch.tensor([ELEMENTARY.index(weight_rule(c.norm)) for c in configs],
                                   device=device)
        # Python-level facts that let the step skip work no member needs.
        self.K_max = max(c.K for c in configs)
        self.K_uniform = len({c.K for c in configs}) == 1
        self.modes = {dh_rule(c.norm) for c in configs}
        self.modes_w = {weight_rule(c.norm) for c in configs}
        self.losses = {c.loss for c in configs}
        self.any_reg = any(c.lam > 0 for c in configs)
        # Members sorted by K, largest first (the campaign planner orders them so): inner step k
        # then runs on the first rows_at[k] members only, a static prefix, so a member with a
        # small K does not pay for the largest K and the step stays graph-capturable. Otherwise
        # every member runs K_max steps and those past their own K keep their value.
        Ks = [c.K for c in configs]
        self.K_sorted = all(a >= b for a, b in zip(Ks, Ks[1:]))
        self.rows_at = [sum(K > k for K in Ks) for k in range(self.K_max)]
        self._heads = {}

    def head(self, n: int) -> "Hyper":
        """The hyperparameters of the first n members (views; cached per n)."""
        if n == len(self.alpha):
            return self
        if n not in self._heads:
            h = object.__new__(Hyper)
            h.__dict__.update(self.__dict__)
            for name in ("alpha", "gamma", "K", "c0", "c1", "lam", "log_penalty", "mode",
                         "mode_w"):
                setattr(h, name, getattr(self, name)[:n])
            h._heads = {}
            self._heads[n] = h
        return self._heads[n]


def _bcast(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.view(-1, *([1] * (like.dim() - 1)))


def member_norm(d: torch.Tensor) -> torch.Tensor:
    """Frobenius norm of each member's tensor (reading A3): (P, ...) -> (P,)."""
    return torch.linalg.vector_norm(d.flatten(1), dim=1)


def normalize(d: torch.Tensor, c: torch.Tensor, mode: torch.Tensor, modes=None) -> torch.Tensor:
    """Algorithm 1, line 29, per member: rescale to norm c when c > 0 and ||d|| >= c.

    mode: index into :data:`ELEMENTARY` — 0 "standard" (line 29), 1 "off" (identity), 2 "forced"
    (always rescale to norm c when c > 0: the paper's "indiscriminately force the normalisation",
    Fig. 3); ``modes``: the set of their names present (a shortcut when it is {"standard"}).
    """
    n = member_norm(d)
    safe = n.clamp_min(torch.finfo(d.dtype).tiny)
    one = torch.ones_like(n)
    clip = torch.where((c > 0) & (n >= c), c / safe, one)
    if modes is not None and modes == {"standard"}:   # the common case: skip the other modes
        return d * _bcast(clip, d)
    forced = torch.where((c > 0) & (n > 0), c / safe, one)
    scale = torch.where(mode == 0, clip, torch.where(mode == 2, forced, one))
    return d * _bcast(scale, d)


def local_loss(z: torch.Tensor, target: torch.Tensor, hyper: Hyper, value: bool = True):
    """L(z, target) and dL/dz for every member (and step): eq. (8) or MSE, each the mean over the
    last two axes, batch and units (reading A4). z: (P, [T,] B, H) -> values (P, [T]).

    Both losses are functions of z - target, so dL/dtarget = -dL/dz. ``value=False`` returns None
    for L itself (the target chain needs only dL/dz: the gradient is computed by the same
    operations either way).
    """
    d = z - target
    n = d.shape[-1] * d.shape[-2]
    vals, grads = [], []
    if "mse" in hyper.losses:
        vals.append((d * d).mean((-1, -2)) if value else None)
        grads.append(2 * d / n)
    if "log_penalty" in hyper.losses:
        d2 = d * d
        vals.append(torch.log1p(d2).mean((-1, -2)) if value else None)
        grads.append(2 * d / (1 + d2) / n)
    if len(grads) == 1:
        return vals[0], grads[0]
    lp = hyper.log_penalty.view(-1)
    return (torch.where(_bcast(lp, vals[0]), vals[1], vals[0]) if value else None,
            torch.where(_bcast(lp, grads[0]), grads[1], grads[0]))


def _norm2(a: torch.Tensor) -> torch.Tensor:
    """Frobenius norm over the last two axes (one member's, or one member-step's, batch)."""
    return torch.linalg.vector_norm(a, dim=(-2, -1))


def _times_WT(delta: torch.Tensor, W_hh: torch.Tensor) -> torch.Tensor:
    """delta W_hh^T for delta (P, T, B, H) and one W_hh per member given as (P, 1, H, H): one
    (T*B x H) product per member (a broadcast matmul folds the batch differently with the
    population size under some BLAS code paths, so a member alone would round differently)."""
    if delta.dim() == 4 and W_hh.dim() == 4 and W_hh.shape[1] == 1:
        P, T, B, H = delta.shape
        return torch.bmm(delta.reshape(P, T * B, H), W_hh[:, 0].transpose(1, 2)).reshape(delta.shape)
    return delta @ W_hh.transpose(-1, -2)


def omega_grad_W(delta: torch.Tensor, W_hh: torch.Tensor, s_prev: torch.Tensor):
    """Omega_t of eq. (5) and dOmega_t/dW_hh, with delta_t and tanh'(h_{t-1}) = s_prev constant.

    delta, s_prev: (..., B, H); W_hh broadcastable to (..., H, H) (one W per member serves every
    step without being copied). Returns Omega (...) and its gradient (..., H, H).
    """
    v = _times_WT(delta, W_hh) * s_prev
    nd, nv = _norm2(delta), _norm2(v)
    ok = (nd > 0) & (nv > 0)  # no error signal, no regulariser (the released code checks L != 0)
    nd_s, nv_s = nd.clamp_min(1e-30), nv.clamp_min(1e-30)
    r = nv / nd_s
    coef = torch.where(ok, 2 * (r - 1) / (nd_s * nv_s), torch.zeros_like(r))
    grad = ((v * s_prev).transpose(-1, -2) @ delta) * coef[..., None, None]
    return torch.where(ok, (r - 1) ** 2, torch.zeros_like(r)), grad


def omega_grad_h_released(delta: torch.Tensor, W_hh: torch.Tensor, h_prev: torch.Tensor):
    """Switch 5: dOmega/dh_{t-1} for the released code's Omega (``torch.diag`` quirk).

    ``torch.diag`` of the (B, H) matrix tanh'(h) keeps d_b = tanh'(h)[b, b] (B <= H), which then
    scales example b's whole row: Omega = (||u * d|| / ||delta|| - 1)^2 with u = delta W_hh^T.
    Only the [b, b] entries of h receive a gradient. Shapes as :func:`omega_grad_W`.
    """
    B, H = h_prev.shape[-2:]
    u = _times_WT(delta, W_hh)
    idx = torch.arange(min(B, H), device=h_prev.device)
    th = torch.tanh(h_prev[..., idx, idx])                 # (..., B)
    d = 1 - th * th
    u2 = (u * u).sum(-1)[..., : len(idx)]                  # ||u_b||^2
    nv = torch.sqrt((d * d * u2).sum(-1))
    nd = _norm2(delta)
    ok = (nd > 0) & (nv > 0)
    nd_s, nv_s = nd.clamp_min(1e-30), nv.clamp_min(1e-30)
    coef = torch.where(ok, 2 * (nv / nd_s - 1) / (nd_s * nv_s), torch.zeros_like(nv))
    g_diag = coef[..., None] * d * u2 * (-2 * th * d)      # dOmega/dd_b * dd_b/dh_bb
    g = torch.zeros_like(h_prev)
    g[..., idx, idx] = g_diag
    return g


def hidden_target_chain(W_hh: torch.Tensor, h: torch.Tensor, z: torch.Tensor,
                        xw_b: torch.Tensor, z_hat_top: torch.Tensor, hyper: Hyper,
                        switches: ReleasedCodeSwitches = PAPER, probe: bool = False):
    """Lines 19-26 of Algorithm 1 for t = T-1 .. 1: the strictly serial part of the algorithm.

    h, z: forward pre-activations and states (P, T, B, H); xw_b = x_t W_xh + b_h; z_hat_top: the
    top target z_hat_{T-1}. Returns ``targets`` (P, T, B, H) with targets[:, t] = z_hat_t,
    ``z_check`` with z_check[:, t] = z_t(h_hat_{t-1}), the activity of step t recomputed from the
    final target below it (used by switch 3), and ``dh_norm`` (P, T): ||Delta h_{t-1}|| at the
    first inner step (stored at t-1; the top entry is filled by the caller). This is what the
    fused kernel (:mod:`lra.algorithms.chain_kernel`) computes on a GPU.
    """
    sw = switches
    P, T, B, H = z.shape
    W_hhT = W_hh.transpose(1, 2)
    c_d = hyper.c0 if sw.single_clip else hyper.c1
    targets = torch.empty_like(z)
    z_check = torch.empty_like(z)
    dh_norm = torch.zeros(P, T, device=z.device, dtype=z.dtype)
    targets[:, T - 1] = z_hat_top
    z_check[:, 0] = z[:, 0]
    z_hat = z_hat_top
    prefix = hyper.K_sorted and not hyper.K_uniform
    for t in range(T - 1, 0, -1):
        h_bar, z_t, z_fwd = h[:, t - 1], z[:, t], z[:, t]
        if prefix:   # updated in place on the rows still stepping
            h_bar, z_t = h_bar.clone(), z_t.clone()
        z_bar_next = None
        for k in range(hyper.K_max):
            n = hyper.rows_at[k] if prefix else P
            hy = hyper.head(n)
            hb, zt, zh, zf, W = h_bar[:n], z_t[:n], z_hat[:n], z_fwd[:n], W_hh[:n]
            if sw.loss_from_original_activity and k > 0:
                _, dLdz = local_loss(zf, zt, hy, value=False)
                dLdz = -dLdz           # differentiate through the second argument
            else:
                _, dLdz = local_loss(zt, zh, hy, value=False)
            d = dLdz * (1 - zt * zt)
            # tanh(h_bar): with one K for every member, h_bar is the very tensor whose tanh the
            # previous inner step computed for its activity; reuse it (the same operation on the
            # same tensor: the same numbers, one tanh fewer per inner step).
            z_bar = z_bar_next if z_bar_next is not None else torch.tanh(hb)
            Delta = torch.bmm(d, W_hhT[:n]) * (1 - z_bar * z_bar)
            if sw.released_regularizer and hyper.any_reg:
                Delta = Delta + _bcast(hy.lam, Delta) * omega_grad_h_released(d, W, hb)
            Delta = normalize(Delta, c_d[:n], hy.mode, hyper.modes)
            if probe and k == 0:
                dh_norm[:, t - 1] = member_norm(Delta)
            h_new = hb - hy.gamma * Delta
            z_new = torch.tanh(h_new)
            z_t_new = torch.tanh(torch.baddbmm(xw_b[:n, t], z_new, W))
            if hyper.K_uniform:
                h_bar, z_t = h_new, z_t_new
                z_bar_next = z_new
            elif prefix:   # members past their own K (the rows after n) keep their last target
                h_bar[:n] = h_new
                z_t[:n] = z_t_new
            else:
                active = _bcast(k < hyper.K, h_bar)
                h_bar = torch.where(active, h_new, h_bar)
                z_t = torch.where(active, z_t_new, z_t)
        z_hat = z_bar_next if z_bar_next is not None else torch.tanh(h_bar)
        targets[:, t - 1] = z_hat
        z_check[:, t] = z_t
    return targets, z_check, dh_norm


def _zeros_before(z: torch.Tensor) -> torch.Tensor:
    """z shifted one step later along time, zero first: the state fed to W_hh at each step."""
    return torch.cat([torch.zeros_like(z[:, :1]), z[:, :-1]], 1)


def _layer_grads(terms):
    """Sum over terms of the local gradients (W_hh, W_xh, b_h) of every layer at once.

    Each term is (x (P, L, B, n_in), state fed to W_hh (P, L, B, H), dL/dh (P, L, B, H)).
    """
    g_hh = g_xh = g_b = None
    for x_in, z_in, d in terms:
        # the first term is the sum so far (no "0 +": a pass over a (P, T, H, H) tensor)
        add = lambda acc, g: g if acc is None else acc + g
        g_hh = add(g_hh, z_in.transpose(-1, -2) @ d)
        g_xh = add(g_xh, x_in.transpose(-1, -2) @ d)
        g_b = add(g_b, d.sum(-2))
    return g_hh, g_xh, g_b


def _normalize_layers(g: torch.Tensor, c: torch.Tensor, mode: torch.Tensor, modes) -> torch.Tensor:
    """Normalize each (member, layer) block of g (P, L, ...) separately (lines 16-18)."""
    P, L = g.shape[:2]
    flat = g.reshape(P * L, *g.shape[2:])
    per_layer = lambda v: v.view(P, 1).expand(P, L).reshape(P * L)   # no host sync
    return normalize(flat, per_layer(c), per_layer(mode), modes).reshape(g.shape)


def lra_diff_grads(params: RNNParams, x: torch.Tensor, y: torch.Tensor, hyper: Hyper,
                   switches: ReleasedCodeSwitches = PAPER, probe: bool = False, chain=None):
    """Algorithm 1 (and 2 where lambda > 0) for every member at once.

    x: (P, T, B, n_in) one-hot, y: (P, B). Returns the parameter updates (:class:`RNNParams` of
    gradients, before the learning rate) and a dict of statistics; with ``probe`` also the
    per-step gradient-flow quantities of Figs. 2-4: ``local_loss``, ``dh_norm``, ``dW_hh_norm``,
    ``dW_xh_norm``, ``db_h_norm`` (each (P, T); norms after Normalize).

    The serial target chain (lines 19-26) is :func:`hidden_target_chain`, or ``chain`` when given
    (the fused GPU kernel); once the targets are known, every step's local gradients (lines 16-18)
    are independent and are computed for all steps at once.
    """
    sw = switches
    P, T, B, _ = x.shape
    W_hh, W_hy = params.W_hh, params.W_hy
    W_hyT = W_hy.transpose(1, 2)
    b_h, b_y = params.b_h.unsqueeze(1), params.b_y.unsqueeze(1)
    gamma, mode_w = hyper.gamma, hyper.mode_w
    c_w = hyper.c0
    c_d = hyper.c0 if sw.single_clip else hyper.c1
    xw = input_projection(params, x)
    h, z, logits = unroll(params, xw)
    xw_b = xw + b_h.unsqueeze(1)          # x_t W_xh + b_h, reused by every inner step

    # Lines 6-7: output layer, ordinary gradient of E.
    g_logits = cross_entropy_grad(logits, y)
    dW_hy, db_y = output_grads(z[:, -1], g_logits)
    if sw.single_clip:
        dW_hy = normalize(dW_hy, c_w, mode_w, hyper.modes_w)

    # Lines 8-13 (reading A1): K gradient steps on h_{T-1} against E.
    prefix = hyper.K_sorted and not hyper.K_uniform
    h_bar = h[:, -1].clone() if prefix else h[:, -1]
    top_dh = None
    for k in range(hyper.K_max):
        n = hyper.rows_at[k] if prefix else P
        hy = hyper.head(n)
        hb = h_bar[:n]
        z_bar = torch.tanh(hb)
        g = cross_entropy_grad(torch.bmm(z_bar, W_hy[:n]) + b_y[:n], y[:n])
        delta = torch.bmm(g, W_hyT[:n]) * (1 - z_bar * z_bar)
        if sw.single_clip:
            delta = normalize(delta, c_d[:n], hy.mode, hyper.modes)
        if k == 0:
            top_dh = member_norm(delta)
        if hyper.K_uniform:
            h_bar = hb - hy.gamma * delta
        elif prefix:
            h_bar[:n] = hb - hy.gamma * delta
        else:
            h_bar = torch.where(_bcast(k < hyper.K, h_bar), h_bar - gamma * delta, h_bar)
    z_hat_top = torch.tanh(h_bar)
    stats = {"global_loss": cross_entropy(logits, y),
             "post_target_loss": cross_entropy(torch.bmm(z_hat_top, W_hy) + b_y, y)}

    # Lines 19-26: the serial chain of targets.
    run_chain = chain or hidden_target_chain
    targets, z_check, dh_norm = run_chain(W_hh, h, z, xw_b, z_hat_top, hyper, sw, probe)
    dh_norm[:, T - 1] = top_dh

    # Lines 16-18 for every layer at once. Layer l is trained by the loss L(z_l, z_hat_l) ...
    z_prev = _zeros_before(z)                       # z_{t-1}, zero at t = 0
    value, dLdz = local_loss(z, targets, hyper)
    delta = dLdz * (1 - z * z)
    paper_delta = delta
    if sw.targets_not_detached:
        # z_hat_t = tanh(h_t - gamma sum Delta): d z_hat/d h_t = tanh'(h_hat_t), dL/dz_hat = -dL/dz
        delta = delta - dLdz * (1 - targets * targets)
    terms = [(x, z_prev, delta)]
    omega_delta, omega_state = paper_delta, z_prev  # Omega_l: error signal and state below
    if sw.loss_from_original_activity:
        # ... except that, under switch 3, layer l < T-1 is trained by the loss of step l+1
        # after its inner loop, L(z_{l+1}, z_check_{l+1}), through both arguments.
        v3, d3 = local_loss(z[:, 1:], z_check[:, 1:], hyper)
        d_fwd = d3 * (1 - z[:, 1:] ** 2)
        d_tgt = -d3 * (1 - z_check[:, 1:] ** 2)
        shift = lambda a, b: torch.cat([a, b[:, -1:]], 1)   # layers 0..T-2 from steps 1..T-1
        value = torch.cat([v3, value[:, -1:]], 1)
        terms = [(shift(x[:, 1:], x), shift(z_prev[:, 1:], z_prev), shift(d_fwd, delta)),
                 (x[:, 1:], targets[:, :-1], d_tgt)]
        if sw.targets_not_detached:
            # ... and through z_hat_l = tanh(h_l - gamma sum Delta) into h_l
            d_below = (d_tgt @ W_hh.transpose(1, 2).unsqueeze(1)) * (1 - targets[:, :-1] ** 2)
            terms.append((x[:, :-1], z_prev[:, :-1], d_below))
        omega_delta = torch.cat([d_fwd, paper_delta[:, -1:]], 1)
        omega_state = torch.cat([z[:, :-1], z_prev[:, -1:]], 1)
        # the (T-1)-layer-long terms cover layers 0..T-2: pad the top layer with zeros
        terms = [t if t[2].shape[1] == T else
                 tuple(torch.cat([a, torch.zeros_like(a[:, :1])], 1) for a in t) for t in terms]
    g_hh, g_xh, g_b = _layer_grads(terms)
    # z_{-1} = 0: no Omega at the first step (built on the device: no host write in the step)
    has_state = torch.arange(T, device=x.device) >= (0 if sw.loss_from_original_activity else 1)
    if hyper.any_reg and not sw.released_regularizer:
        _, dOmega = omega_grad_W(omega_delta, W_hh.unsqueeze(1), 1 - omega_state ** 2)
        dOmega = dOmega * has_state.view(1, T, 1, 1)
        g_hh = g_hh + hyper.lam.view(P, 1, 1, 1) * dOmega
    if hyper.any_reg and sw.released_regularizer:
        # lambda x_{l-1}^T dOmega_l/dh_{l-1}, added to the W_xh gradient of layer l-1
        g_h = omega_grad_h_released(omega_delta[:, 1:], W_hh.unsqueeze(1), h[:, :-1])
        pend = x[:, :-1].transpose(-1, -2) @ g_h * hyper.lam.view(P, 1, 1, 1)
        g_xh = g_xh + torch.cat([pend, torch.zeros_like(pend[:, :1])], 1)
    g_hh = _normalize_layers(g_hh, c_w, mode_w, hyper.modes_w)
    g_xh = _normalize_layers(g_xh, c_w, mode_w, hyper.modes_w)
    if not sw.single_clip:
        g_b = _normalize_layers(g_b, c_w, mode_w, hyper.modes_w)
    first = 1 if sw.skip_first_step else 0
    grads = RNNParams(W_xh=g_xh[:, first:].sum(1), W_hh=g_hh[:, first:].sum(1),
                      W_hy=dW_hy, b_h=g_b[:, first:].sum(1), b_y=db_y)
    if probe:
        keep = (torch.arange(T, device=x.device) >= first).to(z.dtype)
        stats.update(local_loss=value * keep, dh_norm=dh_norm,
                     dW_hh_norm=torch.linalg.vector_norm(g_hh.flatten(2), dim=-1) * keep,
                     dW_xh_norm=torch.linalg.vector_norm(g_xh.flatten(2), dim=-1) * keep,
                     db_h_norm=torch.linalg.vector_norm(g_b, dim=-1) * keep)
    return grads, stats


class LRADiff:
    """Population trainer step for RNN-LRA-diff (Algorithms 1-2): SGD with per-member alpha.

    ``fused``: which implementation of the target chain (lines 19-26) to use. ``"auto"`` takes,
    on CUDA, the kernel variant ``auto_variant`` where the kernel can run (Triton present, these
    switches supported), the PyTorch chain otherwise; ``LRA_CHAIN=pytorch`` or
    ``LRA_CHAIN=<variant>`` overrides ``auto_variant``. ``False`` always the PyTorch chain;
    ``True`` the default kernel variant; a string names a kernel variant of
    :data:`lra.algorithms.chain_kernel.VARIANTS`. ``True`` or a name also run the kernel elsewhere
    under ``TRITON_INTERPRET=1`` (CPU).

    ``auto_variant``: the kernel variant ``fused="auto"`` prefers (None: the PyTorch chain). Which
    path is fastest on a GPU is read from its committed benchmark by the campaign
    (:func:`lra.campaign.projection.auto_chain_variant`), which passes it here.
    """
    name = "lra_diff"

    def __init__(self, configs: list[LRADiffConfig], switches: ReleasedCodeSwitches = PAPER,
                 device="cpu", fused: bool | str = "auto", auto_variant: str | None = None):
        self.configs = list(configs)
        self.switches = switches
        self.device = device
        self.hyper = Hyper(self.configs, device)
        self.alpha = self.hyper.alpha
        from lra.algorithms import chain_kernel as fused_mod
        dev = torch.device(device)
        variant = None
        if fused == "auto":
            if dev.type == "cuda":
                forced = os.environ.get("LRA_CHAIN")
                variant = (None if forced == "pytorch" else forced) if forced else auto_variant
        elif fused is True:
            variant = getattr(fused_mod, "DEFAULT_VARIANT", None) or "default"
        elif isinstance(fused, str):
            variant = fused
        self.chain = None
        self.chain_name = "pytorch"
        if variant is not None:
            if fused_mod.supports(switches) and fused_mod.available(dev):
                self.chain = fused_mod.make_chain(variant)
                self.chain_name = f"kernel:{variant}"
            elif fused != "auto":
                raise RuntimeError("the fused chain cannot run here (needs Triton on CUDA, or "
                                   "TRITON_INTERPRET=1) or does not support these switches")

    def select(self, rows: list[int]) -> None:
        """Keep only the members at ``rows`` (the engine compacts finished members out)."""
        self.configs = [self.configs[i] for i in rows]
        self.hyper = Hyper(self.configs, self.device)
        self.alpha = self.hyper.alpha

    def init_state(self, params: RNNParams, seeds) -> dict:
        return {}

    def train_step(self, params: RNNParams, state: dict, x, y, active, probe=False):
        grads, stats = lra_diff_grads(params, x, y, self.hyper, self.switches, probe,
                                      chain=self.chain)
        sgd_(params, grads, self.alpha * active)
        if self.switches.report_post_target_loss:
            stats["train_loss"] = stats["post_target_loss"]
        else:
            stats["train_loss"] = stats["global_loss"]
        return stats
