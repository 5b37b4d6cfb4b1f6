"""Callbacks for :meth:`flowrl.Agent.learn`, with Stable-Baselines3's names and hooks.

A callback sees the agent as ``self.model`` and the training loop's variables as ``self.locals``
(``actions``, ``new_obs``, ``rewards``, ``dones``, ``terminated``, ``truncated``, ``infos``, ...).
:meth:`BaseCallback._on_step` runs after every environment step, once the step's transitions
are stored and before any gradient update; returning ``False`` stops training.

>>> class StopAt(BaseCallback):
...     def _on_step(self) -> bool:
...         return self.num_timesteps < 500
>>> # agent.learn(10_000, callback=StopAt())
"""

from __future__ import annotations

import os
from typing import Any, Callable, Optional, Union

import numpy as np

from .errors import InvalidArgumentError
from .evaluation import evaluate_episodes
from .logger import Logger
from .protocols import TrainingModel

PathLike = Union[str, "os.PathLike[str]"]

#: A legacy callback: ``callback(locals_dict, globals_dict)``; ``False`` stops training.
LegacyCallback = Callable[[dict[str, Any], dict[str, Any]], Optional[bool]]

#: What ``learn(callback=...)`` accepts.
MaybeCallback = Union[None, "BaseCallback", LegacyCallback, list[Any]]


class BaseCallback:
    """The base class of every callback.

    Parameters
    ----------
    verbose : int
        ``>= 1`` prints what the callback does.

    Attributes
    ----------
    model : TrainingModel
        The agent being trained (set by :meth:`init_callback`): a :class:`flowrl.Agent`.
    n_calls : int
        How many times :meth:`on_step` was called (environment steps of the vector env).
    num_timesteps : int
        The agent's ``num_timesteps`` at the last call.
    locals, globals : dict
        The training loop's variables at the last call.
    """

    def __init__(self, verbose: int = 0) -> None:
        self.verbose = verbose
        self.model: Optional[TrainingModel] = None
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

    def on_step(self) -> bool:
        """Called after every environment step; ``False`` stops training."""
        self.n_calls += 1
        assert self.model is not None
        self.num_timesteps = self.model.num_timesteps
        return self._on_step()

    def _on_step(self) -> bool:
        return True

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

    def _on_step(self) -> bool:
        keep_going = True
        for callback in self.callbacks:
            keep_going = callback.on_step() and keep_going
        return keep_going

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


class CheckpointCallback(BaseCallback):
    """Saves the agent every ``save_freq`` calls (environment steps of the vector env).

    Files are ``{save_path}/{name_prefix}_{num_timesteps}_steps.flowrl``, loadable with
    :meth:`flowrl.Agent.load`.

    Parameters
    ----------
    save_freq : int
        Save every this many calls; with a vector env of ``n`` sub-envs a call is ``n`` timesteps.
    save_path : str or os.PathLike
        The folder (created if needed).
    name_prefix : str
    save_replay_buffer : bool
        Store the replay buffer in the checkpoint too.
    verbose : int
    """

    def __init__(self, save_freq: int, save_path: PathLike, name_prefix: str = "rl_model",
                 save_replay_buffer: bool = False, verbose: int = 0) -> None:
        super().__init__(verbose)
        if save_freq < 1:
            raise ValueError(f"save_freq must be >= 1, got {save_freq}")
        self.save_freq = int(save_freq)
        self.save_path = os.fspath(save_path)
        self.name_prefix = name_prefix
        self.save_replay_buffer = save_replay_buffer
        self.saved_paths: list[str] = []

    def _init_callback(self) -> None:
        os.makedirs(self.save_path, exist_ok=True)

    def _checkpoint_path(self) -> str:
        return os.path.join(self.save_path, f"{self.name_prefix}_{self.num_timesteps}_steps.flowrl")

    def _on_step(self) -> bool:
        if self.n_calls % self.save_freq == 0:
            assert self.model is not None
            path = self._checkpoint_path()
            self.model.save(path, include_replay_buffer=self.save_replay_buffer)
            self.saved_paths.append(path)
            if self.verbose >= 1:
                print(f"Saving model checkpoint to {path}")
        return True


class EvalCallback(BaseCallback):
    """Evaluates the agent on a separate env every ``eval_freq`` calls.

    Each evaluation appends to ``evaluations_timesteps``, ``evaluations_results`` (the episode
    returns) and ``evaluations_length``, records ``eval/mean_reward`` and ``eval/mean_ep_length``
    and dumps the logger (one row), as Stable-Baselines3 does.

    Parameters
    ----------
    eval_env : gymnasium.Env or gymnasium.vector.VectorEnv
        Not the training env (evaluating resets it).
    eval_freq : int
        Evaluate every this many calls (environment steps of the training vector env).
    n_eval_episodes : int
    deterministic : bool
        Act from zero flow noise.
    log_path : str or os.PathLike, optional
        Folder for ``evaluations.npz`` (``timesteps``, ``results``, ``ep_lengths``), rewritten
        after every evaluation.
    best_model_save_path : str or os.PathLike, optional
        Folder where ``best_model.flowrl`` is saved whenever the mean return improves.
    seed : int, optional
        Resets the eval env with this seed before the first evaluation only.
    verbose : int
        ``>= 1`` prints each evaluation's result.

    Attributes
    ----------
    best_mean_reward : float
    last_mean_reward : float
    """

    def __init__(self, eval_env: Any, eval_freq: int = 10_000, n_eval_episodes: int = 10, deterministic: bool = True,
                 log_path: Optional[PathLike] = None, best_model_save_path: Optional[PathLike] = None,
                 seed: Optional[int] = None, verbose: int = 1) -> None:
        super().__init__(verbose)
        if eval_freq < 1 or n_eval_episodes < 1:
            raise ValueError("eval_freq and n_eval_episodes must be >= 1")
        self.eval_env = eval_env
        self.eval_freq = int(eval_freq)
        self.n_eval_episodes = int(n_eval_episodes)
        self.deterministic = deterministic
        self.log_path = None if log_path is None else os.path.join(os.fspath(log_path), "evaluations.npz")
        self.best_model_save_path = None if best_model_save_path is None else os.fspath(best_model_save_path)
        self.seed = seed
        self.best_mean_reward = -np.inf
        self.last_mean_reward = -np.inf
        self.evaluations_timesteps: list[int] = []
        self.evaluations_results: list[list[float]] = []
        self.evaluations_length: list[list[int]] = []

    def _init_callback(self) -> None:
        for folder in (self.log_path and os.path.dirname(self.log_path), self.best_model_save_path):
            if folder:
                os.makedirs(folder, exist_ok=True)

    def _on_step(self) -> bool:
        if self.n_calls % self.eval_freq != 0:
            return True
        assert self.model is not None
        seed = self.seed if not self.evaluations_timesteps else None
        returns, lengths = evaluate_episodes(self.model, self.eval_env, self.n_eval_episodes,
                                             deterministic=self.deterministic, seed=seed)
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
        if mean_reward > self.best_mean_reward:
            self.best_mean_reward = mean_reward
            if self.best_model_save_path is not None:
                self.model.save(os.path.join(self.best_model_save_path, "best_model.flowrl"))
                if self.verbose >= 1:
                    print("New best mean reward!")
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
