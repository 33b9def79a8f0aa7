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


# `make test`'s scheduling (tests/file_costs.py): files longest first, so that both xdist
# workers finish together
def pytest_addoption(parser):
    parser.addoption("--update-file-seconds", action="store_true",
                     help="write tests/file_seconds.json from this run's durations")


def pytest_configure(config):
    import file_costs
    if config.getoption("--update-file-seconds") and not hasattr(config, "workerinput"):
        config._file_seconds = file_costs.FileSeconds()
        config.pluginmanager.register(config._file_seconds, "file-seconds")


def pytest_collection_modifyitems(config, items):
    import file_costs
    items[:] = file_costs.longest_first(items, file_costs.load())


def pytest_sessionfinish(session):
    recorder = getattr(session.config, "_file_seconds", None)
    if recorder is not None and session.testscollected:
        recorder.write()
