"""The book's comparison tables (lra.analysis.tables) on hand-made result tables: coverage counts, unrun
cells left out or greyed, human headers (lra.analysis.labels), solved-on-N text, the agreement mark
and the reproduce command (lra.analysis.budgets). Every expected value is written out here from the hand-made input, not recomputed."""
import re

import numpy as np
import pandas as pd
import pytest

from lra.analysis import budgets, labels, report, tables
from lra.analysis.budgets import AGREE_POINTS
from lra.analysis.labels import TASK_LABELS

KEYS = ["task", "K", "T"]


def paper_grid():
    """A published table of 2 tasks x 2 K x 2 T = 8 cells (values invented for the test)."""
    rows = []
    for task in ("temporal_order", "random_permutation"):
        for K in (10, 20):
            for T in (10, 20):
                solved = task == "temporal_order" and T == 10
                rows.append(dict(task=task, K=K, T=T, solved=solved,
                                 accuracy=np.nan if solved else 50.0 + T / 10))
    return pd.DataFrame(rows)


def ours_cells(cells):
    """best_per_cell-shaped rows: (task, K, T, accuracy %, solved)."""
    return pd.DataFrame([dict(task=t, K=K, T=T, accuracy=a, solved=s, runs=2)
                         for t, K, T, a, s in cells])


def smoke_comp():
    # 3 of 8 cells run, all at K = 10 and T = 10 except one at (random_permutation, 10, 20)
    ours = ours_cells([("temporal_order", 10, 10, 100.0, True),
                       ("random_permutation", 10, 10, 97.6, False),
                       ("random_permutation", 10, 20, 52.5, False)])
    return tables.compare(ours, paper_grid(), KEYS, "smoke")


def test_coverage_line_and_agreement_counts_name_the_cells_not_run():
    comp = smoke_comp()
    line = tables.coverage_line(comp, "smoke")
    print(line)
    assert line.startswith("**3 of 8 cells run**, at the smoke budget (300-iteration cap, "
                           "500-sample validation; not the paper's protocol)")
    counts = tables.agreement_counts(comp)
    print(counts)
    # temporal_order K10 T10: both solved, ours on 500 < 10,000 samples -> "≈"
    # random_permutation K10 T10: 97.6 vs 51.0 -> "Δ"; K10 T20: 52.5 vs 52.0 -> "=" (< 2 points)
    assert counts == {"=": 1, "≈": 1, "≠": 0, "Δ": 1, "not run": 5, "cells": 8}
    agreement = tables.agreement_line(comp, "smoke")
    print(agreement)
    assert "1 agree (=)" in agreement and "1 solved on both sides but ours on 500" in agreement
    assert "1 differ (0 ≠, 1 Δ)" in agreement
    assert "5 not run — of 8 published cells" in agreement


def test_paper_budget_coverage_says_the_papers_protocol():
    ours = ours_cells([(t, K, T, 100.0 if t == "temporal_order" and T == 10 else 51.0,
                        t == "temporal_order" and T == 10)
                       for t in ("temporal_order", "random_permutation")
                       for K in (10, 20) for T in (10, 20)])
    comp = tables.compare(ours, paper_grid(), KEYS, "paper")
    assert tables.coverage_line(comp, "paper") == (
        "**8 of 8 cells run**, at the paper's protocol (100,000-iteration cap, 10,000-sample "
        "validation).")
    shown, hidden = tables.grid(comp, ["task", "K"], ["T"])
    assert hidden == "" and shown.shape == (4, 4)          # nothing left out


def test_rows_and_columns_with_nothing_run_are_left_out_and_named():
    comp = smoke_comp()
    shown, hidden = tables.grid(comp, ["task", "K"], ["T"])
    print(shown.to_string())
    print(hidden)
    # K = 20 was never run: its two rows go; T = 20 has one run: its column stays
    assert list(shown.columns) == ["task", "K", "T = 10", "T = 20"]
    assert list(shown["task"]) == ["Temporal order", "Random permutation"]
    assert list(shown["K"]) == ["10", "10"]
    # the 4 cells of the K = 20 rows are the ones left out; the one unrun cell inside is greyed
    assert hidden.startswith("Not shown: 4 cells") and "K = 20" in hidden
    assert "T = 20" not in hidden
    greyed_cell = shown.loc[shown["task"] == "Temporal order", "T = 20"].item()
    assert greyed_cell == '<span class="lra-notrun">not run │ 52.00</span>'
    full, nothing = tables.grid(comp, ["task", "K"], ["T"], collapse=False)
    assert full.shape == (4, 4) and nothing == ""
    assert sum("lra-notrun" in str(v) for v in full.to_numpy().ravel()) == 5


