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
import weakref
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple, Optional, TypeVar

import numpy as np

from . import _checkpoint, _checks, _lib, _sb3, _schema
from .callbacks import BaseCallback, CallbackList, MaybeCallback, ProgressBarCallback, convert_callback
from ._spaces import is_structured
from .core import CoreAgent, PathLike, same_observation_layout
from .envs import EnvBatch, Step, VecEnvAdapter, is_sb3_vec_env, vec_normalize_chain
from .errors import CheckpointError, InvalidArgumentError, InvalidStateError
from .evaluation import evaluate_episodes
from .logger import Logger, configure_logger
from .noise import ActionNoise, VectorizedActionNoise

#: The extension :meth:`OffPolicyLearning.load` adds to a path that names no file (the one
#: :class:`~flowrl.callbacks.CheckpointCallback` and ``EvalCallback`` write).
CHECKPOINT_EXTENSION = ".flowrl"

#: The core's metric names and Stable-Baselines3's for the same quantity (the logged keys).
_SB3_METRIC_NAMES = {"train/alpha": "train/ent_coef", "train/alpha_loss": "train/ent_coef_loss"}

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
        The training schedule (``gradient_steps=-1``: as many as transitions collected).
    train_freq_unit : str
        ``"step"`` (``train_freq`` env steps per round) or ``"episode"`` (``train_freq`` episodes).
    action_noise : ActionNoise or None
        Added to the policy's actions (a :class:`~flowrl.noise.VectorizedActionNoise` for several sub-envs).
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
    train_freq_unit: str = "step"
    action_noise: Any = None
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


class ReplayBufferView:
    """What Stable-Baselines3 code reads of ``model.replay_buffer``; the buffer itself is in the core.

    Parameters
    ----------
    agent : OffPolicyLearning
    """

    def __init__(self, agent: "OffPolicyLearning") -> None:
        self._agent = agent

    def size(self) -> int:
        """Transitions stored."""
        return int(self._agent.info()["replay_size"])

    @property
    def buffer_size(self) -> int:
        """The capacity."""
        return int(self._agent.config["buffer_size"])

    @property
    def full(self) -> bool:
        """True once the buffer has been filled (the oldest transitions are being overwritten)."""
        return self.size() >= self.buffer_size

    def __len__(self) -> int:
        return self.size()

    def __repr__(self) -> str:
        return f"ReplayBufferView(size={self.size()}, buffer_size={self.buffer_size})"


def _space_text(space: Any) -> str:
    """An observation space in an error message: a Box's shape, a Dict's or Tuple's whole description."""
    return str(space) if is_structured(space) else str(space.shape)


def _is_policy_file(path: str) -> bool:
    """True if ``path`` holds a valid policy file of :mod:`flowrl.policies` (for a clearer error
    when an agent's ``load`` is given one)."""
    try:
        with open(path, "rb") as file:
            metadata = json.loads(_checkpoint.parse(file.read()).metadata_json)
    except (OSError, ValueError, RecursionError, CheckpointError):  # RecursionError: JSON nested too deeply
        return False
    return isinstance(metadata, dict) and metadata.get("kind") == _checkpoint.POLICY_FILE_KIND


