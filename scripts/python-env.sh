#!/usr/bin/env bash
# Creates (if missing) the virtual environment named by $1 and installs the flowrl package into
# it from ./python, which builds the Swift library; extra arguments are more packages to install.
# Prints nothing on success but pip's summary.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="$1"
shift
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet ./python "$@"
