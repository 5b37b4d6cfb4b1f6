"""Stable-Baselines3's off-policy training loop, built on the step-level calls of :class:`~flowrl.core.CoreAgent`.

:class:`OffPolicyLearning` adds what lives in Python only (the env, the logger, the random-action
generator, the episode statistics) and the loop around the core's calls. :meth:`~OffPolicyLearning.learn`
is split as Stable-Baselines3 splits it:

- :meth:`~OffPolicyLearning._setup_learn` checks the arguments, resets or continues the counters,
  builds the logger, resets or resumes the env and starts the callbacks;
- :meth:`~OffPolicyLearning._collect_rollouts` steps the env (random actions before
  ``learning_starts``, then the policy's), stores the real transitions with one
  :meth:`~flowrl.core.CoreAgent.observe` per step and runs the callbacks, until ``train_freq``
  steps are done, the budget is spent or a callback stops training;
- :meth:`~OffPolicyLearning._train` runs the gradient steps due after a full ``train_freq``
  round (one :meth:`~flowrl.core.CoreAgent.update`) and logs its metrics.

The module imports the core, the env batching, evaluation, callbacks and the logger; none of them
imports it back.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Optional, TypeVar

import numpy as np

from . import _checks, _schema
from .callbacks import BaseCallback, CallbackList, MaybeCallback, ProgressBarCallback, convert_callback
from .core import CoreAgent
from .envs import EnvBatch, Step
from .errors import InvalidArgumentError, InvalidStateError
from .evaluation import evaluate_episodes
from .logger import Logger, configure_logger

#: How many finished episodes feed ``rollout/ep_rew_mean`` and ``rollout/ep_len_mean``.
_EPISODE_WINDOW = 100

_Learner = TypeVar("_Learner", bound="OffPolicyLearning")


@dataclass
class _Run:
    """The state of one :meth:`OffPolicyLearning.learn` call, shared by its parts.

    Attributes
    ----------
    env : Any
        The env being stepped.
    batch : EnvBatch
        ``env`` as a batch of sub-envs.
    observations : numpy.ndarray
        What to act on next, ``(num_envs, *obs_shape)``.
    callback : BaseCallback
        The callbacks (with the progress bar, if any).
    progress : ProgressBarCallback or None
        The progress bar, closed on an exception.
    log_interval : int or None
        Write a log row every this many episodes.
    learning_starts, train_freq, gradient_steps : int
        The training schedule.
    random_actions : bool
        Act uniformly at random until ``learning_starts`` (``warmup_actions``; not after
        :meth:`pretrain` unless asked).
    stored_at_start : int
        Transitions that count towards ``learning_starts`` before this run: the replay buffer's
        contents when the agent was pretrained and acts with its policy, else 0.
    locals : dict
        The loop's variables as callbacks see them (``self.locals``).
    steps : int
        Vector-env steps taken by this call.
    """

    env: Any
    batch: EnvBatch
    observations: np.ndarray
    callback: BaseCallback
    progress: Optional[ProgressBarCallback]
    log_interval: Optional[int]
    learning_starts: int
    train_freq: int
    gradient_steps: int
    random_actions: bool = True
    stored_at_start: int = 0
    locals: dict[str, Any] = field(default_factory=dict)
    steps: int = 0


class RolloutReturn(NamedTuple):
    """What :meth:`OffPolicyLearning._collect_rollouts` collected.

    Attributes
    ----------
    timesteps : int
        Real transitions stored.
    complete : bool
        True if the round ended on a ``train_freq`` boundary (the point where training is due).
    continue_training : bool
        False if a callback stopped training.
    """

    timesteps: int
    complete: bool
    continue_training: bool


class OffPolicyLearning(CoreAgent):
    """SB3's off-policy training loop and API (:meth:`learn`, :meth:`evaluate`, the env, the
    logger), written on :class:`~flowrl.core.CoreAgent`'s step-level calls."""

    # ------------------------------------------------------------------ Python-side training state

    @staticmethod
    def _checked_settings(verbose: Any, log_dir: Any) -> dict[str, Any]:
        """The constructor's Python-only settings, checked (as :meth:`_init_training_state` takes them).

        Raises
        ------
        InvalidArgumentError
            Naming the argument.
        """
        return {"verbose": _checks.integer(verbose, "verbose", 0, 2**31 - 1),
                "log_dir": _checks.optional_path(log_dir, "log_dir")}

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

    def _metadata(self) -> dict[str, Any]:
        """The core's metadata (the spaces) and, under ``"training"``, the Python-side state."""
        return {**super()._metadata(), "training": self._training_metadata()}

    def _restore_python_state(self, info: dict[str, Any], env: Any) -> None:
        """Restores the Python-side state from a loaded checkpoint's ``"training"`` entry; ``env``
        becomes the agent's env.

        Raises
        ------
        InvalidArgumentError
            Naming the field, for an invalid entry.
        """
        training = self._checked_training_metadata(info.get("metadata", {}).get("training"))
        self._init_training_state(int(info.get("config", {}).get("seed", 0)), training)
        self.env = env

    def seed(self, seed: int) -> None:
        """Reseeds the agent's random generators (the core's and :meth:`learn`'s random actions);
        the next :meth:`learn` also resets its env with this seed.

        Parameters
        ----------
        seed : int
            In ``[0, 2**64)``.
        """
        seed = _checks.integer(seed, "seed", 0, 2**64 - 1)
        super().seed(seed)
        self._action_rng = np.random.default_rng(seed)
        self._env_seed = seed
        self._rollout = None

    # ------------------------------------------------------------------ Stable-Baselines3-style API

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
        returns, _ = evaluate_episodes(self, env, n_episodes, deterministic=deterministic, seed=seed)
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
        ``update(gradient_steps)``; ``gradient_steps=-1`` runs as many
        gradient steps as transitions were collected in the last ``train_freq`` steps.
        ``learning_starts``, ``train_freq`` and ``gradient_steps`` come from :attr:`config` or,
        for an algorithm without them (FlowBC), from the core's schema.

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
        run = self._setup_learn(total_timesteps, callback, log_interval, progress_bar, reset_num_timesteps)
        try:
            while self.num_timesteps < self._total_timesteps:
                rollout = self._collect_rollouts(run)
                if not rollout.continue_training:
                    break
                if rollout.complete:
                    gradient_steps = run.gradient_steps if run.gradient_steps > 0 else rollout.timesteps
                    if self.num_timesteps + run.stored_at_start > run.learning_starts and gradient_steps > 0:
                        self._train(gradient_steps)
        except BaseException:
            self._resync_counters()
            if run.progress is not None:
                run.progress.close()
            raise
        self._rollout = (run.env, run.batch, run.observations)
        run.callback.on_training_end()
        return self

    # ------------------------------------------------------------------ the parts of learn

    def _setup_learn(self, total_timesteps: Any, callback: MaybeCallback, log_interval: Any, progress_bar: Any,
                     reset_num_timesteps: Any) -> _Run:
        """Checks :meth:`learn`'s arguments, then starts a run: counters, logger, env, callbacks.

        Nothing changes before every argument, the env and the schedule were checked.
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

        self._start_counters(total_timesteps, reset_num_timesteps)
        if not self._custom_logger:
            self._logger = configure_logger(self.verbose, self.log_dir, append=not reset_num_timesteps)
        batch, observations = self._start_rollout(env, resume=not reset_num_timesteps)
        random_actions, stored_at_start = self._warmup()
        run = _Run(env, batch, observations, callback, progress, log_interval, learning_starts, train_freq, gradient_steps,
                   random_actions, stored_at_start)
        run.locals = {"self": self, "env": env, "callback": callback, "total_timesteps": self._total_timesteps,
                      "start_timesteps": self._timesteps_at_start, "log_interval": log_interval,
                      "learning_starts": learning_starts, "train_freq": train_freq, "gradient_steps": gradient_steps}
        callback.init_callback(self)
        callback.on_training_start(run.locals, globals())
        return run

    def _start_counters(self, total_timesteps: int, reset_num_timesteps: bool) -> None:
        """Resets (or continues) the timestep and episode counts and reads the core's counters."""
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

    def _start_rollout(self, env: Any, resume: bool) -> tuple[EnvBatch, np.ndarray]:
        """The env batch and the observations to act on: the previous run's, when resuming on the
        same env, else a fresh reset (seeded after construction or :meth:`seed`)."""
        if self._rollout is not None and self._rollout[0] is env and resume:
            _, batch, observations = self._rollout
        else:
            batch = EnvBatch(env)
            observations = batch.reset(seed=self._env_seed)
            self._env_seed = None
        self._rollout = None  # until learn ends with a consistent (env, observations) pair again
        return batch, observations

    def _collect_rollouts(self, run: _Run) -> RolloutReturn:
        """Steps the env until the next ``train_freq`` boundary, the end of the budget, or a
        callback's stop.

        Each step acts for every sub-env, stores the step's real transitions with one
        :meth:`observe`, records finished episodes, calls the callbacks and writes a log row every
        ``log_interval`` episodes.
        """
        collected = 0
        while self.num_timesteps < self._total_timesteps:
            actions = self._rollout_actions(run)
            step = run.batch.step(actions)
            collected += self._store_transitions(run.observations, actions, step)
            run.observations = step.observations
            run.steps += 1
            episodes_before = self._episode_num
            self._record_episodes(step)

            run.locals.update(actions=actions, new_obs=run.observations, rewards=step.rewards, dones=step.dones,
                              terminated=step.terminated, truncated=step.truncated, infos=step.infos, real=step.real)
            run.callback.update_locals(run.locals)
            if not run.callback.on_step():
                return RolloutReturn(collected, complete=False, continue_training=False)
            if run.log_interval is not None and self._episode_num // run.log_interval > episodes_before // run.log_interval:
                self._dump_logs()
            if run.steps % run.train_freq == 0:
                return RolloutReturn(collected, complete=True, continue_training=True)
        return RolloutReturn(collected, complete=False, continue_training=True)

    def _rollout_actions(self, run: _Run) -> np.ndarray:
        """Actions for every sub-env: uniform in the ``Box`` until ``learning_starts`` transitions
        were collected (unless the warm-up acts with the policy), then sampled from the policy."""
        if run.random_actions and self.num_timesteps < run.learning_starts:
            return self._random_actions(run.batch.num_envs)
        return self._env_actions(self.act(run.observations))

    def _store_transitions(self, observations: np.ndarray, actions: np.ndarray, step: Step) -> int:
        """Stores the step's real transitions with one :meth:`observe` and counts them."""
        count = int(np.count_nonzero(step.real))
        if count:
            rows = slice(None) if count == len(step.real) else step.real
            self.observe(observations[rows], actions[rows], step.rewards[rows], step.next_observations[rows],
                         step.terminated[rows])
            self.num_timesteps += count
        return count

    def _record_episodes(self, step: Step) -> None:
        """Adds the episodes that ended in ``step`` to ``ep_info_buffer``."""
        for episode_return, length in step.finished:
            self.ep_info_buffer.append({"r": episode_return, "l": length, "t": round(time.time() - self._start_time, 6)})
            self._episode_num += 1

    def _require_env(self) -> Any:
        if self.env is None:
            raise InvalidStateError("the agent has no env: pass one to the constructor, to load(env=...) or to set_env")
        return self.env

    def _train_schedule(self) -> tuple[int, int, int]:
        """``learning_starts``, ``train_freq`` and ``gradient_steps`` from the config (checked by the
        core), or the schema's ``training_loop_defaults`` for an algorithm whose config has none."""
        config = self.config
        defaults = _schema.schema(self.algorithm).training_loop_defaults
        learning_starts, train_freq, gradient_steps = (int(config.get(key, defaults[key]))
                                                       for key in ("learning_starts", "train_freq", "gradient_steps"))
        return learning_starts, train_freq, gradient_steps

    def _warmup(self) -> tuple[bool, int]:
        """Whether the warm-up acts at random, and the transitions already counted towards
        ``learning_starts``: ``warmup_actions="auto"`` acts with the policy once the agent was
        pretrained, and a pretrained agent acting with its policy counts the transitions already
        stored (the demonstrations); a random warm-up counts only the run's own steps, as SB3."""
        info = self.info()
        mode = info["config"].get("warmup_actions", _schema.schema(self.algorithm).training_loop_defaults["warmup_actions"])
        pretrained = int(info["counters"].get("pretrain_steps", 0)) > 0
        random_actions = mode == "random" or (mode == "auto" and not pretrained)
        return random_actions, (int(info["replay_size"]) if pretrained and not random_actions else 0)

    def _random_actions(self, count: int) -> np.ndarray:
        """``count`` actions drawn uniformly from the action ``Box``."""
        unit = self._action_rng.uniform(-1.0, 1.0, size=(count, self.action_size))
        return self._env_actions(unit.astype(self.action_space.dtype) * self._half_range + self._middle)

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
