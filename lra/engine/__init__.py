"""Training a population (wing 3 of 5: ground <- algorithms <- engine <- campaign <- analysis <- faces).

:class:`PopulationTrainer` runs the paper's protocol (IV-A) for many members at once: a fresh
mini-batch per iteration, validation every 100 iterations, stop when solved, at patience or at
the cap. :mod:`trainer` is that loop; :mod:`predictions` packs which validation samples a member
got right; :mod:`capture_check` checks on the CPU that a step can be captured in a CUDA graph.

May import: the ground, the algorithms and this wing. It knows nothing of experiments, stored
tables or bundles: a caller hands it an algorithm object and a checkpoint path, and takes back
:class:`MemberResult` objects.
"""
from lra.engine.trainer import (BATCH, CHECK_EVERY, MAX_ITERATIONS, RELEASED_PATIENCE, SOLVED_ERROR,
                                MemberResult, PopulationTrainer, resolve_device)

__all__ = ["BATCH", "CHECK_EVERY", "MAX_ITERATIONS", "RELEASED_PATIENCE", "SOLVED_ERROR",
           "MemberResult", "PopulationTrainer", "resolve_device"]
