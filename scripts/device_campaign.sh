#!/usr/bin/env bash
# One prepared GPU slice: self-test, benchmark, then the paper-protocol campaign for the time left,
# everything back under $OUT. Resumable: carry results/ (with results/_populations/, the
# checkpoints of populations in flight) to the next slice.
#
# From a session with the device tool (see its README), in the repository root of a CLEAN checkout:
#   git rev-parse HEAD > .git-commit            # the device copy has no .git
#   run(command="bash scripts/device_campaign.sh 540", carry=["results", ".git-commit"], timeout_s=600)
# Back here: check that the source hash it prints equals `bash scripts/device_campaign.sh
# --source-hash`, then   tar xzf <files_at>/campaign.tgz   (rows, benchmark, logs in lra-logs/)
# and   cat <files_at>/checkpoints.tgz.part-* | tar xzf -   (populations in flight), and commit.
#
# Argument: the whole slice's seconds (default 540). Environment: EXPERIMENTS (default: Tables
# I-III, the readout-only control and the released reading), LENGTHS (default 10; "" for all),
# BUDGET (default paper), BENCH_SECONDS (benchmark budget, default 150; 0 skips), SELFTEST
# (default 1), CONCURRENT (populations at once, default 1: with 3 on an H100 one capture
# failed, see lra/engine.py; 1 anyway if the self-test's check fails).
set -uo pipefail
source_hash() { find lra -name '*.py' | LC_ALL=C sort | xargs cat | sha256sum | cut -d' ' -f1; }
if [ "${1:-}" = "--source-hash" ]; then source_hash; exit 0; fi
TOTAL=${1:-540}
BUDGET=${BUDGET:-paper}
EXPERIMENTS=${EXPERIMENTS:-readout_only table1 table2 table3 table1_released}
LENGTHS=${LENGTHS-10}
BENCH_SECONDS=${BENCH_SECONDS:-150}
CONCURRENT=${CONCURRENT:-1}
OUT=${OUT:-/tmp/lra-out}
mkdir -p "$OUT"
t0=$(date +%s)
left() { echo $(( TOTAL - ($(date +%s) - t0) )); }
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
# provenance: the commit the copy was made from; clean only if the sources hash as committed
mkdir -p /tmp/lra-logs
source_hash > /tmp/lra-logs/source.sha256
if [ -f .git-commit ]; then
  export LRA_GIT_COMMIT=$(cat .git-commit) LRA_GIT_DIRTY=0
  echo "$LRA_GIT_COMMIT" > /tmp/lra-logs/commit.txt
  echo "code: commit $LRA_GIT_COMMIT, lra/ sha256 $(cat /tmp/lra-logs/source.sha256) (check it at home)"
else
  echo "warning: no .git-commit: rows will say commit unknown, dirty"
fi
command -v nvidia-smi >/dev/null && nvidia-smi -L
python3 -c "import torch, platform; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'python', platform.python_version())"
python3 -c "import triton; print('triton', triton.__version__)" || echo "no triton: PyTorch chain"

campaign=1
if [ "${SELFTEST:-1}" = 1 ]; then
  timeout 240 python3 scripts/gpu_selftest.py --quick --iterations 200 --json "$OUT/selftest.json" 2>&1 | tee "$OUT/selftest.log"
  verdict=$(python3 - "$OUT/selftest.json" <<'PY'
import json, sys
try:
    rep = json.load(open(sys.argv[1]))["report"]
except Exception:
    print("missing"); sys.exit()
kernel_bad = any(not ok for label, ok, _ in rep if "kernel" in label)
conc_bad = any(not ok for label, ok, _ in rep if "concurrent" in label)
other_bad = any(not ok for label, ok, _ in rep if "kernel" not in label and "concurrent" not in label)
print("other" if other_bad else ("kernel" if kernel_bad else "pass") + ("+serial" if conc_bad else ""))
PY
)
  echo "self-test verdict: $verdict"
  case "$verdict" in *serial) CONCURRENT=1; echo "concurrent populations failed their check: one at a time" ;; esac
  case "$verdict" in
    kernel*) export LRA_CHAIN=pytorch; echo "kernel failed its checks: the campaign uses the PyTorch chain" ;;
    other|missing) campaign=${FORCE_CAMPAIGN:-0}; echo "self-test failed: campaign skipped (FORCE_CAMPAIGN=1 overrides)" ;;
  esac
fi

name=$(python3 -c "import torch; print(torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu')")
if [ "$BENCH_SECONDS" != "0" ]; then
  timeout $(( BENCH_SECONDS + 90 )) python3 benchmarks/engine_throughput.py \
      --total-seconds "$BENCH_SECONDS" --out auto 2>&1 | tee "$OUT/bench.log" \
      || echo "benchmark failed or timed out"
fi

if [ "$campaign" = 1 ]; then
  limit=$(( $(left) - 40 ))
  if [ "$limit" -gt 20 ]; then
    lens=(); [ -n "$LENGTHS" ] && lens=(--lengths $LENGTHS)
    python3 -m lra campaign --budget "$BUDGET" --experiments $EXPERIMENTS "${lens[@]}" --dry-run \
        --projection-device "$name" 2>&1 | tee "$OUT/plan.txt"
    python3 -m lra campaign --budget "$BUDGET" --experiments $EXPERIMENTS "${lens[@]}" \
        --time-limit "${limit}s" --concurrent "$CONCURRENT" --progress 2>&1 \
        | tr '\r' '\n' | awk 'NR % 20 == 0 || !/it\/s/' | tee "$OUT/campaign.log"
  else
    echo "no time left for the campaign"
  fi
fi
python3 -m lra status --budget "$BUDGET" > "$OUT/status.txt" 2>&1
# What comes back (at most 8 files of 16 MiB): the rows, benchmark and logs in one tarball; the
# checkpoints of populations in flight (large: weights of every member) split in 15 MB parts.
mkdir -p /tmp/lra-logs && mv "$OUT"/*.log "$OUT"/*.txt "$OUT"/*.json /tmp/lra-logs/ 2>/dev/null
tar czf "$OUT/campaign.tgz" --exclude=results/_populations results benchmarks/results -C /tmp lra-logs
if [ -d results/_populations ]; then
  tar czf - results/_populations | split -b 15000000 - "$OUT/checkpoints.tgz.part-"
fi
cat /tmp/lra-logs/status.txt | grep -E "table1 |table2 |table3 |table1_released" | grep -E " paper "
echo "slice done in $(( $(date +%s) - t0 )) s"; ls -la "$OUT"