def test_no_raw_names_in_a_comparison_block():
    paper = paper_grid().assign(loss="log_penalty")
    paper = pd.concat([paper, paper_grid().assign(loss="mse")])
    ours = ours_cells([("temporal_order", 10, 10, 100.0, True)]).assign(loss="log_penalty")
    comp = tables.compare(ours, paper, ["task", "K", "loss", "T"], "smoke")
    text = tables.comparison_markdown(comp, ["task", "K"], ["loss", "T"], "smoke",
                                      ["table2", "table1"], "Table II")
    print(text)
    header = text.split("\n\n")[1].splitlines()[0]
    assert header == "| task | K | log-penalty, T = 10 |"
    body = re.sub(r"`[^`]*`", "", text)                 # commands and paths may name experiments
    for raw in ("col=", "T=", "log_penalty", "temporal_order", "random_permutation", "lam"):
        assert raw not in body, raw
    assert ":::{dropdown} Table II: all 16 published cells" in text
    assert "| Random permutation | 20 |" in text          # the folded full grid keeps every row


def test_humanise_headers_and_task_names_from_one_mapping():
    df = pd.DataFrame(dict(task=["temporal_order_3bit", "temporal order", "random_permutation"],
                           T=[10, 20, 20], lam=[0.1, 1.0, 2.0], loss=["mse", "log_penalty", "mse"]))
    out = labels.humanise(df)
    print(out.to_string())
    assert list(out.columns) == ["task", "T", "λ", "local loss"]
    assert list(out["task"]) == [TASK_LABELS["temporal_order_3bit"], TASK_LABELS["temporal_order"],
                                 TASK_LABELS["random_permutation"]]
    assert list(out["local loss"]) == ["MSE", "log-penalty", "MSE"]
    assert report.wide(report.compare(ours_cells([("temporal_order", 10, 10, 100.0, True)]),
                                      paper_grid(), KEYS, "smoke"),
                       ["task", "K"], "T").columns.tolist() == ["task", "K", "T = 10", "T = 20"]


def test_a_solved_cell_says_on_how_many_validation_samples():
    assert tables.result_text(True, 100.0, budgets.validation_size("smoke")) == "✓\u00a00/500"
    capped = budgets.validation_size("smoke-cap1000")      # a capped budget keeps its validation
    assert tables.result_text(True, 100.0, capped) == "✓\u00a00/500"
    assert tables.paper_text(True, np.nan) == "✓\u00a00/10,000"
    assert tables.result_text(False, 97.604, 500) == "97.60"
    comp = smoke_comp().set_index(KEYS)
    assert comp.loc[("temporal_order", 10, 10), "ours"] == "✓\u00a00/500"
    assert comp.loc[("temporal_order", 10, 10), "paper"] == "✓\u00a00/10,000"


@pytest.mark.parametrize("ours_solved,ours_acc,paper_solved,paper_acc,n,expected", [
    (True, 100.0, True, np.nan, 500, "≈"),        # smoke ✓ against the paper's ✓: not "="
    (True, 100.0, True, np.nan, 10_000, "="),     # same validation size: agreement
    (True, 100.0, False, 99.84, 500, "≠"),
    (False, 99.0, True, np.nan, 10_000, "≠"),
    (False, 50.0, False, 50.0 + AGREE_POINTS - 0.01, 500, "="),
    (False, 50.0, False, 50.0 + AGREE_POINTS, 500, "Δ"),   # the verdicts' tolerance, strict
    (False, 97.6, False, 50.9, 500, "Δ"),
])
def test_mark_rule(ours_solved, ours_acc, paper_solved, paper_acc, n, expected):
    assert tables.mark(True, ours_solved, ours_acc, paper_solved, paper_acc, n) == expected
    assert tables.mark(False, ours_solved, ours_acc, paper_solved, paper_acc, n) == ""


