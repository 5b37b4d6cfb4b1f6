"""The base class every flowrl algorithm shares: one handle into the Swift core, numpy in and out.

An algorithm's Python class only names its algorithm (and documents its hyperparameters);
everything else (creating the handle, checking arrays, rescaling actions to the environment's
bounds, saving, loading, pickling, closing) happens here, through one C-ABI path.
"""

from __future__ import annotations

import ctypes
import json
import os
import threading
import weakref
from typing import Any, ClassVar, Optional, Union

import numpy as np
from gymnasium import spaces

from . import _lib
from .errors import InvalidArgumentError, InvalidStateError

PathLike = Union[str, "os.PathLike[str]"]

#: Actions this far outside the Box bounds (relative to the range) are clipped, beyond it rejected.
_ACTION_TOLERANCE = 1e-5

_registry: dict[str, type["Agent"]] = {}


def _free(handle: int) -> None:
    _lib.lib.flowrl_agent_free(handle)


def _plain(value: Any) -> Any:
    """Converts numpy scalars and tuples so hyperparameters serialise to JSON."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    return value


class Agent:
    """A flowrl agent: a policy, its training state and a replay buffer, living in the Swift core.

    Parameters
    ----------
    env : gymnasium.Env, optional
        Supplies ``observation_space`` and ``action_space`` (both ``Box``); a vector env's
        single spaces are used.
    observation_space, action_space : gymnasium.spaces.Box, optional
        Instead of ``env``.
    seed : int
        Seeds every random choice the agent makes (initial weights, noise, minibatches).
    **hyperparameters
        The algorithm's settings; see the subclass. An unknown name raises
        :class:`~flowrl.errors.InvalidArgumentError` listing the valid ones.

    Notes
    -----
    Actions cross this API in the environment's units (within the ``Box`` bounds); inside the
    core they live in ``[-1, 1]``. Every method raises a :class:`~flowrl.errors.FlowRLError`
    subclass on bad input and leaves the agent unchanged.
    """

    algorithm: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.algorithm:
            _registry[cls.algorithm] = cls

    def __init__(self, env: Any = None, *, observation_space: Optional[spaces.Space] = None,
                 action_space: Optional[spaces.Space] = None, seed: int = 0, **hyperparameters: Any) -> None:
        if not self.algorithm:
            raise TypeError("Agent is abstract; use an algorithm class such as flowrl.FlowBC")
        observation_space, action_space = self._spaces(env, observation_space, action_space)
        self._set_spaces(observation_space, action_space)
        config = {key: _plain(value) for key, value in hyperparameters.items()}
        config["seed"] = int(seed)
        handle = ctypes.c_void_p()
        _lib.call(_lib.lib.flowrl_agent_create, self.algorithm.encode(), json.dumps(config).encode(),
                  self.observation_size, self.action_size, ctypes.byref(handle))
        self._adopt(handle.value)
        _lib.call(_lib.lib.flowrl_agent_set_metadata, self._handle, json.dumps(self._metadata()).encode())

    # ------------------------------------------------------------------ spaces and handle

    @staticmethod
    def _spaces(env: Any, observation_space: Any, action_space: Any) -> tuple[spaces.Box, spaces.Box]:
        if env is not None:
            observation_space = getattr(env, "single_observation_space", None) or env.observation_space
            action_space = getattr(env, "single_action_space", None) or env.action_space
        if observation_space is None or action_space is None:
            raise InvalidArgumentError("pass an env, or both observation_space and action_space")
        if not isinstance(observation_space, spaces.Box):
            raise InvalidArgumentError(f"the observation space must be a gymnasium Box, got {observation_space}")
        if not isinstance(action_space, spaces.Box) or len(action_space.shape) != 1:
            raise InvalidArgumentError(f"the action space must be a one-dimensional gymnasium Box, got {action_space}")
        if not (np.all(np.isfinite(action_space.low)) and np.all(np.isfinite(action_space.high))):
            raise InvalidArgumentError("the action space must have finite bounds")
        if np.any(action_space.high <= action_space.low):
            raise InvalidArgumentError("the action space's high bound must exceed its low bound")
        return observation_space, action_space

    def _set_spaces(self, observation_space: spaces.Box, action_space: spaces.Box) -> None:
        self.observation_space = observation_space
        self.action_space = action_space
        self.observation_size = int(np.prod(observation_space.shape))
        self._observation_shape = tuple(observation_space.shape)
        self.action_size = int(action_space.shape[0])
        self._low = action_space.low.astype(np.float64)
        self._range = (action_space.high.astype(np.float64) - self._low)
        # unit action u ∈ [-1, 1] ↦ middle + half_range · u, in the action space's dtype
        self._middle = (self._low + 0.5 * self._range).astype(action_space.dtype)
        self._half_range = (0.5 * self._range).astype(action_space.dtype)
        self._scratch = threading.local()  # per-thread buffers for single-observation act

    def _metadata(self) -> dict[str, Any]:
        return {
            "python_class": type(self).__name__,
            "observation_shape": list(self.observation_space.shape),
            "observation_low": np.asarray(self.observation_space.low, np.float64).ravel().tolist(),
            "observation_high": np.asarray(self.observation_space.high, np.float64).ravel().tolist(),
            "action_low": self._low.tolist(),
            "action_high": (self._low + self._range).tolist(),
        }

    def _adopt(self, handle: Optional[int]) -> None:
        if not handle:
            raise InvalidStateError("the library returned no agent")
        self._handle = handle
        self._finalizer = weakref.finalize(self, _free, handle)

    @property
    def handle(self) -> int:
        """The C handle; raises :class:`~flowrl.errors.InvalidStateError` after :meth:`close`."""
        finalizer = getattr(self, "_finalizer", None)
        if finalizer is None or not finalizer.alive:
            raise InvalidStateError("the agent is closed")
        return self._handle

    def close(self) -> None:
        """Releases the Swift agent now (it is released anyway when this object is collected)."""
        finalizer = getattr(self, "_finalizer", None)
        if finalizer is not None:
            finalizer()

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        finalizer = getattr(self, "_finalizer", None)
        return finalizer is None or not finalizer.alive

    def __enter__(self) -> "Agent":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ array helpers

    def _observations(self, observations: Any, name: str = "observations") -> tuple[np.ndarray, bool]:
        """A C-contiguous float32 ``(n, observation_size)`` array and whether one row was given."""
        array = np.asarray(observations, dtype=np.float32)
        single = array.shape == self.observation_space.shape
        if single:
            array = array.reshape(1, self.observation_size)
        elif array.ndim >= 2 and array.shape[1:] == self.observation_space.shape:
            array = array.reshape(array.shape[0], self.observation_size)
        else:
            raise InvalidArgumentError(
                f"{name} have shape {array.shape}; expected {self.observation_space.shape} or (n, *{self.observation_space.shape})")
        return np.ascontiguousarray(array), single

    def _normalise_actions(self, actions: Any, rows: int, name: str = "actions") -> np.ndarray:
        """Environment-unit actions ``(rows, action_size)`` mapped to ``[-1, 1]``."""
        array = np.asarray(actions, dtype=np.float64)
        if array.size != rows * self.action_size or array.ndim > 2:
            raise InvalidArgumentError(f"{name} have shape {array.shape}; expected ({rows}, {self.action_size})")
        array = array.reshape(rows, self.action_size)
        if not np.all(np.isfinite(array)):
            raise InvalidArgumentError(f"{name} contain NaN or Inf")
        unit = 2.0 * (array - self._low) / self._range - 1.0
        if np.any(np.abs(unit) > 1.0 + 2 * _ACTION_TOLERANCE):
            raise InvalidArgumentError(f"{name} lie outside the action space bounds [{self._low}, {self._low + self._range}]")
        return np.ascontiguousarray(np.clip(unit, -1.0, 1.0), dtype=np.float32)

    def _scale_actions(self, unit: np.ndarray) -> np.ndarray:
        return unit * self._half_range + self._middle

    def _single_buffers(self) -> tuple[np.ndarray, np.ndarray, int, int]:
        """This thread's input and output arrays for one observation, with their addresses."""
        try:
            return self._scratch.buffers
        except AttributeError:
            observation = np.empty(self.observation_space.shape, dtype=np.float32)
            action = np.empty(self.action_size, dtype=np.float32)
            buffers = (observation, action, observation.ctypes.data, action.ctypes.data)
            self._scratch.buffers = buffers
            return buffers

    # ------------------------------------------------------------------ step-level calls

    def act(self, observations: Any, deterministic: bool = False) -> np.ndarray:
        """Actions for one observation or a batch.

        Parameters
        ----------
        observations : array_like
            Shape ``observation_space.shape`` (one) or ``(n, *observation_space.shape)``.
        deterministic : bool
            Start the flow from zero noise instead of sampling it.

        Returns
        -------
        numpy.ndarray
            Actions in the environment's units, ``(action_size,)`` for one observation or
            ``(n, action_size)`` for a batch.
        """
        handle = self.handle
        flag = 1 if deterministic else 0
        if type(observations) is np.ndarray and observations.shape == self._observation_shape:
            # One observation, the common case in a loop: reuse this thread's buffers (no allocation
            # and no address lookups); the result is a new array.
            observation, action, observation_address, action_address = self._single_buffers()
            np.copyto(observation, observations, casting="unsafe")
            status = _lib.lib.flowrl_agent_act(handle, observation_address, 1, self.observation_size, flag,
                                               action_address, self.action_size)
            if status:
                _lib.check(status)
            return action * self._half_range + self._middle
        batch, _ = self._observations(observations)
        rows = batch.shape[0]
        unit = np.empty((rows, self.action_size), dtype=np.float32)
        _lib.call(_lib.lib.flowrl_agent_act, handle, batch.ctypes.data, rows, self.observation_size,
                  flag, unit.ctypes.data, unit.size)
        return self._scale_actions(unit)

    def observe(self, observations: Any, actions: Any, rewards: Any, next_observations: Any, terminated: Any) -> None:
        """Stores transitions in the replay buffer.

        Parameters
        ----------
        observations, next_observations : array_like
            One observation or a batch ``(n, *observation_space.shape)``.
        actions : array_like
            The actions taken, in the environment's units.
        rewards : array_like
            ``n`` rewards.
        terminated : array_like of bool
            True where the episode truly ended; a time-limit truncation is not a termination.

        Raises
        ------
        InvalidArgumentError
            On a shape mismatch, NaN or Inf anywhere, or actions outside the bounds; nothing is stored.
        """
        batch, _ = self._observations(observations)
        rows = batch.shape[0]
        following, _ = self._observations(next_observations, "next_observations")
        if following.shape[0] != rows:
            raise InvalidArgumentError(f"next_observations have {following.shape[0]} rows, observations {rows}")
        unit = self._normalise_actions(actions, rows)
        reward_array = np.ascontiguousarray(np.asarray(rewards, dtype=np.float32).reshape(-1))
        if reward_array.shape[0] != rows:
            raise InvalidArgumentError(f"rewards have {reward_array.shape[0]} entries, expected {rows}")
        flags = np.ascontiguousarray(np.asarray(terminated).reshape(-1).astype(np.uint8))
        if flags.shape[0] != rows:
            raise InvalidArgumentError(f"terminated has {flags.shape[0]} entries, expected {rows}")
        _lib.call(_lib.lib.flowrl_agent_observe, self.handle, batch.ctypes.data, unit.ctypes.data, reward_array.ctypes.data,
                  following.ctypes.data, flags.ctypes.data, rows, self.observation_size, self.action_size)

    def update(self, gradient_steps: int = 1) -> dict[str, float]:
        """Runs ``gradient_steps`` gradient updates from the replay buffer.

        Returns
        -------
        dict of str to float
            The algorithm's metrics (losses and the like), averaged over the steps.

        Raises
        ------
        InvalidStateError
            If the replay buffer is empty.
        NumericalError
            If an update produced NaN or Inf; the agent is then restored to its state before the call.
        """
        return json.loads(_lib.string_result(_lib.lib.flowrl_agent_update, self.handle, int(gradient_steps)))

    def pretrain(self, observations: Any, actions: Any, steps: int = 10_000) -> dict[str, float]:
        """Trains the policy by flow matching on demonstrations.

        Parameters
        ----------
        observations : array_like
            ``(n, *observation_space.shape)``.
        actions : array_like
            ``(n, action_size)`` in the environment's units, within the bounds.
        steps : int
            Minibatch updates (minibatches of ``batch_size`` drawn with replacement).

        Returns
        -------
        dict of str to float
            ``pretrain/flow_matching_loss``: the mean loss over the last 100 steps.
        """
        batch, _ = self._observations(observations)
        rows = batch.shape[0]
        unit = self._normalise_actions(actions, rows)
        return json.loads(_lib.string_result(_lib.lib.flowrl_agent_pretrain, self.handle, batch.ctypes.data, unit.ctypes.data,
                                             rows, self.observation_size, self.action_size, int(steps)))

    def seed(self, seed: int) -> None:
        """Reseeds the agent's random generator."""
        if not 0 <= int(seed) < 2**64:
            raise InvalidArgumentError(f"seed must be in [0, 2**64), got {seed}")
        _lib.call(_lib.lib.flowrl_agent_seed, self.handle, int(seed))

    def info(self) -> dict[str, Any]:
        """Algorithm, sizes, full configuration (defaults included), counters and replay size."""
        return json.loads(_lib.string_result(_lib.lib.flowrl_agent_info, self.handle))

    @property
    def config(self) -> dict[str, Any]:
        """The full configuration, defaults included."""
        return self.info()["config"]

    # ------------------------------------------------------------------ persistence

    def save(self, path: PathLike, include_replay_buffer: bool = False) -> None:
        """Writes a checkpoint (networks, optimisers, random state, counters; optionally the replay
        buffer). The file is replaced atomically: an interrupted save leaves the old one intact."""
        _lib.call(_lib.lib.flowrl_agent_save, self.handle, os.fsencode(path), 1 if include_replay_buffer else 0)

    def to_bytes(self, include_replay_buffer: bool = True) -> bytes:
        """The agent as checkpoint bytes (what :meth:`save` writes)."""
        size = ctypes.c_int64()
        flag = 1 if include_replay_buffer else 0
        _lib.call(_lib.lib.flowrl_agent_save_bytes, self.handle, flag, None, 0, ctypes.byref(size))
        buffer = (ctypes.c_uint8 * size.value)()
        _lib.call(_lib.lib.flowrl_agent_save_bytes, self.handle, flag, buffer, size.value, ctypes.byref(size))
        return bytes(buffer)[: size.value]

    @classmethod
    def load(cls, path: PathLike, env: Any = None) -> "Agent":
        """Loads a checkpoint written by :meth:`save`.

        Parameters
        ----------
        path : str or os.PathLike
        env : gymnasium.Env, optional
            If given, its spaces must match the saved ones.

        Raises
        ------
        CheckpointError
            If the file is missing, unreadable, truncated, corrupted or of another format version.
        """
        handle = ctypes.c_void_p()
        _lib.call(_lib.lib.flowrl_agent_load, os.fsencode(path), ctypes.byref(handle))
        return cls._from_handle(handle.value, env)

    @classmethod
    def from_bytes(cls, data: bytes, env: Any = None) -> "Agent":
        """An agent from :meth:`to_bytes` output or a checkpoint file's contents."""
        raw = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        handle = ctypes.c_void_p()
        _lib.call(_lib.lib.flowrl_agent_load_bytes, raw, len(data), ctypes.byref(handle))
        return cls._from_handle(handle.value, env)

    @classmethod
    def _from_handle(cls, handle: Optional[int], env: Any) -> "Agent":
        agent = object.__new__(cls)
        agent._adopt(handle)  # released by its finalizer even if the checks below fail
        info = agent.info()
        algorithm = info["algorithm"]
        target = _registry.get(algorithm)
        if target is None or not issubclass(target, cls):
            agent.close()
            raise InvalidArgumentError(f"the checkpoint holds a '{algorithm}' agent, not a {cls.__name__}")
        agent.__class__ = target
        metadata = info.get("metadata", {})
        try:
            observation_space = spaces.Box(np.asarray(metadata["observation_low"], np.float32).reshape(metadata["observation_shape"]),
                                           np.asarray(metadata["observation_high"], np.float32).reshape(metadata["observation_shape"]))
            action_space = spaces.Box(np.asarray(metadata["action_low"], np.float32), np.asarray(metadata["action_high"], np.float32))
        except (KeyError, TypeError, ValueError):
            if env is None:
                agent.close()
                raise InvalidArgumentError("the checkpoint does not record its spaces; pass env=") from None
            observation_space, action_space = Agent._spaces(env, None, None)
        if env is not None:
            env_observation, env_action = Agent._spaces(env, None, None)
            if env_observation.shape != observation_space.shape or env_action.shape != action_space.shape or not (
                    np.allclose(env_action.low, action_space.low) and np.allclose(env_action.high, action_space.high)):
                agent.close()
                raise InvalidArgumentError("the env's spaces differ from the ones the agent was saved with")
            observation_space, action_space = env_observation, env_action
        agent._set_spaces(observation_space, action_space)
        if agent.observation_size != info["observation_size"] or agent.action_size != info["action_size"]:
            agent.close()
            raise InvalidArgumentError("the checkpoint's recorded spaces do not match its networks")
        return agent

    def __getstate__(self) -> dict[str, Any]:
        return {"checkpoint": self.to_bytes(include_replay_buffer=True)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        restored = Agent.from_bytes(state["checkpoint"])
        # Take over the restored agent's handle and spaces; detach its finalizer from it.
        restored._finalizer.detach()
        self._set_spaces(restored.observation_space, restored.action_space)
        self._adopt(restored._handle)

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"observation_size={self.observation_size}, action_size={self.action_size}"
        return f"{type(self).__name__}({state})"


class FlowBC(Agent):
    """Behaviour cloning with a flow policy.

    :meth:`pretrain` fits the policy to demonstrations by flow matching; :meth:`update` does
    the same on the ``(observation, action)`` pairs in the replay buffer, so it imitates whatever
    produced the stored transitions (rewards are ignored).

    Hyperparameters (keyword arguments; defaults in brackets): ``hidden_sizes`` [256, 256],
    ``activation`` ["silu"], ``flow_steps`` [10], ``time_embedding_size`` [16],
    ``learning_rate`` [3e-4], ``batch_size`` [256], ``buffer_size`` [1_000_000].
    """

    algorithm = "flow_bc"
