"""The findings page states only what stored rows show (synthetic stores), with their budget."""
import json

from lra.analysis import findings
from lra.campaign.store import CONFIG_COLUMNS, ResultsStore

PROV = dict(commit="test", dirty=False, device="test", torch="x", python="x", date="x",
            budget="smoke", command="test")


def rows(experiment, budget, specs, algorithm="lra_diff"):
    """specs: (task, T, seed, best_accuracy, solved[, extra]) -> rows keyed like real runs."""
    out = []
    for i, (task, T, seed, acc, solved, *extra) in enumerate(specs):
        r = dict(key=f"{experiment}-{i}", experiment=experiment, budget=budget,
                 algorithm=algorithm, variant="", switches="", task=task, T=T, seed=seed,
                 **{c: None for c in CONFIG_COLUMNS}, solved=solved, diverged=False,
                 stop_reason="solved" if solved else "cap", iterations=300,
                 best_accuracy=acc, final_accuracy=acc, wall_seconds=1.0, population=1,
                 device="test-device", commit="test", curve=json.dumps([]))
        r |= extra[0] if extra else {}
        if r.get("best_correct") and not r.get("best_test_correct"):
            # held-out test bits that go as the validation bits
            r.update(best_test_correct=r["best_correct"], best_test_accuracy=acc)
        out.append(r)
    return out


def test_nothing_stored_nothing_said(tmp_path):
    store = ResultsStore(tmp_path)
    assert findings.surprises(store) == []
    cov = findings.coverage(store)
    print(cov)
    assert (cov.paper == 0).all() and (cov.smoke == 0).all() and cov.cells.iloc[0] == 27
    assert findings.rows_by_device(store).empty


def test_random_permutation_level_follows_the_rows(tmp_path):
    store = ResultsStore(tmp_path)
    store.append("table1", "smoke", rows("table1", "smoke", [
        ("random_permutation", 10, 0, 0.9712, False), ("random_permutation", 20, 0, 0.5, False),
        ("temporal_order", 10, 0, 1.0, True)]), PROV)
    f = findings.random_permutation_level(store)
    print(f.markdown())
    assert "97.12 % best of 1 run in `table1` (smoke), 0 solved" in f.text
    assert "reaches 97.12 % on random permutation at T = 10" in f.headline
    assert f.budgets == ("smoke",) and f.doc == "lra_diff"
    assert "50.54–50.93 %" in f.text          # the paper's range, read from the published table
    # the ~51 % read against the rival explanations on the released stream (lra.analysis.rivals)
    assert "share of class 0 in the released script's own validation stream" in f.text
    assert "learnt nothing" not in f.text


def test_readout_control_counts_seeds(tmp_path):
    store = ResultsStore(tmp_path)
    ro = [("temporal_order_3bit", 10, s, acc, ok) for s, acc, ok in
          [(0, 1.0, True), (0, 0.9, False), (1, 0.98, False)]]   # seed 0: two learning rates
    store.append("readout_only", "smoke", rows("readout_only", "smoke", ro, "readout"), PROV)
    lra = [("temporal_order_3bit", 10, s, 1.0, True) for s in (0, 1)]
    store.append("table1_multiseed", "smoke", rows("table1_multiseed", "smoke", lra), PROV)
    f = findings.readout_control(store)
    print(f.text)
    assert "readout only 99.00 % (solved 1/2 seeds)" in f.text
    assert "RNN-LRA-diff 100.00 % (solved 2/2)" in f.text


