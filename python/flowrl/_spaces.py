"""Structured observation spaces (gymnasium ``Dict`` and ``Tuple``) flattened for the core.

The Swift core sees one flat float vector per observation. A ``Dict`` or ``Tuple`` observation
space is flattened exactly as gymnasium's ``spaces.flatten_space`` / ``spaces.flatten`` do it:
the sub-spaces in the space's own order (a ``Dict`` built from a plain dict sorts its keys), each
``Box`` raveled, each ``Discrete`` one-hot, each ``MultiBinary`` raveled. :class:`Layout` does this
for one observation or a batch (a dict of arrays with a leading batch axis, as vector envs and
Stable-Baselines3's ``VecEnv`` return them), checks every key and shape (naming the key), and
goes back (:meth:`Layout.unflatten`) for what the user's side sees.

:func:`to_json` / :func:`from_json` are the checkpoint's description of such a space (a small
JSON tree: kinds, keys, shapes, bounds, dtypes), bounded in depth and size when decoded.

Supported: ``Dict`` and ``Tuple`` (nested) whose leaves are ``Box``, ``Discrete`` or
``MultiBinary``. Refused (:func:`check`): any other leaf (``MultiDiscrete``, ``Text``,
``Graph``, ``Sequence``, ``OneOf``), an empty ``Dict`` or ``Tuple``, non-string ``Dict`` keys.
"""

from __future__ import annotations

from typing import Any, Optional, Union

import numpy as np
from gymnasium import spaces

from . import _checks
from .errors import InvalidArgumentError

#: Structures deeper than this are refused (as written and as decoded from a checkpoint).
MAX_DEPTH = 16

#: At most this many spaces (nodes) in one structure.
MAX_NODES = 4096

#: At most this many flat values (the flattened observation's length).
MAX_FLAT_SIZE = 2**24

_LEAVES = (spaces.Box, spaces.Discrete, spaces.MultiBinary)
Structured = Union[spaces.Dict, spaces.Tuple]


def is_structured(space: Any) -> bool:
    """True for a gymnasium ``Dict`` or ``Tuple`` space."""
    return isinstance(space, (spaces.Dict, spaces.Tuple))


def _children(space: Structured) -> list[tuple[Union[str, int], spaces.Space]]:
    if isinstance(space, spaces.Dict):
        return list(space.spaces.items())
    return list(enumerate(space.spaces))


def _where(path: str, key: Union[str, int]) -> str:
    return f"{path}[{key!r}]"


def check(space: Any, name: str = "the observation space") -> None:
    """Raises :class:`InvalidArgumentError` unless ``space`` is a ``Dict`` / ``Tuple`` flowrl flattens.

    Raises
    ------
    InvalidArgumentError
        Naming the sub-space, for an unsupported leaf, a non-string key, an empty container, a
        structure deeper than :data:`MAX_DEPTH` or larger than :data:`MAX_NODES` /
        :data:`MAX_FLAT_SIZE`, or a Box with NaN bounds.
    """
    nodes = 0
    size = 0

    def visit(node: Any, path: str, depth: int) -> None:
        nonlocal nodes, size
        nodes += 1
        if depth > MAX_DEPTH or nodes > MAX_NODES:
            raise InvalidArgumentError(f"{name} is nested deeper than {MAX_DEPTH} or has more than {MAX_NODES} sub-spaces")
        if is_structured(node):
            children = _children(node)
            if not children:
                raise InvalidArgumentError(f"{name}: {path} is an empty {type(node).__name__}")
            for key, child in children:
                if isinstance(node, spaces.Dict) and not isinstance(key, str):
                    raise InvalidArgumentError(f"{name}: {path} has the key {key!r}; flowrl needs string keys")
                visit(child, _where(path, key), depth + 1)
        elif isinstance(node, spaces.Box):
            if np.isnan(node.low).any() or np.isnan(node.high).any():
                raise InvalidArgumentError(f"{name}: {path} has NaN bounds")
            size += int(np.prod(node.shape))
        elif isinstance(node, spaces.Discrete):
            size += int(node.n)
        elif isinstance(node, spaces.MultiBinary):
            size += int(np.prod(node.shape))
        else:
            raise InvalidArgumentError(
                f"{name}: {path} is {node}; flowrl flattens Dict and Tuple observation spaces whose leaves are Box, "
                f"Discrete or MultiBinary (not MultiDiscrete, Text, Graph, Sequence or OneOf)")
        if size > MAX_FLAT_SIZE:
            raise InvalidArgumentError(f"{name} flattens to more than {MAX_FLAT_SIZE} values")

    visit(space, "observation", 0)
    if size == 0:
        raise InvalidArgumentError(f"{name} flattens to no values")


