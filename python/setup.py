"""Builds libflowrl.so with the Swift toolchain and ships it inside a platform wheel.

The library is compiled from the repository that contains this directory (../Package.swift), in
release mode with the Swift standard library linked statically, so the installed package needs
nothing of the Swift toolchain at run time. OpenBLAS (the scipy-openblas32 build requirement's
library) is copied beside it: libflowrl.so loads it from its own directory at run time, so the
wheel depends on no system library beyond the C library.
"""

import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parent
SCRATCH = REPOSITORY / ".build-wheel"


def fail(message: str) -> None:
    sys.stderr.write(f"\nflowrl build error: {message}\n\n")
    raise SystemExit(1)


def check_requirements() -> None:
    if not (REPOSITORY / "Package.swift").is_file():
        fail(f"cannot find the Swift package at {REPOSITORY}; install from a checkout of the flowrl repository")
    if shutil.which("swift") is None:
        fail("the Swift toolchain (6.0 or later) is not on PATH; install it from https://www.swift.org/install/")


def openblas_library() -> Path:
    """The OpenBLAS library of the scipy-openblas32 build requirement."""
    try:
        import scipy_openblas32
    except ImportError:
        fail("scipy-openblas32 is missing from the build environment; install with pip install ./python")
    library = Path(scipy_openblas32.get_lib_dir()) / "libscipy_openblas.so"
    if not library.is_file():
        fail(f"scipy-openblas32 has no {library.name} in {library.parent}")
    return library


def build_library() -> Path:
    check_requirements()
    command = ["swift", "build", "-c", "release", "--product", "flowrl",
               "-Xswiftc", "-static-stdlib", "--scratch-path", str(SCRATCH)]
    print("flowrl: " + " ".join(command), flush=True)
    if subprocess.run(command, cwd=REPOSITORY).returncode != 0:
        fail("the Swift build failed (see the compiler output above)")
    library = SCRATCH / "release" / "libflowrl.so"
    if not library.is_file():
        fail(f"the Swift build did not produce {library}")
    return library


class BuildWithSwift(build_py):
    """Copies the Python sources, then builds and adds libflowrl.so and its header."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "flowrl"
        target.mkdir(parents=True, exist_ok=True)
        library = target / "libflowrl.so"
        shutil.copyfile(build_library(), library)
        if shutil.which("strip"):
            subprocess.run(["strip", "--strip-unneeded", str(library)], check=False)
        shutil.copyfile(REPOSITORY / "include" / "flowrl.h", target / "flowrl.h")
        shutil.copyfile(openblas_library(), target / "libscipy_openblas.so")


class BinaryDistribution(Distribution):
    """Marks the wheel as platform-specific: it carries a compiled library."""

    def has_ext_modules(self) -> bool:
        return True


try:
    from wheel.bdist_wheel import bdist_wheel

    class PlatformWheel(bdist_wheel):
        """Tags the wheel py3-none-<platform>: the library is loaded with ctypes, not the CPython ABI."""

        def get_tag(self):
            _, _, platform = super().get_tag()
            return "py3", "none", platform

    commands = {"build_py": BuildWithSwift, "bdist_wheel": PlatformWheel}
except ImportError:
    commands = {"build_py": BuildWithSwift}

setup(cmdclass=commands, distclass=BinaryDistribution)