def test_readout_control_compares_like_budgets_with_like(tmp_path):
    """A paper-budget control is never set beside a smoke-budget method: with RNN-LRA-diff at the
    smoke budget only, the control's smoke rows are the ones compared (issue 23, item 5)."""
    store = ResultsStore(tmp_path)
    ro_paper = [("temporal_order", 10, s, 0.60, False) for s in (0, 1)]
    store.append("readout_only", "paper", rows("readout_only", "paper", ro_paper, "readout"),
                 {**PROV, "budget": "paper"})
    ro_smoke = [("temporal_order", 10, s, 0.80, False) for s in (0, 1)]
    store.append("readout_only", "smoke", rows("readout_only", "smoke", ro_smoke, "readout"), PROV)
    lra = [("temporal_order", 10, s, 1.0, True) for s in (0, 1)]
    store.append("table1_multiseed", "smoke", rows("table1_multiseed", "smoke", lra), PROV)
    f = findings.readout_control(store)
    print(f.text)
    assert "Temporal order (smoke budget): readout only 80.00 %" in f.text
    assert "60.00 %" not in f.text and f.budgets == ("smoke",)


def test_three_bit_seeds(tmp_path):
    store = ResultsStore(tmp_path)
    store.append("table1_multiseed", "smoke", rows("table1_multiseed", "smoke", [
        ("temporal_order_3bit", 10, s, 1.0 if s < 3 else 0.99, s < 3) for s in range(5)]), PROV)
    f = findings.three_bit_seeds(store)
    print(f.text)
    assert "solved by 3 of 5 seeds" in f.text


def test_forced_normalisation_reads_the_paper_first(tmp_path):
    store = ResultsStore(tmp_path)
    store.append("fig3", "paper", rows("fig3", "paper", [
        ("random_permutation", 10, 0, 0.6, False)]), PROV)
    f = findings.forced_normalisation(store)
    print(f.text)
    assert f.headline == "Forced normalisation does not solve random permutation at T = 10"
    assert "as well does not solve it (best 60.00 %, 1 run)" in f.text and f.budgets == ("paper",)
    store.append("fig3_dh_seeds", "paper", rows("fig3_dh_seeds", "paper", [
        ("random_permutation", 10, s, 1.0 if s else 0.9, bool(s), {"iterations": 1000 * (s + 1)})
        for s in range(3)]), PROV)
    f = findings.forced_normalisation(store)
    print(f.text)
    assert f.headline == "Forced normalisation solves random permutation at T = 10"
    assert "Δh alone, as the paper describes, solves it in 2 of 3 seeds (2,000–3,000" in f.text


def test_deepest_layer_reached():
    probes = [{"dW_hh_norm": [0, 0, 1e-9, 1, 1]}, {"dW_hh_norm": [0, 0, 0, 1, 1]},
              {"dW_hh_norm": [0, 0, 1e-9, 1, 1]}]
    assert findings.deepest_layer_reached(probes) == 2          # 2 of 3 probes reach layer 2
    assert findings.deepest_layer_reached(probes, share=0.9) == 3
    assert findings.deepest_layer_reached([{"dW_hh_norm": [0, 0]}]) is None


def test_regularised_flow_reads_the_probes(tmp_path):
    store = ResultsStore(tmp_path)
    probes = {"fig4-0": [{"dW_hh_norm": [0] * 6 + [1] * 4} for _ in range(3)]}
    store.append("fig4", "paper", rows("fig4", "paper", [
        ("random_permutation", 10, 0, 0.99, False, {"lam": 0.1})]), PROV, probes)
    f = findings.regularised_flow(store)
    print(f.text)
    assert "only down to layer L6 of the paper's L1–L9" in f.text and "over 3 probes" in f.text


