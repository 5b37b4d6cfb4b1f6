"""The Stable-Baselines3-style training layer every flowrl agent shares: :meth:`learn`,
:meth:`predict`, :meth:`evaluate`, the env, the logger and the Python-side training state
(random-action generator, episode statistics). A mixin of :class:`flowrl.Agent`, kept apart so
the base class holds the handle and the step-level calls and this module the loop around them.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Optional, TypeVar, cast

import numpy as np

from . import _checks
from .callbacks import CallbackList, MaybeCallback, ProgressBarCallback, convert_callback
from .errors import InvalidArgumentError, InvalidStateError
from .logger import Logger, configure_logger
from .training import EnvBatch, evaluate_episodes

#: Defaults of the training-schedule keys read from ``config`` by :meth:`Agent.learn`.
_SCHEDULE_DEFAULTS = {"learning_starts": 100, "train_freq": 1, "gradient_steps": 1}

#: How many finished episodes feed ``rollout/ep_rew_mean`` and ``rollout/ep_len_mean``.
_EPISODE_WINDOW = 100


if TYPE_CHECKING:  # pragma: no cover
    from .agent import Agent

_Learner = TypeVar("_Learner", bound="OffPolicyLearning")


class OffPolicyLearning:
    """SB3's off-policy training loop and API, written against :class:`flowrl.Agent`'s step-level calls."""

    if TYPE_CHECKING:  # pragma: no cover - what the mixin uses of Agent
        observation_space: Any
        action_space: Any
        action_size: int
        _middle: np.ndarray
        _half_range: np.ndarray

        @staticmethod
        def _spaces(env: Any, observation_space: Any, action_space: Any) -> tuple[Any, Any]: ...
        @property
        def config(self) -> dict[str, Any]: ...
        def info(self) -> dict[str, Any]: ...
        def act(self, observations: Any, deterministic: bool = False) -> np.ndarray: ...
        def observe(self, observations: Any, actions: Any, rewards: Any, next_observations: Any, terminated: Any) -> None: ...
        def update(self, gradient_steps: int = 1) -> dict[str, float]: ...

    # ------------------------------------------------------------------ Python-side training state

    @staticmethod
    def _checked_training_metadata(saved: Any) -> dict[str, Any]:
        """The ``"training"`` entry of a checkpoint's metadata (what :meth:`_training_metadata`
        wrote), each field checked; an absent entry is an empty one.

        Raises
        ------
        InvalidArgumentError
            Naming the field, for a value of the wrong type or out of range.
        """
        if saved is None:
            return {}
        if not isinstance(saved, dict):
            raise InvalidArgumentError(f"training must be an object, got {type(saved).__name__}")
        counts = {key: _checks.integer(saved.get(key, 0), f"training.{key}", 0, 2**53)
                  for key in ("num_timesteps", "episode_num")}
        action_rng = saved.get("action_rng")
        if action_rng is not None and not isinstance(action_rng, str):
            raise InvalidArgumentError(f"training.action_rng must be a string, got {type(action_rng).__name__}")
        return {"verbose": _checks.integer(saved.get("verbose") or 0, "training.verbose", 0, 2**31 - 1),
                "log_dir": _checks.optional_path(saved.get("log_dir"), "training.log_dir"), **counts, "action_rng": action_rng}

    def _init_training_state(self, seed: int, saved: Optional[dict[str, Any]] = None) -> None:
        """Sets the attributes that live in Python only: settings, counters, the random-action generator.

        ``saved`` is the ``"training"`` entry of a checkpoint's metadata (or the constructor's
        ``verbose`` and ``log_dir``).
        """
        saved = saved or {}
        self.env = None
        self.verbose = int(saved.get("verbose") or 0)
        log_dir = saved.get("log_dir")
        self.log_dir: Optional[str] = None if log_dir is None else os.fspath(log_dir)
        self.num_timesteps = int(saved.get("num_timesteps", 0))
        self._episode_num = int(saved.get("episode_num", 0))
        self._n_updates = 0
        self._total_timesteps = 0
        self.ep_info_buffer: deque[dict[str, float]] = deque(maxlen=_EPISODE_WINDOW)
        self._logger: Optional[Logger] = None
        self._custom_logger = False
        self._rollout: Optional[tuple[Any, EnvBatch, np.ndarray]] = None
        # the first reset of learn() seeds the env (not again after a checkpoint of a trained agent)
        self._env_seed: Optional[int] = seed if self.num_timesteps == 0 else None
        self._action_rng = np.random.default_rng(seed)
        state = saved.get("action_rng")
        if state:
            try:
                self._action_rng.bit_generator.state = json.loads(state)
            except (TypeError, ValueError, KeyError):
                pass  # a generator of another kind: keep the fresh one

    def _training_metadata(self) -> dict[str, Any]:
        return {
            "verbose": self.verbose,
            "log_dir": self.log_dir,
            "num_timesteps": self.num_timesteps,
            "episode_num": self._episode_num,
            # the state holds 128-bit integers, which the core's JSON would round: keep it as text
            "action_rng": json.dumps(self._action_rng.bit_generator.state),
        }

    # ------------------------------------------------------------------ Stable-Baselines3-style API

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = False) -> tuple[np.ndarray, None]:
        """Stable-Baselines3's ``predict``: actions for one observation or a batch.

        Parameters
        ----------
        observation : array_like
            Exactly ``observation_space.shape`` gives one action ``(action_size,)``; a batch
            ``(n, *observation_space.shape)`` gives ``(n, action_size)``.
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

    def evaluate(self, env: Any = None, n_episodes: int = 10, deterministic: bool = True,
                 seed: Optional[int] = None) -> tuple[float, float]:
        """Mean and standard deviation of the return over ``n_episodes`` full episodes.

        Parameters
        ----------
        env : gymnasium.Env or gymnasium.vector.VectorEnv, optional
            Defaults to the agent's env (whose episode in progress in :meth:`learn` is then
            abandoned: the next ``learn`` resets it).
        n_episodes : int
        deterministic : bool
            Act from zero flow noise (the default, as in Stable-Baselines3's ``evaluate_policy``).
        seed : int, optional
            Passed to the env's first reset, for reproducible evaluations.

        Returns
        -------
        mean_return, std_return : float
        """
        n_episodes = _checks.integer(n_episodes, "n_episodes", 1, 2**63 - 1)
        deterministic = _checks.boolean(deterministic, "deterministic")
        seed = _checks.optional_integer(seed, "seed", 0, 2**64 - 1)
        if env is None:
            env = self._require_env()
        else:
            self._check_env(env)
        if self._rollout is not None and self._rollout[0] is env:
            self._rollout = None
        returns, _ = evaluate_episodes(cast("Agent", self), env, n_episodes, deterministic=deterministic, seed=seed)
        return float(np.mean(returns)), float(np.std(returns))

    def set_env(self, env: Any) -> None:
        """Sets the env :meth:`learn` steps; its spaces must match the agent's."""
        self._check_env(env)
        self.env = env
        self._rollout = None

    def _check_env(self, env: Any) -> None:
        """Raises InvalidArgumentError unless ``env`` has Box spaces of the agent's shapes."""
        if env is None:
            raise InvalidArgumentError("env is None")
        observation_space, action_space = self._spaces(env, None, None)
        if observation_space.shape != self.observation_space.shape or action_space.shape != self.action_space.shape:
            raise InvalidArgumentError(
                f"the env's spaces {observation_space.shape}, {action_space.shape} differ from the agent's "
                f"{self.observation_space.shape}, {self.action_space.shape}")

    def get_env(self) -> Any:
        """The env :meth:`learn` steps, or None."""
        return self.env

    @property
    def logger(self) -> Logger:
        """The logger :meth:`learn` writes to (callbacks may record values into it)."""
        if self._logger is None:
            self._logger = Logger()
        return self._logger

    def set_logger(self, logger: Logger) -> None:
        """Uses ``logger`` for every later :meth:`learn` instead of the one built from
        ``verbose`` and ``log_dir``."""
        self._logger = logger
        self._custom_logger = True

    def learn(self: _Learner, total_timesteps: int, callback: MaybeCallback = None, log_interval: Optional[int] = 4,
              progress_bar: bool = False, reset_num_timesteps: bool = True) -> _Learner:
        """Trains the agent on its env, Stable-Baselines3's off-policy loop.

        Every step acts for all sub-envs at once (random actions, uniform in the ``Box``, until
        ``learning_starts`` transitions were collected; then sampled from the policy), stores
        the step's real transitions with one :meth:`observe` (never the step of a NEXT_STEP
        autoreset; ``terminated`` is stored, a truncation is not a termination; the final
        observation, not the reset one, is the next observation), and every ``train_freq``
        steps, once more than ``learning_starts`` transitions were collected, calls
        ``update(gradient_steps)``. ``learning_starts``, ``train_freq`` and ``gradient_steps``
        come from :attr:`config` (defaults 100, 1, 1); ``gradient_steps=-1`` runs as many
        gradient steps as transitions were collected in the last ``train_freq`` steps.

        Parameters
        ----------
        total_timesteps : int
            Transitions to collect (with ``n`` sub-envs the last step may overshoot by ``n - 1``).
        callback : BaseCallback, callable, list or None
            See :mod:`flowrl.callbacks`; a list becomes a :class:`~flowrl.callbacks.CallbackList`
            and ``f(locals_dict, globals_dict) -> bool`` is called after every step.
        log_interval : int or None
            Write a log row (``rollout/``, ``time/`` and the latest ``train/`` values) every this many
            episodes; None never.
        progress_bar : bool
            Show a tqdm progress bar (``pip install tqdm``).
        reset_num_timesteps : bool
            Start ``num_timesteps`` from 0, reset the env and start ``progress.csv`` anew; with False,
            continue the count, the episodes in progress and the CSV file.

        Returns
        -------
        Agent
            ``self``.

        Notes
        -----
        An exception (such as KeyboardInterrupt) leaves the agent usable: each core call is atomic,
        ``num_timesteps`` is re-read from the core's ``transitions_seen`` counter, and the next
        ``learn`` resets the env.
        """
        total_timesteps = _checks.integer(total_timesteps, "total_timesteps", 0, 2**63 - 1)
        log_interval = _checks.optional_integer(log_interval, "log_interval", 1, 2**63 - 1)
        progress_bar = _checks.boolean(progress_bar, "progress_bar")
        reset_num_timesteps = _checks.boolean(reset_num_timesteps, "reset_num_timesteps")
        env = self._require_env()
        learning_starts, train_freq, gradient_steps = self._train_schedule()
        callback = convert_callback(callback)
        progress = ProgressBarCallback() if progress_bar else None  # raises now if tqdm is missing
        if progress is not None:
            callback = CallbackList([callback, progress])

        # Set-up: counters, env, logger, callbacks.
        if reset_num_timesteps:
            self.num_timesteps = 0
            self._episode_num = 0
            self.ep_info_buffer.clear()
        counters = self.info()["counters"]
        self._n_updates = int(counters.get("updates", 0))
        self._seen_at_start = int(counters.get("transitions_seen", 0))
        self._timesteps_at_start = self.num_timesteps
        self._total_timesteps = self.num_timesteps + total_timesteps
        self._start_time = time.time()
        if not self._custom_logger:
            self._logger = configure_logger(self.verbose, self.log_dir, append=not reset_num_timesteps)
        if self._rollout is not None and self._rollout[0] is env and not reset_num_timesteps:
            _, batch, observations = self._rollout
        else:
            batch = EnvBatch(env)
            observations = batch.reset(seed=self._env_seed)
            self._env_seed = None
        self._rollout = None  # until the loop below has a consistent (env, observations) pair again
        loop = {"self": self, "env": env, "callback": callback, "total_timesteps": self._total_timesteps,
                "start_timesteps": self._timesteps_at_start, "log_interval": log_interval,
                "learning_starts": learning_starts, "train_freq": train_freq, "gradient_steps": gradient_steps}
        callback.init_callback(cast("Agent", self))
        callback.on_training_start(loop, globals())

        steps = 0
        collected = 0  # transitions in the last train_freq steps (for gradient_steps=-1)
        try:
            while self.num_timesteps < self._total_timesteps:
                if self.num_timesteps < learning_starts:
                    actions = self._random_actions(batch.num_envs)
                else:
                    actions = self._env_actions(self.act(observations))
                step = batch.step(actions)
                count = int(np.count_nonzero(step.real))
                if count:
                    rows = slice(None) if count == batch.num_envs else step.real
                    self.observe(observations[rows], actions[rows], step.rewards[rows],
                                 step.next_observations[rows], step.terminated[rows])
                    self.num_timesteps += count
                    collected += count
                observations = step.observations
                steps += 1
                episodes_before = self._episode_num
                for episode_return, length in step.finished:
                    self.ep_info_buffer.append({"r": episode_return, "l": length,
                                                "t": round(time.time() - self._start_time, 6)})
                    self._episode_num += 1

                loop.update(actions=actions, new_obs=observations, rewards=step.rewards, dones=step.dones,
                            terminated=step.terminated, truncated=step.truncated, infos=step.infos, real=step.real)
                callback.update_locals(loop)
                if not callback.on_step():
                    break
                if log_interval is not None and self._episode_num // log_interval > episodes_before // log_interval:
                    self._dump_logs()
                if steps % train_freq == 0:
                    n_steps = gradient_steps if gradient_steps > 0 else collected
                    if self.num_timesteps > learning_starts and n_steps > 0:
                        self._train(n_steps)
                    collected = 0
        except BaseException:
            self._resync_counters()
            if progress is not None:
                progress.close()
            raise
        self._rollout = (env, batch, observations)
        callback.on_training_end()
        return self

    def _require_env(self) -> Any:
        if self.env is None:
            raise InvalidStateError("the agent has no env: pass one to the constructor, to load(env=...) or to set_env")
        return self.env

    def _train_schedule(self) -> tuple[int, int, int]:
        """``learning_starts``, ``train_freq`` and ``gradient_steps`` from the config (or the defaults)."""
        config = self.config
        values = {key: config.get(key, default) for key, default in _SCHEDULE_DEFAULTS.items()}
        learning_starts, train_freq, gradient_steps = (int(values[key]) for key in _SCHEDULE_DEFAULTS)
        if learning_starts < 0 or train_freq < 1 or gradient_steps == 0 or gradient_steps < -1:
            raise InvalidArgumentError(f"invalid training schedule {values}: need learning_starts >= 0, "
                                       "train_freq >= 1 and gradient_steps >= 1 or -1")
        return learning_starts, train_freq, gradient_steps

    def _random_actions(self, count: int) -> np.ndarray:
        """``count`` actions drawn uniformly from the action ``Box``."""
        unit = self._action_rng.uniform(-1.0, 1.0, size=(count, self.action_size))
        return self._env_actions(unit.astype(self.action_space.dtype) * self._half_range + self._middle)

    def _env_actions(self, actions: np.ndarray) -> np.ndarray:
        """Actions clipped to the ``Box`` bounds, in the action space's dtype."""
        clipped = np.minimum(np.maximum(actions, self.action_space.low), self.action_space.high)  # np.clip, cheaper per call
        return clipped.astype(self.action_space.dtype, copy=False)

    def _train(self, gradient_steps: int) -> None:
        """One ``update`` and its metrics into the logger (``train/`` prefix added where missing)."""
        metrics = self.update(gradient_steps)
        self._n_updates += gradient_steps
        for key, value in metrics.items():
            self.logger.record(key if "/" in key else f"train/{key}", value)
        self.logger.record("train/n_updates", self._n_updates)

    def _dump_logs(self) -> None:
        """Records the ``rollout/`` and ``time/`` values and writes the row."""
        elapsed = max(time.time() - self._start_time, 1e-9)
        logger = self.logger
        if self.ep_info_buffer:
            logger.record("rollout/ep_rew_mean", float(np.mean([episode["r"] for episode in self.ep_info_buffer])))
            logger.record("rollout/ep_len_mean", float(np.mean([episode["l"] for episode in self.ep_info_buffer])))
        logger.record("time/episodes", self._episode_num)
        logger.record("time/fps", int((self.num_timesteps - self._timesteps_at_start) / elapsed))
        logger.record("time/time_elapsed", int(elapsed))
        logger.record("time/total_timesteps", self.num_timesteps)
        logger.dump(step=self.num_timesteps)

    def _resync_counters(self) -> None:
        """After an exception in :meth:`learn`: counters re-read from the core, env to be reset."""
        self._rollout = None
        try:
            counters = self.info()["counters"]
        except Exception:  # the agent itself is unusable (closed): nothing to keep consistent
            return
        if "transitions_seen" in counters:
            self.num_timesteps = self._timesteps_at_start + int(counters["transitions_seen"]) - self._seen_at_start
        if "updates" in counters:
            self._n_updates = int(counters["updates"])

    # ------------------------------------------------------------------ persistence