class OffPolicyLearning(CoreAgent):
    """SB3's off-policy training loop and API (:meth:`learn`, :meth:`evaluate`, the env, the
    logger), written on :class:`~flowrl.core.CoreAgent`'s step-level calls."""

    # ------------------------------------------------------------------ Python-side training state

    @staticmethod
    def _checked_settings(verbose: Any, log_dir: Any, tensorboard_log: Any = None) -> dict[str, Any]:
        """The constructor's Python-only settings, checked (as :meth:`_init_training_state` takes them).

        Raises
        ------
        InvalidArgumentError
            Naming the argument.
        """
        return {"verbose": _checks.integer(verbose, "verbose", 0, 2**31 - 1),
                "log_dir": _checks.optional_path(log_dir, "log_dir"),
                "tensorboard_log": _checks.optional_path(tensorboard_log, "tensorboard_log")}

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
                "log_dir": _checks.optional_path(saved.get("log_dir"), "training.log_dir"),
                "tensorboard_log": _checks.optional_path(saved.get("tensorboard_log"), "training.tensorboard_log"),
                **_sb3.checked_python_settings(saved, "training."), **counts, "action_rng": action_rng}

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
        tensorboard_log = saved.get("tensorboard_log")
        self.tensorboard_log: Optional[str] = None if tensorboard_log is None else os.fspath(tensorboard_log)
        self._train_freq_unit: str = saved.get("train_freq_unit") or "step"
        self._gradient_steps_override: Optional[int] = saved.get("gradient_steps")
        self._stats_window_size: Optional[int] = saved.get("stats_window_size")
        self.action_noise: Any = None
        # settable key -> learning-rate schedule (never in checkpoints: they keep the value in use)
        self._schedules: dict[str, Callable[[float], Any]] = {}
        self.num_timesteps = int(saved.get("num_timesteps", 0))
        self._episode_num = int(saved.get("episode_num", 0))
        self._n_updates = 0
        self._total_timesteps = 0
        self.ep_info_buffer: deque[dict[str, float]] = deque(maxlen=self._stats_window_size or _EPISODE_WINDOW)
        self._logger: Optional[Logger] = None
        self._custom_logger = False
        self._logged_before = False  # a later learn() appends to the files the first one started
        self._env_adapter: Optional[VecEnvAdapter] = None
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
        sb3 = {"train_freq_unit": None if self._train_freq_unit == "step" else self._train_freq_unit,
               "gradient_steps": self._gradient_steps_override, "stats_window_size": self._stats_window_size,
               "tensorboard_log": self.tensorboard_log}
        return {
            "verbose": self.verbose,
            "log_dir": self.log_dir,
            **{key: value for key, value in sb3.items() if value is not None},
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

    def set_env(self, env: Any, force_reset: bool = True) -> None:
        """Sets the env :meth:`learn` steps: a gymnasium env or vector env, a Stable-Baselines3
        ``VecEnv`` or an environment id. Its spaces must match the agent's, action bounds included
        (as for ``load(env=...)``).

        Parameters
        ----------
        env : Any
        force_reset : bool
            Accepted for Stable-Baselines3's signature: the next :meth:`learn` always resets a new env.

        Raises
        ------
        InvalidArgumentError
            If the observation or action shape, or the action bounds, differ from the agent's.
        """
        env = _sb3.make_env(env)
        self._check_env(env)
        self.env = env
        self._env_adapter = None
        self._rollout = None

    def _check_env(self, env: Any) -> None:
        """Raises InvalidArgumentError unless ``env`` has Box spaces of the agent's shapes and
        the agent's action bounds."""
        if env is None:
            raise InvalidArgumentError("env is None")
        observation_space, action_space = self._spaces(env, None, None)
        if not same_observation_layout(observation_space, self.observation_space) or action_space.shape != self.action_space.shape:
            raise InvalidArgumentError(
                f"the env's spaces {_space_text(observation_space)}, {action_space.shape} differ from the agent's "
                f"{_space_text(self.observation_space)}, {self.action_space.shape}")
        if not (np.allclose(action_space.low, self.action_space.low) and np.allclose(action_space.high, self.action_space.high)):
            raise InvalidArgumentError(
                f"the env's action bounds [{action_space.low}, {action_space.high}] differ from the agent's "
                f"[{self.action_space.low}, {self.action_space.high}]")

    def get_env(self) -> Any:
        """The env :meth:`learn` steps with Stable-Baselines3's ``VecEnv`` interface, or None.

        A Stable-Baselines3 ``VecEnv`` is returned as it is; a gymnasium env is shown through a
        :class:`~flowrl.envs.VecEnvAdapter` (``obs = agent.get_env().reset()`` gives the
        ``(n_envs, *obs_shape)`` observations; ``step`` returns ``(obs, rewards, dones, infos)``).
        The gymnasium env itself is the ``env`` attribute. Resetting the adapter makes the next
        :meth:`learn` reset too.
        """
        if self.env is None or is_sb3_vec_env(self.env):
            return self.env
        if self._env_adapter is None or self._env_adapter.env is not self.env:
            owner = weakref.ref(self)

            def forget_rollout() -> None:
                agent = owner()
                if agent is not None:
                    agent._rollout = None

            self._env_adapter = VecEnvAdapter(self.env, on_reset=forget_rollout)
        return self._env_adapter

    def get_vec_normalize_env(self) -> Any:
        """The outermost ``VecNormalize`` layer of the env (a Stable-Baselines3 ``VecEnv``), or None."""
        layers = vec_normalize_chain(self.env) if is_sb3_vec_env(self.env) else []
        return layers[0] if layers else None

    @property
    def logger(self) -> Logger:
        """The logger :meth:`learn` writes to (callbacks may record values into it)."""
        if self._logger is None:
            self._logger = Logger()
        return self._logger

    def set_logger(self, logger: Logger) -> None:
        """Uses ``logger`` for every later :meth:`learn` instead of the one built from
        ``verbose``, ``log_dir`` and ``tensorboard_log`` (make one with
        :func:`flowrl.logger.configure`)."""
        if not isinstance(logger, Logger):
            raise InvalidArgumentError(f"logger must be a flowrl.logger.Logger (see flowrl.logger.configure), "
                                       f"got {type(logger).__name__}")
        self._logger = logger
        self._custom_logger = True

    def learn(self: _Learner, total_timesteps: int, callback: MaybeCallback = None, log_interval: Optional[int] = 4,
              tb_log_name: Optional[str] = None, reset_num_timesteps: bool = True, progress_bar: bool = False) -> _Learner:
        """Trains the agent on its env, Stable-Baselines3's off-policy loop.

        Every step acts for all sub-envs at once (random actions, uniform in the ``Box``, until
        ``learning_starts`` transitions were collected; then sampled from the policy), stores
        the step's real transitions with one :meth:`observe` (never the step of a NEXT_STEP
        autoreset; ``terminated`` is stored, a truncation is not a termination; the final
        observation, not the reset one, is the next observation), and every ``train_freq``
        steps (or episodes, with ``train_freq=(n, "episode")``), once more than
        ``learning_starts`` transitions were collected, calls ``update(gradient_steps)``;
        ``gradient_steps=-1`` runs as many gradient steps as transitions were collected in the
        round. ``learning_starts``, ``train_freq`` and ``gradient_steps`` come from :attr:`config`
        or, for an algorithm without them (FlowBC), from the core's schema. An ``action_noise`` is
        added to the policy's actions (in ``[-1, 1]`` units, then clipped) and reset where an
        episode ends.

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
        tb_log_name : str, optional
            The TensorBoard run's name (with ``tensorboard_log``): rows go to
            ``tensorboard_log/{tb_log_name}_{N}``, a new ``N`` for each run. Defaults to the class's name.
        reset_num_timesteps : bool
            Start ``num_timesteps`` from 0, reset the env and start a new TensorBoard run; with False,
            continue the count, the episodes in progress and the TensorBoard run. ``progress.csv`` is
            started anew by the agent's first ``learn`` (unless continuing) and appended to by later ones.
        progress_bar : bool
            Show a tqdm progress bar (``pip install tqdm``).

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
        run = self._setup_learn(total_timesteps, callback, log_interval, progress_bar, reset_num_timesteps, tb_log_name)
        try:
            while self.num_timesteps < self._total_timesteps:
                run.callback.on_rollout_start()
                rollout = self._collect_rollouts(run)
                run.callback.on_rollout_end()
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

    # ------------------------------------------------------------------ parameters, replay buffer, files

    def get_parameters(self) -> dict[str, np.ndarray]:
        """The networks' parameters (and the temperature's log α) as numpy arrays, by name.

        Names are the checkpoint's (docs/architecture.md, "Checkpoints"): ``prefix.index.name``
        with prefixes such as ``actor``, ``policy``, ``prior``, ``critic``, ``critic_target``, and
        ``temperature.log_alpha``. Optimiser moments and the replay buffer are not included.

        Returns
        -------
        dict of str to numpy.ndarray
            ``(rows, cols)`` float32 copies.
        """
        checkpoint = _checkpoint.parse(self.to_bytes(include_replay_buffer=False))
        return {name: array.copy() for name, array in checkpoint.tensors.items() if _checkpoint.is_parameter(name)}

    def set_parameters(self, load_path_or_dict: Any, exact_match: bool = True, device: Any = "auto") -> None:
        """Replaces parameters with ``load_path_or_dict``'s, all or nothing.

        Parameters
        ----------
        load_path_or_dict : dict of str to array_like, or str or os.PathLike
            Arrays by the names :meth:`get_parameters` gives, or a checkpoint file whose
            parameters are taken.
        exact_match : bool
            Require every parameter to be given; with False, a subset replaces only those.
        device : str
            ``"cpu"`` or ``"auto"``.

        Raises
        ------
        InvalidArgumentError
            For an unknown name, a missing one (``exact_match``), a shape mismatch or a
            non-finite value; the agent is unchanged.
        """
        _sb3.check_device(device)
        exact_match = _checks.boolean(exact_match, "exact_match")
        if isinstance(load_path_or_dict, dict):
            given = load_path_or_dict
        else:
            path = self._existing_path(load_path_or_dict)
            with open(path, "rb") as file:
                stored = _checkpoint.parse(file.read())
            given = {name: array for name, array in stored.tensors.items() if _checkpoint.is_parameter(name)}
        checkpoint = _checkpoint.parse(self.to_bytes(include_replay_buffer=True))
        names = {name for name in checkpoint.tensors if _checkpoint.is_parameter(name)}
        unknown = sorted(set(given) - names)
        if unknown:
            raise InvalidArgumentError(f"set_parameters: unknown parameters {unknown[:5]}; "
                                       f"get_parameters() lists the {len(names)} names")
        missing = sorted(names - set(given))
        if exact_match and missing:
            raise InvalidArgumentError(f"set_parameters: missing parameters {missing[:5]} (pass exact_match=False "
                                       "to replace only some)")
        for name, value in given.items():
            expected = checkpoint.tensors[name].shape
            array = _checks.real_array(value, f"parameter {name!r}", np.float32)
            if array.shape != expected:
                if array.size != int(np.prod(expected)) or array.ndim > 2:
                    raise InvalidArgumentError(f"parameter {name!r} has shape {array.shape}, expected {expected}")
                array = array.reshape(expected)
            checkpoint.tensors[name] = array
        self._replace_core(_checkpoint.build(checkpoint))

    @property
    def replay_buffer(self) -> "ReplayBufferView":
        """A view of the replay buffer: ``size()``, ``buffer_size``, ``full``."""
        return ReplayBufferView(self)

    def save_replay_buffer(self, path: PathLike) -> None:
        """Writes the replay buffer to ``path`` (a checkpoint with the buffer; ``.flowrl`` is added
        to a path without an extension).

        Parameters
        ----------
        path : str or os.PathLike
        """
        self.save(self._with_extension(path), include_replay_buffer=True)

    def load_replay_buffer(self, path: PathLike) -> None:
        """Replaces the replay buffer with the one saved by :meth:`save_replay_buffer` (or any
        checkpoint saved with its buffer) of an agent with the same sizes and buffer capacity;
        all or nothing.

        Raises
        ------
        CheckpointError
            If the file holds no replay buffer or is not a valid checkpoint.
        InvalidArgumentError
            If its sizes or buffer capacity differ from this agent's.
        """
        with open(self._existing_path(path), "rb") as file:
            stored = _checkpoint.parse(file.read())
        if not any(_checkpoint.is_replay(name) for name in stored.tensors):
            raise CheckpointError(f"{os.fspath(path)!r} holds no replay buffer (save it with save_replay_buffer or "
                                  "include_replay_buffer=True)")
        checkpoint = _checkpoint.parse(self.to_bytes(include_replay_buffer=True))
        if (stored.observation_size, stored.action_size) != (checkpoint.observation_size, checkpoint.action_size):
            raise InvalidArgumentError(f"the saved replay buffer holds observations of {stored.observation_size} and actions "
                                       f"of {stored.action_size} values; the agent's are {checkpoint.observation_size} "
                                       f"and {checkpoint.action_size}")
        saved_capacity = json.loads(stored.config_json).get("buffer_size")
        if saved_capacity != self.config.get("buffer_size"):
            raise InvalidArgumentError(f"the saved replay buffer has buffer_size {saved_capacity}, the agent "
                                       f"{self.config.get('buffer_size')}")
        checkpoint.tensors = {name: array for name, array in checkpoint.tensors.items() if not _checkpoint.is_replay(name)}
        checkpoint.tensors.update({name: array for name, array in stored.tensors.items() if _checkpoint.is_replay(name)})
        checkpoint.integers = {name: value for name, value in checkpoint.integers.items() if not _checkpoint.is_replay(name)}
        checkpoint.integers.update({name: value for name, value in stored.integers.items() if _checkpoint.is_replay(name)})
        self._replace_core(_checkpoint.build(checkpoint))

    def _replace_core(self, data: bytes) -> None:
        """Loads ``data`` into a new core agent and, if that succeeds, puts its handle in place of
        this agent's (the old one is freed); on failure nothing changes."""
        restored = CoreAgent.from_bytes(data)
        restored._finalizer.detach()
        handle = restored._handle
        self._finalizer()
        self._adopt(handle)

    @staticmethod
    def _with_extension(path: PathLike) -> str:
        """``path`` with :data:`CHECKPOINT_EXTENSION` added when it has no extension."""
        text = os.fsdecode(_checks.path(path))
        return text if os.path.splitext(text)[1] else text + CHECKPOINT_EXTENSION

    @staticmethod
    def _existing_path(path: PathLike) -> str:
        """``path``, or ``path`` + :data:`CHECKPOINT_EXTENSION` when only that exists (as
        Stable-Baselines3 adds ``.zip``)."""
        text = os.fsdecode(_checks.path(path))
        if not os.path.exists(text) and os.path.exists(text + CHECKPOINT_EXTENSION):
            return text + CHECKPOINT_EXTENSION
        return text

    @classmethod
    def load(cls: type[_Learner], path: PathLike, env: Any = None, device: Any = "auto",
             custom_objects: Optional[dict[str, Any]] = None, print_system_info: bool = False,
             force_reset: bool = True, **kwargs: Any) -> _Learner:
        """Loads a checkpoint written by :meth:`save` (Stable-Baselines3's signature).

        Parameters
        ----------
        path : str or os.PathLike
            ``.flowrl`` is added when ``path`` does not exist and ``path.flowrl`` does (the files
            :class:`~flowrl.callbacks.CheckpointCallback` and ``EvalCallback`` write).
        env : gymnasium env, Stable-Baselines3 VecEnv or str, optional
            If given, its spaces must match the saved ones; it becomes the agent's env.
        device : str
            ``"cpu"`` or ``"auto"``.
        custom_objects : dict, optional
            ``action_noise`` (the noise is not stored in checkpoints); ``learning_rate``, a number
            that replaces the stored rate or a schedule (a callable of the progress remaining), and
            ``lr_schedule``, Stable-Baselines3's name for the schedule: checkpoints keep the rate in
            use, not the schedule, so a schedule is given again here. A schedule also drives the
            keys that follow ``learning_rate`` (SAC's ``critic_learning_rate``) where they still
            have its value.
        print_system_info : bool
            Print :func:`flowrl.info`'s library and BLAS.
        force_reset : bool
            Accepted for Stable-Baselines3's signature (the next learn always resets a new env).
        **kwargs
            Refused: the configuration is the checkpoint's.

        Raises
        ------
        CheckpointError
            If the file is missing, unreadable, truncated, corrupted or of another format version.
        """
        _sb3.check_device(device)
        if kwargs:
            raise InvalidArgumentError(f"load: {sorted(kwargs)} cannot be changed on load; the configuration is the "
                                       "checkpoint's (create a new agent and set_parameters to change it)")
        custom = dict(custom_objects or {})
        used = ("action_noise", "learning_rate", "lr_schedule")
        unknown = sorted(set(custom) - set(used))
        if unknown:
            raise InvalidArgumentError(f"load: custom_objects {unknown} are not used (only {', '.join(used)})")
        rate, schedule = custom.get("learning_rate"), custom.get("lr_schedule")
        if schedule is not None and not callable(schedule):
            raise InvalidArgumentError(f"load: custom_objects['lr_schedule'] must be a callable, got {type(schedule).__name__}")
        if callable(rate):
            rate, schedule = None, schedule or rate
        existing = cls._existing_path(path)
        try:
            agent = super().load(existing, env=_sb3.make_env(env))
        except CheckpointError:
            if _is_policy_file(existing):
                raise CheckpointError(f"{existing!r} is a policy file (written by policy.save), not an agent checkpoint: "
                                      "load it with flowrl.policies.MlpPolicy.load") from None
            raise
        if "action_noise" in custom:
            agent.action_noise = custom["action_noise"]
        try:
            agent._set_loaded_learning_rate(rate, schedule)
        except InvalidArgumentError:
            agent.close()
            raise
        if print_system_info:
            print(json.dumps(_lib.info(), indent=2))
        return agent

    def _set_loaded_learning_rate(self, rate: Any, schedule: Optional[Callable[[float], Any]]) -> None:
        """``load``'s ``custom_objects``: a learning rate set now, or a schedule for ``learning_rate``
        (and the keys that follow it and still have its value) from the next update on."""
        if rate is None and schedule is None:
            return
        schema = _schema.schema(self.algorithm)
        config = self.config
        keys = ["learning_rate"] + [key.name for key in schema.keys if key.settable and key.follows == "learning_rate"
                                    and config.get(key.name) == config.get("learning_rate")]
        if rate is not None:
            self.set_config(**{key: rate for key in keys})
        if schedule is not None:
            _sb3.schedule_value(schedule, 1.0, "learning_rate")  # a schedule that cannot be evaluated fails now
            self._schedules = {key: schedule for key in keys}

    # ------------------------------------------------------------------ the parts of learn

    def _setup_learn(self, total_timesteps: Any, callback: MaybeCallback, log_interval: Any, progress_bar: Any,
                     reset_num_timesteps: Any, tb_log_name: Any = None) -> _Run:
        """Checks :meth:`learn`'s arguments, then starts a run: counters, logger, env, callbacks.

        Nothing changes before every argument, the env and the schedule were checked.
        """
        total_timesteps = _checks.integer(total_timesteps, "total_timesteps", 0, 2**63 - 1)
        log_interval = _checks.optional_integer(log_interval, "log_interval", 1, 2**63 - 1)
        progress_bar = _checks.boolean(progress_bar, "progress_bar")
        reset_num_timesteps = _checks.boolean(reset_num_timesteps, "reset_num_timesteps")
        if tb_log_name is None:
            tb_log_name = type(self).__name__
        if not isinstance(tb_log_name, str) or not tb_log_name or os.sep in tb_log_name:
            raise InvalidArgumentError(f"tb_log_name must be a non-empty name without {os.sep!r}, got {tb_log_name!r}")
        env = self._require_env()
        learning_starts, train_freq, gradient_steps = self._train_schedule()
        action_noise = self._run_action_noise(env)
        callback = convert_callback(callback)
        progress = ProgressBarCallback() if progress_bar else None  # raises now if tqdm is missing
        if progress is not None:
            callback = CallbackList([callback, progress])

        self._start_counters(total_timesteps, reset_num_timesteps)
        if not self._custom_logger:
            if self._logger is not None:
                self._logger.close()
            self._logger = configure_logger(self.verbose, self.log_dir, append=self._logged_before or not reset_num_timesteps,
                                            tensorboard_log=self.tensorboard_log, tb_log_name=tb_log_name,
                                            new_run=reset_num_timesteps)
            self._logged_before = True
        batch, observations = self._start_rollout(env, resume=not reset_num_timesteps)
        random_actions, stored_at_start = self._warmup()
        run = _Run(env, batch, observations, callback, progress, log_interval, learning_starts, train_freq, gradient_steps,
                   self._train_freq_unit, action_noise, random_actions, stored_at_start)
        run.locals = {"self": self, "env": env, "callback": callback, "total_timesteps": self._total_timesteps,
                      "start_timesteps": self._timesteps_at_start, "log_interval": log_interval,
                      "learning_starts": learning_starts, "train_freq": train_freq, "gradient_steps": gradient_steps}
        callback.init_callback(self)
        callback.on_training_start(run.locals, globals())
        return run

    def _run_action_noise(self, env: Any) -> Any:
        """The action noise for a run on ``env``: one copy per sub-env when it has several."""
        noise = self.action_noise
        if noise is None:
            return None
        count = EnvBatch(env).num_envs
        if count > 1 and not isinstance(noise, VectorizedActionNoise):
            if not isinstance(noise, ActionNoise):
                raise InvalidArgumentError("action_noise for a vector env must be a flowrl.noise.ActionNoise")
            noise = VectorizedActionNoise(noise, count)
            self.action_noise = noise
        return noise

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
        episodes = 0
        while self.num_timesteps < self._total_timesteps:
            actions = self._rollout_actions(run)
            step = run.batch.step(actions)
            collected += self._store_transitions(run.observations, actions, step)
            run.observations = step.observations
            run.steps += 1
            episodes_before = self._episode_num
            self._record_episodes(step)
            dones = step.dones
            episodes += int(np.count_nonzero(dones))
            if run.action_noise is not None and dones.any():
                self._reset_noise(run.action_noise, dones)

            run.locals.update(actions=actions, new_obs=run.batch.user_observations(run.observations), rewards=step.rewards, dones=dones,
                              terminated=step.terminated, truncated=step.truncated, infos=step.info_list(),
                              raw_infos=step.infos, real=step.real)
            run.callback.update_locals(run.locals)
            if not run.callback.on_step():
                return RolloutReturn(collected, complete=False, continue_training=False)
            if run.log_interval is not None and self._episode_num // run.log_interval > episodes_before // run.log_interval:
                self._dump_logs()
            if run.train_freq_unit == "episode":
                if episodes >= run.train_freq:
                    return RolloutReturn(collected, complete=True, continue_training=True)
            elif run.steps % run.train_freq == 0:
                return RolloutReturn(collected, complete=True, continue_training=True)
        return RolloutReturn(collected, complete=False, continue_training=True)

    @staticmethod
    def _reset_noise(noise: Any, dones: np.ndarray) -> None:
        """Resets the action noise of the sub-envs whose episode ended."""
        if isinstance(noise, VectorizedActionNoise):
            noise.reset(np.flatnonzero(dones))
        elif hasattr(noise, "reset"):
            noise.reset()

    def _rollout_actions(self, run: _Run) -> np.ndarray:
        """Actions for every sub-env: uniform in the ``Box`` until ``learning_starts`` transitions
        were collected (unless the warm-up acts with the policy), then sampled from the policy."""
        if run.random_actions and self.num_timesteps < run.learning_starts:
            actions = self._random_actions(run.batch.num_envs)
        else:
            actions = self._env_actions(self.act(run.observations))
        if run.action_noise is not None:
            actions = self._noisy(actions, run.action_noise)
        return actions

    def _noisy(self, actions: np.ndarray, noise: Any) -> np.ndarray:
        """``actions`` with ``noise()`` added in ``[-1, 1]`` units and clipped, as Stable-Baselines3."""
        sample = np.asarray(noise(), dtype=np.float64)
        try:
            sample = np.broadcast_to(sample, actions.shape)
        except ValueError:
            raise InvalidArgumentError(f"action_noise returned shape {sample.shape}; the actions have shape "
                                       f"{actions.shape}") from None
        unit = (actions.astype(np.float64) - self._middle) / self._half_range
        unit = np.clip(unit + sample, -1.0, 1.0)
        return self._env_actions((unit * self._half_range + self._middle).astype(self.action_space.dtype))

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
        if self._gradient_steps_override is not None:
            gradient_steps = self._gradient_steps_override
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

    @property
    def _current_progress_remaining(self) -> float:
        """Stable-Baselines3's progress remaining: ``1 - num_timesteps / total``, where ``total`` is
        the budget of the current :meth:`learn` call plus the timesteps counted before it."""
        return 1.0 - float(self.num_timesteps) / float(max(self._total_timesteps, 1))

    def _update_learning_rates(self) -> None:
        """Sets each scheduled key to its schedule's value at the progress remaining (one core
        call for all of them) and logs ``train/learning_rate``.

        Raises
        ------
        InvalidArgumentError
            If a schedule raises, returns a non-number or a value the core refuses (named with
            the progress remaining); the agent is then unchanged.
        """
        if not self._schedules:
            return
        progress = self._current_progress_remaining
        values = {key: _sb3.schedule_value(schedule, progress, key) for key, schedule in self._schedules.items()}
        try:
            self.set_config(**values)
        except InvalidArgumentError as error:
            raise InvalidArgumentError(f"{error} (a learning-rate schedule at progress_remaining={progress})") from None
        if "learning_rate" in values:
            self.logger.record("train/learning_rate", values["learning_rate"])

    def _train(self, gradient_steps: int) -> None:
        """One ``update`` (after setting scheduled learning rates) and its metrics into the logger
        (``train/`` prefix added where missing)."""
        self._update_learning_rates()
        metrics = self.update(gradient_steps)
        self._n_updates += gradient_steps
        for key, value in metrics.items():
            key = key if "/" in key else f"train/{key}"
            self.logger.record(_SB3_METRIC_NAMES.get(key, key), value)
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