def test_coverage_counts_cells_of_the_paper_grid(tmp_path):
    store = ResultsStore(tmp_path)
    store.append("table1", "paper", rows("table1", "paper", [
        ("random_permutation", 10, 0, 0.5, False, {"K": 10}),
        ("random_permutation", 10, 1, 0.5, False, {"K": 10}),     # same cell, another seed
        ("temporal_order", 10, 0, 1.0, True, {"K": 20}),
        ("temporal_order", 15, 0, 1.0, True, {"K": 20})]), PROV)  # not a cell of the paper
    cov = findings.coverage(store).set_index("table")
    print(cov)
    assert cov.loc["Table I", "paper"] == 2 and cov.loc["Table I", "smoke"] == 0
    assert cov.loc["Table I", "plan"] == 0
    store.append("ev_fig2", "paper", rows("ev_fig2", "paper", [
        ("random_permutation", 10, s, 0.98, False, {"K": 10, "alpha": 0.01, "gamma": 1.0,
                                                    "c0": 1.0, "c1": 1.0, "loss": "mse"})
        for s in range(5)]), PROV)
    cov = findings.coverage(store).set_index("table")
    print(cov)
    print("checks: the plan's five seeds of one cell count once, in the plan's column only")
    assert cov.loc["Table I", "plan"] == 1 and cov.loc["Table I", "paper"] == 2
    assert findings.rows_by_device(store, "paper").to_dict() == {"test-device": 4 + 5}


def test_readout_control_uses_the_paired_test_when_predictions_are_stored(tmp_path):
    """With per-sample predictions at one budget, the finding reports the paired seeds, and its
    headline no longer says the readout does as well where the rule is better in every seed."""
    import numpy as np

    from lra.engine.predictions import pack

    def bits(n_wrong, n=200):
        v = np.ones(n, dtype=bool)
        v[:n_wrong] = False
        return {"best_correct": pack(v)}, float(v.mean())

    store = ResultsStore(tmp_path)
    ro = [("random_permutation", 10, s, bits(40)[1], False, bits(40)[0]) for s in range(3)]
    store.append("readout_only", "smoke", rows("readout_only", "smoke", ro, "readout_only"),
                 PROV)
    lra = [("random_permutation", 10, s, bits(2)[1], False, bits(2)[0]) for s in range(3)]
    store.append("table1_multiseed", "smoke", rows("table1_multiseed", "smoke", lra), PROV)
    f = findings.readout_control(store)
    print("checks: 3 of 3 paired seeds better -> the headline names the exception\n", f.text)
    assert "Random permutation: RNN-LRA-diff (Table I's best configuration, re-seeded) better " \
           "in 3 and worse in 0 of 3 seeds, +19.00 points on average (smoke budget)" in f.text
    assert "RNN-LRA-diff is better than training only the readout" in f.headline
    assert "does as well" not in f.headline
    # a second task where the readout does as well: the headline names the exception
    to = [("temporal_order", 10, s, 1.0, True, bits(0)[0] | {"key": f"to-{s}"})
          for s in range(3)]
    store.append("readout_only", "smoke", rows("readout_only", "smoke", to, "readout_only"), PROV)
    store.append("table1_multiseed", "smoke", rows("table1_multiseed", "smoke", to), PROV)
    f = findings.readout_control(store)
    print(f.text)
    assert "does as well as RNN-LRA-diff at T = 10 except on random permutation" in f.headline
    assert "Temporal order: RNN-LRA-diff (Table I's best configuration, re-seeded) better in 0 " \
           "and worse in 0 of 3 seeds" in f.text
    # without predictions: the old headline, and no paired test said plainly
    store2 = ResultsStore(tmp_path / "old")
    store2.append("readout_only", "smoke", rows("readout_only", "smoke", [r[:5] for r in ro],
                                                 "readout_only"), PROV)
    store2.append("table1_multiseed", "smoke", rows("table1_multiseed", "smoke",
                                                     [r[:5] for r in lra]), PROV)
    f = findings.readout_control(store2)
    print("checks: no predictions -> 'No paired multi-seed test'\n", f.text)
    assert "does as well" in f.headline
    assert "No paired multi-seed test on Random permutation (the rows store no per-sample " \
           "predictions)" in f.text


