#!/usr/bin/env bash
# The benchmark environment: system packages, then .venv-bench with flowrl, stable-baselines3 (with
# torch), gymnasium[mujoco] and PyYAML (for `python -m flowrl.experiments run` of the YAML grids in
# benchmarks/grids/, such as sac-vs-sb3-pendulum.yaml). Benchmark only: the package, its tests and
# CI never import SB3 or torch.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-system-deps.sh
./scripts/python-env.sh .venv-bench stable-baselines3 "gymnasium[mujoco]" pyyaml
