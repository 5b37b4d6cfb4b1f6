"""Callbacks for :meth:`flowrl.Agent.learn`, with Stable-Baselines3's names and hooks.

A callback sees the agent as ``self.model`` and the training loop's variables as ``self.locals``
(``actions``, ``new_obs``, ``rewards``, ``dones``, ``terminated``, ``truncated``, ``infos``, ...).
:meth:`BaseCallback._on_step` runs after every environment step, once the step's transitions
are stored and before any gradient update; returning ``False`` stops training.

>>> class StopAt(BaseCallback):
...     def _on_step(self) -> bool:
...         return self.num_timesteps < 500
>>> # agent.learn(10_000, callback=StopAt())

Stable-Baselines3's callbacks are here under their names: :class:`EvalCallback` (with
``callback_on_new_best`` and ``callback_after_eval``), :class:`CheckpointCallback`,
:class:`StopTrainingOnRewardThreshold`, :class:`StopTrainingOnNoModelImprovement`,
:class:`StopTrainingOnMaxEpisodes`, :class:`EveryNTimesteps`, :class:`CallbackList`,
:class:`EventCallback` and :class:`ConvertCallback`.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Optional, Union

import numpy as np

from .envs import sync_normalization, vec_normalize_chain
from .errors import InvalidArgumentError
from .evaluation import evaluate_episodes
from .logger import Logger
from .protocols import TrainingModel

PathLike = Union[str, "os.PathLike[str]"]

#: A legacy callback: ``callback(locals_dict, globals_dict)``; ``False`` stops training.
LegacyCallback = Callable[[dict[str, Any], dict[str, Any]], Optional[bool]]

class BaseCallback:
    """The base class of every callback.

    Subclasses override the hooks they need: ``_init_callback``, ``_on_training_start``,
    ``_on_rollout_start`` (before each round of environment steps), ``_on_step`` (after every
    environment step; ``False`` stops training at that step), ``_on_rollout_end`` (after the
    round, before its gradient steps) and ``_on_training_end``.

    Parameters
    ----------
    verbose : int
        ``>= 1`` prints what the callback does.

    Attributes
    ----------
    model : TrainingModel
        The agent being trained (set by :meth:`init_callback`): a :class:`flowrl.Agent`.
    training_env : Any
        ``model.get_env()``: the training env with Stable-Baselines3's ``VecEnv`` interface.
    n_calls : int
        How many times :meth:`on_step` was called (environment steps of the vector env).
    num_timesteps : int
        The agent's ``num_timesteps`` at the last call.
    locals, globals : dict
        The training loop's variables at the last call (``locals["infos"]`` is a list of dicts,
        one per sub-env, with ``"episode": {"r", "l", "t"}`` where an episode ended).
    parent : BaseCallback or None
        The callback that runs this one (an :class:`EvalCallback` for its ``callback_on_new_best``).
    """

    def __init__(self, verbose: int = 0) -> None:
        self.verbose = verbose
        self.model: Optional[TrainingModel] = None
        self.training_env: Any = None
        self.n_calls = 0
        self.num_timesteps = 0
        self.locals: dict[str, Any] = {}
        self.globals: dict[str, Any] = {}
        self.parent: Optional[BaseCallback] = None

    @property
    def logger(self) -> Logger:
        """The agent's logger (record values here to have them in the next row)."""
        assert self.model is not None, "the callback is not attached to an agent"
        return self.model.logger

    def init_callback(self, model: TrainingModel) -> None:
        """Attaches the callback to ``model``; called once per :meth:`~flowrl.Agent.learn`."""
        self.model = model
        get_env = getattr(model, "get_env", None)
        self.training_env = get_env() if callable(get_env) else None
        self._init_callback()

    def _init_callback(self) -> None:
        pass

    def on_training_start(self, locals_: dict[str, Any], globals_: dict[str, Any]) -> None:
        """Called before the first step of :meth:`~flowrl.Agent.learn`."""
        self.locals = locals_
        self.globals = globals_
        assert self.model is not None
        self.num_timesteps = self.model.num_timesteps
        self._on_training_start()

    def _on_training_start(self) -> None:
        pass

    def on_rollout_start(self) -> None:
        """Called before each round of environment steps (up to the next ``train_freq`` boundary)."""
        self._on_rollout_start()

    def _on_rollout_start(self) -> None:
        pass

    def on_step(self) -> bool:
        """Called after every environment step; ``False`` stops training."""
        self.n_calls += 1
        assert self.model is not None
        self.num_timesteps = self.model.num_timesteps
        return self._on_step()

    def _on_step(self) -> bool:
        return True

    def on_rollout_end(self) -> None:
        """Called after each round of environment steps, before its gradient steps."""
        self._on_rollout_end()

    def _on_rollout_end(self) -> None:
        pass

    def on_training_end(self) -> None:
        """Called when :meth:`~flowrl.Agent.learn` finishes (not after an exception)."""
        self._on_training_end()

    def _on_training_end(self) -> None:
        pass

    def update_locals(self, locals_: dict[str, Any]) -> None:
        """Replaces ``self.locals`` with the loop's current variables."""
        self.locals.update(locals_)
        self.update_child_locals(locals_)

    def update_child_locals(self, locals_: dict[str, Any]) -> None:
        """Passes the loop's variables on to child callbacks."""


