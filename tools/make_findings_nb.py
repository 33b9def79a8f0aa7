"""Writes book/findings.ipynb (kept as a script so the page's structure is reviewable)."""
import nbformat as nbf

cells = []
def md(s, **meta):
    c = nbf.v4.new_markdown_cell(s); c.metadata.update(meta); cells.append(c)
def code(s, tags=("remove-input",)):
    c = nbf.v4.new_code_cell(s); c.metadata["tags"] = list(tags); cells.append(c)

md("""# Findings

What this reproduction found, in a few sentences. Every number on this page is computed, when the
book is built, from the stored results of our own runs (`results/`), and names the **budget** it
was computed at and the chapter that shows its table or figure. The
{term}`smoke budget <Smoke budget>` (300 iterations, 500 validation samples, a corner of the grid,
on a CPU) checks the machinery and gives {term}`indicative <Indicative>` evidence only; the
{term}`paper budget <Paper budget>` is the paper's protocol (100,000 iterations, 10,000 validation
samples, the full grid). The book's terms are defined in the {ref}`glossary`.""")
code("""from pathlib import Path

import pandas as pd

from lra.analysis import findings
from lra.campaign.experiments import get_budget
from lra.notebook import say, show
from lra.campaign.store import ResultsStore, repo_root
from lra.analysis import verdicts

store = ResultsStore()""")
md("## What surprised us")
code("""say("\\n".join(f"* {f.markdown()}" for f in findings.surprises(store)))""")
md("""## The paper's claims

The verdict on each part of the claims C1–C10, from {doc}`verdicts`, where each is argued with its
evidence, its controls and the rule that gave each verdict.
{term}`Inconclusive at this budget <Inconclusive at this budget>` means the stored rows cannot
decide (the positive control fails too, the {term}`readout-only control <Readout-only control>` is
not beaten, or the compared variants give identical results). {term}`Supported <Supported>` needs
the paper's protocol, five seeds per configuration, as many cells as the paper reports and paired
tests on the held-out test set; {term}`indicative <Indicative>` means the evidence falls short of
one of these, and the verdict says which.""")
code("""parts = pd.DataFrame(verdicts.summary(store))
show(parts[["claim", "tests", "verdict", "strength"]].rename(columns={
    "claim": "Claim", "tests": "The paper says LRA-diff…", "verdict": "Verdict",
    "strength": "Strength"}))
counts = parts.verdict.value_counts()
say(f"Of {len(parts)} claim parts: " + ", ".join(f"{n} {v}" for v, n in counts.items())
    + f"; {int((parts.strength == 'supported').sum())} supported by paper-budget evidence, "
    f"{int((parts.strength == 'indicative').sum())} indicative only.")""")
md("""## Scope, budgets and compute

How much of the paper's protocol has been run. Each published table's grid of (task, K, T) cells
against the cells for which our stored rows of its grid exist, per budget, and the cells the
{doc}`evidence plan <verdicts>` has run at the paper's protocol (one configuration per cell, five
seeds: a cell of the grid, not the grid search the paper ran in it):""")
code("""cov = findings.coverage(store)
show(cov.rename(columns={"table": "Table", "cells": "cells in the paper",
                         "paper": "grid run at the paper's budget",
                         "smoke": "grid run at the smoke budget",
                         "plan": "evidence plan at the paper's protocol"}))
say("Budgets: " + "; ".join(f"**{b}** — {get_budget(b).description}" for b in ("paper", "smoke"))
    + ".")
bench = findings.gpu_benchmark(repo_root() / "benchmarks/results/nvidia-h100-80gb-hbm3.json")
if bench:
    say(f"GPU: the population engine was benchmarked on an {bench['device']} on {bench['date']} "
        f"(commit `{bench['commit']}`): {bench['rate']:,.0f} member-iterations per second at "
        f"T = 10, K = 10 with {bench['P']:,} networks trained at once ({bench['how']}); "
        "see {doc}`engine`.")
devices = findings.rows_by_device(store, "paper")
say("Rows stored at the paper's budget, by the device that computed them: " + (
    "; ".join(f"{d}: {n}" for d, n in devices.items()) if len(devices) else "none") + ".")""")
md("""## Reproduce this page

Every number above is regenerated from `results/` by `make book`. To recompute the rows
themselves, at the smoke budget on a laptop (minutes) or at the paper's budget on a GPU:

```
lra campaign --budget smoke
lra campaign --budget paper --experiments table1 table2 table3
```""")

nb = nbf.v4.new_notebook(cells=cells)
nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
               "language_info": {"name": "python"}}
nbf.write(nb, "book/findings.ipynb")