class Layout:
    """How a ``Dict`` / ``Tuple`` space maps onto the flat ``Box`` the core sees.

    Parameters
    ----------
    space : gymnasium.spaces.Dict or gymnasium.spaces.Tuple
        Checked with :func:`check`.

    Attributes
    ----------
    space : gymnasium.spaces.Space
        The structured space.
    flat_space : gymnasium.spaces.Box
        ``spaces.flatten_space(space)`` as a float32 Box (what the core is created with).
    size : int
        Its length.
    """

    def __init__(self, space: Structured) -> None:
        check(space)
        self.space = space
        # (path, leaf, offset, width) in gymnasium's flattening order
        self._leaves: list[tuple[tuple[Union[str, int], ...], spaces.Space, int, int]] = []
        offset = 0

        def visit(node: spaces.Space, path: tuple[Union[str, int], ...]) -> None:
            nonlocal offset
            if is_structured(node):
                for key, child in _children(node):
                    visit(child, (*path, key))
                return
            width = int(node.n) if isinstance(node, spaces.Discrete) else int(np.prod(node.shape))
            self._leaves.append((path, node, offset, width))
            offset += width

        visit(space, ())
        self.size = offset
        flat = spaces.flatten_space(space)
        self.flat_space = spaces.Box(np.asarray(flat.low, np.float32), np.asarray(flat.high, np.float32), dtype=np.float32)

    # ------------------------------------------------------------------ flattening

    def flatten(self, value: Any, name: str = "observation") -> tuple[np.ndarray, bool]:
        """One structured observation or a batch as a C-contiguous float32 ``(n, size)`` array,
        and whether one observation (no batch axis) was given.

        Parameters
        ----------
        value : dict or tuple
            The space's structure (nested dicts / tuples), each leaf an array of the leaf's shape
            (one observation) or with one more leading axis of the same length ``n`` for all
            leaves (a batch). A ``Discrete`` leaf holds integers (shape ``()`` or ``(n,)``).
        name : str
            How errors name ``value``.

        Raises
        ------
        InvalidArgumentError
            Naming the key, for a missing or extra key, a wrong shape, a batch length that differs
            between keys, NaN or Inf, or a Discrete / MultiBinary value out of range.
        """
        arrays: list[tuple[np.ndarray, spaces.Space, str]] = []

        def gather(node: spaces.Space, given: Any, path: str) -> None:
            if isinstance(node, spaces.Dict):
                if not hasattr(given, "keys") or not hasattr(given, "__getitem__"):
                    raise InvalidArgumentError(f"{path} must be a dict with the keys {sorted(node.spaces)}, "
                                               f"got {type(given).__name__}")
                keys = set(given.keys())
                missing = [key for key in node.spaces if key not in keys]
                if missing:
                    raise InvalidArgumentError(f"{path} lacks the key {missing[0]!r} (expected the keys {list(node.spaces)})")
                extra = sorted((key for key in keys if key not in node.spaces), key=repr)
                if extra:
                    raise InvalidArgumentError(f"{path} has the key {extra[0]!r}, which the observation space does not "
                                               f"have (expected the keys {list(node.spaces)})")
                for key, child in node.spaces.items():
                    gather(child, given[key], _where(path, key))
            elif isinstance(node, spaces.Tuple):
                if not isinstance(given, (tuple, list)) or len(given) != len(node.spaces):
                    raise InvalidArgumentError(f"{path} must be a tuple of {len(node.spaces)} entries, got "
                                               f"{type(given).__name__}" + (f" of {len(given)}" if isinstance(given, (tuple, list)) else ""))
                for index, child in enumerate(node.spaces):
                    gather(child, given[index], _where(path, index))
            else:
                array = _checks.real_array(given, path, np.float64)
                if array.size == 1 and np.ndim(given) == 0:  # a scalar (np.ascontiguousarray made it 1-D)
                    array = array.reshape(())
                arrays.append((array, node, path))

        gather(self.space, value, name)
        single: Optional[bool] = None
        rows = 1
        for array, leaf, path in arrays:
            shape = () if isinstance(leaf, spaces.Discrete) else tuple(leaf.shape)
            if array.shape == shape:
                this_single, this_rows = True, 1
            elif array.ndim == len(shape) + 1 and array.shape[1:] == shape:
                this_single, this_rows = False, array.shape[0]
            else:
                raise InvalidArgumentError(f"{path} has shape {array.shape}; expected {shape} or (n, *{shape})")
            if single is None:
                single, rows = this_single, this_rows
            elif (this_single, this_rows) != (single, rows):
                raise InvalidArgumentError(f"{path} has shape {array.shape}, which does not match the other keys' "
                                           + ("single observation" if single else f"batch of {rows}"))
        flat = np.zeros((rows, self.size), dtype=np.float32)
        for (array, leaf, path), (_, _, offset, width) in zip(arrays, self._leaves):
            if isinstance(leaf, spaces.Discrete):
                value = array.reshape(rows)
                if (value != np.round(value)).any():
                    raise InvalidArgumentError(f"{path} holds a non-integer value (a Discrete space)")
                index = value.astype(np.int64) - int(leaf.start)
                if ((index < 0) | (index >= int(leaf.n))).any():
                    raise InvalidArgumentError(f"{path} holds a value outside Discrete({leaf.n}, start={leaf.start})")
                flat[np.arange(rows), offset + index] = 1.0
            else:
                values = array.reshape(rows, width)
                if isinstance(leaf, spaces.MultiBinary) and ((values != 0) & (values != 1)).any():
                    raise InvalidArgumentError(f"{path} holds values other than 0 and 1 (a MultiBinary space)")
                with np.errstate(over="ignore"):
                    flat[:, offset:offset + width] = values
                if not np.isfinite(flat[:, offset:offset + width]).all():
                    raise InvalidArgumentError(f"{path} holds values beyond the range of float32")
        return flat, bool(single)

    def unflatten(self, flat: Any) -> Any:
        """A batch of flat observations ``(n, size)`` as the structure, each leaf ``(n, *leaf.shape)``
        in the leaf's dtype (a ``Discrete`` leaf ``(n,)``: the one-hot's index plus ``start``)."""
        array = np.asarray(flat).reshape(-1, self.size)

        def build(node: spaces.Space, path: tuple[Union[str, int], ...]) -> Any:
            if isinstance(node, spaces.Dict):
                return {key: build(child, (*path, key)) for key, child in node.spaces.items()}
            if isinstance(node, spaces.Tuple):
                return tuple(build(child, (*path, index)) for index, child in enumerate(node.spaces))
            _, leaf, offset, width = next(entry for entry in self._leaves if entry[0] == path)
            part = array[:, offset:offset + width]
            if isinstance(leaf, spaces.Discrete):
                return (np.argmax(part, axis=1) + int(leaf.start)).astype(leaf.dtype)
            return part.reshape(-1, *leaf.shape).astype(leaf.dtype)

        return build(self.space, ())

    def unflatten_one(self, flat: Any) -> Any:
        """One flat observation ``(size,)`` as the structure (no batch axis)."""
        batch = self.unflatten(np.asarray(flat).reshape(1, self.size))
        return _index(batch, 0)


