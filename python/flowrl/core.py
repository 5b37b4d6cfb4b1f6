"""The step-level calls every flowrl algorithm shares: one handle into the Swift core, numpy in and out.

:class:`CoreAgent` is the leaf the rest of the package is built on. It creates and frees the
handle, checks arrays, rescales actions between the environment's ``Box`` and ``[-1, 1]``, and
makes each decision with one C call: :meth:`~CoreAgent.act`, :meth:`~CoreAgent.predict`,
:meth:`~CoreAgent.observe`, :meth:`~CoreAgent.update`, :meth:`~CoreAgent.pretrain`,
:meth:`~CoreAgent.save`, :meth:`~CoreAgent.load`, pickling. It imports nothing of the training
loop: :class:`flowrl.learning.OffPolicyLearning` builds Stable-Baselines3's ``learn`` on these
calls, and :class:`flowrl.Agent` puts the two together. The loop keeps its Python-side state in
the checkpoint through two hooks: :meth:`~CoreAgent._metadata` (what is written) and
:meth:`~CoreAgent._restore_python_state` (what is read back).
"""

from __future__ import annotations

import ctypes
import json
import os
import threading
import weakref
from typing import Any, ClassVar, Optional, TypeVar, Union

import numpy as np
from gymnasium import spaces

from . import _checks, _lib, _spaces, datasets
from .errors import CheckpointError, InvalidArgumentError, InvalidStateError

PathLike = Union[str, "os.PathLike[str]"]

#: dtype kinds act's one-observation fast path copies directly (others go through the checks).
_NUMERIC_KINDS = _checks.REAL_KINDS

#: Actions this far outside the Box bounds (relative to the range) are clipped, beyond it rejected.
_ACTION_TOLERANCE = 1e-5

_registry: dict[str, type[CoreAgent]] = {}

_Agent = TypeVar("_Agent", bound="CoreAgent")

_act = _lib.lib.flowrl_agent_act  # looked up once: act is the hot call


def _free(handle: int) -> None:
    _lib.lib.flowrl_agent_free(handle)


def _bounds_to_json(bounds: Any) -> list[Any]:
    """A Box bound as a JSON list; infinities (not valid JSON numbers) become "inf" / "-inf"."""
    return [value if np.isfinite(value) else str(value) for value in np.asarray(bounds, np.float64).ravel().tolist()]


def _bounds_from_json(values: Any, dtype: Any, shape: Any) -> np.ndarray:
    """The inverse of :func:`_bounds_to_json`."""
    return np.array([float(value) for value in values], dtype=dtype).reshape(shape)


def _space_dtype(name: Any) -> np.dtype:
    """A recorded Box dtype (float32 when missing, as in checkpoints that predate the field)."""
    dtype = np.dtype(name or "float32")
    if dtype.kind != "f":
        raise ValueError(f"not a floating-point dtype: {dtype}")
    return dtype


def recorded_spaces(metadata: dict[str, Any]) -> tuple[spaces.Space, spaces.Box]:
    """The observation and action spaces recorded by :meth:`CoreAgent._metadata` (not yet checked
    as the constructor checks them: pass them to :meth:`CoreAgent._spaces`).

    The observation space is the flat ``Box`` the core sees, or, where the metadata records an
    ``observation_structure`` (a ``Dict`` / ``Tuple`` space, :func:`flowrl._spaces.to_json`),
    that space, whose flattening must be the recorded ``Box``.

    Raises
    ------
    KeyError, TypeError, ValueError
        For a missing or malformed entry.
    CheckpointError
        For an ``observation_structure`` that is malformed or does not flatten to the recorded ``Box``.
    """
    shape = tuple(metadata["observation_shape"])
    observation_dtype = _space_dtype(metadata.get("observation_dtype"))
    action_dtype = _space_dtype(metadata.get("action_dtype"))
    observation_space = spaces.Box(_bounds_from_json(metadata["observation_low"], observation_dtype, shape),
                                   _bounds_from_json(metadata["observation_high"], observation_dtype, shape),
                                   dtype=observation_dtype)
    action_space = spaces.Box(_bounds_from_json(metadata["action_low"], action_dtype, -1),
                              _bounds_from_json(metadata["action_high"], action_dtype, -1), dtype=action_dtype)
    if "observation_structure" in metadata:
        try:
            structured = _spaces.from_json(metadata["observation_structure"])
        except (ValueError, TypeError, OverflowError, RecursionError) as error:
            raise CheckpointError(f"the checkpoint's recorded observation structure is invalid: {error}") from None
        flat = _spaces.Layout(structured).flat_space
        if flat.shape != observation_space.shape or not (
                np.array_equal(flat.low, observation_space.low.astype(np.float32))
                and np.array_equal(flat.high, observation_space.high.astype(np.float32))):
            raise CheckpointError("the checkpoint's recorded observation structure does not flatten to its recorded "
                                  f"observation Box (shape {flat.shape}, recorded {observation_space.shape})")
        return structured, action_space
    return observation_space, action_space


