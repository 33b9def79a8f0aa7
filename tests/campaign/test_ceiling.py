"""The linear-readout ceiling (lra.campaign.ceiling): on a reservoir whose states separate the
classes, the fitted readout is exact; its accuracy is measured on held-out sets; records are kept
with provenance and not recomputed."""
import torch

from lra.algorithms.readout import fit_linear_readout, readout_accuracy
from lra.campaign import ceiling
from lra.campaign.store import ResultsStore


def test_the_fit_finds_a_separating_readout_and_not_a_random_one():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(2000, 10, generator=g)
    y = (z[:, 3] - z[:, 7] > 0).long()            # linearly separable by construction
    W, b = fit_linear_readout(z, y, 2)
    acc = readout_accuracy(z, y, W, b)
    noise = torch.randint(0, 2, (2000,), generator=g)
    acc_noise = readout_accuracy(z, noise, *fit_linear_readout(z[:1000], noise[:1000], 2))
    print(f"separable labels: {acc:.4f}; random labels, judged on unseen samples: {acc_noise:.4f}")
    assert acc > 0.995 and abs(acc_noise - 0.5) < 0.06


def test_records_are_stored_once_with_provenance(tmp_path):
    store = ResultsStore(tmp_path)
    n = ceiling.run([("temporal_order", 10)], [0], "smoke", fit_size=2000, heldout_size=500,
                    store=store, log=print)
    again = ceiling.run([("temporal_order", 10)], [0], "smoke", fit_size=2000, heldout_size=500,
                        store=store, log=print)
    recs = ceiling.load(store, "smoke")
    print(recs)
    assert n == 1 and again == 0 and len(recs) == 1
    r = recs[0]
    assert r["provenance"]["commit"] and r["code_version"]
    assert 0.5 <= r["test_accuracy"] <= 1 and 0.5 <= r["validation_accuracy"] <= 1
