"""The released script's step for a population: the autograd reading, P members at once.

Book chapter "The paper and its released code". :func:`lra.algorithms.released_script.released_step`
computes one network's update as the released script (``nmanchev/lra-rnn``, ``lra2_reg.py``)
computes it: autograd through the unrolled graph, Delta constants, every target differentiable
back into the forward pass, one constant c for every clip, layer 0 never trained (deviations 1-4
of the reference-code notes; lambda = 0 only). This module computes the same step for P
independent members stacked on a leading dimension, so that the campaign's population trainer
(:class:`lra.engine.trainer.PopulationTrainer`: validation every check, held-out test set,
checkpoints, rows in the results store) can train the script's own computation, and not only
the package's local one-step reading of the same departures
(:class:`lra.algorithms.lra_diff.ReleasedCodeSwitches`, which never trains through the history).

**How the per-member gradients are taken.** Every loss is computed per member, (P,), and each
``autograd.grad`` call differentiates the *sum over members*. The members are independent: no
operation mixes two members (``bmm`` per member, per-member softmax, means and Frobenius norms),
so d(sum_q L_q)/d(theta_p) = dL_p/d(theta_p) exactly, and the backward pass adds no term of another
member (their contributions are absent, not zeros added in). This keeps the script's own sequence
of ``autograd.grad`` calls, one per quantity, in the script's order, and costs one backward pass
per call for the whole population. (``torch.func.vmap`` over the single-network step is not used:
that step branches in Python on each norm, ``n >= c``, which vmap cannot batch.)

**Per member.** gamma, alpha, c and the normalisation mode of each member are (P,) tensors; K
may differ between members: the population runs max K inner steps and a member past its own K
keeps its target (``torch.where``: its pre-activation, hence the value and the graph of the loss
rebuilt from it, are unchanged, so the loss it hands on and the gradients taken from it are its
own K steps'). Normalize is the package's per-member rule
(:func:`lra.algorithms.lra_diff.normalize`: Frobenius norm of each member's tensor, reading A3),
with the norm modes of :data:`lra.algorithms.lra_diff.NORM_RULES`: the target steps Delta (top
and hidden) follow the mode's Delta h rule, the clipped weight gradients (W_hy and every
layer's W_hh, W_xh) its weight rule; b_h and b_y are never clipped, as in the script. The script
clips everything with one constant c: c0 is that constant (c1 must equal it).

**Equality with the single-network step.** ``tests/algorithms/test_released_population.py``
trains P members with different gamma, alpha, K, c and norm mode a few steps and compares each
with :func:`~lra.algorithms.released_script.released_step` (extended to the norm modes) run on
that member alone: bit for bit at the campaign's width (H = 100); at H = 16, where some batched
kernel rounds differently, to a tolerance that follows Normalize's conditioning.

**Devices and CUDA graphs.** The step is written device-agnostically (no host read, no Python
branch on a tensor value, every constant built on the population's device), but it has been run
eagerly only (CPU); whether repeated ``autograd.grad`` calls on a retained graph can be captured
in a CUDA graph has not been checked, so :class:`ReleasedAutograd` says ``graph_safe = False`` and
the engine runs it eagerly on every device ("eager only, not captured").

**What a campaign run of it is.** The *released step* inside *the campaign's protocol*: the
package's data streams, initialisation (:func:`lra.model.init_population`), validation and test
sets, checks and iteration cap (:mod:`lra.engine.trainer`), with the engine-level released-code
switches the run names (6: validation starts from x_0 W_xh + b_h; 7: patience, 30 checks; 8: the
reported train loss is E_K). It is not the script's own training loop (its data stream, its
``orthogonal_`` initialisation, its validation set drawn before training):
:func:`lra.algorithms.released_script.train` runs that one, for the comparison with the script's
printed output.
"""
from __future__ import annotations

import torch

from lra.algorithms.lra_diff import (ELEMENTARY, PAPER, LRADiffConfig, ReleasedCodeSwitches,
                                     dh_rule, member_norm, normalize, weight_rule)
from lra.algorithms.optim import sgd_
from lra.model import RNNParams

# The departures of the released script that *are* this step (it cannot run without them).
STEP_SWITCHES = ("single_clip", "targets_not_detached", "loss_from_original_activity",
                 "skip_first_step")


