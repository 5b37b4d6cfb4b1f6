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

Stable-Baselines3's vector envs (``DummyVecEnv``, ``SubprocVecEnv``, ``VecNormalize`` and other
wrappers, as ``make_vec_env`` builds them) are recognised by duck typing, without importing
Stable-Baselines3: ``reset()`` returns the observations only, ``step`` returns
``(obs, rewards, dones, infos)`` with ``infos`` a list of dicts, sub-envs reset in the step that
ends them (the final observation in ``info["terminal_observation"]``, a time-limit truncation
flagged by ``info["TimeLimit.truncated"]``), and seeds are set with ``env.seed(seed)`` before a
reset. Where Stable-Baselines3's ``Monitor`` put ``info["episode"]``, its return and length are
the episode's (they are the raw rewards' even under ``VecNormalize``).

:class:`VecEnvAdapter` goes the other way: it shows a gymnasium env (single or vector) with
Stable-Baselines3's ``VecEnv`` interface, which is what :meth:`flowrl.Agent.get_env` returns.

An env whose observation space is a ``Dict`` or ``Tuple`` (:mod:`flowrl._spaces`) is flattened
here: :class:`EnvBatch` gives the flat ``(n, size)`` float32 arrays the core takes (gymnasium's
``spaces.flatten`` layout), and :meth:`EnvBatch.user_observations` the dicts (tuples) of batched
arrays that Stable-Baselines3's ``VecEnv`` would give, for callbacks and :class:`VecEnvAdapter`.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import numpy as np

from . import _spaces

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


def is_sb3_vec_env(env: Any) -> bool:
    """True for an env with Stable-Baselines3's ``VecEnv`` interface (duck typing: ``num_envs``,
    ``step_async`` and ``step_wait``, and not a gymnasium vector env)."""
    if env is None or is_vector_env(env):
        return False
    return all(hasattr(env, name) for name in ("num_envs", "step_async", "step_wait", "reset", "step"))


def vec_normalize_chain(env: Any) -> list[Any]:
    """The ``VecNormalize``-like layers of a Stable-Baselines3 wrapper chain (those with ``obs_rms``),
    outermost first, found by following ``.venv``."""
    found: list[Any] = []
    seen: set[int] = set()
    while env is not None and id(env) not in seen:
        seen.add(id(env))
        if hasattr(env, "obs_rms") and hasattr(env, "ret_rms"):
            found.append(env)
        env = getattr(env, "venv", None)
    return found


