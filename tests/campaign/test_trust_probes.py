"""tools/trust_probes.py, issue 20's hostile-tester probes rerun: its cheapest family (malformed
command lines, `--quick --only cli`) prints the table, and a deliberately broken target (a bad
`--seeds` raising an exception instead of a one-line error) is reported as failed, exit 1."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "trust_probes.py"
# "10 malformed command lines   16   16    0    5.1  exactly one ..."
ROW = re.compile(r"^\s?(\d+) (.+?)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+\.\d)  (\S.*)$")


def probes(*args):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(TOOL), "--quick", "--only", "cli", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def table(stdout: str) -> dict:
    """{family number: (tried, passed, failed)} of the printed table (header checked)."""
    lines = stdout.splitlines()
    head = [i for i, ln in enumerate(lines) if ln.startswith("probe family")]
    assert len(head) == 1, stdout[-2000:]
    header = lines[head[0]]
    for column in ("tried", "passed", "failed", "seconds", 'what "passed" means'):
        assert column in header, header
    rows = {}
    for ln in lines[head[0] + 2:]:
        m = ROW.match(ln)
        if m:
            rows[int(m.group(1))] = tuple(int(m.group(k)) for k in (3, 4, 5))
    assert lines[-1].startswith("all ") or any(ln.startswith("all ") for ln in lines), stdout
    return rows


def test_the_cli_family_passes_on_this_code(tmp_path):
    out = tmp_path / "probes.json"
    r = probes("--json", str(out))
    print(r.stdout[-3000:], r.stderr[-2000:])
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    rows = table(r.stdout)
    tried, passed, failed = rows[10]
    assert tried >= 12 and passed == tried and failed == 0
    report = json.loads(out.read_text())
    (fam,) = report["families"]
    assert (fam["key"], fam["tried"], fam["failed"]) == ("cli", tried, 0) and report["ok"]
    assert all(p["passed"] for p in fam["probes"]) and len(fam["probes"]) == tried


def test_a_broken_target_is_reported_as_failed(tmp_path):
    """A check must be able to fail: in a copy of lra/ whose `--seeds` check raises ValueError
    (a traceback, exit 1) the probe of `lra campaign --seeds 0` fails, the others pass."""
    broken = tmp_path / "broken"
    shutil.copytree(ROOT / "lra", broken / "lra", ignore=shutil.ignore_patterns("__pycache__"))
    module = broken / "lra" / "cli" / "campaign.py"
    old = 'raise UsageError(f"--seeds must be >= 1 and <= {MAX_SEEDS}'
    text = module.read_text()
    assert old in text
    module.write_text(text.replace(old, old.replace("UsageError", "ValueError")))
    r = probes("--target", str(broken))
    print(r.stdout[-3000:], r.stderr[-2000:])
    assert r.returncode == 1, r.stdout[-2000:]
    tried, passed, failed = table(r.stdout)[10]
    assert failed >= 1 and passed == tried - failed and passed > 0
    failures = [ln for ln in r.stdout.splitlines() if ln.startswith("FAILED [10 cli]")]
    assert failures and all("--seeds" in ln for ln in failures), failures
    assert "exit 1, not 2" in failures[0] and "traceback" in failures[0]
