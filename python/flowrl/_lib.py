"""The one place where the C functions of libflowrl are declared (argtypes and restype) and
where every status is checked. Mirrors include/flowrl.h; tests/test_header.py checks that the
two agree.

The library is found inside the package (``libflowrl.so`` next to this file) or, when the
environment variable ``FLOWRL_LIBRARY`` is set, at that path (for development builds).
"""

from __future__ import annotations

import ctypes
import json
import os
from ctypes import POINTER, c_char_p, c_int32, c_int64, c_uint8, c_uint64, c_void_p
from pathlib import Path
from typing import Any, Callable

from . import _checks
from .errors import InternalError, error_for_status

#: The ABI version this package was written for (FLOWRL_ABI_VERSION in flowrl.h).
ABI_VERSION = 5

_agent_p = c_void_p  # flowrl_agent * (an opaque token)
_float_p = c_void_p  # const float * / float *, passed as the array's address
_uint8_p = c_void_p

#: name -> (restype, argtypes), in the order of include/flowrl.h.
SIGNATURES: dict[str, tuple[Any, list[Any]]] = {
    "flowrl_abi_version": (c_int32, []),
    "flowrl_version": (c_char_p, []),
    "flowrl_last_error": (c_char_p, []),
    "flowrl_set_blas_threads": (c_int32, [c_int32]),
    "flowrl_set_threads": (c_int32, [c_int32]),
    "flowrl_runtime_info": (c_int32, [POINTER(c_char_p)]),
    "flowrl_algorithms": (c_int32, [POINTER(c_char_p)]),
    "flowrl_algorithm_schema": (c_int32, [c_char_p, POINTER(c_char_p)]),
    "flowrl_agent_create": (c_int32, [c_char_p, c_char_p, c_int64, c_int64, POINTER(_agent_p)]),
    "flowrl_agent_free": (c_int32, [_agent_p]),
    "flowrl_agent_act": (c_int32, [_agent_p, _float_p, c_int64, c_int64, c_int32, _float_p, c_int64]),
    "flowrl_agent_particle_chain": (c_int32, [_agent_p, _float_p, c_int64, c_int64, c_int32, _float_p, c_int64,
                                             POINTER(c_int64)]),
    "flowrl_agent_observe": (c_int32, [_agent_p, _float_p, _float_p, _float_p, _float_p, _uint8_p, c_int64, c_int64, c_int64]),
    "flowrl_agent_update": (c_int32, [_agent_p, c_int32, POINTER(c_char_p)]),
    "flowrl_agent_pretrain": (c_int32, [_agent_p, _float_p, _float_p, c_int64, c_int64, c_int64, c_int64, POINTER(c_char_p)]),
    "flowrl_agent_pretrain_transitions": (c_int32, [_agent_p, _float_p, _float_p, _float_p, _float_p, _uint8_p, c_int64,
                                                    c_int64, c_int64, c_int64, POINTER(c_char_p)]),
    "flowrl_agent_set_metadata": (c_int32, [_agent_p, c_char_p]),
    "flowrl_agent_set_config": (c_int32, [_agent_p, c_char_p]),
    "flowrl_agent_seed": (c_int32, [_agent_p, c_uint64]),
    "flowrl_agent_info": (c_int32, [_agent_p, POINTER(c_char_p)]),
    "flowrl_agent_save": (c_int32, [_agent_p, c_char_p, c_int32]),
    "flowrl_agent_load": (c_int32, [c_char_p, POINTER(_agent_p)]),
    "flowrl_agent_save_bytes": (c_int32, [_agent_p, c_int32, POINTER(c_uint8), c_int64, POINTER(c_int64)]),
    "flowrl_agent_load_bytes": (c_int32, [POINTER(c_uint8), c_int64, POINTER(_agent_p)]),
}


def library_path() -> Path:
    """Where the shared library is loaded from."""
    override = os.environ.get("FLOWRL_LIBRARY")
    if override:
        return Path(override)
    return Path(__file__).resolve().parent / "libflowrl.so"


