import pytest
import torch

from lra.model import init_population
from lra.tasks import generate, get_task, make_generator


@pytest.fixture(autouse=True)
def _restore_threads():
    """Leave PyTorch's thread count as the environment set it (CI runs the suite with the default
    and with OMP_NUM_THREADS=1): a test that changes it (a campaign picks its own) restores it.
    No test may depend on the count."""
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def population_batch(task, T, P, batch=20, seed=0):
    """P different mini-batches stacked as (P, T, B, n_in), (P, B)."""
    g = make_generator(task, T, seed, "test")
    xs, ys = zip(*(generate(task, T, batch, g) for _ in range(P)))
    return torch.stack([x for x in xs]), torch.stack(ys)


def population(task, P, seed0=0):
    spec = get_task(task)
    return init_population(range(seed0, seed0 + P), spec.n_in, spec.n_out)
