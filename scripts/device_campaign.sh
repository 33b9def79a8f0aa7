#!/usr/bin/env bash
# One prepared GPU slice: self-test, benchmark, then the paper-protocol campaign for the time left,
# the rows it computed back under $OUT as a result bundle (lra/campaign/bundle.py). Resumable: the bundle
# carries the checkpoints of populations stopped at the time limit; ingesting it puts them under
# results/_populations/, which the next slice carries.
#
# From a session with the device tool (see its README), in the repository root of a CLEAN checkout:
#   python tools/stamp_checkpoint.py results/_populations/*/*.pt   # once, for checkpoints written
#       # before they named their code version (a copy without .git cannot look up their commits:
#       # it would set them aside and start their populations afresh); commit what it stamped
#   git rev-parse HEAD > .git-commit            # the device copy has no .git
#   run(command="bash scripts/device_campaign.sh 540", carry=["results", ".git-commit"], timeout_s=600)
# Back here:   bash scripts/unpack_device_slice.sh <files_at>     (= lra ingest of its bundle:
# refused unless the sources that ran are that commit's, clean, and every row verifies), commit.
#
# What comes back in $OUT: bundle.tgz (split in bundle.tgz.part-* when over 15 MB: the device
# tool returns files of at most 16 MiB), logs.tgz (self-test, benchmark, plan, campaign and status
# logs; the benchmark's results for benchmarks/results/) and commit.txt (the commit that ran).
#
# Argument: the whole slice's seconds (default 540). Environment: EXPERIMENTS (default: Tables
# I-III, the readout-only control and the released reading), LENGTHS (default 10; "" for all),
# BUDGET (default paper), BENCH_SECONDS (benchmark budget, default 150; 0 skips), SELFTEST
# (default 1), CONCURRENT (populations at once, default 1: with 3 on an H100 one capture
# failed, see lra/engine/trainer.py; 1 anyway if the self-test's check fails), DEVICE (default auto),
# MAX_ITERATIONS (override the cap: a budget of its own name), PYTHON (default python3).
# CPU_ONLY=1 skips the self-test and the benchmark and runs on the CPU (the end-to-end test,
# tests/campaign/test_device_campaign_script.py, runs it so at the smoke budget).
set -uo pipefail
source_hash() { find lra -name '*.py' | LC_ALL=C sort | xargs cat | sha256sum | cut -d' ' -f1; }
if [ "${1:-}" = "--source-hash" ]; then source_hash; exit 0; fi
TOTAL=${1:-540}
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-auto}
if [ "${CPU_ONLY:-0}" = 1 ]; then SELFTEST=0 BENCH_SECONDS=0 DEVICE=cpu; fi
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
# provenance: the commit the copy was made from (.git-commit; a checkout with .git says its own),
# recorded in the bundle; `lra ingest` checks that the sources that ran hash as that commit's lra/
logs_parent=$(mktemp -d)             # this slice's logs only (lra-logs/ in logs.tgz)
LOGS=$logs_parent/lra-logs
mkdir -p "$LOGS"
source_hash > "$LOGS/source.sha256"
if [ -e .git ]; then
  git rev-parse HEAD > $LOGS/commit.txt
  echo "code: checkout at $(cat $LOGS/commit.txt)$(git status --porcelain -- lra | grep -q . && echo ' (DIRTY lra/: its bundle will be refused)')"
elif [ -f .git-commit ]; then
  export LRA_GIT_COMMIT=$(cat .git-commit) LRA_GIT_DIRTY=0
  echo "$LRA_GIT_COMMIT" > $LOGS/commit.txt
  echo "code: commit $LRA_GIT_COMMIT, lra/ sha256 $(cat $LOGS/source.sha256) (checked by lra ingest)"
else
  echo "warning: no .git-commit: rows will say commit unknown, dirty (lra ingest will refuse them)"
  echo unknown > $LOGS/commit.txt
fi
cp $LOGS/commit.txt "$OUT/commit.txt"
command -v nvidia-smi >/dev/null && nvidia-smi -L
$PY -c "import torch, platform; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'python', platform.python_version())"
[ "$DEVICE" = cpu ] || $PY -c "import triton; print('triton', triton.__version__)" || echo "no triton: PyTorch chain"

