"""The argument checks every public method shares: integers, booleans, paths, numeric arrays,
termination flags and configuration values, each rejected with an
:class:`~flowrl.errors.InvalidArgumentError` that names the argument (or configuration key).

Every check converts as well as validates, so a method converts all of its arguments first and
only then calls into the core: a call that raises has changed nothing. Imports only numpy and
:mod:`flowrl.errors` (no import cycles).
"""

from __future__ import annotations

import math
import operator
import os
from typing import Any, Optional, Union

import numpy as np

from .errors import InvalidArgumentError

#: dtype kinds accepted as numbers: booleans, signed and unsigned integers, floats (not complex,
#: strings, bytes, objects, dates).
REAL_KINDS = frozenset("biuf")

PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]


def _describe(value: Any) -> str:
    """``type value`` for messages, shortened."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def integer(value: Any, name: str, low: int, high: int) -> int:
    """``value`` as an int within ``[low, high]``.

    Accepts Python and numpy integers and floats with an integral value (``1e5``); rejects
    None, booleans, fractional or non-finite floats, strings and everything else.

    Raises
    ------
    InvalidArgumentError
        Naming ``name``, for a value of the wrong type or outside the range.
    """
    if isinstance(value, (bool, np.bool_)) or value is None:
        raise InvalidArgumentError(f"{name} must be an integer, got {_describe(value)}")
    if isinstance(value, (float, np.floating)):
        if not (math.isfinite(value) and float(value).is_integer()):
            raise InvalidArgumentError(f"{name} must be an integer, got {_describe(value)}")
        count = int(value)
    else:
        try:
            count = operator.index(value)
        except TypeError:
            raise InvalidArgumentError(f"{name} must be an integer, got {_describe(value)}") from None
    if not low <= count <= high:
        raise InvalidArgumentError(f"{name} must be in [{low}, {high}], got {count}")
    return count


def optional_integer(value: Any, name: str, low: int, high: int) -> Optional[int]:
    """None, or :func:`integer`."""
    return None if value is None else integer(value, name, low, high)


def boolean(value: Any, name: str) -> bool:
    """``value`` as a bool: True, False, numpy booleans, or the integers 0 and 1."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)) and value in (0, 1):
        return bool(value)
    raise InvalidArgumentError(f"{name} must be True or False, got {_describe(value)}")


def path(value: Any, name: str = "path") -> bytes:
    """A file path (str, bytes or os.PathLike) as the bytes the C ABI takes."""
    try:
        encoded = os.fsencode(value)
    except TypeError:
        raise InvalidArgumentError(f"{name} must be a str, bytes or os.PathLike, got {_describe(value)}") from None
    if not encoded:
        raise InvalidArgumentError(f"{name} is empty")
    if b"\0" in encoded:
        raise InvalidArgumentError(f"{name} contains a NUL byte: {value!r}")
    return encoded


def optional_path(value: Any, name: str) -> Optional[str]:
    """None, or a path as str (for Python-side paths such as ``log_dir``)."""
    return None if value is None else os.fsdecode(path(value, name))


def real_array(value: Any, name: str, dtype: Any = np.float32) -> np.ndarray:
    """``value`` as a C-contiguous array of ``dtype``, every element finite.

    Raises
    ------
    InvalidArgumentError
        Naming ``name``, for None, strings, complex numbers, objects, ragged lists, NaN or Inf,
        or values finite as given but beyond the range of ``dtype`` (1e300 as float32).
    """
    if type(value) is np.ndarray:
        array = value
    elif value is None:
        raise InvalidArgumentError(f"{name} is None; expected an array of numbers")
    else:
        try:
            array = np.asarray(value)
        except (TypeError, ValueError, OverflowError) as error:
            raise InvalidArgumentError(f"{name} is not an array of numbers: {error}") from None
    source = array.dtype
    if source.kind not in REAL_KINDS:
        raise InvalidArgumentError(f"{name} must hold real numbers, got an array of dtype {source}")
    target = np.dtype(dtype)
    if source.kind == "f" and source.itemsize > target.itemsize:  # may overflow: checked below, without a warning
        with np.errstate(over="ignore", invalid="ignore"):
            converted = np.ascontiguousarray(array, dtype=target)
    else:
        converted = np.ascontiguousarray(array, dtype=target)
    if not _all_finite(converted):
        if source.kind == "f" and not _all_finite(array):
            raise InvalidArgumentError(f"{name} contain NaN or Inf")
        raise InvalidArgumentError(f"{name} contain values beyond the range of {target.name} "
                                   f"(±{float(np.finfo(target).max):.3g})")
    return converted


def _all_finite(array: np.ndarray) -> bool:
    """True if no element is NaN or ±Inf (integers and booleans always are finite)."""
    if array.dtype.kind != "f":
        return True
    # A NaN or an infinity makes the float64 sum non-finite, so a finite sum settles it cheaply
    # (one reduction, which matters for the one-row calls of a training loop); only huge finite
    # values can overflow the sum, and then every element is looked at.
    return bool(math.isfinite(array.sum(dtype=np.float64))) or bool(np.isfinite(array).all())


def vector(value: Any, name: str, rows: int, dtype: Any = np.float32) -> np.ndarray:
    """:func:`real_array` flattened, with exactly ``rows`` entries."""
    array = real_array(value, name, dtype).reshape(-1)
    if array.shape[0] != rows:
        raise InvalidArgumentError(f"{name} have {array.shape[0]} entries, expected {rows}")
    return array


def flags(value: Any, name: str, rows: int) -> np.ndarray:
    """Termination flags as ``rows`` C-contiguous uint8 zeros and ones.

    Booleans are taken as they are; numbers count as true where non-zero; NaN, strings and
    other types are refused.
    """
    if value is None:
        raise InvalidArgumentError(f"{name} is None; expected {rows} booleans")
    try:
        array = np.asarray(value).reshape(-1)
    except (TypeError, ValueError, OverflowError) as error:
        raise InvalidArgumentError(f"{name} is not an array of booleans: {error}") from None
    if array.shape[0] != rows:
        raise InvalidArgumentError(f"{name} has {array.shape[0]} entries, expected {rows}")
    if array.dtype != np.bool_:
        if array.dtype.kind not in REAL_KINDS or (array.dtype.kind == "f" and not np.isfinite(array).all()):
            raise InvalidArgumentError(
                f"{name} must be booleans (or finite numbers), got {array.dtype} values {array[:5]}")
        array = array != 0
    return np.ascontiguousarray(array, dtype=np.uint8)


def config_value(value: Any, key: str) -> Any:
    """A hyperparameter as a plain JSON value (numpy scalars and arrays, tuples converted).

    Raises
    ------
    InvalidArgumentError
        Naming ``key``, for a value JSON cannot carry: complex numbers, NaN or Inf, objects.
    """
    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        if not -2**63 <= value < 2**64:
            raise InvalidArgumentError(f"config key '{key}' is out of range: {value}")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidArgumentError(f"config key '{key}' must be finite, got {value}")
        return value
    if isinstance(value, (list, tuple)):
        return [config_value(item, key) for item in value]
    if isinstance(value, dict) and all(isinstance(name, str) for name in value):
        return {name: config_value(item, key) for name, item in value.items()}
    raise InvalidArgumentError(f"config key '{key}' must be a number, string, boolean or a list of them, "
                               f"got {_describe(value)} (not JSON-serialisable)")