#: What ``learn(callback=...)`` accepts (defined after :class:`BaseCallback`, so that the alias holds
#: the class itself and resolves in any module that imports it).
MaybeCallback = Union[None, BaseCallback, LegacyCallback, list[Any]]


class EventCallback(BaseCallback):
    """A callback that runs a child ``callback`` when an event happens (:meth:`_on_event`).

    Parameters
    ----------
    callback : BaseCallback, optional
        Its ``parent`` becomes this callback.
    verbose : int
    """

    def __init__(self, callback: Optional[BaseCallback] = None, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.callback = callback
        if callback is not None:
            callback.parent = self

    def init_callback(self, model: TrainingModel) -> None:
        super().init_callback(model)
        if self.callback is not None:
            self.callback.init_callback(model)

    def _on_training_start(self) -> None:
        if self.callback is not None:
            self.callback.on_training_start(self.locals, self.globals)

    def _on_event(self) -> bool:
        """Runs the child callback's :meth:`on_step`; its result says whether to go on."""
        return self.callback.on_step() if self.callback is not None else True

    def _on_step(self) -> bool:
        return True

    def update_child_locals(self, locals_: dict[str, Any]) -> None:
        if self.callback is not None:
            self.callback.update_locals(locals_)


class CallbackList(BaseCallback):
    """Runs several callbacks in order; training stops if any returns ``False``.

    Parameters
    ----------
    callbacks : list of BaseCallback or callables
        Plain callables are wrapped in :class:`ConvertCallback`.
    """

    def __init__(self, callbacks: list[Any]) -> None:
        super().__init__()
        self.callbacks = [convert_callback(callback) for callback in callbacks]

    def _init_callback(self) -> None:
        for callback in self.callbacks:
            assert self.model is not None
            callback.init_callback(self.model)
            callback.parent = self.parent

    def _on_training_start(self) -> None:
        for callback in self.callbacks:
            callback.on_training_start(self.locals, self.globals)

    def _on_rollout_start(self) -> None:
        for callback in self.callbacks:
            callback.on_rollout_start()

    def _on_step(self) -> bool:
        keep_going = True
        for callback in self.callbacks:
            keep_going = callback.on_step() and keep_going
        return keep_going

    def _on_rollout_end(self) -> None:
        for callback in self.callbacks:
            callback.on_rollout_end()

    def _on_training_end(self) -> None:
        for callback in self.callbacks:
            callback.on_training_end()

    def update_child_locals(self, locals_: dict[str, Any]) -> None:
        for callback in self.callbacks:
            callback.update_locals(locals_)


class ConvertCallback(BaseCallback):
    """Wraps a plain function ``callback(locals_dict, globals_dict) -> bool`` (SB3's legacy form).

    A function that returns ``None`` lets training go on.
    """

    def __init__(self, callback: LegacyCallback, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.callback = callback

    def _on_step(self) -> bool:
        result = self.callback(self.locals, self.globals)
        return True if result is None else bool(result)


def _positive(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidArgumentError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


class CheckpointCallback(BaseCallback):
    """Saves the agent every ``save_freq`` calls (environment steps of the vector env).

    Files are ``{save_path}/{name_prefix}_{num_timesteps}_steps.flowrl``, loadable with
    :meth:`flowrl.Agent.load` (with or without the extension).

    Parameters
    ----------
    save_freq : int
        Save every this many calls; with a vector env of ``n`` sub-envs a call is ``n`` timesteps.
    save_path : str or os.PathLike
        The folder (created if needed).
    name_prefix : str
    save_replay_buffer : bool
        Also write the replay buffer, beside the model as Stable-Baselines3 does:
        ``{name_prefix}_replay_buffer_{num_timesteps}_steps.flowrl`` (a checkpoint with the
        buffer; read it back with :meth:`~flowrl.learning.OffPolicyLearning.load_replay_buffer`).
        The model file itself holds no buffer.
    save_vecnormalize : bool
        Also save the training env's ``VecNormalize`` statistics (Stable-Baselines3's
        ``VecNormalize.save``) as ``{name_prefix}_vecnormalize_{num_timesteps}_steps.pkl``, when
        the training env has a ``VecNormalize`` layer.
    verbose : int
        ``>= 2`` prints each path, as Stable-Baselines3.
    """

    def __init__(self, save_freq: int, save_path: PathLike, name_prefix: str = "rl_model",
                 save_replay_buffer: bool = False, save_vecnormalize: bool = False, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.save_freq = _positive(save_freq, "save_freq")
        self.save_path = os.fspath(save_path)
        self.name_prefix = name_prefix
        self.save_replay_buffer = save_replay_buffer
        self.save_vecnormalize = save_vecnormalize
        self.saved_paths: list[str] = []

    def _init_callback(self) -> None:
        os.makedirs(self.save_path, exist_ok=True)

    def _checkpoint_path(self, checkpoint_type: str = "", extension: str = "flowrl") -> str:
        return os.path.join(self.save_path, f"{self.name_prefix}_{checkpoint_type}{self.num_timesteps}_steps.{extension}")

    def _on_step(self) -> bool:
        if self.n_calls % self.save_freq == 0:
            assert self.model is not None
            path = self._checkpoint_path()
            self.model.save(path)
            self.saved_paths.append(path)
            if self.verbose >= 2:
                print(f"Saving model checkpoint to {path}")
            if self.save_replay_buffer:  # beside the model, as Stable-Baselines3 keeps it
                replay_path = self._checkpoint_path("replay_buffer_")
                self.model.save_replay_buffer(replay_path)
                self.saved_paths.append(replay_path)
                if self.verbose >= 2:
                    print(f"Saving model replay buffer checkpoint to {replay_path}")
            layers = vec_normalize_chain(self.training_env) if self.save_vecnormalize else []
            if layers:
                vec_path = self._checkpoint_path("vecnormalize_", "pkl")
                layers[0].save(vec_path)
                self.saved_paths.append(vec_path)
                if self.verbose >= 2:
                    print(f"Saving model VecNormalize to {vec_path}")
        return True


class EvalCallback(EventCallback):
    """Evaluates the agent on a separate env every ``eval_freq`` calls.

    Each evaluation appends to ``evaluations_timesteps``, ``evaluations_results`` (the episode
    returns) and ``evaluations_length``, records ``eval/mean_reward`` and ``eval/mean_ep_length``
    and dumps the logger (one row), as Stable-Baselines3 does. When the training and eval envs
    have ``VecNormalize`` layers, the eval env's statistics are synchronised first.

    Parameters
    ----------
    eval_env : gymnasium.Env, gymnasium vector env or Stable-Baselines3 VecEnv
        Not the training env (evaluating resets it).
    callback_on_new_best : BaseCallback, optional
        Run when the mean return improves (such as :class:`StopTrainingOnRewardThreshold`);
        returning ``False`` stops training.
    callback_after_eval : BaseCallback, optional
        Run after every evaluation (such as :class:`StopTrainingOnNoModelImprovement`).
    n_eval_episodes : int
    eval_freq : int
        Evaluate every this many calls (environment steps of the training vector env).
    log_path : str or os.PathLike, optional
        Folder for ``evaluations.npz`` (``timesteps``, ``results``, ``ep_lengths``), rewritten
        after every evaluation.
    best_model_save_path : str or os.PathLike, optional
        Folder where ``best_model.flowrl`` is saved whenever the mean return improves.
    deterministic : bool
        Act from zero flow noise.
    render : bool
        Call the eval env's ``render()`` after every step.
    verbose : int
        ``>= 1`` prints each evaluation's result.
    warn : bool
        Accepted for Stable-Baselines3's signature; flowrl counts returns itself, so there is
        no ``Monitor`` wrapper to warn about.
    seed : int, optional
        Resets the eval env with this seed before the first evaluation only.

    Attributes
    ----------
    best_mean_reward : float
    last_mean_reward : float
    """

    def __init__(self, eval_env: Any, callback_on_new_best: Optional[BaseCallback] = None,
                 callback_after_eval: Optional[BaseCallback] = None, n_eval_episodes: int = 5, eval_freq: int = 10_000,
                 log_path: Optional[PathLike] = None, best_model_save_path: Optional[PathLike] = None,
                 deterministic: bool = True, render: bool = False, verbose: int = 1, warn: bool = True,
                 seed: Optional[int] = None) -> None:
        super().__init__(callback_on_new_best, verbose=verbose)
        self.eval_freq = _positive(eval_freq, "eval_freq")
        self.n_eval_episodes = _positive(n_eval_episodes, "n_eval_episodes")
        for name, child in (("callback_on_new_best", callback_on_new_best), ("callback_after_eval", callback_after_eval)):
            if child is not None and not isinstance(child, BaseCallback):
                raise InvalidArgumentError(f"{name} must be a BaseCallback, got {type(child).__name__}")
        self.callback_on_new_best = callback_on_new_best
        self.callback_after_eval = callback_after_eval
        if callback_after_eval is not None:
            callback_after_eval.parent = self
        self.eval_env = eval_env
        self.deterministic = deterministic
        self.render = render
        self.warn = warn
        self.log_path = None if log_path is None else os.path.join(os.fspath(log_path), "evaluations.npz")
        self.best_model_save_path = None if best_model_save_path is None else os.fspath(best_model_save_path)
        self.seed = seed
        self.best_mean_reward = -np.inf
        self.last_mean_reward = -np.inf
        self.evaluations_timesteps: list[int] = []
        self.evaluations_results: list[list[float]] = []
        self.evaluations_length: list[list[int]] = []

    def init_callback(self, model: TrainingModel) -> None:
        super().init_callback(model)
        if self.callback_after_eval is not None:
            self.callback_after_eval.init_callback(model)

    def _init_callback(self) -> None:
        for folder in (self.log_path and os.path.dirname(self.log_path), self.best_model_save_path):
            if folder:
                os.makedirs(folder, exist_ok=True)

    def _on_training_start(self) -> None:
        super()._on_training_start()
        if self.callback_after_eval is not None:
            self.callback_after_eval.on_training_start(self.locals, self.globals)

    def _on_step(self) -> bool:
        if self.n_calls % self.eval_freq != 0:
            return True
        assert self.model is not None
        sync_normalization(self.training_env, self.eval_env)
        seed = self.seed if not self.evaluations_timesteps else None
        returns, lengths = evaluate_episodes(self.model, self.eval_env, self.n_eval_episodes,
                                             deterministic=self.deterministic, seed=seed, render=self.render)
        self.evaluations_timesteps.append(self.num_timesteps)
        self.evaluations_results.append(returns)
        self.evaluations_length.append(lengths)
        if self.log_path is not None:
            np.savez(self.log_path, timesteps=np.asarray(self.evaluations_timesteps),
                     results=np.asarray(self.evaluations_results), ep_lengths=np.asarray(self.evaluations_length))
        mean_reward, std_reward = float(np.mean(returns)), float(np.std(returns))
        mean_length = float(np.mean(lengths))
        self.last_mean_reward = mean_reward
        if self.verbose >= 1:
            print(f"Eval num_timesteps={self.num_timesteps}, episode_reward={mean_reward:.2f} +/- {std_reward:.2f}")
            print(f"Episode length: {mean_length:.2f} +/- {float(np.std(lengths)):.2f}")
        self.logger.record("eval/mean_reward", mean_reward)
        self.logger.record("eval/mean_ep_length", mean_length)
        self.logger.record("time/total_timesteps", self.num_timesteps)
        self.logger.dump(self.num_timesteps)
        keep_going = True
        if mean_reward > self.best_mean_reward:
            if self.verbose >= 1:
                print("New best mean reward!")
            if self.best_model_save_path is not None:
                self.model.save(os.path.join(self.best_model_save_path, "best_model.flowrl"))
            self.best_mean_reward = mean_reward
            if self.callback is not None:
                keep_going = self._on_event()
        if self.callback_after_eval is not None:
            keep_going = self.callback_after_eval.on_step() and keep_going
        return keep_going

    def update_child_locals(self, locals_: dict[str, Any]) -> None:
        super().update_child_locals(locals_)
        if self.callback_after_eval is not None:
            self.callback_after_eval.update_locals(locals_)


class StopTrainingOnRewardThreshold(BaseCallback):
    """Stops training once the best mean evaluation return reaches ``reward_threshold``.

    Give it to :class:`EvalCallback` as ``callback_on_new_best``.

    Parameters
    ----------
    reward_threshold : float
    verbose : int
    """

    def __init__(self, reward_threshold: float, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.reward_threshold = float(reward_threshold)

    def _on_step(self) -> bool:
        if self.parent is None or not hasattr(self.parent, "best_mean_reward"):
            raise InvalidArgumentError("StopTrainingOnRewardThreshold must be an EvalCallback's callback_on_new_best")
        keep_going = bool(self.parent.best_mean_reward < self.reward_threshold)
        if self.verbose >= 1 and not keep_going:
            print(f"Stopping training because the mean reward {self.parent.best_mean_reward:.2f} "
                  f"is above the threshold {self.reward_threshold}")
        return keep_going


class StopTrainingOnNoModelImprovement(BaseCallback):
    """Stops training when ``max_no_improvement_evals`` evaluations in a row brought no better
    mean return, not counting the first ``min_evals`` evaluations.

    Give it to :class:`EvalCallback` as ``callback_after_eval``.

    Parameters
    ----------
    max_no_improvement_evals : int
    min_evals : int
    verbose : int
    """

    def __init__(self, max_no_improvement_evals: int, min_evals: int = 0, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.max_no_improvement_evals = int(max_no_improvement_evals)
        self.min_evals = int(min_evals)
        self.last_best_mean_reward = -np.inf
        self.no_improvement_evals = 0

    def _on_step(self) -> bool:
        if self.parent is None or not hasattr(self.parent, "best_mean_reward"):
            raise InvalidArgumentError("StopTrainingOnNoModelImprovement must be an EvalCallback's callback_after_eval")
        keep_going = True
        if self.n_calls > self.min_evals:
            if self.parent.best_mean_reward > self.last_best_mean_reward:
                self.no_improvement_evals = 0
            else:
                self.no_improvement_evals += 1
                if self.no_improvement_evals > self.max_no_improvement_evals:
                    keep_going = False
        self.last_best_mean_reward = self.parent.best_mean_reward
        if self.verbose >= 1 and not keep_going:
            print(f"Stopping training: no new best model in the last {self.no_improvement_evals} evaluations")
        return keep_going


class StopTrainingOnMaxEpisodes(BaseCallback):
    """Stops training after ``max_episodes`` episodes per sub-env (``max_episodes * n_envs`` in all).

    Parameters
    ----------
    max_episodes : int
    verbose : int
    """

    def __init__(self, max_episodes: int, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.max_episodes = _positive(max_episodes, "max_episodes")
        self._total_max_episodes = self.max_episodes
        self.n_episodes = 0

    def _init_callback(self) -> None:
        self._total_max_episodes = self.max_episodes * int(getattr(self.training_env, "num_envs", 1) or 1)

    def _on_step(self) -> bool:
        self.n_episodes += int(np.sum(self.locals["dones"]))
        keep_going = self.n_episodes < self._total_max_episodes
        if self.verbose >= 1 and not keep_going:
            print(f"Stopping training after {self.n_episodes} episodes (max_episodes={self.max_episodes})")
        return keep_going


class EveryNTimesteps(EventCallback):
    """Runs ``callback`` every ``n_steps`` timesteps (of ``num_timesteps``).

    Parameters
    ----------
    n_steps : int
    callback : BaseCallback
    """

    def __init__(self, n_steps: int, callback: BaseCallback) -> None:
        super().__init__(convert_callback(callback))
        self.n_steps = _positive(n_steps, "n_steps")
        self.last_time_trigger = 0

    def _on_step(self) -> bool:
        if self.num_timesteps - self.last_time_trigger >= self.n_steps:
            self.last_time_trigger = self.num_timesteps
            return self._on_event()
        return True


class ProgressBarCallback(BaseCallback):
    """A tqdm progress bar over the timesteps of one :meth:`~flowrl.Agent.learn` call.

    Raises
    ------
    ImportError
        If tqdm is not installed (``pip install tqdm``, or ``pip install flowrl[progress]``).
    """

    def __init__(self) -> None:
        super().__init__()
        try:
            from tqdm.auto import tqdm
        except ImportError as error:
            raise ImportError("progress_bar=True needs tqdm: pip install tqdm "
                              "(or pip install 'flowrl[progress]')") from error
        self._tqdm = tqdm
        self.bar: Any = None
        self._shown = 0

    def _on_training_start(self) -> None:
        total = self.locals["total_timesteps"] - self.locals["start_timesteps"]
        self._start = self.model.num_timesteps if self.model is not None else 0
        self._shown = 0
        self.bar = self._tqdm(total=total, unit="step", dynamic_ncols=True)

    def _on_step(self) -> bool:
        done = self.num_timesteps - self._start
        if done > self._shown:
            self.bar.update(done - self._shown)
            self._shown = done
        return True

    def _on_training_end(self) -> None:
        self.close()

    def close(self) -> None:
        """Closes the bar (also after an interrupted :meth:`~flowrl.Agent.learn`)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def convert_callback(callback: MaybeCallback) -> BaseCallback:
    """The :class:`BaseCallback` for what ``learn(callback=...)`` accepts.

    Parameters
    ----------
    callback : None, BaseCallback, callable or list
        A list becomes a :class:`CallbackList` (its items converted in turn); a plain callable
        ``f(locals_dict, globals_dict)`` a :class:`ConvertCallback`; ``None`` a callback that
        does nothing.
    """
    if callback is None:
        return BaseCallback()
    if isinstance(callback, BaseCallback):
        return callback
    if isinstance(callback, (list, tuple)):
        return CallbackList([convert_callback(item) for item in callback])
    if callable(callback):
        return ConvertCallback(callback)
    raise InvalidArgumentError(f"callback must be a BaseCallback, a callable or a list of them, got {type(callback).__name__}")
