#!/usr/bin/env bash
# Compiles and runs the C and C++ examples (examples/c/) against include/flowrl.h and the
# libflowrl.so that `pip install ./python` put into the package of a virtual environment
# (.venv-test unless $1 names another), as a C or C++ program would use the library. Warnings
# are errors. Each example checks every status and exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:-.venv-test}"
libdir=$("$venv/bin/python" -c 'import flowrl, pathlib; print(pathlib.Path(flowrl.__file__).resolve().parent)')
[ -f "$libdir/libflowrl.so" ] || { echo "flowrl: no libflowrl.so in $libdir; install the package first" >&2; exit 1; }
cc="${CC:-cc}"
cxx="${CXX:-c++}"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
flags=(-I include -L "$libdir" -lflowrl "-Wl,-rpath,$libdir")
"$cc" -std=c11 -Wall -Wextra -Werror -O2 examples/c/swfp_example.c "${flags[@]}" -o "$out/swfp_example_c"
"$cxx" -std=c++17 -Wall -Wextra -Werror -O2 examples/c/swfp_example.cpp "${flags[@]}" -o "$out/swfp_example_cpp"
"$out/swfp_example_c" "$out"
"$out/swfp_example_cpp" "$out"
