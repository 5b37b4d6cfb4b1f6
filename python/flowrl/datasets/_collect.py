"""`collect`: roll a policy out in a Gymnasium env and keep (or write) what it did."""

from __future__ import annotations

import math
import os
from typing import Any, Callable, Optional, Union

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .. import _checks, _spaces
from ..errors import InvalidArgumentError
from ._minari import Episode, check_dataset_id, check_writable, import_minari, write_minari
from ._transitions import ACTION_TOLERANCE, Transitions, npz_path, summary

PathLike = Union[str, "os.PathLike[str]"]

#: The largest step budget collect takes (the arrays of 2**32 steps would not fit in memory anyway).
MAX_STEPS = 2**32


def _policy_function(policy: Any, deterministic: bool) -> Callable[[np.ndarray], Any]:
    """One observation -> one action, from an object with SB3's ``predict`` or a plain callable."""
    predict = getattr(policy, "predict", None)
    if callable(predict):
        def act(observation: np.ndarray) -> Any:
            result = predict(observation, deterministic=deterministic)
            if not (isinstance(result, tuple) and len(result) == 2):
                raise InvalidArgumentError(f"policy.predict must return (action, state) as Stable-Baselines3's does, "
                                           f"got {type(result).__name__}")
            return result[0]
        return act
    if callable(policy):
        return policy
    raise InvalidArgumentError(f"policy must have a predict(observation, deterministic=...) method (a flowrl agent, a "
                               f"Stable-Baselines3 model) or be a callable observation -> action, got "
                               f"{type(policy).__name__}")


def _optional_text(value: Any, name: str) -> Optional[str]:
    if value is None or isinstance(value, str):
        return value
    raise InvalidArgumentError(f"{name} must be a str or None, got {type(value).__name__} {value!r}")


def _optional_score(value: Any, name: str) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidArgumentError(f"{name} must be a number or None, got {type(value).__name__} {value!r}")
    if not math.isfinite(float(value)):
        raise InvalidArgumentError(f"{name} must be finite, got {value}")
    return float(value)


