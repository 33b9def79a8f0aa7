"""scripts/gpu_selftest.sh runs in CI on the CPU (its device run is then a CPU run): the harness
itself must work, and report every part it checks."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


# ~25 s: the self-test as CI runs it: every algorithm and two switch sets trained twice
# (reference, one-rounding-step perturbed; on the CPU the reference run is the 'device' run) for
# 50 iterations (one validation check each), plus the capture check
def test_gpu_selftest_runs_on_the_cpu(tmp_path):
    out = tmp_path / "selftest.json"
    res = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_selftest.sh"), "--device", "cpu",
                          "--iterations", "50", "--quick", "--json", str(out)],
                         capture_output=True, text=True, timeout=600, cwd=ROOT,
                         env={**os.environ, "PYTHON": sys.executable})
    print(res.stdout[-4000:])
    assert res.returncode == 0, res.stderr[-3000:]
    assert "RESULT: PASS" in res.stdout
    data = json.loads(out.read_text())
    # what the slice's verdict cache records beside the report (lra.campaign.device_cache)
    assert (data["mode"], data["iterations"], data["kernel_variants"]) == ("quick", 50, [])
    report = data["report"]
    labels = [label for label, _, _ in report]
    assert any("capture safety" in l for l in labels)
    for algo in ("lra_diff paper", "lra_diff all released", "bptt", "readout_only",
                 "tptt nesterov"):
        assert algo in labels, algo
    assert all(ok for _, ok, _ in report)
