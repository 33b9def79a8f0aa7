"""Optimisers applied to a whole population at once. ``lr`` is (P,): zero freezes a member."""
from __future__ import annotations

import torch


def _expand(lr: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return lr.view(-1, *([1] * (like.dim() - 1)))


def sgd_(params, grads, lr: torch.Tensor) -> None:
    """param <- param - lr * grad, in place, for every member (plain SGD as in the paper).

    ``torch.where`` rather than a product keeps a frozen member's weights bit-for-bit unchanged
    even when its gradient is NaN.
    """
    for (name, p), (_, g) in zip(params.items(), grads.items()):
        l = _expand(lr, p)
        p.copy_(torch.where(l != 0, p - l * g, p))


def nesterov_(params, grads, velocity: dict, lr: torch.Tensor, momentum: float = 0.9) -> None:
    """Lasagne's Nesterov momentum (as in the TPTT reference code):

        v <- mu v - lr g;   param <- param + mu v - lr g.
    """
    for (name, p), (_, g) in zip(params.items(), grads.items()):
        l = _expand(lr, p)
        v = velocity[name]
        v_new = momentum * v - l * g
        keep = l != 0
        v.copy_(torch.where(keep, v_new, v))
        p.copy_(torch.where(keep, p + momentum * v_new - l * g, p))
