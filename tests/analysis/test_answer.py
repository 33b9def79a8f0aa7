"""The landing page's three-sentence answer follows the stored rows (hand-made stores): flip a row
and the sentence changes; each sentence states its budget and links to a section label."""
import json

import pytest

from lra.analysis import answer
from lra.campaign.store import ResultsStore
from tests.analysis.test_findings import PROV, rows


@pytest.fixture(scope="module")
def cells():
    from lra.analysis import rivals
    return rivals.predictions()           # the released stream's shares (no stored row needed)


def test_nothing_stored(tmp_path, cells):
    s1, s2, s3 = answer.answer(ResultsStore(tmp_path), cells)
    assert "none of our RNN-LRA-diff runs on it is stored yet" in s1.text
    assert "class 0's share of the released script's validation stream" in s1.text
    assert s2.text.startswith("No readout-only control is stored yet") and s2.budgets == ()
    assert "18 not tested (no stored runs)." in s3.text and s3.budgets == ()
    assert [s.anchor for s in (s1, s2, s3)] == ["rsv-rivals", "lra-readout", "vrd-all"]


def test_our_runs_change_the_first_sentence(tmp_path, cells):
    store = ResultsStore(tmp_path)
    store.append("table1", "smoke", rows("table1", "smoke", [
        ("random_permutation", 10, 0, 0.9712, False)]), PROV)
    s1 = answer.rivals_sentence(store, cells)
    print(s1.text)
    assert "reach 97.12 % at T = 10, none of 1 solved (smoke budget)" in s1.text
    assert s1.budgets == ("smoke",)
    flipped = ResultsStore(tmp_path / "b")
    flipped.append("table1", "paper", rows("table1", "paper", [
        ("random_permutation", 10, 0, 1.0, True)]), PROV)
    s1b = answer.rivals_sentence(flipped, cells)
    assert "reach 100.00 % at T = 10, 1 of 1 solved (paper budget)" in s1b.text


def test_one_readout_row_flips_the_second_sentence(tmp_path):
    def sentence(acc, folder):
        store = ResultsStore(tmp_path / folder)
        store.append("readout_only", "paper", rows("readout_only", "paper", [
            ("random_permutation", 10, 0, acc, False),
            ("temporal_order", 10, 0, 1.0, True)], "readout"), PROV)    # solved by the paper
        return answer.readout_sentence(store)
    high, low = sentence(0.98, "high"), sentence(0.51, "low")
    print(high.text, low.text, sep="\n")
    assert "(random permutation at T = 10)" in high.text and "temporal order" not in high.text
    assert "reaches 98.00 % (mean of 1 seed, paper budget)" in high.text
    assert "50.54–50.93 %" in high.text                 # the paper's cells, read from Table I
    assert high.text.endswith("can neither credit nor blame the learning rule.")
    assert "reaches 51.00 %" in low.text
    assert low.text.endswith("adds nothing a frozen network lacks.")
    assert high.budgets == ("paper",)


def test_verdict_counts_follow_the_rows(tmp_path):
    empty = answer.verdicts_sentence(ResultsStore(tmp_path / "e"))
    store = ResultsStore(tmp_path / "r")
    store.append("table1", "smoke", rows("table1", "smoke", [
        (t, T, 0, 1.0 if T == 10 and t != "random_permutation" else 0.5, T == 10 and
         t != "random_permutation") for t in ("temporal_order", "temporal_order_3bit",
                                             "random_permutation") for T in (10, 20, 30)]), PROV)
    some = answer.verdicts_sentence(store)
    print(some.text)
    assert some.text != empty.text and "smoke budget" in some.text
    assert "only indicative" in some.text and some.budgets == ("smoke",)
    # every indicative verdict here rests on the smoke budget first: the count says so
    n = int(some.text.split("tested are only indicative (")[1].split(" for the smoke budget")[0])
    tested = int(some.text.split("; all ")[1].split(" tested")[0])
    assert n == tested, some.text


def test_indicative_verdicts_are_counted_by_their_first_reason():
    from types import SimpleNamespace as V
    weak = [V(why_indicative=w) for w in (
        ["smoke budget, not the paper's protocol", "1 seed per configuration, so no spread"],
        ["1 seed per configuration, so no spread"], ["2 seeds per configuration, fewer than 5"],
        ["1 of the paper's 3 cells"], ["one configuration (Figure 4's) of the 45 in the grid"],
        ["1 row computed by other code"], ["something new"])]
    said = answer._why_indicative(weak)
    print(said)
    assert said == ("1 for the smoke budget, 1 for one seed, 1 for fewer than five seeds, 1 for "
                    "part of the cells, 1 for one configuration, 1 for older code, 1 for other "
                    "limits")


def test_first_screen_markup(tmp_path, cells):
    md = answer.first_screen(ResultsStore(tmp_path), cells)
    assert md.startswith(":::{container} lra-answer\n1. ") and md.endswith(":::")
    for label in ("rsv-rivals", "lra-readout", "vrd-all"):
        assert f"{{ref}}`evidence <{label}>`" in md
    assert md.count("\n1. ") == md.count("\n2. ") == md.count("\n3. ") == 1


def test_every_link_target_is_a_label_of_the_book():
    """The sentences' and In brief's links name labels that exist before a heading in a chapter."""
    import inspect
    import re
    from pathlib import Path
    from lra.analysis import findings, plan_findings
    book = Path(__file__).resolve().parents[2] / "book"
    lines = {line.strip() for nb in book.glob("*.ipynb")
             for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "markdown"
             for line in c["source"]}
    # the Finding(...) calls end with their section's label
    anchors = {answer.RIVALS_ANCHOR, answer.READOUT_ANCHOR, answer.VERDICTS_ANCHOR} | set(
        re.findall(r'"([a-z]+-[a-z0-9-]+)"\)', inspect.getsource(findings)
                   + inspect.getsource(plan_findings)))
    # three answers' sections and nine findings' (the readout one shared): eleven labels
    assert len(anchors) == 11, anchors
    missing = {a for a in anchors if f"({a})=" not in lines}
    assert not missing, missing