class ReleasedHyper:
    """Per-member hyperparameters of the released step as (P,) tensors on the device."""

    def __init__(self, configs: list[LRADiffConfig], device="cpu"):
        for c in configs:
            if c.lam != 0 or c.loss != "mse" or c.c1 != c.c0:
                raise ValueError("the released step (autograd reading) is Algorithm 1 with the MSE "
                                 "local loss and one Normalize constant: lam = 0, loss = 'mse', "
                                 f"c1 = c0; got {c}")
        f32 = dict(dtype=torch.float32, device=device)
        self.alpha = torch.tensor([c.alpha for c in configs], **f32)
        self.gamma = torch.tensor([c.gamma for c in configs], **f32)
        self.c = torch.tensor([c.c0 for c in configs], **f32)
        self.K = torch.tensor([c.K for c in configs], dtype=torch.long, device=device)
        self.mode = torch.tensor([ELEMENTARY.index(dh_rule(c.norm)) for c in configs],
                                 device=device)
        self.mode_w = torch.tensor([ELEMENTARY.index(weight_rule(c.norm)) for c in configs],
                                   device=device)
        self.modes = {dh_rule(c.norm) for c in configs}
        self.modes_w = {weight_rule(c.norm) for c in configs}
        self.K_max = max(c.K for c in configs)
        self.K_uniform = len({c.K for c in configs}) == 1


def _bview(v: torch.Tensor, dim: int) -> torch.Tensor:
    return v.view(-1, *([1] * (dim - 1)))


def _global_loss(logits: torch.Tensor, y_onehot: torch.Tensor) -> torch.Tensor:
    """E per member (P,): the script's batch mean of -sum y log softmax (log of the softmax, as
    :func:`lra.algorithms.released_script.global_loss` writes it)."""
    p = torch.softmax(logits, dim=-1)
    return torch.mean(torch.sum(-y_onehot * torch.log(p), -1), -1)


