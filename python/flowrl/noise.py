"""Exploration noise added to the actions :meth:`flowrl.Agent.learn` takes, with Stable-Baselines3's names.

A noise object is called with no argument and returns one sample of the action's shape; the
training loop adds it to the action in the policy's ``[-1, 1]`` units (as Stable-Baselines3
does), clips the sum to ``[-1, 1]`` and resets the noise of a sub-env whose episode ended.

>>> noise = NormalActionNoise(mean=np.zeros(1), sigma=0.1 * np.ones(1))
>>> noise().shape
(1,)
>>> # agent = flowrl.SAC("MlpPolicy", env, action_noise=noise)

The generator is NumPy's global one, as in Stable-Baselines3 (seed it with ``np.random.seed``),
unless a ``seed`` is given. Imports only numpy and :mod:`flowrl.errors`.
"""

from __future__ import annotations

import copy
from typing import Any, Iterable, Optional

import numpy as np

from .errors import InvalidArgumentError


def _array(value: Any, name: str) -> np.ndarray:
    """A finite float64 array (a scalar becomes a one-element array)."""
    try:
        array = np.atleast_1d(np.asarray(value, dtype=np.float64))
    except (TypeError, ValueError) as error:
        raise InvalidArgumentError(f"{name} must be an array of numbers: {error}") from None
    if not np.all(np.isfinite(array)):
        raise InvalidArgumentError(f"{name} must be finite, got {array}")
    return array


class ActionNoise:
    """The base class: ``noise()`` draws one sample, ``noise.reset()`` starts a new episode."""

    def __call__(self) -> np.ndarray:
        raise NotImplementedError

    def reset(self) -> None:
        """Called at the end of every episode (a no-op for noise without memory)."""


class NormalActionNoise(ActionNoise):
    """Independent Gaussian noise, ``N(mean, sigma²)`` per action dimension.

    Parameters
    ----------
    mean, sigma : array_like
        Of the action's shape; ``sigma >= 0``.
    dtype : numpy dtype
        The samples' type.
    seed : int, optional
        Draw from a private generator instead of NumPy's global one.
    """

    def __init__(self, mean: Any, sigma: Any, dtype: Any = np.float32, seed: Optional[int] = None) -> None:
        self._mu = _array(mean, "mean")
        self._sigma = _array(sigma, "sigma")
        if self._mu.shape != self._sigma.shape:
            raise InvalidArgumentError(f"mean and sigma must have one shape, got {self._mu.shape} and {self._sigma.shape}")
        if np.any(self._sigma < 0):
            raise InvalidArgumentError("sigma must be >= 0")
        self._dtype = np.dtype(dtype)
        self._rng = None if seed is None else np.random.default_rng(seed)

    def __call__(self) -> np.ndarray:
        return (self._rng or np.random).normal(self._mu, self._sigma).astype(self._dtype)

    def __repr__(self) -> str:
        return f"NormalActionNoise(mu={self._mu}, sigma={self._sigma})"


class OrnsteinUhlenbeckActionNoise(ActionNoise):
    """Temporally correlated noise, the Euler discretisation of an Ornstein–Uhlenbeck process:
    ``x ← x + θ (μ − x) dt + σ √dt ε``, ``ε ~ N(0, 1)``; :meth:`reset` sets ``x`` back to
    ``initial_noise`` (zeros when not given).

    Parameters
    ----------
    mean, sigma : array_like
        ``μ`` and ``σ``, of the action's shape.
    theta : float
        The rate of mean reversion.
    dt : float
        The time step.
    initial_noise : array_like, optional
    dtype : numpy dtype
    seed : int, optional
        Draw from a private generator instead of NumPy's global one.
    """

    def __init__(self, mean: Any, sigma: Any, theta: float = 0.15, dt: float = 1e-2, initial_noise: Any = None,
                 dtype: Any = np.float32, seed: Optional[int] = None) -> None:
        self._mu = _array(mean, "mean")
        self._sigma = _array(sigma, "sigma")
        if self._mu.shape != self._sigma.shape:
            raise InvalidArgumentError(f"mean and sigma must have one shape, got {self._mu.shape} and {self._sigma.shape}")
        self._theta = float(_array(theta, "theta")[0])
        self._dt = float(_array(dt, "dt")[0])
        if self._dt <= 0:
            raise InvalidArgumentError(f"dt must be > 0, got {self._dt}")
        self.initial_noise = None if initial_noise is None else _array(initial_noise, "initial_noise")
        self._dtype = np.dtype(dtype)
        self._rng = None if seed is None else np.random.default_rng(seed)
        self.noise_prev = np.zeros_like(self._mu)
        self.reset()

    def __call__(self) -> np.ndarray:
        step = (self._rng or np.random).normal(size=self._mu.shape)
        noise = (self.noise_prev + self._theta * (self._mu - self.noise_prev) * self._dt
                 + self._sigma * np.sqrt(self._dt) * step)
        self.noise_prev = noise
        return noise.astype(self._dtype)

    def reset(self) -> None:
        self.noise_prev = np.zeros_like(self._mu) if self.initial_noise is None else self.initial_noise.copy()

    def __repr__(self) -> str:
        return f"OrnsteinUhlenbeckActionNoise(mu={self._mu}, sigma={self._sigma})"


class VectorizedActionNoise(ActionNoise):
    """One copy of ``base_noise`` per sub-env of a vector env; a sample is ``(n_envs, *shape)``.

    :meth:`flowrl.Agent.learn` wraps a plain noise in this class itself when its env has several
    sub-envs.

    Parameters
    ----------
    base_noise : ActionNoise
    n_envs : int
    """

    def __init__(self, base_noise: ActionNoise, n_envs: int) -> None:
        if not isinstance(base_noise, ActionNoise):
            raise InvalidArgumentError(f"base_noise must be an ActionNoise, got {type(base_noise).__name__}")
        if isinstance(n_envs, bool) or not isinstance(n_envs, (int, np.integer)) or n_envs < 1:
            raise InvalidArgumentError(f"n_envs must be an integer >= 1, got {n_envs!r}")
        self.base_noise = base_noise
        self.n_envs = int(n_envs)
        self.noises = [copy.deepcopy(base_noise) for _ in range(self.n_envs)]

    def __call__(self) -> np.ndarray:
        return np.stack([noise() for noise in self.noises])

    def reset(self, indices: Optional[Iterable[int]] = None) -> None:
        """Resets the noise of the sub-envs ``indices`` (all when None)."""
        for index in range(self.n_envs) if indices is None else indices:
            self.noises[int(index)].reset()

    def __repr__(self) -> str:
        return f"VectorizedActionNoise({self.base_noise!r}, n_envs={self.n_envs})"
