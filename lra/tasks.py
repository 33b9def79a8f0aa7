"""The three synthetic temporal tasks (book chapter "Tasks").

Semantics follow the generators shared by ``pascanur/trainingRNNs``, ``nmanchev/tptt`` and
``nmanchev/lra-rnn`` (see ``reference-code-notes.md``, "Task generators"), re-implemented as
vectorised torch code seeded by a :class:`torch.Generator`:

* inputs are one-hot, shape ``(T, batch, n_in)``; the label is the class of the *last* step only;
* positions are 0-based, ``randint(a)`` draws from ``{0, ..., a-1}`` and ``int(T*f)`` is
  ``(T * f_num) // 10``.

================  =====  =========  ==========================================================
task              n_in   classes    planted information
================  =====  =========  ==========================================================
temporal_order    6      4          v0 at p0 = int(.1T)+randint(int(.1T)), v1 at p1 = int(.5T)+randint(int(.1T)); class v0+2v1
temporal_order_3bit 6    8          offsets int(.1T), int(.3T), int(.6T), each + randint(int(.1T)); class v0+2v1+4v2
random_permutation 100   100        first symbol v in {0,1}; distractors in {2..99}; class v (chance 50 %)
================  =====  =========  ==========================================================
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

MIN_LENGTH = 10
VALIDATION_SIZE = 10_000


@dataclass(frozen=True)
class TaskSpec:
    name: str
    n_in: int
    n_out: int
    # (numerator of the offset fraction /10) for each planted symbol
    offsets: tuple[int, ...]
    distractor_low: int  # distractors are uniform in [distractor_low, n_in)


TASKS: dict[str, TaskSpec] = {
    "temporal_order": TaskSpec("temporal_order", 6, 4, (1, 5), 2),
    "temporal_order_3bit": TaskSpec("temporal_order_3bit", 6, 8, (1, 3, 6), 2),
    "random_permutation": TaskSpec("random_permutation", 100, 100, (), 2),
}


def get_task(name: str) -> TaskSpec:
    """Look a task up by name; unknown names raise ``ValueError`` listing the valid ones."""
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; valid tasks: {', '.join(TASKS)}") from None


def check_length(T: int) -> int:
    if not isinstance(T, int) or isinstance(T, bool) or T < MIN_LENGTH:
        raise ValueError(f"sequence length T must be an integer >= {MIN_LENGTH}, got {T!r}")
    return T


def planted_positions(task: str | TaskSpec, T: int, batch: int, generator: torch.Generator,
                      device="cpu") -> torch.Tensor:
    """Positions (n_planted, batch) of the planted symbols: int(f*T) + randint(int(.1T))."""
    spec = get_task(task) if isinstance(task, str) else task
    span = T // 10
    pos = [torch.randint(0, span, (batch,), generator=generator, device=device) + (T * f) // 10
           for f in spec.offsets]
    return torch.stack(pos) if pos else torch.zeros(0, batch, dtype=torch.long, device=device)


def generate_symbols(task: str, T: int, batch: int, generator: torch.Generator,
                     device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Integer symbols ``(T, batch)`` and class labels ``(batch,)`` of one mini-batch."""
    spec = get_task(task)
    check_length(T)
    sym = torch.randint(spec.distractor_low, spec.n_in, (T, batch), generator=generator,
                        device=device)
    if spec.name == "random_permutation":
        # A sequence of T+1 symbols whose first and last are the same bit v; the net sees the
        # first T and must output the (T+1)-th, i.e. remember the first symbol for T steps.
        v = torch.randint(0, 2, (batch,), generator=generator, device=device)
        sym[0] = v
        return sym, v
    pos = planted_positions(spec, T, batch, generator, device)
    bits = torch.randint(0, 2, (len(spec.offsets), batch), generator=generator, device=device)
    cols = torch.arange(batch, device=device)
    label = torch.zeros(batch, dtype=torch.long, device=device)
    for i in range(len(spec.offsets)):
        sym[pos[i], cols] = bits[i]
        label += bits[i] << i
    return sym, label


def one_hot_inputs(sym: torch.Tensor, n_in: int, dtype=torch.float32) -> torch.Tensor:
    return torch.nn.functional.one_hot(sym, n_in).to(dtype)


def generate(task: str, T: int, batch: int, generator: torch.Generator,
             device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """One mini-batch: one-hot inputs ``(T, batch, n_in)`` and labels ``(batch,)``."""
    sym, label = generate_symbols(task, T, batch, generator, device)
    return one_hot_inputs(sym, get_task(task).n_in), label


def stream_seed(task: str, T: int, seed: int, purpose: str) -> int:
    """A stable 63-bit seed for the (task, T, seed, purpose) data stream.

    Training batches and the validation set use different purposes so they never coincide; the
    same (task, T, seed) always gives the same stream on every device and in every population.
    """
    get_task(task)
    import hashlib
    digest = hashlib.sha256(f"{task}|{T}|{seed}|{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def make_generator(task: str, T: int, seed: int, purpose: str, device="cpu") -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(stream_seed(task, T, seed, purpose))
    return g


def validation_symbols(task: str, T: int, seed: int, size: int = VALIDATION_SIZE,
                       device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed validation set of (task, T, seed) as symbols ``(T, size)`` and labels ``(size,)``.

    Generated on the CPU so that it is identical on every device, then moved.
    """
    g = make_generator(task, T, seed, "validation")
    sym, y = generate_symbols(task, T, size, g)
    return sym.to(device), y.to(device)


def heldout_symbols(task: str, T: int, seed: int, size: int = VALIDATION_SIZE,
                 device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """The held-out test set of (task, T, seed): its own stream (purpose ``"test_set"``), never
    seen in training nor used to select a run, so a run selected on validation is judged on it
    without bias. Same shapes as :func:`validation_symbols`."""
    g = make_generator(task, T, seed, "test_set")
    sym, y = generate_symbols(task, T, size, g)
    return sym.to(device), y.to(device)


# the two held-out sets of a (task, T, seed), by role (the name avoids pytest's "test_" prefix)
HELDOUT_SETS = {"validation": validation_symbols, "test": heldout_symbols}


def validation_set(task: str, T: int, seed: int, size: int = VALIDATION_SIZE,
                   device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """The same validation set one-hot: ``(T, size, n_in)``, labels ``(size,)``."""
    sym, y = validation_symbols(task, T, seed, size, device)
    return one_hot_inputs(sym, get_task(task).n_in), y
