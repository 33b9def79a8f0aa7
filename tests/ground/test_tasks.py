"""Task generators follow the reference generators' semantics (notes, "Task generators")."""
import pytest
import torch

from lra.tasks import (TASKS, generate, generate_symbols, get_task, make_generator,
                       validation_set)

LENGTHS = [10, 20, 37, 100, 300]


def symbols(task, T, n=4000, seed=0):
    return generate_symbols(task, T, n, make_generator(task, T, seed, "test"))


@pytest.mark.parametrize("T", LENGTHS)
def test_temporal_order_positions_and_labels(T):
    sym, label = symbols("temporal_order", T)
    planted = sym < 2
    assert (planted.sum(0) == 2).all(), "exactly two planted symbols"
    pos = planted.int().argsort(dim=0, descending=True, stable=True)[:2].sort(0).values
    a = T // 10
    assert pos[0].min() == a and pos[0].max() == 2 * a - 1          # int(.1T) + randint(int(.1T))
    assert pos[1].min() == 5 * T // 10 and pos[1].max() == 5 * T // 10 + a - 1
    cols = torch.arange(sym.shape[1])
    v0, v1 = sym[pos[0], cols], sym[pos[1], cols]
    assert torch.equal(label, v0 + 2 * v1)
    assert set(sym[~planted].unique().tolist()) == {2, 3, 4, 5}
    assert set(label.unique().tolist()) == {0, 1, 2, 3}


@pytest.mark.parametrize("T", LENGTHS)
def test_three_bit_positions_and_labels(T):
    sym, label = symbols("temporal_order_3bit", T)
    planted = sym < 2
    assert (planted.sum(0) == 3).all()
    pos = planted.int().argsort(dim=0, descending=True, stable=True)[:3].sort(0).values
    a = T // 10
    for row, f in zip(pos, (1, 3, 6)):
        assert row.min() == f * T // 10 and row.max() == f * T // 10 + a - 1
    cols = torch.arange(sym.shape[1])
    bits = [sym[p, cols] for p in pos]
    assert torch.equal(label, bits[0] + 2 * bits[1] + 4 * bits[2])
    assert set(label.unique().tolist()) == set(range(8))


@pytest.mark.parametrize("T", LENGTHS)
def test_random_permutation(T):
    sym, label = symbols("random_permutation", T)
    assert torch.equal(sym[0], label)
    assert set(label.unique().tolist()) == {0, 1}
    rest = sym[1:]
    assert rest.min() == 2 and rest.max() == 99


def test_one_hot_shapes_and_class_counts():
    for name, spec in TASKS.items():
        x, y = generate(name, 12, 7, make_generator(name, 12, 0, "t"))
        assert x.shape == (12, 7, spec.n_in) and x.dtype == torch.float32
        assert torch.equal(x.sum(-1), torch.ones(12, 7))
        assert y.shape == (7,) and y.max() < spec.n_out
    assert (get_task("temporal_order").n_out, get_task("temporal_order_3bit").n_out,
            get_task("random_permutation").n_out) == (4, 8, 100)


def test_bad_names_and_lengths():
    with pytest.raises(ValueError, match="valid tasks: temporal_order"):
        get_task("adding")
    for bad in (9, 0, -3, 10.0):
        with pytest.raises(ValueError, match=">= 10"):
            generate("temporal_order", bad, 2, torch.Generator())


def test_validation_set_is_fixed_and_distinct_from_training():
    a = validation_set("temporal_order", 20, 3, size=500)
    b = validation_set("temporal_order", 20, 3, size=500)
    c = validation_set("temporal_order", 20, 4, size=500)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    train = generate("temporal_order", 20, 500, make_generator("temporal_order", 20, 3, "train"))
    assert not torch.equal(train[0], a[0])
    assert validation_set("temporal_order", 10, 0)[0].shape == (10, 10_000, 6)
