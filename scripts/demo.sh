#!/usr/bin/env bash
# The main job: installs what is missing, builds and installs the flowrl Python package into
# .venv, and runs SWFP's quick start (examples/quickstart.py): 10,000 steps of Pendulum-v1 with a
# progress bar, evaluation returns, a learning curve and a checkpoint in runs/quickstart, then
# reloads the checkpoint and evaluates it (a few minutes on two cores). Extra arguments go to
# the example, e.g. --timesteps 20000.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-system-deps.sh
./scripts/python-env.sh .venv tqdm matplotlib
.venv/bin/python examples/quickstart.py "$@"
