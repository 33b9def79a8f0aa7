import pytest
import torch

from lra.model import init_population
from lra.tasks import generate, get_task, make_generator


def pytest_configure(config):
    # pytest-xdist registers it too; named here so that a run without the plugin does not warn
    config.addinivalue_line("markers", "xdist_group(name): run these tests on one xdist worker")


def pytest_collection_modifyitems(config, items):
    """`make unit` runs the tests on two pytest-xdist workers (``-n 2 --dist loadgroup``, issue 25).
    A worker sets up a module-scoped fixture for itself, so the tests that share one defined in
    their module (a campaign run, the chain kernel's interpreter run, the built book) are put in
    one group, which one worker runs: the fixture is set up once, as in a serial run. The rest
    are spread over the workers test by test. A module names the module-scoped fixtures that are
    cheap enough to set up on each worker in ``XDIST_PER_WORKER``."""
    for item in items:
        info, module = getattr(item, "_fixtureinfo", None), getattr(item, "module", None)
        if info is None or module is None:
            continue
        cheap = getattr(module, "XDIST_PER_WORKER", ())
        for name, defs in info.name2fixturedefs.items():
            if defs and defs[-1].scope != "function" and name not in cheap and \
                    getattr(defs[-1].func, "__module__", None) == module.__name__:
                item.add_marker(pytest.mark.xdist_group(module.__name__))
                break


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