def sync_normalization(source: Any, target: Any) -> None:
    """Copies the running statistics of every ``VecNormalize`` layer of ``source`` into the
    matching layer of ``target`` (Stable-Baselines3's ``sync_envs_normalization``, by duck typing);
    does nothing when either has none."""
    for from_layer, to_layer in zip(vec_normalize_chain(source), vec_normalize_chain(target)):
        to_layer.obs_rms = copy.deepcopy(from_layer.obs_rms)
        to_layer.ret_rms = copy.deepcopy(from_layer.ret_rms)


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
        The env's info (a dict of arrays for a gymnasium vector env, a dict for a single env, a list
        of dicts for a Stable-Baselines3 vector env).
    finished : list of (float, int)
        Return and length of each episode that ended in this step.
    finished_indices : numpy.ndarray
        The sub-env of each entry of ``finished``.
    elapsed : float
        Seconds since the batch was created (``info["episode"]["t"]``).
    """

    observations: np.ndarray
    real: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    next_observations: np.ndarray
    infos: Any
    finished: list[tuple[float, int]]
    finished_indices: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    elapsed: float = 0.0
    _info_list: Optional[list[dict[str, Any]]] = None
    #: one flat observation as the user's side sees it (a Dict env's dict); None: the flat row itself
    _user: Optional[Callable[[np.ndarray], Any]] = None

    @property
    def dones(self) -> np.ndarray:
        """``terminated | truncated`` for real transitions."""
        return (self.terminated | self.truncated) & self.real

    def info_list(self) -> list[dict[str, Any]]:
        """The infos as Stable-Baselines3 shapes them: one dict per sub-env; where an episode
        ended, ``"episode": {"r", "l", "t"}`` (as its ``Monitor`` writes it),
        ``"terminal_observation"`` and ``"TimeLimit.truncated"``."""
        if self._info_list is None:
            self._info_list = _split_infos(self.infos, len(self.real))
            for index, (episode_return, length) in zip(self.finished_indices, self.finished):
                info = self._info_list[index]
                info.setdefault("episode", {"r": episode_return, "l": length, "t": round(self.elapsed, 6)})
                info.setdefault("terminal_observation", self.next_observations[index] if self._user is None
                                else self._user(self.next_observations[index]))
                info.setdefault("TimeLimit.truncated", bool(self.truncated[index] and not self.terminated[index]))
        return self._info_list


def _split_infos(infos: Any, count: int) -> list[dict[str, Any]]:
    """A list of ``count`` info dicts from a single env's dict, a gymnasium vector env's dict of
    arrays (entries masked by ``_key`` dropped where absent) or a list of dicts (copied)."""
    if isinstance(infos, (list, tuple)):
        return [dict(info) if isinstance(info, dict) else {} for info in infos][:count] + [{} for _ in range(count - len(infos))]
    if not isinstance(infos, dict):
        return [{} for _ in range(count)]
    if count == 1 and not any(key.startswith("_") for key in infos):
        return [dict(infos)]
    result: list[dict[str, Any]] = [{} for _ in range(count)]
    for key, value in infos.items():
        if key.startswith("_"):
            continue
        mask = infos.get("_" + key)
        for index in range(count):
            if mask is not None and not bool(np.asarray(mask)[index]):
                continue
            try:
                result[index][key] = _split_infos(value, count)[index] if isinstance(value, dict) else value[index]
            except (TypeError, IndexError, KeyError):
                result[index][key] = value
    return result


class EnvBatch:
    """A single env or a vector env as a batch of ``num_envs`` sub-envs.

    Parameters
    ----------
    env : gymnasium.Env or gymnasium.vector.VectorEnv
    """

    def __init__(self, env: Any) -> None:
        self.env = env
        space = getattr(env, "single_observation_space", None) or getattr(env, "observation_space", None)
        #: the flattening of a Dict / Tuple observation space (None for a Box)
        self.layout: Optional[_spaces.Layout] = _spaces.layout(space)
        self.is_sb3 = is_sb3_vec_env(env)
        self.is_vector = self.is_sb3 or is_vector_env(env)
        self.num_envs = int(env.num_envs) if self.is_vector else 1
        self.mode = SAME_STEP if self.is_sb3 else autoreset_mode(env) if self.is_vector else DISABLED
        self._pending_reset = np.zeros(self.num_envs, dtype=bool)
        self._returns = np.zeros(self.num_envs, dtype=np.float64)
        self._lengths = np.zeros(self.num_envs, dtype=np.int64)
        self._start_time = time.time()

    def reset(self, seed: Optional[int] = None) -> np.ndarray:
        """Resets every sub-env; returns the ``(n, *obs_shape)`` float32 observations."""
        if self.is_sb3:
            if seed is not None and hasattr(self.env, "seed"):
                self.env.seed(seed)
            observations = self.env.reset()
            if isinstance(observations, tuple) and len(observations) == 2 and isinstance(observations[1], (dict, list)):
                observations = observations[0]  # a VecEnv-like object that returns (obs, infos)
        else:
            observations, _ = self.env.reset(seed=seed)
        self._pending_reset[:] = False
        self._returns[:] = 0.0
        self._lengths[:] = 0
        return self._batch(observations)

    def _batch(self, observations: Any) -> np.ndarray:
        if self.layout is not None:  # a new array: flattening copies
            flat, single = self.layout.flatten(observations, "the env's observation")
            if single == self.is_vector:
                raise RuntimeError(f"the {'vector ' if self.is_vector else ''}env returned "
                                   f"{'one observation' if single else 'a batch of observations'}")
            return flat
        array = np.array(observations, dtype=np.float32)  # a copy: vector envs may reuse their buffer
        return array if self.is_vector else array[None]

    def _one(self, observation: Any) -> np.ndarray:
        """One sub-env's observation (a final one) as a flat float32 row."""
        if self.layout is not None:
            return self.layout.flatten(observation, "the env's final observation")[0][0]
        return np.asarray(observation, dtype=np.float32)

    def user_observations(self, observations: np.ndarray) -> Any:
        """Flat ``(n, size)`` observations as the user's side sees them: the same array for a
        ``Box`` space, the dict (tuple) of batched arrays for a ``Dict`` (``Tuple``) space."""
        return observations if self.layout is None else self.layout.unflatten(observations)

    def user_observation(self, observation: np.ndarray) -> Any:
        """One flat observation as the user's side sees it (see :meth:`user_observations`)."""
        return observation if self.layout is None else self.layout.unflatten_one(observation)

    def step(self, actions: np.ndarray) -> Step:
        """Steps every sub-env with ``actions`` (``(n, action_size)``, within the bounds)."""
        if self.is_sb3:
            return self._step_sb3(actions)
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
                next_observations[index] = self._one(final[index])
        elif self.mode == DISABLED and done.any():
            if self.is_vector:
                reset_observations, _ = self.env.reset(options={"reset_mask": done.copy()})
                observations = np.where(done.reshape((-1,) + (1,) * (observations.ndim - 1)),
                                        self._batch(reset_observations), observations)
            else:
                observations = self._batch(self.env.reset()[0])

        self._returns[real] += rewards[real]
        self._lengths[real] += 1
        indices = np.flatnonzero(done)
        finished = [(float(self._returns[i]), int(self._lengths[i])) for i in indices]
        self._returns[done] = 0.0
        self._lengths[done] = 0
        self._pending_reset = done if self.mode == NEXT_STEP else np.zeros(self.num_envs, dtype=bool)
        return Step(observations, real, rewards, terminated, truncated, next_observations, infos, finished, indices,
                    time.time() - self._start_time, _user=self._user_function())

    def _step_sb3(self, actions: np.ndarray) -> Step:
        """A step of a Stable-Baselines3 vector env: same-step autoreset, infos a list of dicts."""
        observations, rewards, dones, infos = self.env.step(actions)
        observations = self._batch(observations)
        rewards = np.asarray(rewards, dtype=np.float64).reshape(self.num_envs)
        done = np.asarray(dones, dtype=bool).reshape(self.num_envs)
        infos = list(infos) if isinstance(infos, (list, tuple)) else [{} for _ in range(self.num_envs)]
        truncated = np.array([bool(done[i] and isinstance(infos[i], dict) and infos[i].get("TimeLimit.truncated", False))
                              for i in range(self.num_envs)])
        terminated = done & ~truncated
        next_observations = observations
        indices = np.flatnonzero(done)
        if indices.size:
            next_observations = observations.copy()
            for index in indices:
                final = infos[index].get("terminal_observation") if isinstance(infos[index], dict) else None
                if final is None:
                    raise RuntimeError("a Stable-Baselines3 vector env ended an episode without info['terminal_observation']")
                next_observations[index] = self._one(final).reshape(observations.shape[1:])
        self._returns += rewards
        self._lengths += 1
        finished = []
        for index in indices:
            monitor = infos[index].get("episode") if isinstance(infos[index], dict) else None
            if isinstance(monitor, dict) and "r" in monitor and "l" in monitor:
                finished.append((float(monitor["r"]), int(monitor["l"])))
            else:
                finished.append((float(self._returns[index]), int(self._lengths[index])))
        self._returns[done] = 0.0
        self._lengths[done] = 0
        return Step(observations, np.ones(self.num_envs, dtype=bool), rewards, terminated, truncated, next_observations,
                    infos, finished, indices, time.time() - self._start_time, _user=self._user_function())

    def _user_function(self) -> Optional[Callable[[np.ndarray], Any]]:
        return None if self.layout is None else self.layout.unflatten_one


