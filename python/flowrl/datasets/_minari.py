"""Reading and writing Minari datasets through Minari's public API (imported only when needed).

A Minari episode of ``T`` steps holds ``T + 1`` observations (the one after ``reset`` and one
after each step) and ``T`` actions, rewards, terminations and truncations; step ``t`` becomes the
transition ``(observations[t], actions[t], rewards[t], observations[t + 1], terminations[t],
truncations[t])``, the first of each episode marked in ``episode_starts``.
"""

from __future__ import annotations

import os
import re
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Optional

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .. import _spaces
from ..errors import InvalidArgumentError
from ._transitions import Transitions, summary

#: What to install for Minari support (named in every ImportError).
INSTALL_HINT = 'pip install "flowrl[datasets]"'

_ID_PART = re.compile(r"[A-Za-z0-9_][-\w]*")
_VERSION = re.compile(r".+-v\d+")


def import_minari() -> ModuleType:
    """The ``minari`` module, with what its HDF5 storage imports (h5py, Pillow).

    Raises
    ------
    ImportError
        Naming the package that is missing and the extra that installs it.
    """
    try:
        import h5py  # noqa: F401  (Minari's HDF5 storage; its [hdf5] extra)
        import minari
        import PIL  # noqa: F401  (imported by Minari 0.5's HDF5 storage, not listed by its [hdf5] extra)
    except ImportError as error:
        raise ImportError(f"reading or writing Minari datasets needs minari 0.5 with its HDF5 storage "
                          f"({error.name or error} is missing); install them with: {INSTALL_HINT}") from error
    return minari


def minari_root() -> Path:
    """The local Minari root: ``$MINARI_DATASETS_PATH``, else ``~/.minari/datasets`` (as Minari decides)."""
    configured = os.environ.get("MINARI_DATASETS_PATH")
    if configured is not None:
        return Path(configured)
    return Path.home() / ".minari" / "datasets"


def _root_description() -> str:
    root = minari_root()
    if os.environ.get("MINARI_DATASETS_PATH") is not None:
        return f"{root} (MINARI_DATASETS_PATH)"
    return f"{root} (the default; set MINARI_DATASETS_PATH to search elsewhere)"


def local_dataset_ids(limit: int = 20) -> list[str]:
    """Ids of the datasets under the local Minari root (directories holding ``data/metadata.json``)."""
    root = minari_root()
    found: list[str] = []
    if not root.is_dir():
        return found
    for metadata in sorted(root.glob("**/data/metadata.json")):
        relative = metadata.parent.parent.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue  # a backup or a half-written dataset (see write_minari)
        found.append(relative.as_posix())
        if len(found) >= limit:
            break
    return found


def check_dataset_id(dataset_id: Any, name: str = "dataset_id") -> str:
    """``dataset_id`` if it is a valid Minari id ``[namespace/...]name-vN``, else an error saying why."""
    if not isinstance(dataset_id, str):
        raise InvalidArgumentError(f"{name} must be a str such as 'pendulum/flowrl-medium-v0', got "
                                   f"{type(dataset_id).__name__} {dataset_id!r}")
    parts = dataset_id.split("/")
    if not all(_ID_PART.fullmatch(part) for part in parts) or not _VERSION.fullmatch(parts[-1]):
        raise InvalidArgumentError(
            f"{name} {dataset_id!r} is not a Minari dataset id: expected [namespace/]name-vN, each part made of "
            f"letters, digits, '-' and '_' (not starting with '-'), parts separated by '/', the last ending in a "
            f"version such as -v0 (e.g. 'pendulum/flowrl-medium-v0')")
    return dataset_id


def _missing_id_message(dataset_id: str) -> str:
    known = local_dataset_ids()
    listed = (f"; datasets there: {', '.join(known)}" if known else "; there is no dataset there")
    return (f"no Minari dataset {dataset_id!r} in the local Minari root {_root_description()}{listed}. flowrl never "
            f"downloads datasets: make one with flowrl.datasets.collect(env, policy, total_steps, "
            f"dataset_id={dataset_id!r}) or scripts/make_datasets.py, or download a published one with Minari's "
            f"own command (minari download {dataset_id})")


def open_id(dataset_id: str) -> Any:
    """The ``minari.MinariDataset`` of a local id (never downloaded)."""
    directory = minari_root() / dataset_id
    if not (directory / "data").is_dir():
        raise InvalidArgumentError(_missing_id_message(dataset_id))
    minari = import_minari()
    try:
        return minari.load_dataset(dataset_id, download=False)
    except (ValueError, OSError, KeyError) as error:
        raise InvalidArgumentError(f"cannot read the Minari dataset {dataset_id!r} at {directory}: {error}") from None