def _load() -> ctypes.CDLL:
    path = library_path()
    if not path.is_file():
        hint = "FLOWRL_LIBRARY points at a missing file" if os.environ.get("FLOWRL_LIBRARY") else (
            "the package was installed without its library; reinstall with `pip install ./python`")
        raise ImportError(f"flowrl: cannot find {path} ({hint})")
    try:
        library = ctypes.CDLL(str(path))
    except OSError as error:
        raise ImportError(f"flowrl: cannot load {path}: {error}") from error
    for name, (restype, argtypes) in SIGNATURES.items():
        function = getattr(library, name)
        function.restype = restype
        function.argtypes = argtypes
    found = library.flowrl_abi_version()
    if found != ABI_VERSION:
        raise ImportError(f"flowrl: {path} has ABI version {found}, this package needs {ABI_VERSION}; rebuild the library")
    return library


lib = _load()


def last_error() -> str:
    """The calling thread's last error message."""
    message = lib.flowrl_last_error()
    return message.decode("utf-8", "replace") if message else ""


def check(status: int) -> None:
    """Raises the exception for a non-zero status, carrying the library's message."""
    if status != 0:
        raise error_for_status(status, last_error())


def call(function: Callable[..., int], *arguments: Any) -> None:
    """Calls a C function and checks its status."""
    check(function(*arguments))


def string_result(function: Callable[..., int], *arguments: Any) -> str:
    """Calls a C function whose last argument receives a string owned by the library."""
    out = c_char_p()
    check(function(*arguments, ctypes.byref(out)))
    if out.value is None:
        raise InternalError(f"{getattr(function, '__name__', 'flowrl call')} returned no string")
    return out.value.decode("utf-8")


def version() -> str:
    """The library's version string."""
    return lib.flowrl_version().decode("utf-8")


def set_blas_threads(count: int) -> None:
    """Sets how many threads OpenBLAS uses, for every agent in the process (default 1).

    Leaves the concurrent parts of an update (:func:`set_threads`) as they are.
    """
    call(lib.flowrl_set_blas_threads, _checks.integer(count, "count", -2**31, 2**31 - 1))  # a C int32; the core checks the range


def set_threads(count: int) -> None:
    """Sets how many cores one agent's update may use, for every agent in the process (default 1).

    ``count`` OpenBLAS threads (as :func:`set_blas_threads`), and with ``count >= 2`` the
    independent parts of an update run two at a time on one BLAS thread each: the twin critics'
    two networks (critic step, targets, the actor's critic evaluation) and, in SAC and SAC Flow,
    the actor's sample beside the critic target's; in SWFP and RLDT, the critic target's samples
    beside the actor's particle chains. Results are the same as with one thread, byte for byte. Worth it only with as many idle cores (a busy machine makes the threads wait for
    each other); ``info()["threads"]`` reports the setting.

    Parameters
    ----------
    count : int
        Threads, 1 to 1024.
    """
    call(lib.flowrl_set_threads, _checks.integer(count, "count", -2**31, 2**31 - 1))  # a C int32; the core checks the range


def info() -> dict[str, Any]:
    """The library's run-time environment.

    Returns
    -------
    dict
        ``version`` and ``abi_version`` of the library, and ``blas``: the OpenBLAS library's
        ``path``, its ``configuration`` line (version and build), the kernel set in use
        (``core``), the one OpenBLAS detected by itself (``detected_core``), who chose the core
        (``core_source``: ``"detected"``, ``"user"`` when ``OPENBLAS_CORETYPE`` is set, or
        ``"flowrl"`` when flowrl replaced a generic fallback to match the CPU), the CPU's widest
        vector instruction set (``cpu_vector_level``) and the thread count (``threads``);
        ``threads``, the count :func:`set_threads` set (1 by default); and ``product_flops``, the floating-point operations of all matrix products made in the
        process so far (2·m·n·k each), for measuring GFLOP/s.
    """
    result: dict[str, Any] = json.loads(string_result(lib.flowrl_runtime_info))
    return result
