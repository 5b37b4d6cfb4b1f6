"""Offline datasets: Minari datasets and ``.npz`` files as flat transitions, and collecting new ones.

>>> import gymnasium as gym
>>> from flowrl import datasets
>>> env = gym.make("Pendulum-v1")
>>> data = datasets.collect(env, lambda observation: env.action_space.sample(), total_steps=500, seed=0)
>>> len(data), data.num_episodes
(500, 3)
>>> data.check(env.observation_space, env.action_space)

:func:`load` reads a Minari dataset (by id from the local Minari root, by directory, or an
already opened ``minari.MinariDataset``) or an ``.npz`` file written by
:meth:`Transitions.save_npz`; :func:`collect` rolls a policy out and can write both. Minari is an
optional dependency (``pip install "flowrl[datasets]"``), imported only when a Minari dataset is
read or written; nothing here ever downloads a dataset.

The package imports no agent: policies are taken by duck typing (``predict`` or a callable).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import InvalidArgumentError
from ._collect import collect
from ._minari import from_minari, is_minari_dataset, local_dataset_ids, minari_root, open_directory, open_id
from ._transitions import ACTION_TOLERANCE, NPZ_FORMAT, Transitions

__all__ = [
    "ACTION_TOLERANCE",
    "NPZ_FORMAT",
    "Transitions",
    "as_transitions",
    "collect",
    "is_dataset",
    "load",
    "local_dataset_ids",
    "minari_root",
]


def is_dataset(value: Any) -> bool:
    """Whether :func:`load` would take ``value`` as a dataset rather than as an array: a
    :class:`Transitions`, a ``minari.MinariDataset`` (duck-typed), or a str / os.PathLike (an id or
    a path)."""
    return isinstance(value, (Transitions, str, os.PathLike)) or is_minari_dataset(value)


def load(dataset: Any) -> Transitions:
    """The transitions of a dataset.

    Parameters
    ----------
    dataset : str, os.PathLike, minari.MinariDataset or Transitions
        - the path of an ``.npz`` file written by :meth:`Transitions.save_npz` (read without
          Minari);
        - the path of a Minari dataset's directory (the one holding ``data/``, or ``data/`` itself);
        - a Minari dataset id such as ``"pendulum/flowrl-medium-v0"``, looked up in the local
          Minari root (``$MINARI_DATASETS_PATH``, else ``~/.minari/datasets``) and never
          downloaded;
        - an opened ``minari.MinariDataset`` (anything with ``iterate_episodes``,
          ``observation_space`` and ``action_space``; only its selected episodes are read);
        - a :class:`Transitions`, returned as it is.

        An existing path wins over an id of the same spelling.

    Returns
    -------
    Transitions
        With ``metadata`` describing the source (``dataset_id``, ``env_spec_id``,
        ``algorithm_name``, ``author``, ``num_episodes``, ``mean_episode_return``, ...). Values are
        not checked: :meth:`Transitions.check` (or :func:`as_transitions`) does that.

    Raises
    ------
    InvalidArgumentError
        For an id not in the local Minari root (naming the root and how to make the dataset), a
        directory that is not a Minari dataset, a file that is not one written by ``save_npz``, a
        Minari dataset whose spaces are not Box (Dict observations, for instance), or a value of
        another type.
    ImportError
        When a Minari dataset is to be read and Minari is not installed (``pip install
        "flowrl[datasets]"``).
    """
    if isinstance(dataset, Transitions):
        return dataset
    if is_minari_dataset(dataset):
        return from_minari(dataset)
    if isinstance(dataset, (str, bytes, os.PathLike)):
        text = os.fsdecode(dataset)
        if not text:
            raise InvalidArgumentError("dataset is an empty string; expected a Minari dataset id or a path")
        if text.endswith(".npz") or os.path.isfile(text):
            return Transitions.load_npz(text)
        if os.path.isdir(text):
            return from_minari(open_directory(Path(text)))
        return from_minari(open_id(text))
    raise InvalidArgumentError(f"dataset must be a Minari dataset id, the path of a Minari dataset or of an .npz file, "
                               f"a minari.MinariDataset or a flowrl.datasets.Transitions, got {type(dataset).__name__}")


def as_transitions(dataset: Any, observation_space: Any = None, action_space: Any = None) -> Transitions:
    """:func:`load` then :meth:`Transitions.check`: checked transitions from anything ``load`` takes.

    This is the one call for code that accepts "a dataset" (an agent's ``pretrain``, for instance).

    Parameters
    ----------
    dataset
        As for :func:`load`.
    observation_space, action_space : gymnasium.spaces.Box, optional
        When given, the data must fit them (shapes, and actions within the bounds).

    Returns
    -------
    Transitions

    Raises
    ------
    InvalidArgumentError
        As :func:`load`, and for data :meth:`Transitions.check` refuses: empty, NaN or Inf, shapes
        or bounds that do not fit the spaces.
    """
    transitions = load(dataset)
    transitions.check(observation_space, action_space)
    return transitions
