"""Capturing a training iteration in a CUDA graph, and replaying it.

Book chapter "The engine and its performance". On CUDA a population's training iteration (the
algorithm's step and divergence isolation, :func:`lra.engine.trainer.training_step`) is a few
hundred small kernels; captured once in a CUDA graph and replayed, it costs one launch. The step
must not talk to the host for that (:mod:`lra.engine.capture_check` checks it on the CPU). A graph
is tied to its tensors' shapes and addresses: the trainer captures again after a compaction or a
resume (it drops its graph; the next graphed step captures).
"""
from __future__ import annotations

import threading

import torch

# Populations trained concurrently (lra.campaign.runner.run_concurrently) capture one at a time:
# on an H100 (torch 2.11) a capture in one thread failed with cudaErrorStreamCaptureInvalidated
# while other threads were capturing or recapturing.
_CAPTURE_LOCK = threading.Lock()


def restore_tensors(params, state, active, diverged, saved) -> None:
    """Copy ``saved`` = (params, state, active, diverged) back into the live tensors in place
    (the graph records their addresses, so they must stay the same objects)."""
    s_params, s_state, s_active, s_diverged = saved
    for (_, dst), (_, src) in zip(params.items(), s_params.items()):
        dst.copy_(src)
    for k, v in s_state.items():
        if torch.is_tensor(v):
            state[k].copy_(v)
        else:
            state[k] = v
    active.copy_(s_active)
    diverged.copy_(s_diverged)


def capture(step, params, state, active, diverged):
    """Capture ``step()`` (which updates ``params``, ``state``, ``active`` and ``diverged`` in
    place) in a CUDA graph; return (graph, the step's statistics tensors, filled at each replay).

    The warm-up runs that a capture needs (on a side stream) are undone, so that capturing
    changes no number: the real weights are saved before and restored after.
    """
    with _CAPTURE_LOCK:     # one capture at a time in this process (see above)
        saved = (params.clone(), {k: v.clone() if torch.is_tensor(v) else v
                                  for k, v in state.items()},
                 active.clone(), diverged.clone())
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(3):
                step()
        torch.cuda.current_stream().wait_stream(s)
        restore_tensors(params, state, active, diverged, saved)
        graph = torch.cuda.CUDAGraph()
        # thread_local: other threads (concurrent populations) may use the GPU meanwhile
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):
            stats = step()
    return graph, stats