def _mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``nn.MSELoss`` per member (P,): the mean over batch and units, both arguments
    differentiable (deviation 2)."""
    return torch.nn.functional.mse_loss(a, b, reduction="none").mean((-2, -1))


def released_population_grads(params: RNNParams, x: torch.Tensor, y: torch.Tensor,
                              hyper: ReleasedHyper, probe: bool = False):
    """The released step (:func:`lra.algorithms.released_script.released_step`, ``history=True``,
    ``chain="released"``) for every member at once.

    params: (P, ...) weights; x: (P, T, B, n_in) one-hot; y: (P, B) labels. Returns the summed
    updates (:class:`RNNParams`, before the learning rate) and statistics: ``global_loss`` (E of
    the forward pass), ``post_target_loss`` (E_K, deviation 8), and with ``probe`` the per-layer
    quantities of Figs. 2-4 as the local reading reports them (each (P, T), norms after
    Normalize; layer 0, never trained, reads 0 except ``dh_norm``): ``local_loss`` (the loss that
    trains each layer), ``dh_norm`` (the first target step below each layer, at t-1; the top
    layer's first step at T-1), ``dW_hh_norm``, ``dW_xh_norm``, ``db_h_norm``.
    """
    W = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    P, T, B, _ = x.shape
    H = W["W_hh"].shape[-1]
    dtype, dev = W["W_hh"].dtype, W["W_hh"].device
    y1h = torch.nn.functional.one_hot(y, W["W_hy"].shape[-1]).to(dtype)
    gamma = hyper.gamma.to(dtype).view(P, 1, 1)
    c = hyper.c.to(dtype)

    def grad(out, wrt):
        return torch.autograd.grad(out.sum(), wrt, retain_graph=True)[0]

    def step(h_bar, d, k):
        """h_bar - gamma Normalize(d), for the members still within their own K."""
        h_new = h_bar - gamma * normalize(d, c, hyper.mode, hyper.modes)
        if hyper.K_uniform:
            return h_new
        return torch.where((k < hyper.K).view(P, 1, 1), h_new, h_bar)

    def pre(state, t):
        """h_t = state W_hh + x_t W_xh + b_h, in the script's order of operations (eq. 1)."""
        return (torch.bmm(state, W["W_hh"]) + torch.bmm(x[:, t], W["W_xh"])
                + W["b_h"].unsqueeze(1))

    # forward pass (lines 121-138), zero state before step 0 (line 329)
    hs, zs = [], []
    s = torch.zeros(P, B, H, dtype=dtype, device=dev)
    for t in range(T):
        h = pre(s, t)
        s = torch.tanh(h)
        hs.append(h)
        zs.append(s)
    logits = torch.bmm(zs[-1], W["W_hy"]) + W["b_y"].unsqueeze(1)

    # lines 235-249: output layer; W_hy's gradient clipped (deviation 1), b_y's not
    E = _global_loss(logits, y1h)
    E0 = E.detach()
    g_hy = normalize(grad(E, W["W_hy"]), c, hyper.mode_w, hyper.modes_w)
    g_by = grad(E, W["b_y"])

    # lines 251-265: K steps on h_{T-1} against E; Delta constant, h_bar keeps its graph
    dh_norm = torch.zeros(P, T, dtype=dtype, device=dev)
    h_bar = hs[-1]
    for k in range(hyper.K_max):
        d = grad(E, h_bar)
        if probe and k == 0:
            dh_norm[:, T - 1] = member_norm(normalize(d, c, hyper.mode, hyper.modes))
        h_bar = step(h_bar, d, k)
        z_hat = torch.tanh(h_bar)
        E = _global_loss(torch.bmm(z_hat, W["W_hy"]) + W["b_y"].unsqueeze(1), y1h)

    g_hh = torch.zeros(P, T, H, H, dtype=dtype, device=dev)
    g_xh = torch.zeros(P, T, *W["W_xh"].shape[1:], dtype=dtype, device=dev)
    g_b = torch.zeros(P, T, H, dtype=dtype, device=dev)
    layer_loss = torch.zeros(P, T, dtype=dtype, device=dev)
    L = _mse(zs[-1], z_hat)                                            # line 273
    for l in range(T - 1, 0, -1):                                      # lines 275-298
        layer_loss[:, l] = L.detach()
        # lines 283-285: through the whole graph L depends on (deviation 12)
        g_hh[:, l] = grad(L, W["W_hh"])
        g_b[:, l] = grad(L, W["b_h"])
        g_xh[:, l] = grad(L, W["W_xh"])
        g_hh[:, l] = normalize(g_hh[:, l], c, hyper.mode_w, hyper.modes_w)   # lines 295-296
        g_xh[:, l] = normalize(g_xh[:, l], c, hyper.mode_w, hyper.modes_w)
        # get_target (lines 195-216): K steps on h_{l-1} against the loss in hand
        h_bar = hs[l - 1]
        for k in range(hyper.K_max):
            d = grad(L, h_bar)
            if probe and k == 0:
                dh_norm[:, l - 1] = member_norm(normalize(d, c, hyper.mode, hyper.modes))
            h_bar = step(h_bar, d, k)
            z_below = torch.tanh(h_bar)
            L = _mse(zs[l], torch.tanh(torch.bmm(z_below, W["W_hh"])
                                       + torch.bmm(x[:, l], W["W_xh"]) + W["b_h"].unsqueeze(1)))
    grads = RNNParams(W_xh=g_xh.sum(1), W_hh=g_hh.sum(1), W_hy=g_hy, b_h=g_b.sum(1), b_y=g_by)
    stats = {"global_loss": E0, "post_target_loss": E.detach()}
    if probe:
        stats.update(local_loss=layer_loss, dh_norm=dh_norm,
                     dW_hh_norm=torch.linalg.vector_norm(g_hh.flatten(2), dim=-1),
                     dW_xh_norm=torch.linalg.vector_norm(g_xh.flatten(2), dim=-1),
                     db_h_norm=torch.linalg.vector_norm(g_b, dim=-1))
    return grads, stats


class ReleasedAutograd:
    """Population trainer step for the released script's computation (the autograd reading).

    ``configs``: :class:`~lra.algorithms.lra_diff.LRADiffConfig` with lam = 0, loss = "mse",
    c1 = c0 (the script's single constant); alpha, gamma, K, c0 and norm may differ per member.
    ``switches``: must have the four departures this step is made of on (:data:`STEP_SWITCHES`);
    the engine-level ones (``validation_h0_quirk``, ``patience``, ``report_post_target_loss``)
    are honoured as the run names them; ``released_regularizer`` changes nothing at lambda = 0.
    Eager only: ``graph_safe = False`` (see the module's docstring).
    """
    name = "lra_released"
    graph_safe = False

    def __init__(self, configs: list[LRADiffConfig], switches: ReleasedCodeSwitches = PAPER,
                 device="cpu"):
        missing = [s for s in STEP_SWITCHES if not getattr(switches, s)]
        if missing:
            raise ValueError(f"the released step cannot be run without switches {missing}: they "
                             "are its computation (use lra_diff for the local reading)")
        self.configs = list(configs)
        self.switches = switches
        self.device = device
        self.hyper = ReleasedHyper(self.configs, device)
        self.alpha = self.hyper.alpha

    def select(self, rows: list[int]) -> None:
        """Keep only the members at ``rows`` (the engine compacts finished members out)."""
        self.configs = [self.configs[i] for i in rows]
        self.hyper = ReleasedHyper(self.configs, self.device)
        self.alpha = self.hyper.alpha

    def init_state(self, params: RNNParams, seeds) -> dict:
        return {}

    def train_step(self, params: RNNParams, state: dict, x, y, active, probe=False):
        with torch.enable_grad():
            grads, stats = released_population_grads(params, x, y, self.hyper, probe)
        sgd_(params, grads, self.alpha * active)
        stats["train_loss"] = (stats["post_target_loss"] if self.switches.report_post_target_loss
                               else stats["global_loss"])
        return stats
