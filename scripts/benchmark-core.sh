#!/usr/bin/env bash
# Core speed benchmark (BENCHMARKS.md): MLP 32 → 256 → 256 → 8 at batch 256, one OpenBLAS thread.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-system-deps.sh
swift build -c release --product flowrl-bench
for activation in relu silu; do
    .build/release/flowrl-bench --activation "$activation" "$@"
    echo
done