def test_findings_conclusions_are_computed_not_fixed(tmp_path):
    """Issue 23: no finding states a conclusion its function did not compute. The 3-bit finding says
    "not reliably" only when some seed fails; the flow finding says "does not restore" only when
    the update stops above layer 1."""
    print("checks: 3-bit wording; flow wording (the ~51 % reading: tests/analysis/test_rivals.py)")
    store = ResultsStore(tmp_path)
    store.append("table1_multiseed", "smoke", rows("table1_multiseed", "smoke", [
        ("temporal_order_3bit", 10, s, 1.0, True) for s in range(3)]), PROV)
    f = findings.three_bit_seeds(store)
    assert "every seed (3 of 3) at the smoke budget" in f.text and "not reliably" not in f.text
    store.append("table1_multiseed", "smoke", rows("table1_multiseed", "smoke", [
        ("temporal_order_3bit", 10, 3, 0.99, False, {"key": "another seed"})]), PROV)
    f = findings.three_bit_seeds(store)
    print(f.text)
    assert "solved by 3 of 4 seeds at the smoke budget** of one configuration: not reliably" \
        in f.text
    print("checks: the plan's paper-protocol runs, where stored, decide; the smoke seeds follow")
    store.append("ev_t10_lra", "paper", rows("ev_t10_lra", "paper", [
        ("temporal_order_3bit", 10, s, 1.0, s != 4) for s in range(5)]), PROV)
    f = findings.three_bit_seeds(store)
    print(f.text)
    assert "solved by 4 of 5 seeds at the paper's protocol** of one configuration: not " \
           "reliably." in f.text
    assert "At the smoke budget's 300 iterations 3 of 4 seeds did" in f.text
    assert f.budgets == ("paper", "smoke")
    print("checks: every seed solves at the paper's protocol, as the paper says -> no finding")
    store.append("ev_t10_lra", "paper", rows("ev_t10_lra", "paper", [
        ("temporal_order_3bit", 10, 4, 1.0, True, {"key": "seed 4 again"})]), PROV)
    assert findings.three_bit_seeds(store) is None
    probes = {"fig4-0": [{"dW_hh_norm": [1] * 10} for _ in range(3)]}
    store.append("fig4", "paper", rows("fig4", "paper", [
        ("random_permutation", 10, 0, 0.99, False, {"lam": 0.1})]), PROV, probes)
    f = findings.regularised_flow(store)
    assert "restores the flow" in f.text and "does not restore" not in f.text


def released_output(path, curve, stop="Validation error not reducing. Val acc: 0.9 Aborting..."):
    """A released script's printed run: one line per check, as its line 359 prints them."""
    lines, hi = ["Starting val loss: 0.7\tStarting val accuracy: 50.0000%"], 0.0
    for i, acc in enumerate(curve, 1):
        hi = max(hi, acc)
        lines.append(f"It {i * 100:,}/10,000\t\tTrain loss: 0.4\t\tVal loss: 0.7\t"
                     f"Val Acc: {acc:.4f}%\tHighest: {hi:.4f}% {i}")
    lines += [stop, "WRAPPER returned best_val_acc 0.9 it 100 wall_s 1.0"]
    path.write_text("\n".join(lines) + "\n")


def test_released_script_finding_leads_and_follows_its_runs(tmp_path):
    store = ResultsStore(tmp_path)
    folder = tmp_path / "released_script"
    folder.mkdir()
    assert findings.released_script_learns(store) is None           # no run stored: nothing said
    released_output(folder / "perm_a0.1_g10.txt", [60.0, 97.64, 49.46])     # learns, falls back
    released_output(folder / "perm_a0.01_g1.txt", [70.0, 96.79, 96.76])
    released_output(folder / "temp_a0.1_g1.txt", [99.0, 100.0])
    f = findings.released_script_learns(store)
    print(f.markdown())
    assert "random permutation to 96.79–97.64 %" in f.text
    assert "In 1 of the 3 runs" in f.text and "97.64 % → 49.46 %" in f.text
    assert "after 200–300 iterations" in f.text
    assert findings.surprises(store)[0].text == f.text                # Findings leads with it
    # no run falls back: the sentence says nothing of a fall
    released_output(folder / "perm_a0.1_g10.txt", [60.0, 97.64, 97.50])
    assert "falls back" not in findings.released_script_learns(store).text


