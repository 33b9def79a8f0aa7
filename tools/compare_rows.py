"""Compare the rows of two results folders number for number (the evidence behind a lineage entry).

    python tools/compare_rows.py RECOMPUTED [STORED]     (STORED defaults to results/)

For every (experiment, budget) table in RECOMPUTED, every row is looked up by its key in STORED
and compared on what the row says about training: solved, diverged, stop reason, iterations,
best and final accuracy, the curve, the per-sample predictions and the test-set numbers (timing, device, commit and code
version are where the rows are *expected* to differ). Prints one line per table and exits 1 on
any difference or missing row, so the output can be stored as evidence
(:mod:`lra.campaign.lineage`).
"""
from __future__ import annotations

import sys
from pathlib import Path

from lra.campaign.store import ResultsStore

NUMBERS = ["solved", "diverged", "stop_reason", "iterations", "best_accuracy", "final_accuracy",
           "curve", "best_correct", "best_test_accuracy", "final_test_accuracy",
           "best_test_correct", "final_test_correct"]


def compare_tables(recomputed: Path, stored: Path) -> tuple[list[str], bool]:
    lines, ok = [], True
    new, old = ResultsStore(recomputed), ResultsStore(stored)
    tables = sorted(p.parent for p in Path(recomputed).glob("*/*/runs.csv"))
    if not tables:
        return [f"no tables under {recomputed}"], False
    for folder in tables:
        experiment, budget = folder.parent.name, folder.name
        a = new.load(experiment, budget).set_index("key")
        b = old.load(experiment, budget).set_index("key")
        missing = [k for k in a.index if k not in b.index]
        common = [k for k in a.index if k in b.index]
        differ = []
        for k in common:
            for col in NUMBERS:
                x, y = a.at[k, col], b.at[k, col]
                if str(x) != str(y):
                    differ.append(f"{k[:12]}.{col}: {str(y)[:40]} -> {str(x)[:40]}")
        status = "equal" if not missing and not differ else "DIFFERENT"
        ok &= status == "equal"
        lines.append(f"{experiment}/{budget}: {len(common)} row(s) compared on "
                     f"{len(NUMBERS)} columns, {status}"
                     + (f"; {len(missing)} not in the stored table" if missing else "")
                     + ("".join(f"\n    {d}" for d in differ[:10])))
    return lines, ok


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or len(argv) > 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    recomputed = Path(argv[0])
    stored = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[1] / "results"
    lines, ok = compare_tables(recomputed, stored)
    print("\n".join(lines))
    n = sum(1 for line in lines if not line.startswith(" "))
    print(f"{n} table(s): {'every row equal' if ok else 'DIFFERENCES FOUND'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
