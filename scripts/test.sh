#!/usr/bin/env bash
# Installs what the tests need (only what is missing) and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-system-deps.sh
swift build -c release          # the release build must compile, as users and benchmarks use it
swift test
