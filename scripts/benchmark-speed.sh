#!/usr/bin/env bash
# Speed of flowrl's SAC, SWFP and SAC Flow beside Stable-Baselines3's SAC, interleaved in one run
# (BENCHMARKS.md). Arguments go to scripts/benchmark_speed.py.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bench-venv.sh
.venv-bench/bin/python scripts/benchmark_speed.py "$@"
