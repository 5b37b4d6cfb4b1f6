"""`Transitions`: a dataset of environment steps as flat numpy arrays, and its ``.npz`` file.

Imports only numpy, gymnasium's spaces and :mod:`flowrl.errors` / :mod:`flowrl._checks`.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
from gymnasium import spaces

from .. import _checks, _spaces
from ..errors import InvalidArgumentError

PathLike = Union[str, "os.PathLike[str]"]

#: Written into every ``.npz`` file by :meth:`Transitions.save_npz` and required when reading one.
NPZ_FORMAT = "flowrl.datasets.Transitions/1"

#: Actions this far beyond a Box bound, relative to the bound's range, are still accepted (the
#: agents' own tolerance: they clip such actions to the bound).
ACTION_TOLERANCE = 1e-5

_ARRAYS = ("observations", "actions", "rewards", "next_observations", "terminated", "truncated", "episode_starts")
_FLAGS = ("terminated", "truncated", "episode_starts")


def _row_and_column(bad: np.ndarray) -> str:
    """``row i`` (and ``, index (j, ...)`` within the row) of the first True entry of ``bad``."""
    position = np.unravel_index(int(np.argmax(bad)), bad.shape)
    text = f"row {int(position[0])}"
    if len(position) > 1:
        within = tuple(int(index) for index in position[1:])
        text += f", index {within[0] if len(within) == 1 else within} within the row"
    return text


def _float_array(value: Any, name: str) -> np.ndarray:
    """A float32 copy of ``value`` (NaN and Inf kept: :meth:`Transitions.check` reports them)."""
    if value is None:
        raise InvalidArgumentError(f"{name} is None; expected an array of numbers")
    try:
        array = np.asarray(value)
    except (TypeError, ValueError, OverflowError) as error:
        raise InvalidArgumentError(f"{name} is not an array of numbers: {error}") from None
    if array.dtype.kind not in _checks.REAL_KINDS:
        raise InvalidArgumentError(f"{name} must hold real numbers, got an array of dtype {array.dtype}")
    with np.errstate(over="ignore", invalid="ignore"):  # 1e300 becomes inf, reported by check()
        return np.array(array, dtype=np.float32, order="C", copy=True)


def _flag_array(value: Any, name: str) -> np.ndarray:
    """A bool copy of ``value``: booleans, or numbers that are all 0 or 1."""
    if value is None:
        raise InvalidArgumentError(f"{name} is None; expected an array of booleans")
    try:
        array = np.asarray(value)
    except (TypeError, ValueError, OverflowError) as error:
        raise InvalidArgumentError(f"{name} is not an array of booleans: {error}") from None
    if array.dtype == np.bool_:
        return np.array(array, dtype=np.bool_, order="C", copy=True)
    if array.dtype.kind not in "iuf":
        raise InvalidArgumentError(f"{name} must be booleans (or 0 and 1), got an array of dtype {array.dtype}")
    bad = (array != 0) & (array != 1)
    if bad.any():
        if array.ndim == 0:
            raise InvalidArgumentError(f"{name} must be booleans (or 0 and 1), got {array.item()!r}")
        value = array[np.unravel_index(int(np.argmax(bad)), bad.shape)].item()
        raise InvalidArgumentError(f"{name} must be booleans (or 0 and 1); {_row_and_column(bad)} holds {value!r}")
    return np.array(array != 0, dtype=np.bool_, order="C")


def _check_lengths(arrays: dict[str, np.ndarray]) -> None:
    """Every array has the same number of rows, else an error listing each array's count."""
    lengths = {name: int(array.shape[0]) for name, array in arrays.items()}
    if len(set(lengths.values())) != 1:
        listed = ", ".join(f"{name} {rows}" for name, rows in lengths.items())
        raise InvalidArgumentError(f"the arrays have inconsistent lengths (rows): {listed}")


