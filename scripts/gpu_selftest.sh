#!/usr/bin/env bash
# The GPU self-test (scripts/gpu_selftest.py): capture safety, every algorithm and switch set
# trained on the device vs the CPU, the chain kernel vs PyTorch and float64. Prints one screen;
# exit status 0 when everything passes. Run it first on any new GPU (<= 3 min on an H100).
#   [PYTHON=.venv/bin/python] bash scripts/gpu_selftest.sh [--device cpu] [--iterations N] [--json OUT]
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
exec "${PYTHON:-python3}" scripts/gpu_selftest.py "$@"