def flat_observation_size(space: spaces.Space) -> int:
    """The length of the flat vector the core sees for an observation space :meth:`CoreAgent._spaces` accepts."""
    layout = _spaces.layout(space)
    return layout.size if layout is not None else int(np.prod(space.shape))


def same_observation_layout(first: spaces.Space, second: spaces.Space) -> bool:
    """Whether two observation spaces give the core the same vectors: two Boxes of one shape, or
    two ``Dict`` / ``Tuple`` spaces of the same structure (keys in order, leaf shapes)."""
    if _spaces.is_structured(first) or _spaces.is_structured(second):
        return _spaces.is_structured(first) and _spaces.is_structured(second) and _spaces.same_structure(first, second)
    return tuple(first.shape) == tuple(second.shape)


def registered_class(algorithm: str) -> Optional[type[CoreAgent]]:
    """The class registered for the core's ``algorithm`` name (the one whose :attr:`CoreAgent.algorithm`
    it is), or None."""
    return _registry.get(algorithm)


class CoreAgent:
    """One agent of the Swift core seen from Python: its handle, its spaces and the step-level calls.

    Not instantiated directly: :class:`flowrl.Agent` (and through it every algorithm class)
    builds on it. A subclass that sets :attr:`algorithm` is registered, so that :meth:`load`
    returns an instance of the class that saved the checkpoint.

    Notes
    -----
    Actions cross this API in the environment's units (within the ``Box`` bounds); inside the
    core they live in ``[-1, 1]``. Every method raises a :class:`~flowrl.errors.FlowRLError`
    subclass on bad input and leaves the agent unchanged.
    """

    #: The core's name of the algorithm (``flowrl_agent_create``'s first argument); "" for an abstract class.
    algorithm: ClassVar[str] = ""

    #: The observation space as given: a ``Box``, or a ``Dict`` / ``Tuple`` space flattened for the core.
    observation_space: spaces.Space
    action_space: spaces.Box
    observation_size: int
    action_size: int

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.algorithm:
            _registry[cls.algorithm] = cls

    @staticmethod
    def _checked_config(hyperparameters: dict[str, Any], seed: int) -> dict[str, Any]:
        """The configuration sent to the core: every value JSON-ready (each checked, naming its key) and the seed."""
        config = {key: _checks.config_value(value, key) for key, value in hyperparameters.items()}
        config["seed"] = seed
        return config

    def _create(self, config: dict[str, Any]) -> None:
        """Creates the core agent of :attr:`algorithm` with ``config`` (spaces already set) and
        attaches the metadata."""
        handle = ctypes.c_void_p()
        _lib.call(_lib.lib.flowrl_agent_create, self.algorithm.encode(), json.dumps(config).encode(),
                  self.observation_size, self.action_size, ctypes.byref(handle))
        self._adopt(handle.value)
        self._store_metadata()

    # ------------------------------------------------------------------ spaces and handle

    @staticmethod
    def _spaces(env: Any, observation_space: Any, action_space: Any) -> tuple[spaces.Space, spaces.Box]:
        """The observation and action spaces of ``env`` (a vector env's single spaces) or the ones
        given, checked: the observation space a ``Box`` or a ``Dict`` / ``Tuple`` space that
        :mod:`flowrl._spaces` flattens, the action space a one-dimensional ``Box`` with finite bounds.

        Raises
        ------
        InvalidArgumentError
            Naming what is refused.
        """
        if env is not None:
            observation_space = getattr(env, "single_observation_space", None) or getattr(env, "observation_space", None)
            action_space = getattr(env, "single_action_space", None) or getattr(env, "action_space", None)
            if observation_space is None or action_space is None:
                raise InvalidArgumentError(f"env must have an observation_space and an action_space, got {type(env).__name__}")
        if observation_space is None or action_space is None:
            raise InvalidArgumentError("pass an env, or both observation_space and action_space")
        if _spaces.is_structured(observation_space):
            _spaces.check(observation_space)
        elif not isinstance(observation_space, spaces.Box):
            raise InvalidArgumentError(f"the observation space must be a gymnasium Box, or a Dict or Tuple of Box, "
                                       f"Discrete and MultiBinary spaces (flattened), got {observation_space}")
        if not isinstance(action_space, spaces.Box) or len(action_space.shape) != 1:
            raise InvalidArgumentError(f"the action space must be a one-dimensional gymnasium Box, got {action_space}")
        if not (np.all(np.isfinite(action_space.low)) and np.all(np.isfinite(action_space.high))):
            raise InvalidArgumentError("the action space must have finite bounds")
        if np.any(action_space.high <= action_space.low):
            raise InvalidArgumentError("the action space's high bound must exceed its low bound")
        return observation_space, action_space

    def _set_spaces(self, observation_space: spaces.Space, action_space: spaces.Box) -> None:
        self.observation_space = observation_space
        self.action_space = action_space
        #: how a Dict / Tuple observation space is flattened (None for a Box)
        self._layout: Optional[_spaces.Layout] = _spaces.layout(observation_space)
        #: the Box the core sees (the observation space itself, or its flattening)
        self._flat_observation_space: spaces.Box = (
            observation_space if self._layout is None else self._layout.flat_space)
        self.observation_size = int(np.prod(self._flat_observation_space.shape))
        self._observation_shape = tuple(self._flat_observation_space.shape)
        self._one_row_shape = (1, *self._observation_shape)
        self.action_size = int(action_space.shape[0])
        self._low = action_space.low.astype(np.float64)
        self._range = (action_space.high.astype(np.float64) - self._low)
        # unit action u ∈ [-1, 1] ↦ middle + half_range · u, in the action space's dtype
        self._middle = (self._low + 0.5 * self._range).astype(action_space.dtype)
        self._half_range = (0.5 * self._range).astype(action_space.dtype)
        # Most Box spaces are symmetric ([-h, h]), many are [-1, 1]: skip the operations that do nothing.
        self._centred = bool(np.all(self._middle == 0))
        self._unit_range = self._centred and bool(np.all(self._half_range == 1)) and self.action_space.dtype == np.float32
        self._scratch = threading.local()  # per-thread buffers for single-observation act

    def _metadata(self) -> dict[str, Any]:
        """What the checkpoint's metadata records: the spaces (subclasses add their own entries)."""
        flat = self._flat_observation_space
        metadata = {
            "python_class": type(self).__name__,
            "observation_shape": list(flat.shape),
            "observation_low": _bounds_to_json(flat.low),
            "observation_high": _bounds_to_json(flat.high),
            "observation_dtype": np.dtype(flat.dtype).name,
            "action_low": _bounds_to_json(self.action_space.low),
            "action_high": _bounds_to_json(self.action_space.high),
            "action_dtype": np.dtype(self.action_space.dtype).name,
        }
        if self._layout is not None:
            metadata["observation_structure"] = _spaces.to_json(self.observation_space)
        return metadata

    def _store_metadata(self) -> None:
        """Attaches the spaces and the Python-side training state to the core agent (checkpointed)."""
        text = json.dumps(self._metadata())
        if text != getattr(self, "_stored_metadata", None):
            _lib.call(_lib.lib.flowrl_agent_set_metadata, self.handle, text.encode())
            self._stored_metadata = text

    def _adopt(self, handle: Optional[int]) -> None:
        if not handle:
            raise InvalidStateError("the library returned no agent")
        self._handle = handle
        self._open_handle: Optional[int] = handle   # None once closed: checked on every call
        self._finalizer = weakref.finalize(self, _free, handle)

    @property
    def handle(self) -> int:
        """The C handle; raises :class:`~flowrl.errors.InvalidStateError` after :meth:`close`."""
        handle = getattr(self, "_open_handle", None)
        if handle is None:
            raise InvalidStateError("the agent is closed")
        return handle

    def close(self) -> None:
        """Releases the Swift agent now (it is released anyway when this object is collected)."""
        self._open_handle = None
        finalizer = getattr(self, "_finalizer", None)
        if finalizer is not None:
            finalizer()

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        finalizer = getattr(self, "_finalizer", None)
        return finalizer is None or not finalizer.alive

    def __enter__(self: _Agent) -> _Agent:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ array helpers

    def _observations(self, observations: Any, name: str = "observations") -> tuple[np.ndarray, bool]:
        """A C-contiguous float32 ``(n, observation_size)`` array and whether one row was given.

        With a ``Dict`` / ``Tuple`` observation space, ``observations`` is the structure (one
        observation or a batch, as :meth:`flowrl._spaces.Layout.flatten` takes it) or already
        flattened arrays ``(observation_size,)`` / ``(n, observation_size)``.
        """
        if self._layout is not None and _spaces.is_structured_value(observations):
            return self._layout.flatten(observations, name)
        array = _checks.real_array(observations, name, np.float32)
        shape = self._observation_shape
        single = array.shape == shape
        if single:
            array = array.reshape(1, self.observation_size)
        elif array.ndim >= 2 and array.shape[1:] == shape:
            array = array.reshape(array.shape[0], self.observation_size)
        else:
            expected = f"expected {shape} or (n, *{shape})"
            if self._layout is not None:
                expected += f" (flattened), or a {type(self.observation_space).__name__} observation of {self.observation_space}"
            raise InvalidArgumentError(f"{name} have shape {array.shape}; {expected}")
        return array, single

    def _normalise_actions(self, actions: Any, rows: int, name: str = "actions") -> np.ndarray:
        """Environment-unit actions ``(rows, action_size)`` mapped to ``[-1, 1]``."""
        array = _checks.real_array(actions, name, np.float64)
        if array.size != rows * self.action_size or array.ndim > 2:
            raise InvalidArgumentError(f"{name} have shape {array.shape}; expected ({rows}, {self.action_size})")
        array = array.reshape(rows, self.action_size)
        unit = 2.0 * (array - self._low) / self._range - 1.0
        if (np.abs(unit) > 1.0 + 2 * _ACTION_TOLERANCE).any():
            raise InvalidArgumentError(f"{name} lie outside the action space bounds [{self._low}, {self._low + self._range}]")
        # np.minimum/np.maximum rather than np.clip: the same values, without np.clip's per-call
        # overhead (this runs once per environment step in learn).
        return np.ascontiguousarray(np.minimum(np.maximum(unit, -1.0), 1.0), dtype=np.float32)

    def _scale_actions(self, unit: np.ndarray) -> np.ndarray:
        return unit * self._half_range + self._middle

    def _single_buffers(self) -> tuple[np.ndarray, np.ndarray, int, int]:
        """This thread's input and output arrays for one observation, with their addresses."""
        try:
            return self._scratch.buffers
        except AttributeError:
            observation = np.empty(self._observation_shape, dtype=np.float32)
            action = np.empty(self.action_size, dtype=np.float32)
            buffers = (observation, action, observation.ctypes.data, action.ctypes.data)
            self._scratch.buffers = buffers
            return buffers

    # ------------------------------------------------------------------ step-level calls

    def act(self, observations: Any, deterministic: bool = False) -> np.ndarray:
        """Actions for one observation or a batch.

        Parameters
        ----------
        observations : array_like or dict
            Shape ``observation_space.shape`` (one) or ``(n, *observation_space.shape)``. With a
            ``Dict`` (``Tuple``) observation space: a dict (tuple) of arrays, each of its
            sub-space's shape (one) or with a leading batch axis (a batch), as Stable-Baselines3's
            ``MultiInputPolicy`` takes them; or the flattened arrays (``spaces.flatten``'s layout).
        deterministic : bool
            Start the flow from zero noise instead of sampling it.

        Returns
        -------
        numpy.ndarray
            Actions in the environment's units, ``(action_size,)`` for one observation or
            ``(n, action_size)`` for a batch.
        """
        handle = getattr(self, "_open_handle", None)
        if handle is None:
            raise InvalidStateError("the agent is closed")
        flag = 1 if deterministic is True else 0 if deterministic is False else int(_checks.boolean(deterministic, "deterministic"))
        # (the fast path takes numeric arrays only: np.copyto would parse strings and drop imaginary parts)
        fast = type(observations) is np.ndarray and observations.dtype.kind in _NUMERIC_KINDS
        alone = fast and observations.shape == self._observation_shape
        if alone or (fast and observations.shape == self._one_row_shape):
            # One observation (alone or as a batch of one), the common case in a loop: reuse this
            # thread's buffers (no allocation and no address lookups); the result is a new array.
            observation, action, observation_address, action_address = self._single_buffers()
            np.copyto(observation, observations.reshape(self._observation_shape), casting="unsafe")
            status = _act(handle, observation_address, 1, self.observation_size, flag, action_address, self.action_size)
            if status:
                _lib.check(status)
            if self._unit_range:
                result = action.copy()
            else:
                result = action * self._half_range if self._centred else action * self._half_range + self._middle
            return result if alone else result.reshape(1, self.action_size)
        batch, single = self._observations(observations)
        rows = batch.shape[0]
        unit = np.empty((rows, self.action_size), dtype=np.float32)
        _lib.call(_lib.lib.flowrl_agent_act, handle, batch.ctypes.data, rows, self.observation_size,
                  flag, unit.ctypes.data, unit.size)
        actions = self._scale_actions(unit)
        # one structured observation (a dict without batch axes) gives one action, as one array does
        return actions[0] if single and self._layout is not None and _spaces.is_structured_value(observations) else actions

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = False) -> tuple[np.ndarray, None]:
        """Stable-Baselines3's ``predict``: actions for one observation or a batch.

        Parameters
        ----------
        observation : array_like or dict
            Exactly ``observation_space.shape`` gives one action ``(action_size,)``; a batch
            ``(n, *observation_space.shape)`` gives ``(n, action_size)``. With a ``Dict`` or
            ``Tuple`` observation space, a dict (tuple) of arrays, single or batched (see :meth:`act`).
        state, episode_start
            Ignored (the policy has no recurrent state); accepted so that Stable-Baselines3's
            ``evaluate_policy`` can drive the agent.
        deterministic : bool
            Start the flow from zero noise instead of sampling it.

        Returns
        -------
        actions : numpy.ndarray
            In the environment's units, clipped to the ``Box`` bounds.
        state : None
        """
        return self._env_actions(self.act(observation, deterministic=deterministic)), None

    def _env_actions(self, actions: np.ndarray) -> np.ndarray:
        """Actions clipped to the ``Box`` bounds, in the action space's dtype."""
        clipped = np.minimum(np.maximum(actions, self.action_space.low), self.action_space.high)  # np.clip, cheaper per call
        return clipped.astype(self.action_space.dtype, copy=False)

    def sample_chain(self, observations: Any, deterministic: bool = False) -> np.ndarray:
        """The particles of the policy's sampling chain, in the environment's units.

        Parameters
        ----------
        observations : array_like
            One observation or a batch ``(n, *observation_space.shape)``.
        deterministic : bool
            Start from zero noise instead of sampled noise.

        Returns
        -------
        numpy.ndarray
            ``(N + 1, n, action_size)``: entry ``k`` is ``tanh(x_k)`` mapped to the action bounds
            (``k = 0`` is the noise, ``k = N`` the action).

        Raises
        ------
        InvalidStateError
            For an algorithm without a particle chain.
        """
        batch, _ = self._observations(observations)
        flag = int(_checks.boolean(deterministic, "deterministic"))
        rows = batch.shape[0]
        size = ctypes.c_int64()
        handle = self.handle
        _lib.call(_lib.lib.flowrl_agent_particle_chain, handle, batch.ctypes.data, rows, self.observation_size,
                  flag, None, 0, ctypes.byref(size))
        particles = np.empty(size.value, dtype=np.float32)
        _lib.call(_lib.lib.flowrl_agent_particle_chain, handle, batch.ctypes.data, rows, self.observation_size,
                  flag, particles.ctypes.data, particles.size, ctypes.byref(size))
        return self._scale_actions(particles.reshape(-1, rows, self.action_size))

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
        self._store(self._transitions(observations, actions, rewards, next_observations, terminated))

    def _transitions(self, observations: Any, actions: Any, rewards: Any, next_observations: Any,
                     terminated: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Transitions converted and checked as :meth:`observe` takes them (the arrays the C ABI reads).

        Raises
        ------
        InvalidArgumentError
            Naming the argument, on anything :meth:`observe` refuses.
        """
        batch, _ = self._observations(observations)
        rows = batch.shape[0]
        unit = self._normalise_actions(actions, rows)
        reward_array = _checks.vector(rewards, "rewards", rows, np.float32)
        following, _ = self._observations(next_observations, "next_observations")
        if following.shape[0] != rows:
            raise InvalidArgumentError(f"next_observations have {following.shape[0]} rows, observations {rows}")
        flags = _checks.flags(terminated, "terminated", rows)
        return batch, unit, reward_array, following, flags

    def _store(self, transitions: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]) -> None:
        """Stores transitions made by :meth:`_transitions`."""
        batch, unit, reward_array, following, flags = transitions
        _lib.call(_lib.lib.flowrl_agent_observe, self.handle, batch.ctypes.data, unit.ctypes.data, reward_array.ctypes.data,
                  following.ctypes.data, flags.ctypes.data, batch.shape[0], self.observation_size, self.action_size)

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
        steps = _checks.integer(gradient_steps, "gradient_steps", -2**31, 2**31 - 1)  # a C int32; the core checks >= 1
        return json.loads(_lib.string_result(_lib.lib.flowrl_agent_update, self.handle, steps))

    def pretrain(self, observations: Any, actions: Any = None, steps: int = 10_000, *, rewards: Any = None,
                 next_observations: Any = None, terminated: Any = None, seed_replay: bool = True) -> dict[str, float]:
        """Trains the policy on demonstrations (flow matching for flow policies, maximum
        likelihood for :class:`~flowrl.SAC`), then prepares online fine-tuning from it.

        Parameters
        ----------
        observations : array_like or dataset
            ``(n, *observation_space.shape)``; or a whole dataset: a
            :class:`flowrl.datasets.Transitions`, a ``minari.MinariDataset``, a Minari dataset id
            in the local Minari root, a dataset directory or an ``.npz`` file (see
            :func:`flowrl.datasets.load`), checked against the agent's spaces. Then ``actions``
            and the transition arrays are not given.
        actions : array_like, optional
            ``(n, action_size)`` in the environment's units, within the bounds (with arrays).
        steps : int
            Minibatch updates (minibatches of ``batch_size`` drawn with replacement).
        rewards, next_observations, terminated : array_like, optional
            Given together, the demonstrations are whole transitions, as a dataset is.
        seed_replay : bool
            With whole transitions: store them in the replay buffer after pretraining and prepare
            fine-tuning (α for fine-tuning, ``critic_warmup_steps`` critic-only updates; see
            docs/algorithms.md, "The start of fine-tuning"). False trains the policy only.

        Returns
        -------
        dict of str to float
            The pretraining loss (``pretrain/...``, the mean over the last 100 steps), α after
            pretraining (``pretrain/alpha``) and the critic warm-up's means (``critic_warmup/...``).

        Raises
        ------
        InvalidArgumentError
            On any bad argument (the transitions or the dataset included), before anything is
            trained or stored.
        NumericalError
            If a step produced NaN or Inf; the agent is then restored to its state before the call
            (transitions already stored by it are taken back out).
        """
        seed_replay = _checks.boolean(seed_replay, "seed_replay")
        if datasets.is_dataset(observations):
            if any(value is not None for value in (actions, rewards, next_observations, terminated)):
                raise InvalidArgumentError(f"pretrain: observations was taken as a dataset (a {type(observations).__name__}), "
                                           "which brings its own actions and transitions; call pretrain(dataset, steps=...) "
                                           "with steps by keyword and no arrays")
            data = datasets.as_transitions(observations, self.observation_space, self.action_space)
            observations, actions = data.observations, data.actions
            rewards, next_observations, terminated = data.rewards, data.next_observations, data.terminated
        elif actions is None:
            raise InvalidArgumentError("pretrain needs actions with the observations array (or a dataset in place of both)")
        given = [value is not None for value in (rewards, next_observations, terminated)]
        if any(given) and not all(given):
            raise InvalidArgumentError("pass rewards, next_observations and terminated together, or none of them")
        # Every argument is converted and checked before the first call that changes the agent.
        steps = _checks.integer(steps, "steps", -2**63, 2**63 - 1)  # a C int64; the core checks >= 1
        if all(given) and seed_replay:  # the core checks the transitions again, trains, then stores them
            batch, unit, reward_array, following, flags = self._transitions(
                observations, actions, rewards, next_observations, terminated)
            return json.loads(_lib.string_result(
                _lib.lib.flowrl_agent_pretrain_transitions, self.handle, batch.ctypes.data, unit.ctypes.data,
                reward_array.ctypes.data, following.ctypes.data, flags.ctypes.data, batch.shape[0], self.observation_size,
                self.action_size, steps))
        if all(given):  # checked as whole transitions all the same, so a bad one is refused either way
            self._transitions(observations, actions, rewards, next_observations, terminated)
        batch, _ = self._observations(observations)
        unit = self._normalise_actions(actions, batch.shape[0])
        return json.loads(_lib.string_result(_lib.lib.flowrl_agent_pretrain, self.handle, batch.ctypes.data, unit.ctypes.data,
                                             batch.shape[0], self.observation_size, self.action_size, steps))

    def seed(self, seed: int) -> None:
        """Reseeds the core agent's random generator.

        Parameters
        ----------
        seed : int
            In ``[0, 2**64)``.
        """
        seed = _checks.integer(seed, "seed", 0, 2**64 - 1)
        _lib.call(_lib.lib.flowrl_agent_seed, self.handle, seed)

    def set_config(self, **values: float) -> None:
        """Changes configuration keys of the live agent: those the schema marks settable, the
        learning rates (``learning_rate``, and ``critic_learning_rate`` where there is a critic).

        Every optimiser that uses a key takes the new value (``learning_rate``: the policy's and,
        when α is tuned, α's); :attr:`config` and checkpoints report it. :meth:`flowrl.Agent.learn`
        calls this before each update for a learning-rate schedule.

        Parameters
        ----------
        **values : float
            Keys and their new values, such as ``learning_rate=1e-4``.

        Raises
        ------
        InvalidArgumentError
            Naming the key, for a key that cannot change or a value out of its range (checked as
            at creation); then nothing changed.
        """
        config = {key: _checks.config_value(value, key) for key, value in values.items()}
        _lib.call(_lib.lib.flowrl_agent_set_config, self.handle, json.dumps(config).encode())

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
        buffer). The file is replaced atomically: an interrupted save leaves the old one intact.
        The Python-side state (:meth:`_metadata`; for :class:`flowrl.Agent` ``verbose``, ``log_dir``,
        ``num_timesteps``, the random-action generator) is saved in the checkpoint's metadata; the env
        is not saved.

        Parameters
        ----------
        path : str, bytes or os.PathLike
            A regular file (replaced, keeping its permissions) or a new one (created with the
            umask's permissions). A symbolic link is followed: its target is replaced and the
            link stays.
        include_replay_buffer : bool

        Raises
        ------
        CheckpointError
            If ``path`` is a directory, a device, a FIFO or a socket, or the file cannot be written.
        InvalidArgumentError
            For an empty path, a path with a NUL byte, or one that is not a str, bytes or os.PathLike.
        """
        target = _checks.path(path)
        flag = int(_checks.boolean(include_replay_buffer, "include_replay_buffer"))
        self._store_metadata()
        _lib.call(_lib.lib.flowrl_agent_save, self.handle, target, flag)

    def to_bytes(self, include_replay_buffer: bool = True) -> bytes:
        """The agent as checkpoint bytes (what :meth:`save` writes)."""
        flag = int(_checks.boolean(include_replay_buffer, "include_replay_buffer"))
        self._store_metadata()
        size = ctypes.c_int64()
        _lib.call(_lib.lib.flowrl_agent_save_bytes, self.handle, flag, None, 0, ctypes.byref(size))
        while True:
            # Another thread may store transitions between the size query and the copy, growing the
            # checkpoint: leave some room, and retry with the size a too-small call reports.
            capacity = size.value + size.value // 16 + 4096
            buffer = (ctypes.c_uint8 * capacity)()
            status = _lib.lib.flowrl_agent_save_bytes(self.handle, flag, buffer, capacity, ctypes.byref(size))
            if status == InvalidArgumentError.status and size.value > capacity:
                continue
            _lib.check(status)
            return ctypes.string_at(buffer, size.value)

    @classmethod
    def load(cls: type[_Agent], path: PathLike, env: Any = None) -> _Agent:
        """Loads a checkpoint written by :meth:`save`.

        Parameters
        ----------
        path : str or os.PathLike
        env : gymnasium.Env, optional
            If given, its spaces must match the saved ones; it becomes the agent's env for
            :meth:`flowrl.Agent.learn`.

        Raises
        ------
        CheckpointError
            If the file is missing, unreadable, truncated, corrupted or of another format version.
        """
        handle = ctypes.c_void_p()
        _lib.call(_lib.lib.flowrl_agent_load, _checks.path(path), ctypes.byref(handle))
        return cls._from_handle(handle.value, env)

    @classmethod
    def from_bytes(cls: type[_Agent], data: bytes, env: Any = None) -> _Agent:
        """An agent from :meth:`to_bytes` output or a checkpoint file's contents."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidArgumentError(f"data must be bytes, got {type(data).__name__}")
        data = bytes(data)
        raw = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        handle = ctypes.c_void_p()
        _lib.call(_lib.lib.flowrl_agent_load_bytes, raw, len(data), ctypes.byref(handle))
        return cls._from_handle(handle.value, env)

    @classmethod
    def _from_handle(cls: type[_Agent], handle: Optional[int], env: Any) -> _Agent:
        """The agent of a loaded handle, of the class registered for its algorithm, with the
        spaces recorded in its metadata (or ``env``'s) and the Python-side state restored.

        Raises
        ------
        InvalidArgumentError
            If the algorithm is not ``cls`` or a subclass, or ``env``'s spaces differ.
        CheckpointError
            If the recorded spaces or the Python-side state are invalid.
        """
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
            observation_space, action_space = recorded_spaces(metadata)
        except CheckpointError:
            agent.close()
            raise
        except (KeyError, TypeError, ValueError):
            if env is None:
                agent.close()
                raise InvalidArgumentError("the checkpoint does not record its spaces; pass env=") from None
            observation_space, action_space = CoreAgent._spaces(env, None, None)
        else:
            try:  # recorded spaces pass the constructor's checks (an infinite action bound would give NaN actions)
                CoreAgent._spaces(None, observation_space, action_space)
            except InvalidArgumentError as error:
                agent.close()
                raise CheckpointError(f"the checkpoint's recorded spaces are invalid: {error}") from None
        if env is not None:
            env_observation, env_action = CoreAgent._spaces(env, None, None)
            if not same_observation_layout(env_observation, observation_space) or env_action.shape != action_space.shape or not (
                    np.allclose(env_action.low, action_space.low) and np.allclose(env_action.high, action_space.high)):
                agent.close()
                raise InvalidArgumentError("the env's spaces differ from the ones the agent was saved with")
            observation_space, action_space = env_observation, env_action
        agent._set_spaces(observation_space, action_space)
        if agent.observation_size != info["observation_size"] or agent.action_size != info["action_size"]:
            agent.close()
            raise InvalidArgumentError("the checkpoint's recorded spaces do not match its networks")
        try:
            agent._restore_python_state(info, env)
        except InvalidArgumentError as error:
            agent.close()
            raise CheckpointError(f"the checkpoint's metadata is invalid: {error}") from None
        return agent

    def _restore_python_state(self, info: dict[str, Any], env: Any) -> None:
        """Restores what lives in Python only from a loaded agent's :meth:`info` (its metadata
        holds what :meth:`_metadata` wrote); ``env`` is the env given to :meth:`load`.
        The core agent has none; a subclass that adds state overrides this.

        Raises
        ------
        InvalidArgumentError
            Naming the field, for an invalid entry (:meth:`load` reports it as a CheckpointError).
        """

    def __getstate__(self) -> dict[str, Any]:
        return {"checkpoint": self.to_bytes(include_replay_buffer=True)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        restored = CoreAgent.from_bytes(state["checkpoint"])
        # Take over the restored agent's handle, spaces and Python-side state; detach its finalizer.
        restored._finalizer.detach()
        attributes = {name: value for name, value in vars(restored).items() if name not in ("_handle", "_finalizer")}
        self.__dict__.update(attributes)
        self._adopt(restored._handle)

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"observation_size={self.observation_size}, action_size={self.action_size}"
        return f"{type(self).__name__}({state})"

