#!/usr/bin/env bash
# Installs what flowrl builds and runs with, only when it is missing: Python's venv (a Debian
# package), a C and a C++ compiler (gcc, g++: for the C examples) and OpenBLAS, the pinned
# scipy-openblas32 wheel from PyPI unpacked into .deps/ (where development builds find it; the
# Python package bundles its own copy). Checks that the Swift
# toolchain is present (it is not a Debian package; see swift.org/install).
set -euo pipefail

cd "$(dirname "$0")/.."
missing=()
command -v unzip >/dev/null 2>&1 || missing+=(unzip)
# A C and a C++ compiler for the C examples (scripts/build-c-examples.sh).
command -v cc >/dev/null 2>&1 || missing+=(gcc)
command -v c++ >/dev/null 2>&1 || missing+=(g++)
# The scripts make virtual environments; Debian's own Python needs python3-venv for that.
if command -v python3 >/dev/null 2>&1; then
    python3 -c "import venv, ensurepip" 2>/dev/null || missing+=(python3-venv)
    python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
else
    missing+=(python3 python3-venv python3-pip)
fi

if [ ${#missing[@]} -gt 0 ]; then
    echo "flowrl: installing ${missing[*]}"
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || { echo "flowrl: need root or sudo to install ${missing[*]}" >&2; exit 1; }
        sudo=sudo
    fi
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
fi

if ! command -v swift >/dev/null 2>&1; then
    echo "flowrl: the Swift toolchain (6.0 or later) is missing; install it from https://www.swift.org/install/" >&2
    exit 1
fi

# OpenBLAS: the version pinned in python/pyproject.toml, which also bundles it into the wheel.
pin=$(grep -o 'scipy-openblas32==[0-9.]*' python/pyproject.toml)
blas=.deps/scipy-openblas32
if [ "$(cat "$blas/VERSION" 2>/dev/null)" != "$pin" ]; then
    echo "flowrl: fetching $pin into $blas"
    rm -rf "$blas" .deps/download
    python3 -m pip download --quiet --no-deps --only-binary=:all: --dest .deps/download "$pin"
    unzip -q -o .deps/download/scipy_openblas32-*.whl 'scipy_openblas32/lib/*' -d .deps/download
    mkdir -p "$blas"
    mv .deps/download/scipy_openblas32/lib "$blas/lib"
    rm -rf .deps/download
    echo "$pin" > "$blas/VERSION"
fi