class _ActionCheck:
    """Checks and clips one policy action to the action space, naming the step in errors."""

    def __init__(self, action_space: spaces.Box) -> None:
        self.space = action_space
        self.low = np.asarray(action_space.low, dtype=np.float64)
        self.high = np.asarray(action_space.high, dtype=np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            self.tolerance = np.where(np.isfinite(self.high - self.low), ACTION_TOLERANCE * (self.high - self.low), 0.0)

    def __call__(self, action: Any, step: int) -> np.ndarray:
        try:
            array = np.asarray(action, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise InvalidArgumentError(f"the policy returned an action that is not an array of numbers at step "
                                       f"{step}: {error}") from None
        if array.shape != self.space.shape:
            if array.size != self.low.size:
                raise InvalidArgumentError(f"the policy returned an action of shape {array.shape} at step {step}; "
                                           f"the action space has shape {self.space.shape}")
            array = array.reshape(self.space.shape)
        if not np.isfinite(array).all():
            raise InvalidArgumentError(f"the policy returned a non-finite action at step {step}: {array}")
        for beyond, bound, word in ((array < self.low - self.tolerance, self.low, "below the low"),
                                    (array > self.high + self.tolerance, self.high, "above the high")):
            if beyond.any():
                component = int(np.argmax(beyond))
                raise InvalidArgumentError(
                    f"the policy returned an action outside the action space at step {step}: component {component} is "
                    f"{array[component]:.9g}, {word} bound {bound[component]:.9g}; clip actions in the policy "
                    f"(a dataset's actions must lie within the bounds)")
        return np.minimum(np.maximum(array, self.low), self.high).astype(self.space.dtype)


def collect(env: Any, policy: Any, total_steps: int, dataset_id: Optional[str] = None, *, seed: Optional[int] = 0,
            path: Optional[PathLike] = None, deterministic: bool = False, author: Optional[str] = None,
            algorithm_name: Optional[str] = None, ref_min_score: Optional[float] = None,
            ref_max_score: Optional[float] = None, description: Optional[str] = None,
            overwrite: bool = False) -> Transitions:
    """Rolls ``policy`` out in ``env`` for exactly ``total_steps`` steps and returns the transitions;
    optionally writes them as a Minari dataset and/or an ``.npz`` file.

    Episodes follow one another until the budget is spent; the last one, when the budget ends it
    before the environment does, is marked truncated. Episode ``i`` starts with
    ``env.reset(seed=seed + i)`` (recorded as the episode's seed in the Minari dataset) and the
    action space is seeded with ``seed``, so a deterministic policy (or one drawing from the action
    space) gives the same data for the same seed. A policy's own randomness (a flowrl agent's
    stochastic actions) is its own: seed it too (``agent.seed(n)``).

    Parameters
    ----------
    env : gymnasium.Env or str
        A single (not vector) environment with a Box observation space (or a Dict / Tuple one:
        the policy is given the env's observations, the Minari dataset stores them as the env
        gave them, the returned transitions hold them flattened as gymnasium's
        ``spaces.flatten`` does) and a one-dimensional Box action
        spaces, or an id for ``gymnasium.make`` (the env made is closed at the end).
    policy : object with ``predict`` or callable
        ``policy.predict(observation, deterministic=deterministic)`` returning ``(action, state)``
        (a flowrl agent, a Stable-Baselines3 model), or ``policy(observation) -> action``. Actions
        must lie within the action space's bounds (up to ``1e-5`` of the range, clipped).
    total_steps : int
        Transitions to collect, at least 1.
    dataset_id : str, optional
        Also write a Minari dataset with this id (``[namespace/]name-vN``) into the local Minari
        root (``$MINARI_DATASETS_PATH`` or ``~/.minari/datasets``), with Minari's
        ``create_dataset_from_buffers``. Needs ``pip install "flowrl[datasets]"``.
    seed : int or None
        Seeds the resets and the action space; None leaves them unseeded.
    path : str or os.PathLike, optional
        Also write the transitions to this ``.npz`` file (:meth:`Transitions.save_npz`).
    deterministic : bool
        Passed to ``policy.predict`` (ignored for a plain callable).
    author, algorithm_name, description : str, optional
        Stored in the Minari dataset's metadata and in the returned metadata.
    ref_min_score, ref_max_score : float, optional
        The returns of a random and an expert policy, which Minari uses to normalise scores.
        Minari stores them only when ``ref_max_score`` is given and the env has a spec; given
        ``ref_max_score`` alone, Minari estimates ``ref_min_score`` from 100 episodes of a
        random policy.
    overwrite : bool
        Replace an existing dataset id or ``.npz`` file instead of refusing.

    Returns
    -------
    Transitions
        With ``metadata``: ``source`` ("collect"), ``dataset_id``, ``env_spec_id``,
        ``algorithm_name``, ``author``, ``description``, the reference scores, ``seed``,
        ``deterministic``, ``num_transitions``, ``num_episodes``, ``mean_episode_return``, ...

    Raises
    ------
    InvalidArgumentError
        For a bad argument (checked before the first step), an existing id or file without
        ``overwrite``, an action the policy returned that is not finite, has the wrong shape or
        lies outside the bounds, or collected data that :meth:`Transitions.check` refuses.
    ImportError
        When ``dataset_id`` is given and Minari (with h5py) is not installed.

    Notes
    -----
    Nothing is written until the rollout has finished and its data passed
    :meth:`Transitions.check`: a rollout that fails leaves no dataset and no file.
    """
    steps = _checks.integer(total_steps, "total_steps", 1, MAX_STEPS)
    seed = _checks.optional_integer(seed, "seed", 0, 2**63 - 1)
    deterministic = _checks.boolean(deterministic, "deterministic")
    overwrite = _checks.boolean(overwrite, "overwrite")
    author = _optional_text(author, "author")
    algorithm_name = _optional_text(algorithm_name, "algorithm_name")
    description = _optional_text(description, "description")
    ref_min_score = _optional_score(ref_min_score, "ref_min_score")
    ref_max_score = _optional_score(ref_max_score, "ref_max_score")
    act = _policy_function(policy, deterministic)
    if dataset_id is not None:
        check_dataset_id(dataset_id)
        import_minari()
        check_writable(dataset_id, overwrite)
        if ref_min_score is not None and ref_max_score is None:
            raise InvalidArgumentError("ref_min_score is given without ref_max_score; Minari stores the reference "
                                       "scores only together, so pass both (or neither)")
    target = None
    if path is not None:
        target = npz_path(path)
        if not target.parent.is_dir():
            raise InvalidArgumentError(f"cannot write {target}: the directory {target.parent} does not exist")
        if os.path.lexists(target) and not overwrite:
            raise InvalidArgumentError(f"{target} already exists; pass overwrite=True to replace it")

    made = isinstance(env, str)
    environment = gym.make(env) if made else env
    try:
        if isinstance(environment, gym.vector.VectorEnv):
            raise InvalidArgumentError(f"collect takes a single environment, got the vector env {environment} "
                                       f"({environment.num_envs} sub-environments)")
        observation_space = getattr(environment, "observation_space", None)
        action_space = getattr(environment, "action_space", None)
        if _spaces.is_structured(observation_space):
            _spaces.check(observation_space, "the env's observation space")
        elif not isinstance(observation_space, spaces.Box):
            raise InvalidArgumentError(f"the env's observation space must be a gymnasium Box, Dict or Tuple, got "
                                       f"{observation_space}")
        if not isinstance(action_space, spaces.Box) or len(action_space.shape) != 1:
            raise InvalidArgumentError(f"the env's action space must be a one-dimensional gymnasium Box, got {action_space}")
        spec = getattr(environment, "spec", None)
        if dataset_id is not None and ref_max_score is not None and (spec is None or not isinstance(environment, gym.Env)):
            raise InvalidArgumentError("ref_max_score needs an env with a spec (one made by gymnasium.make): Minari "
                                       "drops the reference scores of a dataset without one")
        episodes = _roll_out(environment, act, steps, seed, _ActionCheck(action_space))
    finally:
        if made:
            environment.close()

    def stacked(key: str, rows: slice) -> np.ndarray:
        return np.concatenate([getattr(episode, key)[rows] for episode in episodes])

    every = slice(None)
    terminated, truncated = stacked("terminations", every), stacked("truncations", every)
    starts = np.concatenate([np.arange(len(episode.rewards)) == 0 for episode in episodes])
    rewards = stacked("rewards", every)
    metadata: dict[str, Any] = {
        "source": "collect",
        "dataset_id": dataset_id,
        "env_spec_id": getattr(spec, "id", None),
        "algorithm_name": algorithm_name,
        "author": author,
        "description": description,
        "ref_min_score": ref_min_score,
        "ref_max_score": ref_max_score,
        "seed": seed,
        "deterministic": deterministic,
        **summary(rewards, terminated, truncated, starts),
    }
    transitions = Transitions(
        observations=stacked("observations", slice(None, -1)), actions=stacked("actions", every), rewards=rewards,
        next_observations=stacked("observations", slice(1, None)), terminated=terminated, truncated=truncated,
        episode_starts=starts, metadata=metadata)
    transitions.check(observation_space, action_space)
    if dataset_id is not None:
        write_minari(dataset_id, episodes, environment, observation_space, action_space, author=author,
                     algorithm_name=algorithm_name, ref_min_score=ref_min_score, ref_max_score=ref_max_score,
                     description=description, overwrite=overwrite)
    if target is not None:
        transitions.save_npz(target)
    return transitions


def _roll_out(env: Any, act: Callable[[np.ndarray], Any], steps: int, seed: Optional[int],
              check_action: _ActionCheck) -> list[Episode]:
    """``steps`` environment steps as whole episodes, the last cut (and marked truncated) by the budget."""
    if seed is not None:
        env.action_space.seed(seed)
    layout = _spaces.layout(env.observation_space)
    shape = tuple(env.observation_space.shape) if layout is None else (layout.size,)
    structured: list[Any] = []  # a Dict / Tuple env's observations of the episode, as the env gave them

    def observed(value: Any, step: int) -> np.ndarray:
        if layout is not None:
            flat, single = layout.flatten(value, f"the env's observation at step {step}")
            if not single:
                raise InvalidArgumentError(f"the env returned a batch of observations at step {step}")
            structured.append(_copied(value))  # an env may reuse its arrays
            return flat[0]
        array = np.asarray(value)
        if array.shape != shape:
            raise InvalidArgumentError(f"the env returned an observation of shape {array.shape} at step {step}; its "
                                       f"observation space has shape {shape}")
        return array

    episodes: list[Episode] = []
    step = 0
    while step < steps:
        episode_seed = None if seed is None else seed + len(episodes)
        observation, _ = env.reset(seed=episode_seed)
        structured.clear()
        observations = [observed(observation, step)]
        actions: list[np.ndarray] = []
        rewards: list[float] = []
        terminations: list[bool] = []
        truncations: list[bool] = []
        while True:
            action = check_action(act(observation), step)
            observation, reward, terminated, truncated, _ = env.step(action)
            step += 1
            observations.append(observed(observation, step))
            actions.append(action)
            rewards.append(float(reward))
            terminations.append(bool(terminated))
            truncations.append(bool(truncated) or (step == steps and not terminated))
            if terminations[-1] or truncations[-1]:
                break
        episodes.append(Episode(observations=np.stack(observations), actions=np.stack(actions),
                                rewards=np.asarray(rewards, dtype=np.float64),
                                terminations=np.asarray(terminations, dtype=np.bool_),
                                truncations=np.asarray(truncations, dtype=np.bool_), seed=episode_seed,
                                structured_observations=None if layout is None else _stacked(structured)))
    return episodes


def _stacked(observations: list[Any]) -> Any:
    """Structured observations (dicts / tuples of arrays) stacked leaf by leaf into one structure of
    ``(T + 1, ...)`` arrays, as Minari's episode buffer holds them."""
    first = observations[0]
    if isinstance(first, dict) or (hasattr(first, "keys") and hasattr(first, "__getitem__")):
        return {key: _stacked([observation[key] for observation in observations]) for key in first.keys()}
    if isinstance(first, (tuple, list)):
        return tuple(_stacked([observation[index] for observation in observations]) for index in range(len(first)))
    return np.stack([np.asarray(observation) for observation in observations])


def _copied(observation: Any) -> Any:
    """A structured observation with every leaf copied into a new array."""
    if isinstance(observation, dict) or (hasattr(observation, "keys") and hasattr(observation, "__getitem__")):
        return {key: _copied(observation[key]) for key in observation.keys()}
    if isinstance(observation, (tuple, list)):
        return tuple(_copied(item) for item in observation)
    return np.array(observation)
