"""Stamp an older population checkpoint with the code version that wrote it (issue 20, item 6).

    python tools/stamp_checkpoint.py PATH...                      # from its segments' commits
    python tools/stamp_checkpoint.py PATH --code-version V --evidence "how V is known"

Checkpoints written before they carried ``code_version`` are resumed only when the code that
wrote them is established (:mod:`lra.campaign.population_checkpoints`): a campaign does that from
the commits their training segments record, with ``git show``. Where it cannot (a machine
without ``.git``, such as a device copy, or a checkpoint whose last iterations were run by a
process killed before its segment ended), the campaign sets the checkpoint aside
(``<population>.pt.unverified``) and its population starts afresh. This one-off tool writes the
version into the checkpoint, with the evidence, so that it resumes anywhere:

* without ``--code-version``, from its segments' commits, as a campaign would (run it in a
  checkout with the history, before carrying the checkpoint to a machine without it);
* with ``--code-version V --evidence TEXT``, from what you know (a campaign log naming the commit
  and code version that ran, say): the evidence is stored in the checkpoint (``stamp``).

A set-aside checkpoint, once stamped, is moved back by hand (drop ``.unverified``). Prints one
line per checkpoint; exits 2 when any was refused (unreadable, version unknown, or given by hand
for a checkpoint that already says its version; without ``--code-version`` such a checkpoint is
left unchanged).
"""
from __future__ import annotations

import argparse
import sys

from lra.campaign.population_checkpoints import written_by
from lra.campaign.store import code_version
from lra.engine.checkpoints import CheckpointError, read, stamp


def stamp_one(path: str, version: str | None, evidence: str | None) -> tuple[bool, str]:
    """(stamped, or already saying its version without ``version`` given?, one line) for the
    checkpoint at ``path``."""
    try:
        if version is None:
            ck = read(path)
            if ck.get("code_version"):      # (so that a glob over a folder may be rerun)
                return True, f"{path}: already says code version {ck['code_version']}; unchanged"
            versions, how = written_by(ck)
            if versions is None:
                return False, (f"{path}: code version unknown ({how}); give --code-version and "
                               "--evidence if you know it")
            if len(versions) > 1:
                return False, (f"{path}: trained by several code versions "
                               f"({', '.join(sorted(versions))}; {how}): no one version to stamp")
            version = versions.pop()
            evidence = f"{how}: code version {version} (git show of their CODE_MODULES)"
        stamp(path, version, evidence)
    except (CheckpointError, OSError) as e:
        return False, f"{path}: {' '.join(str(e).split())[:300]}"
    now = code_version()
    return True, (f"{path}: stamped code version {version}"
                  + ("" if version == now else f" (this code is {now}: a campaign discards it)"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="+", metavar="PATH")
    ap.add_argument("--code-version", help="the code version that wrote it (12 hex digits)")
    ap.add_argument("--evidence", help="how that is known (stored in the checkpoint)")
    args = ap.parse_args(argv)
    if (args.code_version is None) != (args.evidence is None):
        ap.error("--code-version and --evidence go together")
    ok = True
    for path in args.paths:
        stamped, line = stamp_one(path, args.code_version, args.evidence)
        print(line, file=sys.stdout if stamped else sys.stderr)
        ok &= stamped
    return 0 if ok else 2


if __name__ == "__main__":
    sys.exit(main())