def open_directory(directory: Path) -> Any:
    """The ``minari.MinariDataset`` in ``directory`` (a dataset's directory, or its ``data`` subdirectory)."""
    if (directory / "data" / "metadata.json").is_file():
        data = directory / "data"
    elif (directory / "metadata.json").is_file():
        data = directory
    else:
        raise InvalidArgumentError(f"{directory} is a directory but not a Minari dataset: it has neither "
                                   f"data/metadata.json nor metadata.json")
    minari = import_minari()
    try:
        return minari.MinariDataset(str(data))
    except (ValueError, OSError, KeyError) as error:
        raise InvalidArgumentError(f"cannot read the Minari dataset at {data}: {error}") from None


def is_minari_dataset(value: Any) -> bool:
    """Whether ``value`` looks like a ``minari.MinariDataset`` (duck typing: Minari is not imported)."""
    return all(hasattr(value, name) for name in ("iterate_episodes", "observation_space", "action_space"))


def _author(value: Any) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, (set, frozenset, list, tuple)):
        return ", ".join(sorted(str(item) for item in value))
    return str(value)


def _describe(dataset: Any) -> dict[str, Any]:
    """Metadata of a MinariDataset: its id, env, algorithm, author, reference scores."""
    raw: dict[str, Any] = {}
    storage = getattr(dataset, "storage", None)
    if storage is not None:
        try:
            raw = dict(storage.metadata)
        except (OSError, ValueError):
            raw = {}
    env_spec = getattr(dataset, "env_spec", None)
    described: dict[str, Any] = {
        "source": "minari",
        "dataset_id": getattr(dataset, "id", None) or raw.get("dataset_id"),
        "env_spec_id": getattr(env_spec, "id", None),
        "algorithm_name": raw.get("algorithm_name"),
        "author": _author(raw.get("author")),
        "description": raw.get("description"),
        "ref_min_score": raw.get("ref_min_score"),
        "ref_max_score": raw.get("ref_max_score"),
        "minari_version": getattr(dataset, "minari_version", None) or raw.get("minari_version"),
    }
    if storage is not None and getattr(storage, "data_path", None) is not None:
        described["data_path"] = str(storage.data_path)
    return described


def from_minari(dataset: Any) -> Transitions:
    """The transitions of every episode of a ``minari.MinariDataset`` (see the module's docstring).

    Raises
    ------
    InvalidArgumentError
        For a space that is not a Box (a one-dimensional Box for actions), or an episode whose
        arrays do not have the lengths and shapes a Minari episode must have.
    """
    name = repr(getattr(dataset, "id", None) or "(unnamed)")
    observation_space, action_space = dataset.observation_space, dataset.action_space
    layout = None
    if _spaces.is_structured(observation_space):
        try:
            layout = _spaces.Layout(observation_space)
        except InvalidArgumentError as error:
            raise InvalidArgumentError(f"Minari dataset {name}: {error}") from None
        observation_space = layout.flat_space
    elif not isinstance(observation_space, spaces.Box):
        raise InvalidArgumentError(
            f"Minari dataset {name} has the observation space {observation_space}; flowrl.datasets reads Box "
            f"observation spaces, and Dict and Tuple spaces of Box, Discrete and MultiBinary (flattened)")
    if not isinstance(action_space, spaces.Box) or len(action_space.shape) != 1:
        raise InvalidArgumentError(f"Minari dataset {name} has the action space {action_space}; flowrl.datasets reads "
                                   f"one-dimensional Box action spaces only")
    observation_shape, action_dim = tuple(observation_space.shape), int(action_space.shape[0])
    parts: dict[str, list[np.ndarray]] = {key: [] for key in ("observations", "next_observations", "actions", "rewards",
                                                               "terminated", "truncated", "episode_starts")}
    for index, episode in enumerate(dataset.iterate_episodes()):
        episode_id = getattr(episode, "id", index)
        observations = episode.observations
        if layout is not None:  # a dict (tuple) of (T + 1, ...) arrays: flattened as gymnasium does
            observations, _ = layout.flatten(observations, f"episode {episode_id} of Minari dataset {name}: observations")
        elif isinstance(observations, (dict, tuple)):
            raise InvalidArgumentError(f"episode {episode_id} of Minari dataset {name} has {type(observations).__name__} "
                                       f"observations for the Box observation space {observation_space}")
        observations = np.asarray(observations)
        actions = np.asarray(episode.actions)
        rewards = np.asarray(episode.rewards).reshape(-1)
        terminations = np.asarray(episode.terminations).reshape(-1)
        truncations = np.asarray(episode.truncations).reshape(-1)
        steps = rewards.shape[0]
        if steps == 0:
            continue
        where = f"episode {episode_id} of Minari dataset {name}"
        if observations.shape != (steps + 1, *observation_shape):
            raise InvalidArgumentError(f"{where} has observations of shape {observations.shape} for {steps} steps; "
                                       f"expected {(steps + 1, *observation_shape)} (one more than the steps)")
        if actions.shape != (steps, action_dim):
            raise InvalidArgumentError(f"{where} has actions of shape {actions.shape} for {steps} steps; "
                                       f"expected {(steps, action_dim)}")
        for flag_name, flag in (("terminations", terminations), ("truncations", truncations)):
            if flag.shape[0] != steps:
                raise InvalidArgumentError(f"{where} has {flag.shape[0]} {flag_name} for {steps} steps")
        starts = np.zeros(steps, dtype=np.bool_)
        starts[0] = True
        parts["observations"].append(observations[:-1])
        parts["next_observations"].append(observations[1:])
        parts["actions"].append(actions)
        parts["rewards"].append(rewards)
        parts["terminated"].append(terminations.astype(np.bool_))
        parts["truncated"].append(truncations.astype(np.bool_))
        parts["episode_starts"].append(starts)
    if parts["rewards"]:
        arrays = {key: np.concatenate(values) for key, values in parts.items()}
    else:
        arrays = {"observations": np.zeros((0, *observation_shape), np.float32),
                  "next_observations": np.zeros((0, *observation_shape), np.float32),
                  "actions": np.zeros((0, action_dim), np.float32), "rewards": np.zeros(0, np.float32),
                  **{key: np.zeros(0, np.bool_) for key in ("terminated", "truncated", "episode_starts")}}
    metadata = {**_describe(dataset), **summary(arrays["rewards"], arrays["terminated"], arrays["truncated"],
                                                arrays["episode_starts"])}
    return Transitions(metadata=metadata, **arrays)


