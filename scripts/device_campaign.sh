#!/usr/bin/env bash
# One prepared GPU run: the throughput benchmark, then the campaign at the paper's protocol for at
# most MINUTES minutes, then everything back under $OUT as one tarball (results + benchmark).
#
# From a session with the device tool (see the tool's README), in the repository root:
#   run(command="LRA_GIT_COMMIT=$(cat .git-commit) bash scripts/device_campaign.sh 8",
#       carry=["results"], timeout_s=600)
# where .git-commit holds `git rev-parse HEAD` of a clean checkout (the device copy has no .git),
# and carrying results/ brings the checkpoints of populations in flight so the campaign resumes.
# Back here:  tar xzf <files_at>/campaign.tgz   then commit results/ and benchmarks/results/.
#
# Environment: BUDGET (default paper), EXPERIMENTS (default: all), BENCH_SECONDS (default 3;
# 0 skips the benchmark), OUT (the device tool sets it).
set -uo pipefail
MINUTES=${1:-8}
BUDGET=${BUDGET:-paper}
OUT=${OUT:-/tmp/lra-out}
BENCH_SECONDS=${BENCH_SECONDS:-3}
mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
command -v nvidia-smi >/dev/null && nvidia-smi -L
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
python3 -c "import triton; print('triton', triton.__version__)" || echo "no triton: PyTorch chain"
if [ "$BENCH_SECONDS" != "0" ]; then
  name=$(python3 -c "import torch; print(torch.cuda.get_device_name().replace(' ', '_') if torch.cuda.is_available() else 'cpu')")
  python3 benchmarks/engine_throughput.py --seconds "$BENCH_SECONDS" \
      --out "benchmarks/results/${name}.md" || echo "benchmark failed"
fi
exps=()
[ -n "${EXPERIMENTS:-}" ] && exps=(--experiments $EXPERIMENTS)
python3 -m lra campaign --budget "$BUDGET" --time-limit "${MINUTES}m" "${exps[@]}"
python3 -m lra status --budget "$BUDGET" | tee "$OUT/status.txt"
tar czf "$OUT/campaign.tgz" results benchmarks/results
ls -la "$OUT"
