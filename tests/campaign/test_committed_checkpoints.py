"""Checkpoints of populations in flight that a CPU campaign left in the repository (so the next
stretch resumes them): each is small (<= 2 MB) and is data, readable by the engine's safe reader
(weights only, checked against the checkpoint schema)."""
from pathlib import Path

from lra.engine.checkpoints import read

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 2 * 1024 * 1024


def test_committed_checkpoints_are_small_and_safe_to_read():
    found = sorted((ROOT / "results" / "_populations").glob("*/*.pt"))
    for path in found:
        size = path.stat().st_size
        ck = read(path)
        print(f"{path.relative_to(ROOT)}: {size:,} bytes, iteration {ck['iteration']}, "
              f"{len(ck['results'])} members")
        assert size <= LIMIT, f"{path} is {size:,} bytes: commit no population over 2 MB"
    print(f"{len(found)} committed checkpoint(s)")
