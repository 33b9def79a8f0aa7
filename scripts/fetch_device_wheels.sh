#!/usr/bin/env bash
# Download the pure-Python wheels that the GPU image lacks (the Jupyter stack for `lra run`) into
# .whl/ (git-ignored), for Python 3.12 on x86-64. The device command then starts with
#   python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
#       --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PYTHONPATH
# and the run names ".whl" in `carry`. `lra campaign` itself needs none of these.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform any -d .whl \
  papermill nbclient nbformat ipykernel jupyter-client jupyter-core traitlets fastjsonschema \
  jsonschema jsonschema-specifications referencing rpds-py attrs entrypoints tenacity \
  ansicolors comm debugpy ipython matplotlib-inline nest-asyncio tornado pyzmq \
  prompt-toolkit wcwidth jedi parso pexpect ptyprocess stack-data asttokens executing \
  pure-eval decorator platformdirs
ls .whl | wc -l
