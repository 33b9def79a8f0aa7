"""Each rule of the verdict vocabulary (lra.analysis.verdicts.vocabulary, issue 23) has a test
that changes one row of a hand-made results table and sees the label (or the strength) change:
not tested, inconclusive at this budget (positive control fails too; readout-only control not
beaten; identical variants), reproduced / partly / not reproduced, and "supported" only at the
paper's protocol with five seeds and paired tests on held-out data. And against the stored
results: no verdict's label contradicts its own evidence text."""
import pytest

from lra.analysis.verdicts import (CONTROL_NOT_BEATEN, IDENTICAL, INCONCLUSIVE, MIN_SEEDS,
                                   NOT_REPRODUCED, NOT_TESTED, PARTLY, POSITIVE_FAILS,
                                   REPRODUCED, RULES, VERDICTS, FrameResults, budgets_used, c1,
                                   c2, c4, c8, claim_markdown, decide, verdicts)
from test_verdicts import RP, TO, TO3, correct, curriculum, part, readout, runs, seeds


def test_every_label_has_a_rule_and_decide_applies_them_in_order():
    print("checks: a rule per label; positive control first, then identical, then the control")
    assert set(RULES) == set(VERDICTS) and INCONCLUSIVE in VERDICTS and MIN_SEEDS == 5
    assert decide(REPRODUCED) == (REPRODUCED, f"{REPRODUCED}: {RULES[REPRODUCED]}")
    assert decide(NOT_REPRODUCED, positive=False, identical=True) == (INCONCLUSIVE, POSITIVE_FAILS)
    assert decide(REPRODUCED, beaten=False, identical=True) == (INCONCLUSIVE, IDENTICAL)
    assert decide(PARTLY, beaten=False) == (INCONCLUSIVE, CONTROL_NOT_BEATEN)
    assert decide(PARTLY, positive=True, beaten=True) == (PARTLY, f"{PARTLY}: {RULES[PARTLY]}")
    with pytest.raises(ValueError):
        decide(INCONCLUSIVE)


def test_not_tested_until_one_row_exists():
    t1 = runs("table1", "smoke", [dict(task=RP, T=10, acc=0.90)])
    v = part(c4(FrameResults({("table1", "smoke"): t1})), "C4")
    print("checks: no Table II row -> not tested; one Table II row -> a verdict")
    assert v.verdict == NOT_TESTED and v.strength == "—" and v.rule.startswith(NOT_TESTED)
    t2 = runs("table2", "smoke", [dict(task=RP, T=10, acc=0.905, loss="log_penalty")])
    v = part(c4(FrameResults({("table1", "smoke"): t1, ("table2", "smoke"): t2})), "C4")
    assert v.verdict == REPRODUCED


def test_identical_variants_are_inconclusive_and_one_row_flips_it():
    def src(b_acc):
        return FrameResults({
            ("table1", "smoke"): runs("table1", "smoke", [dict(task=RP, T=10, acc=0.90)]),
            ("table2", "smoke"): runs("table2", "smoke", [dict(task=RP, T=10, acc=b_acc,
                                                               loss="log_penalty")])})
    v = part(c4(src(0.90)), "C4")
    print("checks: 90.00 % vs 90.00 % -> inconclusive (identical); 90.00 vs 90.50 -> reproduced")
    assert (v.verdict, v.rule) == (INCONCLUSIVE, IDENTICAL) and "cannot separate" in v.text()
    v = part(c4(src(0.905)), "C4")
    assert v.verdict == REPRODUCED and "cannot separate" not in v.text()
    # and the claim's own reading: a difference beyond the tolerance is not reproduced
    assert part(c4(src(0.80)), "C4").verdict == NOT_REPRODUCED


def test_partly_when_some_cells_agree_and_some_do_not():
    def src(to3_acc):
        specs = [dict(task=RP, T=10, acc=0.90), dict(task=TO3, T=10, acc=0.90)]
        return FrameResults({
            ("table1", "smoke"): runs("table1", "smoke", specs),
            ("table2", "smoke"): runs("table2", "smoke", [
                dict(task=RP, T=10, acc=0.80), dict(task=TO3, T=10, acc=to3_acc)],
                loss="log_penalty")})
    print("checks: one cell differs, one agrees -> partly; both differ -> not reproduced")
    assert part(c4(src(0.905)), "C4").verdict == PARTLY
    assert part(c4(src(0.70)), "C4").verdict == NOT_REPRODUCED


def test_readout_control_not_beaten_makes_a_credit_inconclusive():
    t1 = runs("table1", "smoke", [dict(task=TO, T=10, acc=1.0), dict(task=TO3, T=10, acc=1.0)])

    def src(control_acc):
        return FrameResults({("table1", "smoke"): t1,
                             ("readout_only", "smoke"): readout("smoke", TO, 10, [control_acc])})
    v = part(c1(src(1.0)), "C1a")
    print("checks: the control solves temporal order too -> inconclusive; the control at 60 % "
          "-> reproduced (the other cell has no control: it does not count either way)")
    assert (v.verdict, v.rule) == (INCONCLUSIVE, CONTROL_NOT_BEATEN)
    assert v.control_matters == [False, None]
    v = part(c1(src(0.60)), "C1a")
    assert v.verdict == REPRODUCED and v.control_matters == [True, None]


