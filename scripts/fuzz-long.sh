#!/usr/bin/env bash
# The long fuzz run: every mode in turn (one process at a time) for a share of --hours H, figures
# appended per mode to runs/fuzz-results.tsv (cases, hours, crashes, hangs, findings), reproducers
# under runs/fuzz/<date>/<mode>/findings. Uses the package installed in .venv-test (./scripts/test.sh
# or ./scripts/python-env.sh .venv-test atheris makes it). Exit status 1 if anything was found.
#
#   scripts/fuzz-long.sh --hours 8 [--seed K]
set -euo pipefail
cd "$(dirname "$0")/.."

hours=1
seed=$RANDOM
while [ $# -gt 0 ]; do
    case "$1" in
        --hours) hours="$2"; shift 2 ;;
        --seed) seed="$2"; shift 2 ;;
        *) echo "usage: $0 --hours H [--seed K]" >&2; exit 2 ;;
    esac
done

python=.venv-test/bin/python
[ -x "$python" ] || { echo "fuzz-long: run ./scripts/test.sh (or ./scripts/python-env.sh .venv-test atheris) first" >&2; exit 2; }
stamp=$(date +%Y%m%d-%H%M%S)
status=0
# Checkpoints get half the time (the issue's target is 1M mutations), the rest is shared.
for share in checkpoint:0.5 config:0.2 arrays:0.2 concurrency:0.1; do
    mode=${share%%:*}
    seconds=$(awk -v h="$hours" -v f="${share##*:}" 'BEGIN { printf "%d", h * f * 3600 }')
    "$python" fuzz/run.py "$mode" --seconds "$seconds" --seed "$seed" --out "runs/fuzz/long-$stamp" \
        --results runs/fuzz-results.tsv || status=1
done
column -t -s $'\t' runs/fuzz-results.tsv | tail -n 8
exit $status