campaign=1
if [ "${SELFTEST:-1}" = 1 ]; then
  timeout 240 $PY scripts/gpu_selftest.py --quick --iterations 200 --json "$OUT/selftest.json" 2>&1 | tee "$OUT/selftest.log"
  verdict=$($PY - "$OUT/selftest.json" <<'PY'
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

name=$($PY -c "import torch; print(torch.cuda.get_device_name() if torch.cuda.is_available() and '$DEVICE' != 'cpu' else 'cpu')")
if [ "$BENCH_SECONDS" != "0" ]; then
  timeout $(( BENCH_SECONDS + 90 )) $PY benchmarks/engine_throughput.py \
      --total-seconds "$BENCH_SECONDS" --out auto 2>&1 | tee "$OUT/bench.log" \
      || echo "benchmark failed or timed out"
fi

if [ "$campaign" = 1 ]; then
  limit=$(( $(left) - 40 ))
  if [ "$limit" -gt 20 ]; then
    lens=(); [ -n "$LENGTHS" ] && lens=(--lengths $LENGTHS)
    cap=(); [ -n "${MAX_ITERATIONS:-}" ] && cap=(--max-iterations "$MAX_ITERATIONS")
    $PY -m lra campaign --budget "$BUDGET" --experiments $EXPERIMENTS "${lens[@]}" "${cap[@]}" \
        --device "$DEVICE" --dry-run --projection-device "$name" 2>&1 | tee "$OUT/plan.txt"
    $PY -m lra campaign --budget "$BUDGET" --experiments $EXPERIMENTS "${lens[@]}" "${cap[@]}" \
        --device "$DEVICE" --time-limit "${limit}s" --concurrent "$CONCURRENT" --progress \
        --bundle "$OUT/bundle.tgz" 2>&1 \
        | tr '\r' '\n' | awk 'NR % 20 == 0 || !/it\/s/' | tee "$OUT/campaign.log"
    # lra campaign's exit status: 0 every requested row stored; 1 rows still missing, after a stop
    # at the time limit (resumable: the bundle carries the stopped population's checkpoint) or
    # an error (a traceback also exits 1); 2 refused before computing (bad input, broken store)
    rc=${PIPESTATUS[0]}
    if [ "$rc" = 0 ]; then
      echo "campaign exit 0: complete"
    elif [ "$rc" = 1 ] && grep -q "stopped at the time limit" "$OUT/campaign.log"; then
      echo "campaign exit 1: stopped at the time limit, rows still missing; resumable: ingest the bundle and carry results/ to the next slice"
    else
      echo "campaign exit $rc: incomplete or failed (see campaign.log in logs.tgz)"
    fi
  else
    echo "no time left for the campaign"
  fi
fi
status_budget=$BUDGET; [ -n "${MAX_ITERATIONS:-}" ] && status_budget="$BUDGET-cap$MAX_ITERATIONS"
$PY -m lra status --budget "$status_budget" > "$OUT/status.txt" 2>&1
# What comes back (at most 8 files of 16 MiB): the bundle (rows, probes, provenance, checkpoints
# of populations in flight), in 15 MB parts when larger; the logs and benchmark in logs.tgz.
mv "$OUT"/*.log "$OUT"/*.txt "$OUT"/*.json $LOGS/ 2>/dev/null
cp $LOGS/commit.txt "$OUT/commit.txt"
bench=(); [ -d benchmarks/results ] && bench=(benchmarks/results)
tar czf "$OUT/logs.tgz" "${bench[@]}" -C "$logs_parent" lra-logs
if [ -f "$OUT/bundle.tgz" ] && [ "$(stat -c %s "$OUT/bundle.tgz")" -gt 15000000 ]; then
  split -b 15000000 "$OUT/bundle.tgz" "$OUT/bundle.tgz.part-" && rm "$OUT/bundle.tgz"
fi
[ -e "$OUT/bundle.tgz" ] || ls "$OUT"/bundle.tgz.part-* >/dev/null 2>&1 || echo "no bundle: the campaign did not run"
grep -E " $status_budget " $LOGS/status.txt | grep -vE "  0 +[0-9]+ +[0-9]+  empty" | head -40
echo "slice done in $(( $(date +%s) - t0 )) s"; ls -la "$OUT"