def _index(value: Any, row: int) -> Any:
    if isinstance(value, dict):
        return {key: _index(item, row) for key, item in value.items()}
    if isinstance(value, tuple):
        return tuple(_index(item, row) for item in value)
    return value[row]


def layout(space: Any) -> Optional[Layout]:
    """The :class:`Layout` of a ``Dict`` / ``Tuple`` space, None for any other space."""
    return Layout(space) if is_structured(space) else None


def is_structured_value(value: Any) -> bool:
    """True for what a structured observation is given as: a mapping, a tuple or a list of arrays
    (not a plain array or a list of numbers)."""
    if hasattr(value, "keys") and hasattr(value, "__getitem__"):
        return True
    if isinstance(value, tuple):
        return True
    return isinstance(value, list) and any(isinstance(item, (dict, tuple, list, np.ndarray)) for item in value)


def same_structure(first: Any, second: Any) -> bool:
    """Whether two spaces have the same structure: kinds, keys in order, leaf shapes (bounds aside)."""
    def skeleton(node: Any) -> Any:
        if is_structured(node):
            return (type(node).__name__, [(key, skeleton(child)) for key, child in _children(node)])
        if isinstance(node, spaces.Discrete):
            return ("Discrete", int(node.n), int(node.start))
        return (type(node).__name__, tuple(getattr(node, "shape", ()) or ()))
    return skeleton(first) == skeleton(second)


# ---------------------------------------------------------------------- JSON description


def _bound_to_json(values: Any) -> list[Any]:
    return [value if np.isfinite(value) else str(value) for value in np.asarray(values, np.float64).ravel().tolist()]


