#!/usr/bin/env bash
# SWFP beside Stable-Baselines3's SAC (BENCHMARKS.md). Installs flowrl and stable-baselines3
# (with torch: benchmark only, never a dependency of flowrl) into .venv-bench, then runs
# scripts/benchmark_pendulum.py with the given arguments (default: Pendulum-v1, seeds 0 1 2,
# evaluations at 5k, 10k, 20k steps). Add gymnasium[mujoco] for --env Hopper-v5.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-system-deps.sh
./scripts/python-env.sh .venv-bench stable-baselines3 "gymnasium[mujoco]"
.venv-bench/bin/python scripts/benchmark_pendulum.py "$@"
