"""Environment stepping shared by :meth:`flowrl.Agent.learn` and :mod:`flowrl.evaluation`.

:class:`EnvBatch` shows a single gymnasium env or a gymnasium vector env as a batch of
sub-envs and hides Gymnasium's autoreset modes. Every :meth:`EnvBatch.step` says which sub-envs
made a *real* transition (the step of a NEXT_STEP autoreset is not one: it only resets), gives the
true next observation of each real transition (the final observation where an episode ended, not
the reset one), and reports the episodes that finished (return, length).

Autoreset modes (``env.metadata["autoreset_mode"]``, default NEXT_STEP; gymnasium 0.29's vector
envs, which do not declare it, are SAME_STEP):

- NEXT_STEP: the step after an episode ends returns the reset observation and ignores the action.
- SAME_STEP: the ending step returns the reset observation; the final one is in
  ``info["final_obs"]`` (gymnasium 0.29: ``info["final_observation"]``).
- DISABLED: sub-envs are reset here with ``env.reset(options={"reset_mask": done})``. A single
  (non-vector) env is handled this way, reset as soon as its episode ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

NEXT_STEP = "NextStep"
SAME_STEP = "SameStep"
DISABLED = "Disabled"
_MODE_NAMES = {"nextstep": NEXT_STEP, "next_step": NEXT_STEP, "samestep": SAME_STEP, "same_step": SAME_STEP,
               "disabled": DISABLED}


def is_vector_env(env: Any) -> bool:
    """True for a gymnasium vector env."""
    try:
        from gymnasium.vector import VectorEnv
    except ImportError:  # pragma: no cover
        return False
    return isinstance(env, VectorEnv)


def autoreset_mode(env: Any) -> str:
    """The autoreset mode of a vector env: ``"NextStep"``, ``"SameStep"`` or ``"Disabled"``."""
    mode = (getattr(env, "metadata", None) or {}).get("autoreset_mode")
    if mode is None:
        mode = getattr(env, "autoreset_mode", None)
    if mode is None:
        import gymnasium

        return SAME_STEP if gymnasium.__version__.startswith("0.") else NEXT_STEP
    text = str(getattr(mode, "value", mode))
    try:
        return _MODE_NAMES[text.lower()]
    except KeyError:
        raise ValueError(f"unknown autoreset mode {mode!r}") from None


@dataclass
class Step:
    """The outcome of one :meth:`EnvBatch.step` for ``n`` sub-envs.

    Attributes
    ----------
    observations : numpy.ndarray
        ``(n, *obs_shape)`` float32: what to act on next (reset observations where episodes ended).
    real : numpy.ndarray
        ``(n,)`` bool: the sub-envs whose step was a real transition.
    rewards, terminated, truncated : numpy.ndarray
        ``(n,)``; meaningful where ``real``.
    next_observations : numpy.ndarray
        ``(n, *obs_shape)`` float32: the true next observation of each real transition.
    infos : Any
        The env's info (a dict of arrays for a vector env, a dict for a single env).
    finished : list of (float, int)
        Return and length of each episode that ended in this step.
    """

    observations: np.ndarray
    real: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    next_observations: np.ndarray
    infos: Any
    finished: list[tuple[float, int]]

    @property
    def dones(self) -> np.ndarray:
        """``terminated | truncated`` for real transitions."""
        return (self.terminated | self.truncated) & self.real


class EnvBatch:
    """A single env or a vector env as a batch of ``num_envs`` sub-envs.

    Parameters
    ----------
    env : gymnasium.Env or gymnasium.vector.VectorEnv
    """

    def __init__(self, env: Any) -> None:
        self.env = env
        self.is_vector = is_vector_env(env)
        self.num_envs = int(env.num_envs) if self.is_vector else 1
        self.mode = autoreset_mode(env) if self.is_vector else DISABLED
        self._pending_reset = np.zeros(self.num_envs, dtype=bool)
        self._returns = np.zeros(self.num_envs, dtype=np.float64)
        self._lengths = np.zeros(self.num_envs, dtype=np.int64)

    def reset(self, seed: Optional[int] = None) -> np.ndarray:
        """Resets every sub-env; returns the ``(n, *obs_shape)`` float32 observations."""
        observations, _ = self.env.reset(seed=seed)
        self._pending_reset[:] = False
        self._returns[:] = 0.0
        self._lengths[:] = 0
        return self._batch(observations)

    def _batch(self, observations: Any) -> np.ndarray:
        array = np.array(observations, dtype=np.float32)  # a copy: vector envs may reuse their buffer
        return array if self.is_vector else array[None]

    def step(self, actions: np.ndarray) -> Step:
        """Steps every sub-env with ``actions`` (``(n, action_size)``, within the bounds)."""
        if self.is_vector:
            observations, rewards, terminated, truncated, infos = self.env.step(actions)
        else:
            observation, reward, term, trunc, infos = self.env.step(actions[0])
            observations, rewards, terminated, truncated = observation, [reward], [term], [trunc]
        observations = self._batch(observations)
        rewards = np.asarray(rewards, dtype=np.float64).reshape(self.num_envs)
        terminated = np.asarray(terminated, dtype=bool).reshape(self.num_envs)
        truncated = np.asarray(truncated, dtype=bool).reshape(self.num_envs)
        real = ~self._pending_reset
        done = (terminated | truncated) & real
        next_observations = observations

        if self.mode == SAME_STEP and done.any():
            next_observations = observations.copy()
            final = infos.get("final_obs", infos.get("final_observation"))
            mask = infos.get("_final_obs", infos.get("_final_observation", done))
            if final is None:
                raise RuntimeError("a SAME_STEP vector env ended an episode without info['final_obs']")
            for index in np.flatnonzero(np.asarray(mask, dtype=bool) & done):
                next_observations[index] = np.asarray(final[index], dtype=np.float32)
        elif self.mode == DISABLED and done.any():
            if self.is_vector:
                reset_observations, _ = self.env.reset(options={"reset_mask": done.copy()})
                observations = np.where(done.reshape((-1,) + (1,) * (observations.ndim - 1)),
                                        self._batch(reset_observations), observations)
            else:
                observations = self._batch(self.env.reset()[0])

        self._returns[real] += rewards[real]
        self._lengths[real] += 1
        finished = [(float(self._returns[i]), int(self._lengths[i])) for i in np.flatnonzero(done)]
        self._returns[done] = 0.0
        self._lengths[done] = 0
        self._pending_reset = done if self.mode == NEXT_STEP else np.zeros(self.num_envs, dtype=bool)
        return Step(observations, real, rewards, terminated, truncated, next_observations, infos, finished)