def to_json(space: Any) -> dict[str, Any]:
    """A JSON-ready description of a space :func:`check` accepts (or of one of its leaves)."""
    if isinstance(space, spaces.Dict):
        return {"type": "Dict", "items": [[key, to_json(child)] for key, child in space.spaces.items()]}
    if isinstance(space, spaces.Tuple):
        return {"type": "Tuple", "items": [to_json(child) for child in space.spaces]}
    if isinstance(space, spaces.Box):
        return {"type": "Box", "shape": list(space.shape), "low": _bound_to_json(space.low),
                "high": _bound_to_json(space.high), "dtype": np.dtype(space.dtype).name}
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.MultiBinary):
        return {"type": "MultiBinary", "n": list(space.shape)}
    raise InvalidArgumentError(f"cannot describe the space {space}")


def _integer(value: Any, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{what} must be an integer in [{low}, {high}], got {value!r}")
    return value


def _shape(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, list) or len(value) > 32:
        raise ValueError(f"{what} must be a list of at most 32 integers")
    return tuple(_integer(item, what, 0, MAX_FLAT_SIZE) for item in value)


def _bounds(values: Any, shape: tuple[int, ...], dtype: np.dtype, what: str) -> np.ndarray:
    count = int(np.prod(shape))
    if not isinstance(values, list) or len(values) != count:
        raise ValueError(f"{what} must be a list of {count} numbers")
    numbers = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError(f"{what} holds {value!r}, not a number")
        number = float(value)  # "inf" / "-inf" as written; any other string raises ValueError
        if np.isnan(number):
            raise ValueError(f"{what} holds NaN")
        numbers.append(number)
    with np.errstate(over="ignore"):
        return np.array(numbers, dtype=np.float64).astype(dtype).reshape(shape)


def from_json(description: Any) -> Structured:
    """The space :func:`to_json` described, checked with :func:`check`.

    Raises
    ------
    ValueError
        For anything malformed: an unknown kind, a wrong field, a structure deeper than
        :data:`MAX_DEPTH` or with more than :data:`MAX_NODES` spaces, or one :func:`check` refuses.
    """
    nodes = 0

    def build(node: Any, depth: int) -> spaces.Space:
        nonlocal nodes
        nodes += 1
        if depth > MAX_DEPTH or nodes > MAX_NODES:
            raise ValueError(f"the space description is nested deeper than {MAX_DEPTH} or has more than {MAX_NODES} spaces")
        if not isinstance(node, dict) or not isinstance(node.get("type"), str):
            raise ValueError("each space must be an object with a 'type'")
        kind = node["type"]
        if kind == "Dict":
            items = node.get("items")
            if not isinstance(items, list):
                raise ValueError("a Dict's items must be a list")
            pairs = []
            for item in items:
                if not isinstance(item, list) or len(item) != 2 or not isinstance(item[0], str):
                    raise ValueError("a Dict's items must be [key, space] pairs with string keys")
                pairs.append((item[0], build(item[1], depth + 1)))
            if len({key for key, _ in pairs}) != len(pairs):
                raise ValueError("a Dict's keys repeat")
            return spaces.Dict(pairs)  # a list of pairs keeps the recorded order
        if kind == "Tuple":
            items = node.get("items")
            if not isinstance(items, list):
                raise ValueError("a Tuple's items must be a list")
            return spaces.Tuple([build(item, depth + 1) for item in items])
        if kind == "Box":
            shape = _shape(node.get("shape"), "a Box's shape")
            try:
                dtype = np.dtype(node.get("dtype"))
            except TypeError:
                raise ValueError(f"a Box's dtype {node.get('dtype')!r} is not a dtype") from None
            if dtype.kind not in "fiu" or not isinstance(node.get("dtype"), str):
                raise ValueError(f"a Box's dtype must be a real number type, got {node.get('dtype')!r}")
            low = _bounds(node.get("low"), shape, dtype, "a Box's low")
            high = _bounds(node.get("high"), shape, dtype, "a Box's high")
            if (low > high).any():
                raise ValueError("a Box's low exceeds its high")
            return spaces.Box(low, high, shape=shape, dtype=dtype)
        if kind == "Discrete":
            return spaces.Discrete(_integer(node.get("n"), "a Discrete's n", 1, MAX_FLAT_SIZE),
                                   start=_integer(node.get("start"), "a Discrete's start", -2**62, 2**62))
        if kind == "MultiBinary":
            shape = _shape(node.get("n"), "a MultiBinary's n")
            if not shape or min(shape) < 1:
                raise ValueError("a MultiBinary's n must be positive")
            return spaces.MultiBinary(list(shape))
        raise ValueError(f"unknown space type {kind!r}")

    space = build(description, 0)
    if not is_structured(space):
        raise ValueError("the recorded structure is not a Dict or Tuple space")
    try:
        check(space, "the recorded observation space")
    except InvalidArgumentError as error:
        raise ValueError(str(error)) from None
    return space
