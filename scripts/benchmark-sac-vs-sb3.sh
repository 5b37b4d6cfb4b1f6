#!/usr/bin/env bash
# flowrl's SAC beside Stable-Baselines3's SAC on Pendulum-v1 and Hopper-v5, in one run
# (BENCHMARKS.md; about an hour on one core). Arguments go to scripts/benchmark_sac_vs_sb3.py.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bench-venv.sh
.venv-bench/bin/python scripts/benchmark_sac_vs_sb3.py "$@"
