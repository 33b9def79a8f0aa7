"""Write manifest.json: the provenance of the released script's stored output in this folder.

Everything is read from the stored files themselves (our wrapper's first line records torch,
Python and the machine; the script's own lines record its iteration cap), plus the released
repository's commit, the command, and each file's modification time (when the run ended).
Usage (from this folder): python make_manifest.py
"""
import datetime
import json
import re
from pathlib import Path

here = Path(__file__).resolve().parent
RELEASED_COMMIT = "da7dcb957279eb0f6622b679df6089a4fb4f8999"
files = sorted(f for f in here.glob("*.txt") if re.match(r"^(perm|temp)_a[\d.]+_g[\d.]+\.txt$", f.name))
caps, ended, wrapper = {}, {}, set()
for f in files:
    text = f.read_text()
    m = re.search(r"^It [\d,]+/([\d,]+)", text, flags=re.M)
    caps[f.name] = int(m.group(1).replace(",", "")) if m else None
    ended[f.name] = datetime.datetime.fromtimestamp(f.stat().st_mtime, datetime.timezone.utc) \
        .isoformat(timespec="seconds")
    w = re.search(r"^WRAPPER torch (\S+) threads (\d+) python (\S+) machine (\S+)", text, flags=re.M)
    if w:
        wrapper.add(w.groups())
assert len(wrapper) == 1, f"runs from different environments: {wrapper}"
torch_version, threads, python, machine = wrapper.pop()
manifest = {
    "released_repo": "nmanchev/lra-rnn", "released_commit": RELEASED_COMMIT,
    "released_file": "lra2_reg.py (unmodified; imported, its run_experiment called)",
    "command": "OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python run_released.py RELEASED_DIR "
               "<perm|temp> <lr> <glr> <maxiter>",
    "arguments": "run_experiment(1234, orthogonal_, task, n_hid=100, seq=10, batch_size=20, "
                 "'SGD', lr, glr, k_steps=10, alpha(lambda)=0.0, grad_norm(c)=1.0, maxiter, "
                 "chk_iter=100, 'MSE', plot=False)",
    "caps": caps, "ended_utc": ended,
    "date_utc": min(ended.values())[:10] if ended else None,
    "torch": torch_version, "torch_threads": int(threads), "python": python,
    "device": f"CPU ({machine}), 1 thread, a 2-core machine shared with other jobs",
    "note": "maxiter 10,000 for the first five runs; 5,000 for the three started after the CPU "
            "became contended (the trajectory up to 5,000 is the same under either cap). "
            "Every run stopped by the script's patience abort or as solved unless its stop "
            "reason says max_iterations.",
}
(here / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
print(json.dumps(manifest, indent=1))
