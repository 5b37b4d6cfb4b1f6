#!/usr/bin/env bash
# Builds the API reference of the flowrl package installed in a virtual environment (default
# .venv-test, made by scripts/python-env.sh) into build/api/ (git-ignored), with pdoc; fails on any
# pdoc warning, any docstring role that does not resolve, any public object without a docstring
# (scripts/build_api_docs.py). Open build/api/index.html in a browser. Usage:
#   ./scripts/build-api-docs.sh [venv] [output folder]
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:-.venv-test}"
output="${2:-build/api}"
[ -x "$venv/bin/python" ] || ./scripts/python-env.sh "$venv"
# pdoc 15-16: scripts/build_api_docs.py extends its reStructuredText step (pdoc.docstrings.rst)
"$venv/bin/python" -m pip install --quiet "pdoc>=15,<17"
rm -rf "$output"
# From build/ (outside python/), so that `import flowrl` is the installed package, not the source folder.
mkdir -p build
script="$PWD/scripts/build_api_docs.py"
target="$(realpath -m "$output")"
(cd build && env -u FLOWRL_LIBRARY -u PYTHONPATH "../$venv/bin/python" "$script" "$target")
