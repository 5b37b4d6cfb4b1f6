#!/usr/bin/env bash
# SWFP beside Stable-Baselines3's SAC (BENCHMARKS.md): sets up .venv-bench (scripts/bench-venv.sh),
# then runs scripts/benchmark_pendulum.py with the given arguments (default: Pendulum-v1, seeds
# 0 1 2, evaluations at 5k, 10k, 20k steps; --env Hopper-v5 works too).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bench-venv.sh
.venv-bench/bin/python scripts/benchmark_pendulum.py "$@"
