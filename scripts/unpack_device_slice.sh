#!/usr/bin/env bash
# Bring a device slice's output (scripts/device_campaign.sh) into this checkout:
#   bash scripts/unpack_device_slice.sh DIR      (DIR holds bundle.tgz or bundle.tgz.part-*,
#                                                 logs.tgz and commit.txt)
# A wrapper around `lra ingest`: it joins the bundle's parts and ingests it (refused, exit 2 and
# nothing written, unless the commit that ran is in this repository's history, its lra/ sources
# hash as that commit's, and every row verifies: see lra/campaign/bundle.py). Only then does it copy the
# slice's benchmark results and logs under benchmarks/results/ (files, not rows) and its cached
# self-test verdicts under results/_device/.
# PYTHON (default: .venv/bin/python if present, else python3) runs lra.
set -euo pipefail
dir=$(cd "${1:?usage: unpack_device_slice.sh DIR}" && pwd)
cd "$(dirname "$0")/.."
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
if [ -f "$dir/bundle.tgz" ]; then
  bundle="$dir/bundle.tgz"
elif ls "$dir"/bundle.tgz.part-* >/dev/null 2>&1; then
  cat "$dir"/bundle.tgz.part-* > "$tmp/bundle.tgz"; bundle="$tmp/bundle.tgz"
else
  echo "no bundle.tgz (or bundle.tgz.part-*) in $dir: the slice computed nothing" >&2; exit 2
fi
PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} "$PY" -m lra ingest "$bundle"
if [ -f "$dir/logs.tgz" ]; then
  tar xzf "$dir/logs.tgz" -C "$tmp"
  [ -d "$tmp/benchmarks/results" ] && cp -r "$tmp/benchmarks/results/." benchmarks/results/
  # the self-test verdicts cached per (code version, device kind) (lra/campaign/device_cache.py)
  if [ -d "$tmp/results/_device" ]; then
    mkdir -p results/_device && cp "$tmp"/results/_device/*.json results/_device/ 2>/dev/null || true
  fi
  mkdir -p benchmarks/results/logs && cp "$tmp"/lra-logs/* benchmarks/results/logs/
fi
git status --short results benchmarks 2>/dev/null | head -40 || true
