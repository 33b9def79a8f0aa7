#!/usr/bin/env bash
# One prepared GPU slice: the benchmark and the self-test where they are not cached, then the
# paper-protocol campaign packed into the time left (lra campaign --slice), the rows it computed
# back under $OUT as a result bundle (lra/campaign/bundle.py). Resumable: the bundle carries the
# checkpoint of the population the packer let span the slice; ingesting it puts it under
# results/_populations/, which the next slice carries.
#
# From a session with the device tool (see its README), in the repository root of a CLEAN checkout:
#   python tools/stamp_checkpoint.py results/_populations/*/*.pt   # once, for checkpoints written
#       # before they named their code version (a copy without .git cannot look up their commits:
#       # it would set them aside and start their populations afresh); commit what it stamped
#   git rev-parse HEAD > .git-commit            # the device copy has no .git
#   run(command="bash scripts/device_campaign.sh 540", carry=["results", ".git-commit"], timeout_s=600)
# Back here:   bash scripts/unpack_device_slice.sh <files_at>     (= lra ingest of its bundle:
# refused unless the sources that ran are that commit's, clean, and every row verifies; it also
# copies the benchmark and the cached self-test verdict), commit.
#
# What is cached (lra/campaign/device_cache.py), so that a slice trains most of its time:
# - the self-test's verdict, once per (code version, device kind), in results/_device/ (with its
#   report and provenance): a slice whose code version and device kind have a cached verdict does
#   not run the self-test; otherwise it runs the quick one (gpu_selftest.py --fast, meant to take
#   <= 60 s; SELFTEST_TIMEOUT, default 90 s, cuts it off: then nothing is cached and nothing is
#   trained). A failed verdict, cached or fresh, means no training (FORCE_CAMPAIGN=1 overrides);
# - the benchmark: run only when the device kind has none of the engine's current code version
#   (its JSON's code_version), before the self-test, so that the quick self-test checks the
#   chain kernel variant the new benchmark makes the engine take.
# The campaign is `lra campaign --slice <seconds left>`: populations in order of value (the
# experiments' order, or the evidence plan's with PLAN=evidence), those whose projected time fits
# packed, the rest of the time to the most valuable one that does not (checkpointed across
# slices), small latency-bound ones at once (lra/campaign/slices.py).
#
# What comes back in $OUT: bundle.tgz (split in bundle.tgz.part-* when over 15 MB: the device
# tool returns files of at most 16 MiB), logs.tgz (self-test, benchmark, packing, campaign and
# status logs; the benchmark's results for benchmarks/results/; the cached verdicts of
# results/_device/) and commit.txt (the commit that ran).
#
# Argument: the whole slice's seconds (default 540). Environment: EXPERIMENTS (default: Tables
# I-III, the readout-only control and the released reading), PLAN (evidence: the evidence plan's
# experiments and order instead), LENGTHS (default 10, with PLAN all; "" for all), BUDGET (default
# paper), BENCH_SECONDS (benchmark budget, default 150; 0 skips), SELFTEST (default 1),
# CONCURRENT (latency-bound populations at once, default 3; 1 where the self-test's concurrency
# check failed), DEVICE (default auto), MAX_ITERATIONS (override the cap: a budget of its own
# name), PYTHON (default python3). CPU_ONLY=1 skips the self-test and the benchmark and runs on
# the CPU (the end-to-end test, tests/campaign/test_device_campaign_script.py, runs it so at the
# smoke budget).
set -uo pipefail
source_hash() { find lra -name '*.py' | LC_ALL=C sort | xargs cat | sha256sum | cut -d' ' -f1; }
if [ "${1:-}" = "--source-hash" ]; then source_hash; exit 0; fi
TOTAL=${1:-540}
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-auto}
if [ "${CPU_ONLY:-0}" = 1 ]; then SELFTEST=0 BENCH_SECONDS=0 DEVICE=cpu; fi
BUDGET=${BUDGET:-paper}
EXPERIMENTS=${EXPERIMENTS:-readout_only table1 table2 table3 table1_released}
PLAN=${PLAN:-}
if [ -n "$PLAN" ]; then LENGTHS=${LENGTHS-}; else LENGTHS=${LENGTHS-10}; fi
BENCH_SECONDS=${BENCH_SECONDS:-150}
CONCURRENT=${CONCURRENT:-3}
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

name=$($PY -c "import torch; print(torch.cuda.get_device_name() if torch.cuda.is_available() and '$DEVICE' != 'cpu' else 'cpu')")
echo "device kind: $name; engine code version $($PY -c 'from lra.campaign.store import code_version; print(code_version())')"

# the benchmark, only where this device kind has none of the engine's current code version
if [ "$BENCH_SECONDS" != "0" ]; then
  if $PY -m lra.campaign.device_cache bench --device "$name"; then
    echo "benchmark: not run (cached)"
  else
    timeout $(( BENCH_SECONDS + 90 )) $PY benchmarks/engine_throughput.py \
        --total-seconds "$BENCH_SECONDS" --out auto 2>&1 | tee "$OUT/bench.log" \
        || echo "benchmark failed or timed out"
  fi
fi

