"""Issue 23's display defects, each with a test that fails on the code before the fix: NaN
padding of probes scheduled after a member stopped is neither divergence nor missing flow; one
paired-test function for every page; Figure 3's variant is titled as the variant."""
import numpy as np
import pandas as pd

from lra.analysis import figures, paired, probes
from lra.analysis.verdicts import FrameResults, c7
from lra.campaign.experiments import EXPERIMENTS
from lra.engine.predictions import pack
from test_verdicts import RP, part, runs

T = 10


def padded(stopped_at=300, every=100, cap=1000, diverge_at=None):
    """Probes every ``every`` iterations to ``cap`` of a member that stopped at ``stopped_at``:
    real values (flow at every layer) up to it, NaN padding after; ``diverge_at``: a real
    non-finite value inside the training span."""
    out = []
    for it in range(every, cap + every, every):
        v = [1e-3] * T if it <= stopped_at else [float("nan")] * T
        if diverge_at is not None and it == diverge_at:
            v = [float("inf")] * T
        out.append({"iteration": it, "global_loss": 0.5 if it <= stopped_at else float("nan"),
                    **{k: list(v) for k in ("local_loss", "dh_norm", "dW_hh_norm",
                                            "dW_xh_norm", "db_h_norm")}})
    return out


def test_padding_is_not_a_measurement():
    p = padded()
    print("checks: 10 scheduled probes, 3 recorded, 7 padding; flow share 100 %, not 30 %")
    assert len(probes.recorded(p, 300)) == 3 and probes.padding(p, 300) == 7
    assert len(probes.recorded(p)) == 3           # without the row: trailing all-NaN probes
    assert probes.flow_share(probes.recorded(p, 300), "dh_norm", 1) == 1.0
    # a real divergence inside the training span is kept
    d = padded(stopped_at=500, diverge_at=200)
    assert len(probes.recorded(d, 500)) == 5
    assert figures.gradient_flow_summary(probes.recorded(d, 500))["nonfinite_probes"] == 1


def test_c7_counts_only_the_probes_taken_while_training():
    f2 = runs("fig2", "paper", [dict(task=RP, T=10, acc=0.98, iterations=1000)])
    f3 = runs("fig3_dh", "paper", [dict(task=RP, T=10, acc=1.0, iterations=300,
                                        norm="forced_dh")])
    src = FrameResults({("fig2", "paper"): f2, ("fig3_dh", "paper"): f3},
                       {("fig2", "paper", f2.key[0]): padded(stopped_at=1000),
                        ("fig3_dh", "paper", f3.key[0]): padded(stopped_at=300)})
    a = part(c7(src), "C7a")
    assert "in 3 of the 3 probes taken while it trained" in a.text()
    assert "not finite" not in a.text()


def test_the_flow_figure_reading_says_padding_not_divergence(tmp_path, monkeypatch):
    from lra.campaign.store import ResultsStore
    store = ResultsStore(tmp_path)
    row = runs("fig3", "paper", [dict(task=RP, T=10, acc=1.0, iterations=300, norm="forced")])
    prov = dict(commit="t", dirty=False, device="t", torch="x", python="x", date="x",
                budget="paper", command="t")
    store.append("fig3", "paper", row.to_dict("records"), prov, {row.key[0]: padded()})
    glued = {}
    monkeypatch.setattr(figures, "glue_figure",
                        lambda name, fig, **kw: glued.__setitem__(name, fig))
    monkeypatch.setattr(figures, "glue_markdown", lambda name, text: glued.__setitem__(name, text))
    got = figures.glue_gradient_flow("f3", "fig3", "paper", store)
    print(glued["f3_reading"])
    assert len(got) == 3 and "non-finite" not in glued["f3_reading"]
    assert "the 7 probes scheduled after that hold no measurement" in glued["f3_reading"]


def test_one_paired_test_for_every_page():
    """The reservoir chapter's pairing (pair_cells) gives the numbers pair_methods gives for the
    same rows — the best check's bits, not the final network's."""
    rng = np.random.default_rng(0)
    rows = []
    for algo, p_right in (("lra_diff", 0.95), ("readout_only", 0.80)):
        for s in range(3):
            best = rng.random(400) < p_right
            rows.append(dict(task=RP, T=10, seed=s, algorithm=algo, acc=float(best.mean()),
                             best_correct=pack(best)))
    df = runs("reservoir", "smoke", rows)
    (p,) = paired.pair_cells(df, [("lra_diff", "readout_only")])
    q = paired.pair_methods(df[df.algorithm == "lra_diff"], df[df.algorithm == "readout_only"],
                            "lra_diff", "readout_only")
    print(p.sentence())
    assert p.stats == q.stats and p.seeds == [0, 1, 2]


def test_the_variant_of_figure_3_is_titled_as_the_variant():
    title, dh = EXPERIMENTS["fig3"].title, EXPERIMENTS["fig3_dh"].title
    print(title, "|", dh)
    assert "weight gradients forced" in title and "variant" in EXPERIMENTS["fig3"].backs
    assert "alone" in dh
