#!/usr/bin/env bash
# Bring a device slice's output (scripts/device_campaign.sh) into this checkout, after checking
# that the code which ran is the commit it claims:
#   bash scripts/unpack_device_slice.sh DIR      (DIR holds campaign.tgz, checkpoints.tgz.part-*)
# Refuses (exit 2, nothing written) when the sources that ran do not hash as that commit's lra/.
set -euo pipefail
dir=${1:?usage: unpack_device_slice.sh DIR}
cd "$(dirname "$0")/.."
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
tar xzf "$dir/campaign.tgz" -C "$tmp"
ran=$(cat "$tmp/lra-logs/source.sha256")
commit=$(cat "$tmp/lra-logs/commit.txt" 2>/dev/null || true)
commit=${commit:-$(cat .git-commit)}
git cat-file -e "$commit^{commit}" 2>/dev/null || { echo "commit $commit is not in this repository" >&2; exit 2; }
mkdir "$tmp/src" && git archive "$commit" lra | tar -x -C "$tmp/src"
want=$(cd "$tmp/src" && find lra -name '*.py' | LC_ALL=C sort | xargs cat | sha256sum | cut -d' ' -f1)
if [ "$ran" != "$want" ]; then
  echo "the sources that ran ($ran) are not commit $commit's lra/ ($want): refusing" >&2; exit 2
fi
echo "verified: the device ran commit $commit (lra/ sha256 $ran)"
# The slice's tables replace ours, so ours must be the committed ones the slice started from
# (rows added here since would otherwise be overwritten).
if [ -n "$(git status --porcelain -- results ':!results/_populations')" ]; then
  echo "results/ has uncommitted changes: commit or move them first (the slice's tables replace ours)" >&2
  exit 2
fi
cp -r "$tmp/results/." results/
cp -r "$tmp/benchmarks/results/." benchmarks/results/
mkdir -p benchmarks/results/logs && cp "$tmp"/lra-logs/* benchmarks/results/logs/
if ls "$dir"/checkpoints.tgz.part-* >/dev/null 2>&1; then
  cat "$dir"/checkpoints.tgz.part-* | tar xzf -
  echo "checkpoints of populations in flight: $(ls results/_populations/*/ 2>/dev/null | tr '\n' ' ')"
fi
git status --short results benchmarks | head -40