class VecEnvAdapter:
    """A gymnasium env (single or vector) with Stable-Baselines3's ``VecEnv`` interface.

    ``reset()`` returns the ``(n, *obs_shape)`` observations only; ``step(actions)`` returns
    ``(obs, rewards, dones, infos)`` with ``infos`` a list of dicts; an ended sub-env is reset in
    the same step, its final observation in ``info["terminal_observation"]``, a time-limit end
    flagged by ``info["TimeLimit.truncated"]`` and its return and length in ``info["episode"]``.
    (A gymnasium vector env in NEXT_STEP autoreset mode still spends its next step on the reset:
    that step's reward is 0 and its ``done`` False.)

    Parameters
    ----------
    env : gymnasium.Env or gymnasium.vector.VectorEnv
    on_reset : callable, optional
        Called after every :meth:`reset` (the agent forgets its episode in progress).

    Attributes
    ----------
    num_envs : int
    observation_space, action_space : gymnasium.spaces.Space
        One sub-env's spaces, as in Stable-Baselines3.
    """

    def __init__(self, env: Any, on_reset: Optional[Callable[[], None]] = None) -> None:
        self.env = env
        self.venv = None
        self._batch = EnvBatch(env)
        self.num_envs = self._batch.num_envs
        self.observation_space = getattr(env, "single_observation_space", None) or env.observation_space
        self.action_space = getattr(env, "single_action_space", None) or env.action_space
        self._on_reset = on_reset
        self._seed: Optional[int] = None
        self._actions: Optional[np.ndarray] = None

    @property
    def envs(self) -> list[Any]:
        """The sub-envs, as ``DummyVecEnv.envs`` (the env itself for a single env)."""
        return list(getattr(self.env, "envs", [self.env]))

    def seed(self, seed: Optional[int] = None) -> list[Optional[int]]:
        """Seeds the next :meth:`reset` (Stable-Baselines3's semantics since gymnasium)."""
        self._seed = seed
        return [None if seed is None else seed + index for index in range(self.num_envs)]

    def reset(self) -> Any:
        """Resets every sub-env (with the seed of :meth:`seed`, once); returns the ``(n, *obs_shape)``
        observations (for a ``Dict`` space, a dict of such arrays, as Stable-Baselines3's ``VecEnv``)."""
        observations = self._batch.reset(seed=self._seed)
        self._seed = None
        if self._on_reset is not None:
            self._on_reset()
        return self._batch.user_observations(observations)

    def step_async(self, actions: Any) -> None:
        """Keeps ``actions`` (one row per sub-env) for :meth:`step_wait`."""
        self._actions = np.asarray(actions)

    def step_wait(self) -> tuple[Any, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        """Steps every sub-env with the actions of :meth:`step_async`; returns ``(obs, rewards, dones, infos)``."""
        actions, self._actions = self._actions, None
        if actions is None:
            raise RuntimeError("step_wait without step_async")
        actions = actions.reshape(self.num_envs, -1)
        step = self._batch.step(actions)
        infos = step.info_list()
        return self._batch.user_observations(step.observations), step.rewards.astype(np.float32), step.dones.copy(), infos

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        """Steps every sub-env; returns ``(obs, rewards, dones, infos)``."""
        self.step_async(actions)
        return self.step_wait()

    def render(self, mode: Optional[str] = None) -> Any:
        """The env's ``render()``."""
        return self.env.render()

    def close(self) -> None:
        """Closes the env."""
        self.env.close()

    def get_attr(self, attr_name: str, indices: Optional[Sequence[int]] = None) -> list[Any]:
        """The attribute ``attr_name`` of each sub-env."""
        envs = self.envs
        return [getattr(envs[i], attr_name) for i in (range(len(envs)) if indices is None else indices)]

    def set_attr(self, attr_name: str, value: Any, indices: Optional[Sequence[int]] = None) -> None:
        """Sets ``attr_name`` on each sub-env."""
        envs = self.envs
        for i in range(len(envs)) if indices is None else indices:
            setattr(envs[i], attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: Optional[Sequence[int]] = None,
                   **method_kwargs: Any) -> list[Any]:
        """Calls ``method_name`` on each sub-env."""
        envs = self.envs
        return [getattr(envs[i], method_name)(*method_args, **method_kwargs)
                for i in (range(len(envs)) if indices is None else indices)]

    def env_is_wrapped(self, wrapper_class: type, indices: Optional[Sequence[int]] = None) -> list[bool]:
        """Whether each sub-env is wrapped with ``wrapper_class``."""
        envs = self.envs
        result = []
        for index in range(len(envs)) if indices is None else indices:
            env, found = envs[index], False
            while env is not None and not found:
                found = isinstance(env, wrapper_class)
                inner = getattr(env, "env", None)
                env = inner if inner is not env else None
            result.append(found)
        return result

    def __repr__(self) -> str:
        return f"VecEnvAdapter({self.env!r})"

