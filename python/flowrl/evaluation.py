"""Evaluation episodes, shared by :meth:`flowrl.Agent.evaluate` and :class:`flowrl.callbacks.EvalCallback`,
and Stable-Baselines3's :func:`evaluate_policy`.

Written against :class:`flowrl.protocols.Predictor` (Stable-Baselines3's ``predict``), so that it
imports no agent class.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .envs import EnvBatch
from .protocols import Predictor


def evaluate_episodes(agent: Predictor, env: Any, n_episodes: int = 10, deterministic: bool = True,
                      seed: Optional[int] = None, render: bool = False) -> tuple[list[float], list[int]]:
    """Runs ``n_episodes`` full episodes with the agent's policy.

    With a vector env of ``n`` sub-envs, sub-env ``i`` contributes ``(n_episodes + i) // n``
    episodes (as in Stable-Baselines3's ``evaluate_policy``), so short episodes do not crowd
    out long ones.

    Parameters
    ----------
    agent : Predictor
        Anything with Stable-Baselines3's ``predict`` (a flowrl agent, or a Stable-Baselines3 model).
    env : gymnasium.Env, gymnasium.vector.VectorEnv or Stable-Baselines3 VecEnv
        With a Stable-Baselines3 ``Monitor`` inside, its episode returns are used (the raw
        rewards', even under ``VecNormalize``).
    n_episodes : int
    deterministic : bool
        Act from zero flow noise.
    seed : int, optional
        Passed to the first ``env.reset``.
    render : bool
        Call ``env.render()`` after every step.

    Returns
    -------
    returns : list of float
    lengths : list of int
    """
    if n_episodes < 1:
        raise ValueError(f"n_episodes must be >= 1, got {n_episodes}")
    batch = EnvBatch(env)
    targets = np.array([(n_episodes + i) // batch.num_envs for i in range(batch.num_envs)])
    counts = np.zeros(batch.num_envs, dtype=np.int64)
    returns: list[float] = []
    lengths: list[int] = []
    observations = batch.reset(seed=seed)
    while np.any(counts < targets):
        # a Dict env's observations go to predict as dicts, as Stable-Baselines3 gives them
        actions, _ = agent.predict(batch.user_observations(observations), deterministic=deterministic)
        step = batch.step(actions)
        if render:
            env.render()
        for index, (episode_return, length) in zip(np.flatnonzero(step.dones), step.finished):
            if counts[index] < targets[index]:
                returns.append(episode_return)
                lengths.append(length)
                counts[index] += 1
        observations = step.observations
    return returns, lengths


def evaluate_policy(model: Predictor, env: Any, n_eval_episodes: int = 10, deterministic: bool = True,
                    render: bool = False, callback: Any = None, reward_threshold: Optional[float] = None,
                    return_episode_rewards: bool = False, warn: bool = True) -> Any:
    """Stable-Baselines3's ``evaluate_policy``: the mean and standard deviation of the return.

    Parameters
    ----------
    model : Predictor
        A flowrl agent (or anything with Stable-Baselines3's ``predict``).
    env : gymnasium env, gymnasium vector env or Stable-Baselines3 VecEnv
    n_eval_episodes : int
    deterministic : bool
    render : bool
        Call ``env.render()`` after every step.
    callback : None
        Not supported (a per-step callback of the evaluation loop); refused when given.
    reward_threshold : float, optional
        Raise AssertionError if the mean return is below it, as Stable-Baselines3.
    return_episode_rewards : bool
        Return the lists of episode returns and lengths instead of the mean and deviation.
    warn : bool
        Accepted for Stable-Baselines3's signature (flowrl counts returns without ``Monitor``).

    Returns
    -------
    (mean_reward, std_reward) : tuple of float
        Or ``(episode_rewards, episode_lengths)`` with ``return_episode_rewards``.
    """
    if callback is not None:
        raise ValueError("evaluate_policy(callback=...) is not supported by flowrl")
    returns, lengths = evaluate_episodes(model, env, n_eval_episodes, deterministic=deterministic, render=render)
    mean_reward, std_reward = float(np.mean(returns)), float(np.std(returns))
    if reward_threshold is not None:
        assert mean_reward > reward_threshold, f"Mean reward below threshold: {mean_reward:.2f} < {reward_threshold:.2f}"
    if return_episode_rewards:
        return returns, lengths
    return mean_reward, std_reward
