"""The training step of every algorithm and released-code switch is safe to capture in a CUDA
graph: it neither copies host data to the device nor synchronises with the host.

Checked without a GPU: the step runs with its tensors on the ``meta`` device (shapes only) under
:class:`lra.engine.capture_check.CaptureSafetyMode`, which records every host interaction (see its
docstring). ``scripts/gpu_selftest.py`` captures the same steps on a real GPU.
"""
import pytest
import torch

from lra.algorithms.bptt import BPTT, BPTTConfig
from lra.engine.capture_check import CaptureSafetyMode
from lra.engine.trainer import training_step
from lra.algorithms.lra_diff import LRADiff, LRADiffConfig, ReleasedCodeSwitches
from lra.model import RNNParams, init_population
from lra.algorithms.tptt import TPTT, TPTTConfig

T, B = 10, 20
# mixed K (sorted, largest first, and unsorted), both losses, all normalisation modes, lambda > 0
LRA_CONFIGS = [LRADiffConfig(K=3, gamma=1.0, lam=0.5), LRADiffConfig(K=2, norm="off", lam=0.1),
               LRADiffConfig(K=2, loss="log_penalty", norm="forced"), LRADiffConfig(K=1, c0=0, c1=0)]
SWITCH_SETS = [ReleasedCodeSwitches()] + [ReleasedCodeSwitches(**{n: True})
                                          for n in ReleasedCodeSwitches.names()] \
              + [ReleasedCodeSwitches.all_on()]


def to_meta(tree):
    if torch.is_tensor(tree):
        return tree.to("meta")
    if isinstance(tree, dict):
        return {k: to_meta(v) for k, v in tree.items()}
    return tree


def violations(algorithm, n_in=6, n_out=4, engine_prepare=True):
    P = len(algorithm.configs)
    params = init_population(range(P), n_in, n_out)
    state = algorithm.init_state(params, list(range(P)))
    if engine_prepare and hasattr(algorithm, "prepare_step"):
        algorithm.prepare_step(state, list(range(P)), P, T, B, 100)   # outside the step
    params = RNNParams(**{k: v.to("meta") for k, v in params.items()})
    state = to_meta(state)
    if getattr(algorithm, "frozen_recurrent", False):
        # the readout-only step keeps each seed's reservoir, built by init_state on the device of
        # the params it is given (the engine's device): build it again on the stand-in device
        algorithm.init_state(params, list(range(P)))
    x = torch.zeros(P, T, B, n_in, device="meta")
    y = torch.zeros(P, B, dtype=torch.long, device="meta")
    active = torch.ones(P, device="meta")
    diverged = torch.zeros(P, dtype=torch.bool, device="meta")
    with CaptureSafetyMode("meta") as mode:
        try:
            training_step(algorithm, params, state, x, y, active, diverged)
        except Exception as e:   # reading a value of a meta tensor raises: that is a sync too
            mode.violations.append((type(e).__name__, str(e).splitlines()[0]))
    return mode


@pytest.mark.parametrize("switches", SWITCH_SETS, ids=lambda s: "+".join(s.enabled()) or "paper")
@pytest.mark.parametrize("order", ["sorted", "unsorted"])
def test_lra_diff_step_is_capture_safe(switches, order):
    configs = LRA_CONFIGS if order == "sorted" else LRA_CONFIGS[::-1]
    mode = violations(LRADiff(configs, switches, device="meta", fused=False))
    print(f"LRA-diff, switches {switches.enabled()}, K order {order}: {mode.report()}")
    assert not mode.violations, mode.report()


def test_bptt_step_is_capture_safe():
    mode = violations(BPTT([BPTTConfig(0.1), BPTTConfig(0.01)], device="meta"))
    print("BPTT:", mode.report())
    assert not mode.violations, mode.report()


@pytest.mark.parametrize("optimiser", ["sgd", "nesterov"])
def test_tptt_step_is_capture_safe(optimiser):
    mode = violations(TPTT([TPTTConfig(optimiser=optimiser), TPTTConfig(lr_f=0.1,
                                                                       optimiser=optimiser)],
                           device="meta"))
    print("TPTT:", mode.report())
    assert not mode.violations, mode.report()


def test_the_check_sees_host_interactions():
    """The checker must be able to fail: each of these is a host interaction inside a step."""
    t = torch.ones(5, device="meta")
    cases = {
        "python scalar written into a device tensor": lambda: t.__setitem__(0, 2.0),
        "tensor built from host data": lambda: t + torch.tensor([1.0, 2, 3, 4, 5]),
        "copy to the host": lambda: t.cpu(),
        "host read of a value": lambda: bool(t.sum() > 0),
        "nonzero": lambda: t.nonzero(),
        "boolean-mask indexing": lambda: t[t > 0],
    }
    for name, fn in cases.items():
        with CaptureSafetyMode("meta") as mode:
            try:
                fn()
            except Exception as e:
                mode.violations.append((type(e).__name__, str(e)))
        print(f"{name}: {mode.report()}")
        assert mode.violations, name


def test_tptt_drawing_noise_inside_the_step_is_seen():
    """Without the engine's prepare_step, TPTT draws its noise on the CPU inside the step: the
    check reports it (this is why the engine draws it before the step)."""
    mode = violations(TPTT([TPTTConfig()], device="meta"), engine_prepare=False)
    print("TPTT drawing in the step:", mode.report())
    assert mode.violations


def test_readout_only_step_is_capture_safe():
    from lra.algorithms.readout import ReadoutConfig, ReadoutOnly
    mode = violations(ReadoutOnly([ReadoutConfig(0.1), ReadoutConfig(0.01)], device="meta"))
    print("readout only:", mode.report())
    assert not mode.violations, mode.report()