def test_readout_control_reads_the_plans_paper_rows_first(tmp_path):
    """The evidence plan's paper-protocol runs (ev_fig2 beside ev_readout, both with test bits)
    stand before Table I's re-seeded smoke runs: the finding names the paper budget and the
    plan's runs, and its paired test reads them."""
    import numpy as np

    from lra.engine.predictions import pack

    def bits(n_wrong, n=200):
        v = np.ones(n, dtype=bool)
        v[:n_wrong] = False
        return {"best_correct": pack(v)}, float(v.mean())

    store = ResultsStore(tmp_path)
    paper = dict(PROV, budget="paper")
    ro = [("random_permutation", 10, s, bits(20)[1], False, bits(20)[0]) for s in range(5)]
    lra = [("random_permutation", 10, s, bits(4)[1], False, bits(4)[0]) for s in range(5)]
    store.append("ev_readout", "paper", rows("ev_readout", "paper", ro, "readout_only"), paper)
    store.append("ev_fig2", "paper", rows("ev_fig2", "paper", lra), paper)
    # smoke rows where the two are identical: read first, they would say "does as well"
    store.append("readout_only", "smoke", rows("readout_only", "smoke", lra, "readout_only"),
                 PROV)
    store.append("table1_multiseed", "smoke", rows("table1_multiseed", "smoke", lra), PROV)
    f = findings.readout_control(store)
    print("checks: paper budget, the plan's runs, 5 of 5 seeds better\n", f.text)
    assert "Random permutation (paper budget): readout only 90.00 % (solved 0/5 seeds), " \
           "RNN-LRA-diff 98.00 % (solved 0/5)" in f.text
    assert "RNN-LRA-diff (the evidence plan's runs of Figure 2's configuration) better in 5 and " \
           "worse in 0 of 5 seeds, +8.00 points on average (paper budget)" in f.text
    assert f.budgets == ("paper",)


def test_forced_normalisation_reads_the_plans_runs_first(tmp_path):
    """The plan's ev_fig3_dh recomputes fig3_dh_seeds with a held-out test set: where stored it is
    what the finding reads (1 of 2 seeds solve in it, 2 of 2 in the older rows), with its test
    accuracy."""
    store = ResultsStore(tmp_path)
    store.append("fig3_dh_seeds", "paper", rows("fig3_dh_seeds", "paper", [
        ("random_permutation", 10, s, 1.0, True) for s in range(2)]), PROV)
    store.append("ev_fig3_dh", "paper", rows("ev_fig3_dh", "paper", [
        ("random_permutation", 10, 0, 1.0, True, {"best_test_accuracy": 0.9997}),
        ("random_permutation", 10, 1, 0.99, False, {"best_test_accuracy": 0.9890})]), PROV)
    f = findings.forced_normalisation(store)
    print(f.text)
    print("checks: the plan's rows are read (1 of 2 seeds), with the held-out test range")
    assert "forcing Δh alone, as the paper describes, solves it in 1 of 2 seeds (300 " \
           "iterations), at 98.90–99.97 % on its held-out test set" in f.text


