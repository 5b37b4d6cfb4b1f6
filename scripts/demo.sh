#!/usr/bin/env bash
# The main job: installs what is missing, builds and installs the flowrl Python package into
# .venv, and runs a short training run on Pendulum-v1 (behaviour cloning of a swing-up
# controller with a flow policy; about a minute). Extra arguments go to the example.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-system-deps.sh
./scripts/python-env.sh .venv tqdm matplotlib
.venv/bin/python examples/bc_pendulum.py "$@"