# ---------------------------------------------------------------------- writing


@dataclass
class Episode:
    """One collected episode as Minari stores it: ``T + 1`` observations, ``T`` of the rest."""

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminations: np.ndarray
    truncations: np.ndarray
    seed: Optional[int]
    #: for a Dict / Tuple observation space, the observations as the env gave them (a dict or
    #: tuple of ``(T + 1, ...)`` arrays), which Minari writes; ``observations`` is their flattening
    structured_observations: Any = None


def dataset_directory(dataset_id: str) -> Path:
    return minari_root() / dataset_id


def check_writable(dataset_id: str, overwrite: bool) -> None:
    """Refuses an existing id unless ``overwrite``, and a path that exists but is no dataset."""
    directory = dataset_directory(dataset_id)
    if not os.path.lexists(directory):
        return
    if not overwrite:
        raise InvalidArgumentError(f"a Minari dataset {dataset_id!r} already exists at {directory}; pass overwrite=True "
                                   f"to replace it, or choose another id (another name or version)")
    if not (directory / "data" / "metadata.json").is_file():
        raise InvalidArgumentError(f"{directory} exists but is not a Minari dataset (no data/metadata.json); "
                                   f"flowrl does not remove it, even with overwrite=True")


def write_minari(dataset_id: str, episodes: list[Episode], env: Any, observation_space: spaces.Space,
                 action_space: spaces.Box, *, author: Optional[str], algorithm_name: Optional[str],
                 ref_min_score: Optional[float], ref_max_score: Optional[float], description: Optional[str],
                 overwrite: bool) -> Path:
    """Writes ``episodes`` as the Minari dataset ``dataset_id`` with ``minari.create_dataset_from_buffers``.

    An existing dataset (``overwrite``) is moved aside first and removed only once the new one is
    written; if writing fails, the partial dataset is removed and the old one put back.

    Returns
    -------
    pathlib.Path
        The dataset's directory.
    """
    minari = import_minari()
    episode_buffer = minari.data_collector.EpisodeBuffer  # minari 0.5's episode buffer (no JAX needed to build one)
    check_writable(dataset_id, overwrite)
    directory = dataset_directory(dataset_id)
    backup: Optional[Path] = None
    if os.path.lexists(directory):
        backup = directory.with_name(f".{directory.name}.replaced-{os.getpid()}")
        if os.path.lexists(backup):
            shutil.rmtree(backup)
        os.replace(directory, backup)
    buffers = [episode_buffer(id=index, seed=episode.seed, actions=episode.actions,
                              observations=(episode.observations if episode.structured_observations is None
                                            else episode.structured_observations),
                              rewards=episode.rewards, terminations=episode.terminations,
                              truncations=episode.truncations)
               for index, episode in enumerate(episodes)]
    # Minari records the env's spec from a gymnasium.Env; without one it takes the spaces alone.
    recorded_env = env if isinstance(env, gym.Env) and getattr(env, "spec", None) is not None else None
    try:
        with warnings.catch_warnings():
            # Minari warns for every optional field left out (code_permalink, author_email, eval_env, ...).
            warnings.filterwarnings("ignore", message=r"`\w+` is set to None", category=UserWarning)
            minari.create_dataset_from_buffers(
                dataset_id, buffers, env=recorded_env, observation_space=observation_space,
                action_space=action_space, algorithm_name=algorithm_name, author=author, ref_min_score=ref_min_score,
                ref_max_score=ref_max_score, description=description)
    except BaseException:
        if os.path.lexists(directory):
            shutil.rmtree(directory)
        if backup is not None:
            os.replace(backup, directory)
        raise
    if backup is not None:
        shutil.rmtree(backup)
    return directory
