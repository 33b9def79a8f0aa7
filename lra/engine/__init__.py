"""Training a population (wing 3 of 5: ground <- algorithms <- engine <- campaign <- analysis <- faces).

:class:`PopulationTrainer` runs the paper's protocol (IV-A) for many members at once: a fresh
mini-batch per iteration, validation every 100 iterations, stop when solved, at patience or at
the cap. One job per module (book chapter "The engine and its performance"):

* :mod:`trainer`: the loop (stepping, checks, freezing, probes, segments) delegating to the rest;
* :mod:`results`: :class:`MemberResult` and the protocol's constants;
* :mod:`validation`: each data stream's validation set and the batched evaluation;
* :mod:`compaction`: dropping finished members' rows, and every member's weights (the archive);
* :mod:`checkpoints`: atomic checkpoints, written and resumed exactly;
* :mod:`capture`: capturing the training iteration in a CUDA graph and replaying it;
* :mod:`capture_check`: checks on the CPU that a step can be captured;
* :mod:`predictions`: packs which validation samples a member got right;
* :mod:`provenance`: the checkout's commit and the device's name (the campaign wing's too);
* :mod:`tempfiles`: atomic writes through temporary files named by host and token, and which
  of those may be removed (the campaign wing's too).

May import: the ground, the algorithms and this wing. It knows nothing of experiments, stored
tables or bundles: a caller hands it an algorithm object and a checkpoint path, and takes back
:class:`MemberResult` objects.
"""
from lra.engine.results import (BATCH, CHECK_EVERY, MAX_ITERATIONS, RELEASED_PATIENCE, SOLVED_ERROR,
                                MemberResult)
from lra.engine.trainer import PopulationTrainer, resolve_device

__all__ = ["BATCH", "CHECK_EVERY", "MAX_ITERATIONS", "RELEASED_PATIENCE", "SOLVED_ERROR",
           "MemberResult", "PopulationTrainer", "resolve_device"]
