#!/usr/bin/env bash
# The main job. Until the Python package lands, the core's speed benchmark: a short training run
# of an MLP (10,000 Adam steps) with its timing and memory report.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/benchmark-core.sh "$@"
