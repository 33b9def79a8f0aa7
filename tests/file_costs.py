"""Longest files first: the order in which `make test`'s two pytest-xdist workers take test files.

Under ``--dist loadfile`` a whole file runs on one worker, and a worker asks for the next file when
it has two tests or fewer left. In pytest-xdist's default order (files with the most tests first)
a two-minute file with three tests could start last, and one core then works alone for minutes
while the other idles. Taken longest first (``--no-loadscope-reorder`` keeps this order), the
last files to start are the short ones and both workers finish within a short file of each other.

The costs are the seconds each file took in a measured run (``tests/file_seconds.json``); a file
not measured yet counts as the median. ``pytest --update-file-seconds`` writes them afresh from
the run it is part of (setup, call and teardown of every test, summed per file; files
that run did not measure keep their seconds).
"""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

COSTS = Path(__file__).resolve().parent / "file_seconds.json"


def file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def load(path: Path = COSTS) -> dict[str, float]:
    try:
        return {k: float(v) for k, v in json.loads(path.read_text()).items()}
    except (OSError, ValueError):
        return {}


def longest_first(items, costs: dict[str, float]):
    """``items`` reordered so that files come in order of decreasing cost (ties and unmeasured
    files in their collection order); the tests of a file keep their order."""
    known = sorted(costs.values())
    default = known[len(known) // 2] if known else 0.0
    first_seen: dict[str, int] = {}
    for i, item in enumerate(items):
        first_seen.setdefault(file_of(item.nodeid), i)
    return sorted(items, key=lambda it: (-costs.get(file_of(it.nodeid), default),
                                         first_seen[file_of(it.nodeid)]))


class FileSeconds:
    """Sums each file's test durations as reports reach the controller (xdist's or the only one)."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)

    def pytest_runtest_logreport(self, report):
        self.seconds[file_of(report.nodeid)] += report.duration

    def write(self, path: Path = COSTS):
        """The measured files' seconds replace theirs in ``path``; other files keep theirs (a run
        of some files updates those)."""
        data = {**load(path), **{k: round(v, 1) for k, v in self.seconds.items()}}
        data = dict(sorted(data.items()))
        path.write_text(json.dumps(data, indent=1) + "\n")