# the self-test, only where no verdict for this code version and device kind is cached
campaign=1
if [ "${SELFTEST:-1}" = 1 ]; then
  # what holds if the gate itself fails: no verdict, no training
  selftest_cached=0 selftest_verdict=missing selftest_campaign=0 selftest_chain= selftest_serial=1 selftest_why="no gate"
  eval "$($PY -m lra.campaign.device_cache gate --device "$name")"
  if [ "$selftest_cached" = 1 ]; then
    echo "self-test: not run ($selftest_why)"
  else
    echo "self-test: $selftest_why: the quick self-test"
    s0=$(date +%s)
    timeout "${SELFTEST_TIMEOUT:-90}" $PY scripts/gpu_selftest.py --fast --json "$OUT/selftest.json" 2>&1 | tee "$OUT/selftest.log"
    $PY -m lra.campaign.device_cache record --device "$name" --json "$OUT/selftest.json" \
        --mode fast --seconds $(( $(date +%s) - s0 ))
    eval "$($PY -m lra.campaign.device_cache gate --device "$name")"
  fi
  echo "self-test verdict: $selftest_verdict"
  if [ "$selftest_serial" = 1 ]; then CONCURRENT=1; echo "concurrent populations failed their check (or no verdict): one at a time"; fi
  if [ "$selftest_chain" = pytorch ]; then export LRA_CHAIN=pytorch; echo "the campaign uses the PyTorch chain ($selftest_why)"; fi
  if [ "$selftest_campaign" != 1 ]; then
    campaign=${FORCE_CAMPAIGN:-0}
    echo "self-test failed or left no verdict ($selftest_verdict): campaign skipped (FORCE_CAMPAIGN=1 overrides)"
  fi
fi

if [ "$campaign" = 1 ]; then
  if [ "$(left)" -gt 60 ]; then
    lens=(); [ -n "$LENGTHS" ] && lens=(--lengths $LENGTHS)
    cap=(); [ -n "${MAX_ITERATIONS:-}" ] && cap=(--max-iterations "$MAX_ITERATIONS")
    sel=(--experiments $EXPERIMENTS); [ -n "$PLAN" ] && sel=(--plan "$PLAN")
    # the slice packer: what fits in the time left, by value; the packing heads campaign.log
    $PY -m lra campaign --budget "$BUDGET" "${sel[@]}" "${lens[@]}" "${cap[@]}" \
        --device "$DEVICE" --slice "$(left)s" --projection-device "$name" \
        --concurrent "$CONCURRENT" --progress --bundle "$OUT/bundle.tgz" 2>&1 \
        | tr '\r' '\n' | awk 'NR % 20 == 0 || !/it\/s/' | tee "$OUT/campaign.log"
    # lra campaign's exit status: 0 every requested row stored; 1 rows still missing, after a stop
    # at the time limit (resumable: the bundle carries the stopped population's checkpoint) or
    # an error (a traceback also exits 1); 2 refused before computing (bad input, broken store)
    rc=${PIPESTATUS[0]}
    if [ "$rc" = 2 ] && grep -q "prices populations from the device's benchmark" "$OUT/campaign.log"; then
      # no benchmark of this device at all (it failed): no packing; the time left, by the
      # experiments' order, as before the packer
      echo "no benchmark to pack by: the campaign runs for the time left, unpacked"
      $PY -m lra campaign --budget "$BUDGET" "${sel[@]}" "${lens[@]}" "${cap[@]}" \
          --device "$DEVICE" --time-limit "$(( $(left) - 40 ))s" --progress \
          --bundle "$OUT/bundle.tgz" 2>&1 \
          | tr '\r' '\n' | awk 'NR % 20 == 0 || !/it\/s/' | tee -a "$OUT/campaign.log"
      rc=${PIPESTATUS[0]}
    fi
    if [ "$rc" = 0 ]; then
      echo "campaign exit 0: complete"
    elif [ "$rc" = 1 ] && grep -q "stopped at the time limit" "$OUT/campaign.log"; then
      echo "campaign exit 1: stopped at the time limit, rows still missing; resumable: ingest the bundle and carry results/ to the next slice"
    elif [ "$rc" = 1 ] && grep -q "nothing fits in the slice" "$OUT/campaign.log"; then
      echo "campaign exit 1: no population fits in the time left; nothing trained"
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
[ -d results/_device ] && bench+=(results/_device)      # the cached self-test verdicts
tar czf "$OUT/logs.tgz" "${bench[@]}" -C "$logs_parent" lra-logs
if [ -f "$OUT/bundle.tgz" ] && [ "$(stat -c %s "$OUT/bundle.tgz")" -gt 15000000 ]; then
  split -b 15000000 "$OUT/bundle.tgz" "$OUT/bundle.tgz.part-" && rm "$OUT/bundle.tgz"
fi
[ -e "$OUT/bundle.tgz" ] || ls "$OUT"/bundle.tgz.part-* >/dev/null 2>&1 || echo "no bundle: the campaign did not run"
grep -E " $status_budget " $LOGS/status.txt | grep -vE "  0 +[0-9]+ +[0-9]+  empty" | head -40
echo "slice done in $(( $(date +%s) - t0 )) s"; ls -la "$OUT"
