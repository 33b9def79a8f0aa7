"""Short, readable single-network versions of the algorithms, written with autograd.

These are what the book's chapters show next to the derivations, and what the tests compare the
population implementations against: they share no code with :mod:`lra.algorithms.lra_diff` or :mod:`lra.algorithms.bptt`
beyond the task generators. One network, one mini-batch: x (T, B, n_in), y (B,).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def rnn_forward(W: dict, x: torch.Tensor):
    """Eq. (1)-(2): lists of h_t, z_t and the logits; z_{-1} = 0 (on x's device and dtype)."""
    z = x.new_zeros(x.shape[1], W["W_hh"].shape[0])
    hs, zs = [], []
    for t in range(x.shape[0]):
        h = z @ W["W_hh"] + x[t] @ W["W_xh"] + W["b_h"]
        z = torch.tanh(h)
        hs.append(h)
        zs.append(z)
    return hs, zs, zs[-1] @ W["W_hy"] + W["b_y"]


def bptt_single(W: dict, x, y) -> dict:
    """BPTT (eq. 3) = autograd of the cross-entropy through the unrolled network."""
    Wg = {k: v.detach().clone().requires_grad_(True) for k, v in W.items()}
    _, _, logits = rnn_forward(Wg, x)
    F.cross_entropy(logits, y).backward()
    return {k: v.grad for k, v in Wg.items()}


# Fig. 3's two readings of forced normalisation: which rule each kind of Normalize call follows,
# (Delta h on line 21, weight gradients on lines 16-18). Written out here independently of
# lra.algorithms.lra_diff.NORM_RULES so that the tests compare two statements of the same reading.
RULES_SINGLE = {"standard": ("standard", "standard"), "off": ("off", "off"),
                "forced": ("forced", "forced"), "forced_dh": ("forced", "standard")}


def normalize_single(d, c, mode="standard"):
    """Algorithm 1, line 29 (mode "forced": always rescale to norm c; "off": never)."""
    n = d.norm()
    if mode == "off" or c <= 0:
        return d
    if mode == "forced":
        return d * (c / n) if n > 0 else d
    return d * (c / n) if n >= c else d


def local_loss_single(z, target, kind):
    """MSE or the log-penalty of eq. (8), both averaged over all elements (reading A4)."""
    if kind == "mse":
        return F.mse_loss(z, target)
    return torch.log(1 + (z - target) ** 2).mean()


def lra_diff_single(W: dict, x, y, gamma=0.1, K=10, c0=1.0, c1=1.0, lam=0.0, loss="mse",
                    norm="standard") -> dict:
    """Algorithm 1 (lam = 0) or 2 (lam > 0) for one network, with this book's readings A1-A6.
    ``norm``: a key of :data:`RULES_SINGLE`.

    Returns the updates of W_xh, W_hh, W_hy, b_h, b_y (before the learning rate).
    """
    W = {k: v.detach() for k, v in W.items()}
    T = x.shape[0]
    hs, zs, _ = rnn_forward(W, x)
    dh_mode, w_mode = RULES_SINGLE[norm]

    def output(h_last):  # E as a function of the top pre-activation
        return F.cross_entropy(torch.tanh(h_last) @ W["W_hy"] + W["b_y"], y)

    # Lines 6-7: ordinary gradients of the output layer.
    Wy = {k: W[k].clone().requires_grad_(True) for k in ("W_hy", "b_y")}
    E = F.cross_entropy(zs[-1] @ Wy["W_hy"] + Wy["b_y"], y)
    g_hy, g_by = torch.autograd.grad(E, [Wy["W_hy"], Wy["b_y"]])

    # Lines 8-13 (A1): K steps of gradient descent on h_{T-1} against E.
    h_bar = hs[-1]
    for _ in range(K):
        h_bar = h_bar.clone().requires_grad_(True)
        (dh,) = torch.autograd.grad(output(h_bar), h_bar)
        h_bar = (h_bar - gamma * dh).detach()
    z_hat = torch.tanh(h_bar)

    grads = {k: torch.zeros_like(W[k]) for k in ("W_hh", "W_xh", "b_h")}
    for t in range(T - 1, -1, -1):
        # Lines 16-18: gradient of L(z_t, z_hat_t) w.r.t. this step's weights, target constant.
        Wl = {k: W[k].clone().requires_grad_(True) for k in ("W_hh", "W_xh", "b_h")}
        z_prev = zs[t - 1] if t > 0 else torch.zeros_like(zs[0])
        h_t = z_prev @ Wl["W_hh"] + x[t] @ Wl["W_xh"] + Wl["b_h"]
        L = local_loss_single(torch.tanh(h_t), z_hat, loss)
        *g_w, delta = torch.autograd.grad(L, [Wl["W_hh"], Wl["W_xh"], Wl["b_h"], h_t])
        step = dict(zip(("W_hh", "W_xh", "b_h"), g_w))
        if lam > 0 and t > 0 and delta.norm() > 0:  # no error signal, no regulariser
            # Algorithm 2 / eq. (5): the error signal delta = dL/dh_t and tanh'(h_{t-1}) are
            # constants; only the explicit W_hh is differentiated.
            W_hh = W["W_hh"].clone().requires_grad_(True)
            s = 1 - z_prev ** 2
            omega = ((delta @ W_hh.T * s).norm() / delta.norm() - 1) ** 2
            (d_omega,) = torch.autograd.grad(omega, W_hh)
            step["W_hh"] = step["W_hh"] + lam * d_omega
        for k in grads:
            grads[k] += normalize_single(step[k], c0, w_mode)
        if t == 0:
            break
        # Lines 19-26: K steps on h_{t-1} towards the target of step t.
        h_bar = hs[t - 1]
        for _ in range(K):
            h_bar = h_bar.clone().requires_grad_(True)
            z_t = torch.tanh(torch.tanh(h_bar) @ W["W_hh"] + x[t] @ W["W_xh"] + W["b_h"])
            (dh,) = torch.autograd.grad(local_loss_single(z_t, z_hat, loss), h_bar)
            h_bar = (h_bar - gamma * normalize_single(dh, c1, dh_mode)).detach()
        z_hat = torch.tanh(h_bar)
    return {"W_xh": grads["W_xh"], "W_hh": grads["W_hh"], "W_hy": g_hy, "b_h": grads["b_h"],
            "b_y": g_by}


def tptt_single(W: dict, V: torch.Tensor, c: torch.Tensor, x, y, lr_i=0.1) -> dict:
    """TPTT for one network (Manchev & Spratling 2020): targets by difference target propagation,
    then the forward-loss gradients (W_hh, W_xh, b_h) and the output gradients (W_hy, b_y)."""
    W = {k: v.detach() for k, v in W.items()}
    hs, zs, _ = rnn_forward(W, x)
    G = lambda x_t, z: torch.tanh(x_t @ W["W_xh"] + z @ V + c)
    top = zs[-1].clone().requires_grad_(True)
    (dE,) = torch.autograd.grad(F.cross_entropy(top @ W["W_hy"] + W["b_y"], y), top)
    targets = [None] * len(zs)
    targets[-1] = zs[-1] - lr_i * dE
    for t in range(len(zs) - 2, -1, -1):
        targets[t] = zs[t] - G(x[t + 1], zs[t + 1]) + G(x[t + 1], targets[t + 1])
    Wg = {k: v.clone().requires_grad_(True) for k, v in W.items()}
    loss = 0
    for t in range(len(zs)):
        z_prev = zs[t - 1] if t > 0 else torch.zeros_like(zs[0])
        z_t = torch.tanh(z_prev @ Wg["W_hh"] + x[t] @ Wg["W_xh"] + Wg["b_h"])
        loss = loss + F.mse_loss(z_t, targets[t])
    loss = loss + F.cross_entropy(zs[-1] @ Wg["W_hy"] + Wg["b_y"], y)
    loss.backward()
    return {"targets": torch.stack(targets), **{k: v.grad for k, v in Wg.items()}}
