"""The readable single-network references run on whatever device their inputs are on.

The benchmark's naive baseline calls them on CUDA; this machine may have no GPU, so two stand-ins:

* the *meta* device (shapes only, no data): every tensor the function makes must follow its
  inputs there, or PyTorch refuses to mix it with a CPU tensor — for the functions without
  data-dependent control flow;
* real CPU inputs with the *default* device set to meta (for every function, data-dependent
  branches included): a tensor made without naming the inputs' device lands on meta and cannot
  meet the CPU tensors — as, on a GPU, a tensor made without a device lands on the CPU.
"""
from __future__ import annotations

import pytest
import torch
from torch.utils._pytree import tree_leaves

from lra.model import init_population
from lra.algorithms.reference import bptt_single, lra_diff_single, rnn_forward, tptt_single
from lra.tasks import generate, make_generator


def _inputs(device="cpu"):
    W = {k: v[0].to(device) for k, v in init_population([0], 6, 4).items()}
    x, y = generate("temporal_order", 10, 3, make_generator("temporal_order", 10, 0, "train"))
    return W, x.to(device), y.to(device)


def _calls(W, x, y):
    V, c = W["W_hh"].clone(), W["b_h"].clone()
    return {
        "rnn_forward": lambda: rnn_forward(W, x),
        "bptt_single": lambda: bptt_single(W, x, y),
        "tptt_single": lambda: tptt_single(W, V, c, x, y),
        "lra_diff_single": lambda: lra_diff_single(W, x, y, gamma=1.0, K=2, lam=0.1),
        "lra_diff_single/log_penalty": lambda: lra_diff_single(W, x, y, K=2, loss="log_penalty",
                                                                norm="forced"),
    }


@pytest.mark.parametrize("name", ["rnn_forward", "bptt_single", "tptt_single"])
def test_reference_follows_inputs_to_the_meta_device(name):
    out = _calls(*_inputs("meta"))[name]()
    tensors = [t for t in tree_leaves(out) if isinstance(t, torch.Tensor)]
    assert tensors and all(t.device.type == "meta" for t in tensors)


@pytest.mark.parametrize("name", list(_calls(*_inputs())))
def test_reference_ignores_the_default_device(name):
    """CPU inputs, default device meta: a tensor made without naming the inputs' device lands on
    meta and cannot meet the CPU tensors (as a device-less tensor cannot meet CUDA ones)."""
    call = _calls(*_inputs())[name]
    with torch.device("meta"):
        out = call()
    tensors = [t for t in tree_leaves(out) if isinstance(t, torch.Tensor)]
    assert tensors and all(t.device.type == "cpu" for t in tensors)


def test_default_device_check_catches_a_device_less_tensor():
    """The check above can fail: the old ``rnn_forward`` (z_{-1} made with no device)."""
    def old_rnn_forward(W, x):
        z = torch.zeros(x.shape[1], W["W_hh"].shape[0], dtype=x.dtype)
        return z @ W["W_hh"] + x[0] @ W["W_xh"] + W["b_h"]

    W, x, _ = _inputs()
    with torch.device("meta"), pytest.raises(RuntimeError, match="device"):
        old_rnn_forward(W, x)
    with pytest.raises(RuntimeError, match="device"):
        old_rnn_forward(*_inputs("meta")[:2])