def test_report_compare_keeps_its_marks_and_uses_the_budget():
    ours = ours_cells([("temporal_order", 10, 10, 100.0, True)])
    assert report.compare(ours, paper_grid(), KEYS).set_index(KEYS).loc[
        ("temporal_order", 10, 10), "match"] == "="          # default: the paper's protocol
    c = report.compare(ours, paper_grid(), KEYS, "smoke").set_index(KEYS)
    assert c.loc[("temporal_order", 10, 10), "match"] == "≈"
    assert c.loc[("temporal_order", 20, 10), "match"] == "?"
    assert report.agreement_counts(c.reset_index()) == {"=": 0, "≈": 1, "≠": 0, "Δ": 0, "?": 7}


def test_reproduce_command():
    assert budgets.reproduce_command(["table1"], "smoke") == \
        "lra campaign --budget smoke --experiments table1"
    assert budgets.reproduce_command(["table2", "table1"], "paper-cap5000") == \
        "lra campaign --budget paper --max-iterations 5000 --experiments table2 table1"
    # a derived experiment needs its source's rows first
    assert budgets.reproduce_command(["table1_multiseed"], "smoke") == \
        "lra campaign --budget smoke --experiments table1 table1_multiseed"
    line = budgets.reproduce_line(["table1"], "smoke")
    assert "`lra campaign --budget smoke --experiments table1`" in line
    assert "`results/table1/smoke/`" in line


def fake_rows(experiment, n, **over):
    return pd.DataFrame([dict(key=f"k{i}", experiment=experiment, task="random_permutation",
                              T=10, seed=0, device="test", commit="abc", code_version="x",
                              **over) for i in range(n)])


def test_budget_note_on_a_single_run_says_one_configuration_and_reproduce():
    note = report.budget_note("paper", fake_rows("fig2", 1))
    print(note)
    assert "the full grid" not in note and "run(s)" not in note
    assert "a single configuration" in note and " 1 run on test" in note
    assert "`lra campaign --budget paper --experiments fig2`" in note
    smoke = report.budget_note("smoke", fake_rows("table1", 6))
    assert "a corner of the grid (2 of 45 configurations)" in smoke and "6 runs on test" in smoke
    assert "NOT the paper's protocol" in smoke
    assert "Reproduce" not in report.budget_note("smoke", fake_rows("table1", 6), reproduce=False)


def test_curriculum_cell_says_when_the_budget_stopped_it():
    assert tables.curriculum_text(None, "smoke") == "not run"
    assert tables.curriculum_text(dict(max_T=None, last_T=10, complete=True), "smoke") == "—"
    assert tables.curriculum_text(dict(max_T=10, last_T=20, complete=True), "smoke") == "10"
    assert tables.curriculum_text(dict(max_T=30, last_T=30, complete=True), "smoke") == \
        "≥ 30 (budget's limit)"
    assert tables.curriculum_text(dict(max_T=20, last_T=20, complete=True), "paper") == \
        "≥ 20 (T = 30 not run yet)"


def run_rows(specs, **extra):
    """Stored-row-shaped runs: (task, T, solved, best_accuracy as a fraction)."""
    return pd.DataFrame([dict(task=t, T=T, solved=s, best_accuracy=a, **extra)
                         for t, T, s, a in specs])


