"""Behaviour cloning with a flow policy on Pendulum-v1 (the README's main job until SWFP lands).

A hand-written swing-up controller (energy pumping far from the top, a PD law near it) plays
Pendulum-v1 to produce demonstrations; ``flowrl.FlowBC`` learns from them by flow matching; the
script prints the mean evaluation return of a random policy, the expert and the cloned policy,
saves the agent, reloads it and checks that the reloaded agent acts identically.

    python examples/bc_pendulum.py [--episodes 20] [--steps 6000] [--learning-rate 1e-3] [--seed 0]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Callable

import flowrl
import gymnasium as gym
import numpy as np


def expert_action(observation: np.ndarray) -> np.ndarray:
    """Swing-up for Pendulum-v1 (θ̈ = 15 sin θ + 3u, upright at θ = 0, |u| ≤ 2)."""
    cos_theta, sin_theta, velocity = observation
    theta = np.arctan2(sin_theta, cos_theta)
    if cos_theta > 0.85:                       # near the top: PD control
        torque = -(10.0 * theta + 2.0 * velocity)
    else:                                      # elsewhere: pump energy towards the upright level
        energy = 0.5 * velocity**2 + 15.0 * cos_theta
        torque = 2.0 * np.sign(velocity * (15.0 - energy)) if abs(velocity) > 1e-3 else 1.0
    return np.clip(np.array([torque], dtype=np.float32), -2.0, 2.0)


def collect(env: gym.Env, episodes: int, seed: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Observations and (slightly noisy) expert actions from whole episodes."""
    observations, actions = [], []
    for episode in range(episodes):
        observation, _ = env.reset(seed=seed + episode)
        done = False
        while not done:
            action = np.clip(expert_action(observation) + noise * rng.standard_normal(1), -2.0, 2.0).astype(np.float32)
            observations.append(observation)
            actions.append(action)
            observation, _, terminated, truncated, _ = env.step(action)
            done = terminated or truncated
    return np.array(observations, dtype=np.float32), np.array(actions, dtype=np.float32)


def evaluate(env: gym.Env, policy: Callable[[np.ndarray], np.ndarray], episodes: int, seed: int) -> float:
    """Mean undiscounted return over ``episodes`` episodes with seeds seed, seed+1, …"""
    returns = []
    for episode in range(episodes):
        observation, _ = env.reset(seed=seed + episode)
        total, done = 0.0, False
        while not done:
            observation, reward, terminated, truncated, _ = env.step(policy(observation))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return float(np.mean(returns))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=20, help="expert episodes to learn from")
    parser.add_argument("--steps", type=int, default=6000, help="flow-matching minibatch updates")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=None, help="where to save the agent (default: a temporary directory)")
    arguments = parser.parse_args()

    env = gym.make("Pendulum-v1")
    rng = np.random.default_rng(arguments.seed)
    observations, actions = collect(env, arguments.episodes, seed=1000, noise=0.1, rng=rng)
    print(f"flowrl {flowrl.version()}: {len(observations)} expert transitions from {arguments.episodes} episodes")

    agent = flowrl.FlowBC(env, seed=arguments.seed, learning_rate=arguments.learning_rate)
    start = time.perf_counter()
    metrics = agent.pretrain(observations, actions, steps=arguments.steps)
    seconds = time.perf_counter() - start
    print(f"pretrained for {arguments.steps} steps in {seconds:.1f} s ({arguments.steps / seconds:.0f} steps/s), "
          f"final flow-matching loss {metrics['pretrain/flow_matching_loss']:.4f}")

    episodes, seed = 10, 0
    action_space = env.action_space
    action_space.seed(arguments.seed)
    results = {
        "random policy": evaluate(env, lambda _: action_space.sample(), episodes, seed),
        "expert": evaluate(env, expert_action, episodes, seed),
        "flow BC, deterministic": evaluate(env, lambda o: agent.act(o, deterministic=True), episodes, seed),
        "flow BC, sampled": evaluate(env, lambda o: agent.act(o), episodes, seed),
    }
    print(f"mean return over {episodes} evaluation episodes (seeds {seed}–{seed + episodes - 1}):")
    for name, value in results.items():
        print(f"  {name:<24} {value:9.1f}")

    directory = arguments.output or Path(tempfile.mkdtemp(prefix="flowrl-"))
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "flow_bc_pendulum.flowrl"
    agent.save(path)
    reloaded = flowrl.Agent.load(path)
    probe = observations[:64]
    identical = np.array_equal(agent.act(probe, deterministic=True), reloaded.act(probe, deterministic=True))
    print(f"saved to {path} ({path.stat().st_size / 1e6:.2f} MB); reloaded {type(reloaded).__name__} acts identically: {identical}")
    if not identical:
        raise SystemExit("the reloaded agent acts differently")


if __name__ == "__main__":
    main()
