"""The readout-only control trains W_hy and b_y only, with the gradient of the cross-entropy."""
import torch
import torch.nn.functional as F

from conftest import population, population_batch
from lra.engine.trainer import PopulationTrainer
from lra.algorithms.readout import ReadoutConfig, ReadoutOnly, readout_grads


def test_readout_gradients_equal_autograd_in_float64():
    """float64 on both sides: the closed form and autograd agree to rounding (~1e-15 relative);
    a wrong formula (e.g. missing the 1/B) is off by order one."""
    params = population("random_permutation", 3)
    params = type(params)(**{k: v.double() for k, v in params.items()})
    x, y = population_batch("random_permutation", 10, 3)
    grads, _ = readout_grads(params, x.double(), y)
    for p in range(3):
        W_hy = params.W_hy[p].clone().requires_grad_(True)
        b_y = params.b_y[p].clone().requires_grad_(True)
        z = torch.zeros(20, 100, dtype=torch.float64)
        for t in range(10):
            z = torch.tanh(z @ params.W_hh[p] + x[p, t].double() @ params.W_xh[p] + params.b_h[p])
        F.cross_entropy(z @ W_hy + b_y, y[p]).backward()
        for name, ref in (("W_hy", W_hy.grad), ("b_y", b_y.grad)):
            err = float((getattr(grads, name)[p] - ref).norm() / ref.norm())
            print(f"member {p} {name}: relative error {err:.2e}")
            assert err < 1e-12
        assert torch.count_nonzero(grads.W_hh[p]) == 0 and torch.count_nonzero(grads.W_xh[p]) == 0


def test_recurrent_weights_stay_at_initialisation():
    tr = PopulationTrainer(ReadoutOnly([ReadoutConfig(0.1), ReadoutConfig(0.01)]), "temporal_order",
                           10, [0, 1], device="cpu", max_iterations=50, check_every=25,
                           validation_size=200)
    W_hh, W_xh, W_hy = tr.params.W_hh.clone(), tr.params.W_xh.clone(), tr.params.W_hy.clone()
    tr.run()
    assert torch.equal(tr.params.W_hh, W_hh) and torch.equal(tr.params.W_xh, W_xh)
    assert not torch.equal(tr.params.W_hy, W_hy)


def test_released_selection_rule_reports_the_longest_run():
    """The released grid search's rule (argmax of iterations; argmax of accuracy only if that run
    hit the cap) against ours (solved, then accuracy): a hand-made cell where they differ."""
    import pandas as pd
    from lra.analysis.controls import pick_ours, pick_released, selection_rules
    cell = pd.DataFrame([
        dict(key="a", task="t", K=10, T=10, alpha=0.1, gamma=1.0, solved=True,
             best_accuracy=1.0, iterations=300),
        dict(key="b", task="t", K=10, T=10, alpha=0.01, gamma=1.0, solved=False,
             best_accuracy=0.6, iterations=3000),          # stopped by patience, trained longest
        dict(key="c", task="t", K=10, T=10, alpha=0.001, gamma=1.0, solved=False,
             best_accuracy=0.7, iterations=2000)])
    assert pick_ours(cell)["key"] == "a"
    assert pick_released(cell, cap=100_000)["key"] == "b"   # nobody reached the cap
    assert pick_released(cell, cap=3000)["key"] == "a"      # the longest hit the cap: accuracy
    table = selection_rules(cell, cap=100_000)
    print(table.to_string())
    assert table["same run"].tolist() == [False] and table["released: reports"][0] == "60.00"


def test_control_compares_with_the_papers_own_variant():
    """Table II publishes MSE and log-penalty side by side: the control's paper column is the
    log-penalty value (the variant table2 runs), Table III's the unnormalised one."""
    import pandas as pd
    from lra.analysis.controls import beside_learning_rule
    from lra.analysis.report import published
    for table, col, value in (("table2", "loss", "log_penalty"), ("table3", "normalisation", "none")):
        pub = published(table)
        cells = pub[["task", "T"]].drop_duplicates()
        ro = cells.assign(seed=0, best_accuracy=0.5, solved=False, key="k")
        out = beside_learning_rule(ro, ro.iloc[:0], table)
        pub = pub[pub[col] == value]
        want = pub.assign(p=[100.0 if s else a for s, a in zip(pub.solved, pub.accuracy)]) \
            .groupby(["task", "T"])["p"].max()
        got = out.set_index(["task", "T"])["paper_best"]
        print(table, got.to_dict())
        assert (got.sort_index() == want.sort_index()).all()


class EachOnItsOwn(ReadoutOnly):
    """The readout-only step as :func:`readout_grads` computes it for every member, with no
    reservoir shared between a seed's members and no cached held-out states."""
    frozen_recurrent = False

    def init_state(self, params, seeds):
        return {}

    def train_step(self, params, state, x, y, active, probe=False):
        from lra.algorithms.optim import sgd_
        grads, stats = readout_grads(params, x, y)
        sgd_(params, grads, self.alpha * active)
        stats["train_loss"] = stats["global_loss"]
        return stats


def test_a_shared_reservoir_computes_what_each_member_computes_alone():
    """The cheap path (each seed's frozen reservoir run once per step; validation and test states
    computed once per seed) gives every member exactly the numbers it gets on its own, through
    compaction (members solve at different checks), with a huge learning rate among them."""
    for task in ("temporal_order", "random_permutation"):
        configs = [ReadoutConfig(0.1), ReadoutConfig(0.01), ReadoutConfig(0.1), ReadoutConfig(0.01),
                   ReadoutConfig(1e30)]
        seeds = [0, 0, 1, 1, 1]
        runs = []
        for cls in (EachOnItsOwn, ReadoutOnly):
            tr = PopulationTrainer(cls(configs), task, 10, seeds, max_iterations=300,
                                   check_every=50, validation_size=300, compact=True)
            runs.append(([r.numbers() for r in tr.run()], tr.full_params()))
        (a, pa), (b, pb) = runs
        print(task, [(r["stop_reason"], r["best_accuracy"], r["best_test_accuracy"]) for r in b])
        assert a == b
        assert all(torch.equal(x, y) for (_, x), (_, y) in zip(pa.items(), pb.items()))
