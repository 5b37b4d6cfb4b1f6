"""Importing flowrl, its version, and the FLOWRL_LIBRARY override."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import flowrl
from flowrl import _lib


def run_python(code: str, cwd: Path, library: str | None) -> subprocess.CompletedProcess[str]:
    """Runs `code` in a fresh interpreter (outside the source tree), FLOWRL_LIBRARY set or unset."""
    environment = dict(os.environ)
    environment.pop("FLOWRL_LIBRARY", None)
    if library is not None:
        environment["FLOWRL_LIBRARY"] = library
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=environment, capture_output=True, text=True, timeout=60)


def test_import_and_version() -> None:
    version = flowrl.version()
    assert isinstance(version, str) and version
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", version)
    assert version == flowrl.__version__
    assert flowrl.ABI_VERSION == 5
    for name in flowrl.__all__:
        assert hasattr(flowrl, name), name


def test_library_path_is_inside_the_package() -> None:
    if "FLOWRL_LIBRARY" in os.environ:
        assert flowrl.library_path() == Path(os.environ["FLOWRL_LIBRARY"])
    else:
        assert flowrl.library_path() == Path(flowrl.__file__).resolve().parent / "libflowrl.so"
    assert flowrl.library_path().is_file()


def test_info_reports_the_library_version(agent: flowrl.FlowBC) -> None:
    info = agent.info()
    assert info["version"] == flowrl.version()
    assert info["algorithm"] == "flow_bc" == flowrl.FlowBC.algorithm
    assert info["observation_size"] == 3 and info["action_size"] == 2


def test_blas_threads_can_be_set() -> None:
    flowrl.set_blas_threads(2)
    flowrl.set_blas_threads(1)
    assert _lib.last_error() == ""


def test_missing_library_override_fails_the_import(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "libflowrl.so"
    code = (
        "import sys\n"
        "try:\n"
        "    import flowrl\n"
        "except ImportError as error:\n"
        "    print('IMPORT-ERROR:', error)\n"
        "    sys.exit(0)\n"
        "sys.exit(5)\n"
    )
    result = run_python(code, tmp_path, str(missing))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "IMPORT-ERROR:" in result.stdout
    assert str(missing) in result.stdout
    assert "FLOWRL_LIBRARY" in result.stdout
    # and a plain import fails loudly
    plain = run_python("import flowrl", tmp_path, str(missing))
    assert plain.returncode != 0
    assert "ImportError" in plain.stderr and str(missing) in plain.stderr


def test_unloadable_library_override_fails_the_import(tmp_path: Path) -> None:
    fake = tmp_path / "libflowrl.so"
    fake.write_text("this is not a shared library")
    result = run_python("import flowrl", tmp_path, str(fake))
    assert result.returncode != 0
    assert "ImportError" in result.stderr and str(fake) in result.stderr


def test_library_override_to_the_real_library(tmp_path: Path) -> None:
    real = str(flowrl.library_path())
    code = "import flowrl; print(flowrl.library_path()); print(flowrl.version())"
    result = run_python(code, tmp_path, real)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [real, flowrl.version()]
