#!/usr/bin/env bash
# Installs the system packages flowrl builds against, only when they are missing:
# OpenBLAS with its CBLAS header (libopenblas-dev), pkg-config, which locates it, and Python's venv.
# Checks that the Swift toolchain is present (it is not a Debian package; see swift.org/install).
set -euo pipefail

missing=()
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
pkg-config --exists openblas 2>/dev/null || missing+=(libopenblas-dev)
# The scripts make virtual environments; Debian's own Python needs python3-venv for that.
if command -v python3 >/dev/null 2>&1; then
    python3 -c "import venv, ensurepip" 2>/dev/null || missing+=(python3-venv)
else
    missing+=(python3 python3-venv)
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
