#!/usr/bin/env bash
# Installs what the tests need (only what is missing) and runs every test: the Swift core with
# XCTest, then the Python package (built and installed into .venv-test) with pytest, then the C and
# C++ examples against the installed library, then the API reference (warnings as errors), then a
# short fuzz run against the installed package.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-system-deps.sh
swift build -c release          # the release build must compile, as users and benchmarks use it
OPENBLAS_NUM_THREADS=1 swift test   # flowrl's own setting (Runtime.prepare); spare threads only spin
# atheris drives the fuzz run; where it cannot be installed (no wheel for this Python), the fuzz
# harness falls back to its plain random loop with the same mutators.
# minari[hdf5] and pillow are the datasets extra of python/pyproject.toml: test_datasets.py reads and
# writes Minari datasets with them; tensorboard is the tensorboard extra (test_sb3_dropin.py); ray[tune] is
# the ray extra (test_experiments.py runs a small grid on a local Ray; its PyYAML reads the CLI's YAML grids).
extras=("minari[hdf5]>=0.5,<0.6" pillow tensorboard "ray[tune]>=2.41")
./scripts/python-env.sh .venv-test pytest tqdm matplotlib "${extras[@]}" atheris \
    || ./scripts/python-env.sh .venv-test pytest tqdm matplotlib "${extras[@]}"
.venv-test/bin/python -X faulthandler -m pytest
./scripts/build-c-examples.sh .venv-test   # the C and C++ examples, compiled against the installed library and run
./scripts/build-api-docs.sh .venv-test  # the API reference (docs/api.md): fails on any docstring problem
.venv-test/bin/python fuzz/run.py all --seconds 100   # the short fuzz run (RELIABILITY.md); fails on any finding