def test_positive_control_failing_too_makes_a_failure_inconclusive():
    def src(bptt_solves_20):
        bptt = curriculum("", "", TO, 20 if bptt_solves_20 else 10)
        return FrameResults({
            ("table5_lra", "smoke"): runs("table5_lra", "smoke", curriculum("", "", TO, 10)),
            ("table5_lra_reg", "smoke"): runs("table5_lra_reg", "smoke",
                                              curriculum("", "", TO, 10, lam=0.1)),
            ("table5_bptt", "smoke"): runs("table5_bptt", "smoke", bptt, algorithm="bptt")})
    v = part(c8(src(False)), "C8b")
    print("checks: regularised RNN-LRA-diff stops at T = 10, BPTT fails T = 20 too -> "
          "inconclusive; BPTT solves T = 20 -> not reproduced")
    assert (v.verdict, v.rule) == (INCONCLUSIVE, POSITIVE_FAILS)
    assert "BPTT (the positive control) solves temporal order at T = 20 in 0 of 1" in v.text()
    v = part(c8(src(True)), "C8b")
    assert v.verdict == NOT_REPRODUCED


def test_c1b_is_decided_only_by_the_cells_where_bptt_solves():
    lra = runs("table5_lra", "smoke", [dict(task=TO, T=10, acc=1.0), dict(task=TO, T=20, acc=0.8)])

    def src(bptt_20):
        return FrameResults({("table5_lra", "smoke"): lra,
                             ("table5_bptt", "smoke"): runs("table5_bptt", "smoke", [
                                 dict(task=TO, T=10, acc=1.0), dict(task=TO, T=20, acc=bptt_20)],
                                 algorithm="bptt")})
    print("checks: BPTT fails T = 20 too -> inconclusive; BPTT solves it -> reproduced")
    assert part(c1(src(0.6)), "C1b").verdict == INCONCLUSIVE
    assert part(c1(src(1.0)), "C1b").verdict == REPRODUCED


def _supported_c2(n_seeds=5, test_bits=True, budget="paper"):
    """Random permutation at T = 10 at the paper's protocol: Table I's three K, its best
    configuration re-seeded over ``n_seeds`` seeds, BPTT solving the cell (the positive
    control), the readout-only control, every row with per-sample predictions."""
    rule = [correct(400, range(4 * s, 4 * s + 4)) for s in range(n_seeds)]
    ctrl = [correct(400, range(100 + 50 * s, 150 + 50 * s)) for s in range(n_seeds)]

    def bits(specs):
        out = [dict(task=RP, T=10, seed=s, acc=a, best_correct=p) for s, (p, a) in
               enumerate(specs)]
        if not test_bits:                      # rows stored before the held-out test set
            for r in out:
                r.update(best_test_correct="", best_test_accuracy=None)
        return out
    grid = runs("table1", budget, [dict(task=RP, T=10, K=K, acc=0.51) for K in (10, 20, 30)])
    ms = runs("table1_multiseed", budget, bits(rule))
    ro = runs("readout_only", budget, bits(ctrl), algorithm="readout_only", K=None, gamma=None,
              c0=None, c1=None, lam=None, loss=None, norm=None)
    bptt = runs("table5_bptt", budget, seeds(RP, 10, [1.0] * n_seeds), algorithm="bptt")
    return FrameResults({("table1", budget): grid, ("table1_multiseed", budget): ms,
                         ("readout_only", budget): ro, ("table5_bptt", budget): bptt})


def test_supported_needs_paper_protocol_five_seeds_and_held_out_pairs():
    a = part(c2(_supported_c2()), "C2a")
    print("checks: paper budget, 5 seeds, 3 cells, BPTT control -> supported; each of: 4 seeds, "
          "smoke budget, no test-set bits -> indicative with the reason in one line")
    assert (a.verdict, a.strength, a.why_line) == (REPRODUCED, "supported", "")
    a = part(c2(_supported_c2(n_seeds=4)), "C2a")
    assert a.strength == "indicative" and a.why_line == "4 seeds per configuration, fewer than 5"
    a = part(c2(_supported_c2(budget="smoke")), "C2a")
    assert a.strength == "indicative" and a.why_line == "smoke budget, not the paper's protocol"
    # C2b compares with the control: paired on the validation set only, it is no held-out test
    b = part(c2(_supported_c2()), "C2b")
    assert "held-out test samples" in b.control
    b = part(c2(_supported_c2(test_bits=False)), "C2b")
    assert b.strength == "indicative" and "paired on the validation set" in b.why_line
    assert "\n" not in b.why_line


def test_chapter_text_states_the_rule_and_budgets_follow_the_parts_own_rows():
    vs = verdicts(_supported_c2())
    md = claim_markdown(vs, "C2")
    print(md[:600])
    assert "Why this verdict: reproduced: the cells can decide" in md
    # C1a: its own rows at the smoke budget, its readout-only control at the paper's
    src = FrameResults({
        ("table1", "smoke"): runs("table1", "smoke", [dict(task=TO, T=10, acc=1.0)]),
        ("readout_only", "paper"): readout("paper", TO, 10, [0.6] * 5)})
    used = budgets_used(verdicts(src))
    print(used)
    paper = [line for line in used.splitlines() if line.startswith("* **paper** (")]
    smoke = next(line for line in used.splitlines() if line.startswith("* **smoke** ("))
    assert not any("C1a" in line for line in paper) and "C1a" in smoke
    assert "* **paper**, for the readout-only control only: C1a" in used


# phrases that say the rows cannot decide: a label other than "inconclusive" beside them is a
# contradiction (issue 23)
UNDECIDED = ("cannot separate", "cannot decide", "this budget cannot")


def test_no_stored_verdict_contradicts_its_evidence():
    """Against results/: a verdict whose evidence says the cells cannot decide is inconclusive,
    and every verdict states the rule that gave it."""
    vs = verdicts()
    for v in vs:
        print(f"{v.part}: {v.verdict} — {v.rule}")
        text = v.text().lower()
        assert v.rule.split(":")[0] in (v.verdict, "inconclusive")
        if any(p in text for p in UNDECIDED):
            assert v.verdict == INCONCLUSIVE, (v.part, v.verdict, text)
