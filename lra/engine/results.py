"""What a member's training produces, and the protocol's fixed numbers.

Book chapter "The engine and its performance". The constants are the paper's protocol (IV-A and
the reference code): a fresh mini-batch of 20 per iteration, validation every 100 iterations,
*solved* when the validation error is below 1e-4 (no mistake in 10,000), at most 100,000
iterations; the released code's patience rule stops a member 30 checks after its last improvement.
"""
from __future__ import annotations

from dataclasses import dataclass, field

SOLVED_ERROR = 1e-4
MAX_ITERATIONS = 100_000
CHECK_EVERY = 100
BATCH = 20
RELEASED_PATIENCE = 30


@dataclass
class MemberResult:
    solved: bool = False
    diverged: bool = False
    stop_reason: str = "running"   # solved | cap | patience | diverged | spectral_radius |
    #                                stage_solved (another member solved this curriculum stage)
    iterations: int = 0            # iterations run (to the solving check when solved)
    best_accuracy: float = 0.0
    final_accuracy: float = 0.0
    curve: list = field(default_factory=list)   # [(iteration, validation accuracy, train loss)]
    # which validation samples the network got right at the check of best_accuracy, packed by
    # lra.engine.predictions.pack (for paired tests between methods sharing a seed's validation set)
    best_correct: str = ""
    # the held-out test set (lra.tasks.heldout_symbols), never used to select: the network of the
    # best validation check and the final network, their accuracy and which samples they got right
    best_test_accuracy: float | None = None
    best_test_correct: str = ""
    final_test_accuracy: float | None = None
    final_test_correct: str = ""
    # wall-clock seconds from the population's start until this member stopped (all segments)
    wall_seconds: float | None = None

    def numbers(self) -> dict:
        """Everything but the timing: what a repeated (or resumed) training must reproduce."""
        return {k: v for k, v in vars(self).items() if k != "wall_seconds"}