def test_table5_counts_methods_run_and_leaves_out_a_method_with_nothing():
    published = pd.DataFrame([dict(task=t, method=m, max_T=np.nan if m == "bptt" else 20.0)
                              for t in TASK_LABELS for m in ("tptt", "bptt")])
    tptt = run_rows([("temporal_order", 10, True, 1.0), ("temporal_order", 20, False, 0.8),
                     ("temporal_order_3bit", 10, False, 0.9)])
    t = tables.curriculum_table({"table5_tptt": (tptt, "smoke"),
                                 "table5_bptt": (tptt.iloc[:0], "smoke")}, published,
                                {"table5_tptt": "tptt", "table5_bptt": "bptt"})
    print(t["coverage"])
    print(t["table"].to_string())
    # tptt: temporal order and 3-bit have rows, random permutation none; bptt nothing at all
    assert t["coverage"].startswith("**2 of 6 (task, method) cells run**, at the smoke budget")
    assert list(t["table"].columns) == ["task", "TPTT: ours │ paper"]
    assert list(t["table"]["TPTT: ours │ paper"]) == ["10 │ 20", "— │ 20", "not run │ 20"]
    assert t["note"].startswith("Not run at this budget: BPTT.")
    assert "zero errors on 500 validation samples" in t["note"]
    assert t["reproduce"] == [budgets.reproduce_line(["table5_tptt", "table5_bptt"], "smoke")]


def test_table4_best_run_beside_the_paper_with_k_not_run_named():
    published = pd.DataFrame([dict(task="temporal_order", T=20, K=K, alpha=0.1, gamma=0.01,
                                   c0=0.0, c1=0.1, accuracy=99.84, solved=False)
                              for K in (10, 20)])
    rows = run_rows([("temporal_order", 20, False, 0.794), ("temporal_order", 20, True, 1.0)],
                    K=10, alpha=0.1, gamma=0.01, c0=1.0, c1=0.1)
    t = tables.best_beside_published(rows, published, "smoke")
    print(t["table"].to_string())
    assert t["coverage"].startswith("**1 of 2 K values run**")
    r = t["table"].iloc[0]
    assert r["ours"] == "✓\u00a00/500" and r["paper"] == "99.84" and r["mark"] == "≠"
    assert r["ours: α, γ, c₀, c₁"] == "0.1, 0.01, 1, 0.1"
    assert t["note"].startswith("Not run at this budget: K = 20 (paper: 99.84).")


def test_best_over_grid_for_figure5_counts_its_cells_and_says_n():
    rows = run_rows([("temporal_order", 20, False, 0.91), ("temporal_order", 20, False, 0.92),
                     ("temporal_order_3bit", 10, True, 1.0)], lam=0.1).assign(key="k")
    rows.loc[1, "lam"] = 1.0
    t = tables.best_over_grid(rows, ["task", "T", "lam"], "smoke", "fig5")
    print(t["coverage"])
    print(t["table"].to_string())
    # fig5's full grid: 3 tasks (each at one T) x 3 lambdas = 9 cells; 3 of them have rows
    assert t["coverage"].startswith("**3 of 9 (task, T, λ) cells run**")
    assert list(t["table"]["best over the grid"]) == ["91.00", "92.00", "✓\u00a00/500"]


def test_on_a_named_page_the_provenance_goes_to_its_section_and_the_note_links_there():
    """One provenance section per page (issue 23): under a table, the budget and a link; at the
    page's end, each group of rows' provenance and the command that recomputes it, once."""
    from lra.campaign.store import code_version
    report.start_page("lra_diff")
    try:
        rows = fake_rows("table1", 6).assign(code_version=code_version())
        note = report.budget_note("smoke", rows)
        again = report.budget_note("smoke", rows, reproduce=False)   # the same rows again
        print(note)
        assert "NOT the paper's protocol" in note and '<a href="#provenance-lra-diff">' in note
        assert "6 runs on test" not in note and "Reproduce" not in note and again == note
        entries = report.page_provenance()
        print(entries)
        assert len(entries) == 1 and "6 runs on test" in entries[0]
        assert "`lra campaign --budget smoke --experiments table1`" in entries[0]
        assert report.page_provenance() == []                # emptied once printed
        # stale rows are said under the table itself, not only at the page's end
        stale = report.budget_note("smoke", fake_rows("table1", 2))     # version "x"
        assert "were computed by other code" in stale and "#provenance-lra-diff" in stale
        assert "lra status" not in stale            # how to recompute: once, in the section
        entries = report.page_provenance()
        assert entries[-1] == report.STALE_HELP and entries.count(report.STALE_HELP) == 1
    finally:
        report.start_page(None)
    inline = report.budget_note("smoke", rows)
    assert "6 runs on test" in inline and "Reproduce" in inline and "href" not in inline
