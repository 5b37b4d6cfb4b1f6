"""What the training layer's helpers need of an agent, as structural types.

Evaluation and callbacks are written against these protocols rather than against
:class:`flowrl.Agent`, so that they import no agent class and the agent's modules can import them.
A flowrl agent satisfies both; so does a Stable-Baselines3 model.
"""

from __future__ import annotations

import os
from typing import Any, Protocol, Union

import numpy as np

from .logger import Logger

PathLike = Union[str, "os.PathLike[str]"]


class Predictor(Protocol):
    """Anything that acts like Stable-Baselines3's ``predict``."""

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = False) -> tuple[np.ndarray, Any]:
        """Actions for one observation ``observation_space.shape`` or a batch ``(n, ...)``, in
        the environment's units, and the recurrent state (None for flowrl)."""
        ...


class TrainingModel(Predictor, Protocol):
    """What a callback uses of the agent being trained (``callback.model``)."""

    #: Transitions collected by ``learn`` so far.
    num_timesteps: int

    @property
    def logger(self) -> Logger:
        """The logger ``learn`` writes its rows to."""
        ...

    def save(self, path: PathLike, include_replay_buffer: bool = False) -> None:
        """Writes a checkpoint to ``path``."""
        ...

    def get_env(self) -> Any:
        """The training env with Stable-Baselines3's ``VecEnv`` interface (``callback.training_env``)."""
        ...