def test_length_20_finding_counts_seeds_of_every_method_of_the_plan(tmp_path):
    """The T = 20 finding (claims C1b, C8b): per task with five seeds of the plan's RNN-LRA-diff,
    the seeds each method solves; the headline says RNN-LRA-diff solves the task only where a
    seed of it does; a task with four seeds is left out."""
    store = ResultsStore(tmp_path)
    store.append("ev_t20_lra", "paper", rows("ev_t20_lra", "paper", [
        ("temporal_order", 20, s, 1.0 if s < 2 else 0.999, s < 2) for s in range(5)] + [
        ("random_permutation", 20, s, 0.8, False) for s in range(4)]), PROV)
    store.append("ev_t20_bptt", "paper", rows("ev_t20_bptt", "paper", [
        ("temporal_order", 20, s, 1.0, True) for s in range(5)], algorithm="bptt"), PROV)
    store.append("ev_readout", "paper", rows("ev_readout", "paper", [
        ("temporal_order", 20, s, 1.0 if s == 0 else 0.99, s == 0) for s in range(5)],
        algorithm="readout_only"), PROV)
    f = findings.length_20_at_protocol(store)
    print(f.text)
    print("checks: 2 of 5 LRA seeds, 5 of 5 BPTT, 1 of 5 readout; random permutation (4 seeds) "
          "left out")
    assert f.headline == ("At the paper's protocol, RNN-LRA-diff solves temporal order at T = 20 "
                          "in some seeds, where the paper reports it unsolved")
    assert "seeds solved — RNN-LRA-diff 2 of 5; BPTT (the positive control) 5 of 5; training " \
           "only the readout 1 of 5" in f.text
    assert "Random permutation" not in f.text
    store2 = ResultsStore(tmp_path / "none")
    store2.append("ev_t20_lra", "paper", rows("ev_t20_lra", "paper", [
        ("temporal_order", 20, s, 0.99, False) for s in range(5)]), PROV)
    f = findings.length_20_at_protocol(store2)
    print("checks: no seed solves -> 'solves no task'")
    assert f.headline == "At the paper's protocol, RNN-LRA-diff solves no task at T = 20"


def test_regularised_curriculum_finding_only_once_the_curriculum_has_ended(tmp_path):
    """C8c's finding: nothing while the plan's curriculum climbs (its last stage solved); once a
    stage is unsolved, how far it got against the paper's T = 80, with BPTT at that length."""
    store = ResultsStore(tmp_path)
    store.append("ev_t5_reg_rp", "paper", rows("ev_t5_reg_rp", "paper", [
        ("random_permutation", 10, s, 1.0 if s == 2 else 0.99, s == 2) for s in range(5)]), PROV)
    print("checks: stage T = 10 solved, T = 20 not stored -> no finding")
    assert findings.regularised_curriculum(store) is None
    store.append("ev_t5_reg_rp", "paper", rows("ev_t5_reg_rp", "paper", [
        ("random_permutation", 20, s, 0.97, False, {"key": f"T20-{s}"}) for s in range(5)]), PROV)
    store.append("ev_t20_bptt", "paper", rows("ev_t20_bptt", "paper", [
        ("random_permutation", 20, s, 1.0, True) for s in range(5)], algorithm="bptt"), PROV)
    f = findings.regularised_curriculum(store)
    print(f.text)
    print("checks: stage T = 20 unsolved -> 'up to T = 10', against the paper's T = 80")
    assert f.headline == ("Regularised RNN-LRA-diff solves random permutation up to T = 10 at "
                          "the paper's protocol, where the paper's Table V reports T = 80")
    assert "one configuration of the paper's grid, whose others might do better" in f.text
    assert "its stage T = 20 is solved by 0 of 5 seeds (best validation accuracy 97.00–97.00 %)" \
           ". BPTT solves that length in 5 of 5 seeds." in f.text


def test_rows_by_device_say_one_thread_in_words(tmp_path):
    """The stored device name keeps its form ('1 threads': grouping and benchmarks read it); the
    page says '1 thread'."""
    store = ResultsStore(tmp_path)
    store.append("fig2", "paper", rows("fig2", "paper", [
        ("random_permutation", 10, 0, 0.98, False, {"device": d}) for d in (
            "CPU (x86_64, 1 threads)", "CPU (x86_64, 2 threads)")]), PROV)
    got = findings.rows_by_device(store, "paper").to_dict()
    print(got)
    assert got == {"CPU (x86_64, 1 thread)": 1, "CPU (x86_64, 2 threads)": 1}