def _json_ready(value: Any, key: str) -> Any:
    """``value`` as plain JSON data (numpy scalars and arrays, tuples and sets converted)."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (list, tuple)):
        return [_json_ready(item, key) for item in value]
    if isinstance(value, (set, frozenset)):
        return sorted(_json_ready(item, key) for item in value)
    if isinstance(value, dict):
        return {str(name): _json_ready(item, key) for name, item in value.items()}
    raise InvalidArgumentError(f"metadata key '{key}' holds a {type(value).__name__} ({value!r:.60}), which a .npz file "
                               f"cannot store; use numbers, strings, booleans, None, lists or dicts of them")


def episode_returns(rewards: np.ndarray, terminated: np.ndarray, truncated: np.ndarray,
                    episode_starts: np.ndarray) -> np.ndarray:
    """The undiscounted return of each episode whose last row is terminated or truncated (float64)."""
    n = rewards.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.float64)
    starts = np.flatnonzero(episode_starts)
    ends = np.append(starts[1:], n) - 1
    complete = terminated[ends] | truncated[ends]
    sums = np.add.reduceat(rewards.astype(np.float64), starts)
    return sums[complete]


def summary(rewards: np.ndarray, terminated: np.ndarray, truncated: np.ndarray,
            episode_starts: np.ndarray) -> dict[str, Any]:
    """The metadata entries that describe the data itself: counts and episode returns."""
    returns = episode_returns(rewards, terminated, truncated, episode_starts)
    with np.errstate(invalid="ignore", over="ignore"):  # rewards with NaN or Inf (check() reports them)
        mean = float(returns.mean()) if returns.size else None
        std = float(returns.std()) if returns.size else None
    return {
        "num_transitions": int(rewards.shape[0]),
        "num_episodes": int(np.count_nonzero(episode_starts)),
        "num_complete_episodes": int(returns.shape[0]),
        "mean_episode_return": mean,
        "std_episode_return": std,
    }


def npz_path(path: PathLike) -> Path:
    """``path`` as :meth:`Transitions.save_npz` writes it: ``.npz`` appended to another suffix."""
    target = Path(os.fsdecode(_checks.path(path)))
    return target if target.suffix == ".npz" else target.with_name(target.name + ".npz")


def starts_from_flags(terminated: np.ndarray, truncated: np.ndarray) -> np.ndarray:
    """Episode starts implied by the end flags: row 0 and every row after a terminated or truncated one."""
    starts = np.zeros(terminated.shape[0], dtype=np.bool_)
    if starts.size:
        starts[0] = True
        starts[1:] = terminated[:-1] | truncated[:-1]
    return starts


@dataclass(frozen=True, eq=False)
class Transitions:
    """A dataset of environment steps, one row per transition, in the environment's units.

    Rows are in the order they were collected; an episode is a run of rows from an
    ``episode_starts`` row to the row before the next one.

    Parameters
    ----------
    observations : array_like
        ``(n, *observation_shape)``, stored as float32.
    actions : array_like
        ``(n, action_dim)``, stored as float32, in the environment's units (within the action
        space's bounds; see :meth:`check`).
    rewards : array_like
        ``(n,)``, stored as float32.
    next_observations : array_like
        ``(n, *observation_shape)``: the observation after each action (for the last step of an
        episode, the final observation, not the next episode's first).
    terminated, truncated : array_like
        ``(n,)`` booleans (or 0 and 1): the episode ended at this step by reaching a terminal
        state, or was cut (a time limit, the end of a step budget) without one.
    episode_starts : array_like
        ``(n,)`` booleans: the row begins an episode. Row 0 must, and so must every row after a
        terminated or truncated one; a start after a row with neither flag means the episode
        before it was cut without being marked (it counts in :attr:`num_episodes` but not in
        :meth:`episode_returns`).
    metadata : dict
        Free-form description (:func:`flowrl.datasets.load` and :func:`flowrl.datasets.collect`
        fill ``dataset_id``, ``env_spec_id``, ``algorithm_name``, ``author``, ``num_episodes``,
        ``mean_episode_return``, ...). Copied.

    Raises
    ------
    InvalidArgumentError
        For arrays that are not real numbers (or booleans for the flags), of the wrong number of
        dimensions, of different lengths, or episode starts that contradict the end flags.

    Notes
    -----
    Every array is copied into its canonical dtype and made read-only, so a ``Transitions`` never
    changes after it was built. Values are not checked for NaN, Inf or bounds here: that is
    :meth:`check`'s job, which also compares the arrays with an environment's spaces.
    """

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_observations: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    episode_starts: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        converted = {name: _float_array(getattr(self, name), name)
                     for name in ("observations", "actions", "rewards", "next_observations")}
        converted.update({name: _flag_array(getattr(self, name), name) for name in _FLAGS})
        observations, actions = converted["observations"], converted["actions"]
        if observations.ndim < 2:
            raise InvalidArgumentError(f"observations have shape {observations.shape}; expected (n, *observation_shape) "
                                       f"with at least 2 dimensions (one row per transition)")
        if actions.ndim != 2:
            raise InvalidArgumentError(f"actions have shape {actions.shape}; expected (n, action_dim)"
                                       + (" (for one-dimensional actions, pass actions.reshape(-1, 1))" if actions.ndim == 1 else ""))
        for name in ("rewards", *_FLAGS):
            if converted[name].ndim != 1:
                raise InvalidArgumentError(f"{name} have shape {converted[name].shape}; expected (n,)")
        if converted["next_observations"].shape[1:] != observations.shape[1:]:
            raise InvalidArgumentError(f"next_observations have shape {converted['next_observations'].shape}, observations "
                                       f"{observations.shape}; each row must have the same shape")
        _check_lengths(converted)
        starts, ends = converted["episode_starts"], converted["terminated"] | converted["truncated"]
        if starts.size and not starts[0]:
            raise InvalidArgumentError("episode_starts[0] is False; the first row must start an episode")
        missing = ~starts[1:] & ends[:-1]
        if missing.any():
            row = int(np.argmax(missing)) + 1
            raise InvalidArgumentError(f"episode_starts[{row}] is False, but row {row - 1} ends an episode "
                                       f"(terminated or truncated); the row after an episode's end must start one")
        if not isinstance(self.metadata, dict):
            raise InvalidArgumentError(f"metadata must be a dict, got {type(self.metadata).__name__}")
        for name, array in converted.items():
            array.setflags(write=False)
            object.__setattr__(self, name, array)
        object.__setattr__(self, "metadata", dict(self.metadata))

    # ------------------------------------------------------------------ construction and files

    @classmethod
    def from_arrays(cls, observations: Any, actions: Any, rewards: Any, next_observations: Any, terminated: Any,
                    truncated: Any = None, episode_starts: Any = None,
                    metadata: Optional[dict[str, Any]] = None) -> Transitions:
        """Transitions from arrays, with the flags that are not given derived from the others.

        Parameters
        ----------
        observations, actions, rewards, next_observations, terminated
            As for the class.
        truncated : array_like, optional
            All False when omitted.
        episode_starts : array_like, optional
            When omitted: row 0 and every row after a terminated or truncated row.
        metadata : dict, optional
            Entries describing the data; the counts and returns (``num_transitions``,
            ``num_episodes``, ``mean_episode_return``, ...) are added where missing.

        Returns
        -------
        Transitions
        """
        ended = _flag_array(terminated, "terminated")
        cut = np.zeros(ended.shape, dtype=np.bool_) if truncated is None else _flag_array(truncated, "truncated")
        if cut.shape != ended.shape:
            raise InvalidArgumentError(f"truncated have shape {cut.shape}, terminated {ended.shape}; expected the same")
        starts = starts_from_flags(ended.reshape(-1), cut.reshape(-1)) if episode_starts is None else episode_starts
        transitions = cls(observations, actions, rewards, next_observations, ended, cut, starts, dict(metadata or {}))
        described = {**transitions.summary(), **transitions.metadata}
        object.__setattr__(transitions, "metadata", described)
        return transitions

    def save_npz(self, path: PathLike) -> Path:
        """Writes the arrays and the metadata (as JSON) to an uncompressed ``.npz`` file.

        The file is written beside its destination and renamed into place, so an interrupted
        write leaves no partial file. Read it back with :meth:`load_npz` or
        :func:`flowrl.datasets.load` (neither needs Minari).

        Parameters
        ----------
        path : str or os.PathLike
            Where to write; ``.npz`` is appended when the name has another suffix (as
            :func:`numpy.savez` does).

        Returns
        -------
        pathlib.Path
            The file written.

        Raises
        ------
        InvalidArgumentError
            For a metadata value JSON cannot hold, or a path whose directory does not exist.
        """
        target = npz_path(path)
        if not target.parent.is_dir():
            raise InvalidArgumentError(f"cannot write {target}: the directory {target.parent} does not exist")
        metadata = json.dumps({str(key): _json_ready(value, str(key)) for key, value in self.metadata.items()})
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(handle, "wb") as file:
                np.savez(file, format=np.array(NPZ_FORMAT), metadata=np.array(metadata),
                         **{name: getattr(self, name) for name in _ARRAYS})
            os.replace(temporary, target)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise
        return target

    @classmethod
    def load_npz(cls, path: PathLike) -> Transitions:
        """Reads a file written by :meth:`save_npz` (without pickles: no code runs on reading).

        Raises
        ------
        InvalidArgumentError
            If the file is missing, is not a ``.npz`` archive, or is not one written by
            :meth:`save_npz` (naming the missing entries), or its arrays are inconsistent.
        """
        source = Path(os.fsdecode(_checks.path(path)))
        if not source.is_file():
            raise InvalidArgumentError(f"no such file: {source}")
        try:
            archive = np.load(source, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise InvalidArgumentError(f"{source} is not a .npz file written by Transitions.save_npz: {error}") from None
        if not hasattr(archive, "files"):
            raise InvalidArgumentError(f"{source} holds a single array, not a .npz archive written by Transitions.save_npz")
        with archive:
            missing = [name for name in ("format", "metadata", *_ARRAYS) if name not in archive.files]
            if missing:
                raise InvalidArgumentError(f"{source} is not a file written by Transitions.save_npz: it lacks "
                                           f"{', '.join(missing)}")
            try:
                written_format = str(archive["format"][()])
                text = str(archive["metadata"][()])
                arrays = {name: archive[name] for name in _ARRAYS}
            except ValueError as error:  # an object array needs pickles, which are refused
                raise InvalidArgumentError(f"{source} holds an entry that cannot be read without pickles: {error}") from None
        if written_format != NPZ_FORMAT:
            raise InvalidArgumentError(f"{source} has format {written_format!r}; this flowrl reads {NPZ_FORMAT!r}")
        try:
            metadata = json.loads(text)
        except json.JSONDecodeError as error:
            raise InvalidArgumentError(f"{source}: the metadata entry is not valid JSON: {error}") from None
        if not isinstance(metadata, dict):
            raise InvalidArgumentError(f"{source}: the metadata entry is a JSON {type(metadata).__name__}, not an object")
        return cls(**arrays, metadata=metadata)

    # ------------------------------------------------------------------ description

    def __len__(self) -> int:
        return int(self.rewards.shape[0])

    def __eq__(self, other: object) -> bool:
        """Equal when every array (shape, dtype and values) and the metadata are equal."""
        if not isinstance(other, Transitions):
            return NotImplemented
        return (all(getattr(self, name).shape == getattr(other, name).shape
                    and np.array_equal(getattr(self, name), getattr(other, name)) for name in _ARRAYS)
                and self.metadata == other.metadata)

    __hash__ = None  # type: ignore[assignment]  # mutable metadata; equality is by value

    def __repr__(self) -> str:
        identifier = self.metadata.get("dataset_id")
        named = f" {identifier!r}" if identifier else ""
        return (f"Transitions({len(self)} transitions, {self.num_episodes} episodes{named}, "
                f"observations {self.observation_shape}, actions ({self.action_dim},))")

    @property
    def observation_shape(self) -> tuple[int, ...]:
        """The shape of one observation."""
        return tuple(int(size) for size in self.observations.shape[1:])

    @property
    def action_dim(self) -> int:
        """The number of action components."""
        return int(self.actions.shape[1])

    @property
    def num_episodes(self) -> int:
        """Episodes begun in the data (rows with ``episode_starts``), complete or not."""
        return int(np.count_nonzero(self.episode_starts))

    def episode_returns(self) -> np.ndarray:
        """The undiscounted return of each complete episode, in order.

        An episode is complete when its last row is terminated or truncated (the last episode of
        :func:`flowrl.datasets.collect`, cut by the step budget, is marked truncated and counts).

        Returns
        -------
        numpy.ndarray
            float64, one entry per complete episode.
        """
        return episode_returns(self.rewards, self.terminated, self.truncated, self.episode_starts)

    def summary(self) -> dict[str, Any]:
        """``num_transitions``, ``num_episodes``, ``num_complete_episodes``, and the mean and
        standard deviation of :meth:`episode_returns` (None without a complete episode)."""
        return summary(self.rewards, self.terminated, self.truncated, self.episode_starts)

    # ------------------------------------------------------------------ checks

    def check(self, observation_space: Any = None, action_space: Any = None) -> None:
        """Checks that the data is usable, and fits the spaces when they are given.

        Parameters
        ----------
        observation_space : gymnasium.spaces.Box, Dict or Tuple, optional
            Each observation row must have its shape; for a ``Dict`` / ``Tuple`` space, the shape
            of its flattening (``(n,)``, gymnasium's ``spaces.flatten_space``), which is how
            :func:`flowrl.datasets.load` stores such observations.
        action_space : gymnasium.spaces.Box, optional
            One-dimensional; each action row must have its size and lie within its bounds, up to
            ``1e-5`` of the bound's range (the amount flowrl's agents clip without complaint).

        Raises
        ------
        InvalidArgumentError
            For arrays of different lengths, an empty dataset, a space that is not a Box (or a
            multi-dimensional action space), a shape that does not match, NaN or Inf in any array
            (naming the array and the first bad row), or an action outside the bounds (naming the
            row, the component and the bound).
        """
        _check_lengths({name: getattr(self, name) for name in _ARRAYS})
        if len(self) == 0:
            raise InvalidArgumentError("the dataset is empty (0 transitions)")
        if observation_space is not None:
            if _spaces.is_structured(observation_space):
                _spaces.check(observation_space)
                observation_space = _spaces.Layout(observation_space).flat_space
            if not isinstance(observation_space, spaces.Box):
                raise InvalidArgumentError(f"the observation space must be a gymnasium Box, Dict or Tuple, got "
                                           f"{observation_space}")
            if self.observation_shape != tuple(observation_space.shape):
                raise InvalidArgumentError(f"observations have shape {self.observation_shape} per row; the observation "
                                           f"space has shape {tuple(observation_space.shape)}")
        if action_space is not None:
            if not isinstance(action_space, spaces.Box) or len(action_space.shape) != 1:
                raise InvalidArgumentError(f"the action space must be a one-dimensional gymnasium Box, got {action_space}")
            if self.action_dim != action_space.shape[0]:
                raise InvalidArgumentError(f"actions have {self.action_dim} dimensions per row; the action space has "
                                           f"{action_space.shape[0]}")
        for name in ("observations", "actions", "rewards", "next_observations"):
            array = getattr(self, name)
            if not _checks._all_finite(array):
                bad = ~np.isfinite(array)
                raise InvalidArgumentError(f"{name} contain NaN or Inf: the first at {_row_and_column(bad)} "
                                           f"({array[np.unravel_index(int(np.argmax(bad)), bad.shape)]})")
        if action_space is not None:
            self._check_bounds(action_space)

    def _check_bounds(self, action_space: spaces.Box) -> None:
        low = np.asarray(action_space.low, dtype=np.float64)
        high = np.asarray(action_space.high, dtype=np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            tolerance = np.where(np.isfinite(high - low), ACTION_TOLERANCE * (high - low), 0.0)
        actions = self.actions.astype(np.float64)
        for bound, beyond, word in ((low, actions < low - tolerance, "below the low"),
                                    (high, actions > high + tolerance, "above the high")):
            if beyond.any():
                row, column = np.unravel_index(int(np.argmax(beyond)), beyond.shape)
                count = int(np.count_nonzero(beyond.any(axis=1)))
                space_bound = (action_space.low if bound is low else action_space.high)[column]
                raise InvalidArgumentError(
                    f"actions[{row}, {column}] = {self.actions[row, column]!s} is {word} bound {space_bound!s} of the "
                    f"action space (tolerance {float(tolerance[column]):.3g}); {count} row(s) have an action outside "
                    f"the bounds")