def test_one_inner_step_is_judged_paired_on_the_held_out_test_set(tmp_path):
    """C10's finding (ev_k1 against ev_fig2, random permutation T = 10): nothing until both have
    five seeds; K = 1 better in every seed -> 'does better ... in every seed'; the two sides the
    same -> 'does as well'."""
    import numpy as np

    from lra.engine.predictions import pack

    def bits(n_wrong, n=200):
        v = np.ones(n, dtype=bool)
        v[:n_wrong] = False
        return {"best_correct": pack(v)}, float(v.mean())

    def put(store, exp, wrong, seeds=5, **cfg):
        store.append(exp, "paper", rows(exp, "paper", [
            ("random_permutation", 10, s, bits(wrong)[1], False, bits(wrong)[0] | cfg)
            for s in range(seeds)]), PROV)
    store = ResultsStore(tmp_path)
    put(store, "ev_fig2", 40, K=10, gamma=1.0)
    put(store, "ev_k1", 2, seeds=4, K=1, gamma=10.0)
    assert findings.one_inner_step(store) is None          # four K = 1 seeds
    put(store, "ev_k1", 2, K=1, gamma=10.0)
    f = findings.one_inner_step(store)
    print(f.text)
    assert f.headline == ("One inner step with γ = 10 does better than ten inner steps on random "
                          "permutation at T = 10, in every seed")
    assert "K = 1 is better in 5 and worse in 0 of 5 seeds (+19.00 points on average)" in f.text
    assert f.anchor == "vrd-c10" and "Neither solves the task." in f.text
    same = ResultsStore(tmp_path / "same")
    put(same, "ev_fig2", 40, K=10, gamma=1.0)
    put(same, "ev_k1", 40, K=1, gamma=10.0)
    print(findings.one_inner_step(same).headline)
    assert findings.one_inner_step(same).headline == ("One inner step does as well as ten on "
                                                      "random permutation at T = 10")


def test_the_regulariser_at_t20_is_said_where_it_is_better_in_every_seed(tmp_path):
    """The plan's T = 20 runs with and without λ = 0.1 (random permutation): said when the
    regularised form is better in every paired seed on the held-out test set, with the readout
    control, BPTT and Table V's length; nothing when the two are the same."""
    import numpy as np

    from lra.engine.predictions import pack

    def bits(n_wrong, n=200):
        v = np.ones(n, dtype=bool)
        v[:n_wrong] = False
        return {"best_correct": pack(v)}, float(v.mean())

    def put(store, exp, wrong, algorithm="lra_diff"):
        store.append(exp, "paper", rows(exp, "paper", [
            ("random_permutation", 20, s, bits(wrong)[1], wrong == 0, bits(wrong)[0] |
             {"key": f"{exp}-{s}"}) for s in range(5)], algorithm), PROV)
    store = ResultsStore(tmp_path)
    put(store, "ev_t20_lra", 30)
    put(store, "ev_t20_reg", 30)
    assert findings.regulariser_at_t20(store) is None             # the same: nothing to say
    store = ResultsStore(tmp_path / "better")
    put(store, "ev_t20_lra", 30)
    put(store, "ev_t20_reg", 10)
    put(store, "ev_t20_bptt", 0, "bptt")
    f = findings.regulariser_at_t20(store)
    print(f.text)
    assert f.headline == ("Regularisation (λ = 0.1) lifts random permutation at T = 20 from "
                          "85.00 % to 95.00 % on held-out data, in every seed, but solves it in "
                          "none")
    assert "better in 5 of 5 paired seeds (+10.00 points on average)" in f.text
    assert "BPTT (the positive control) solves it in 5 of 5 seeds" in f.text
    assert "up to T = 80" in f.text and f.anchor == "vrd-c8"
