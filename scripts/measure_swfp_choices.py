"""Measures the SWFP choices the paper leaves open (docs/algorithms.md, "SWFP: choices and defaults"), one run per line of output.

Pendulum-v1: mean evaluation return (5 episodes, deterministic, fixed seeds) at intervals, and
env-steps/s while learning. The 2-D bandit (examples/bandit2d.py's setup): share of samples on
the rewarded modes and the number of rewarded modes keeping ≥ 5% of the samples. Results are
appended as JSON lines to --output so a long run can be split and resumed:

    .venv/bin/python scripts/measure_swfp_choices.py pendulum --timesteps 10000 --seeds 0 \
        --variant '{}' --variant '{"energy_at": "terminal"}' --output runs/choices.jsonl
    .venv/bin/python scripts/measure_swfp_choices.py bandit --seeds 0 1 2 --variant '{}' ...
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import flowrl
import gymnasium as gym
import numpy as np
from gymnasium import spaces

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
from bandit2d import CENTRES, reward, shares  # noqa: E402


def pendulum(variant: dict, seed: int, timesteps: int, eval_every: int) -> dict:
    env = gym.make("Pendulum-v1")
    agent = flowrl.SWFP(env, seed=seed, **variant)
    evaluation = flowrl.EvalCallback(gym.make("Pendulum-v1"), eval_freq=eval_every, n_eval_episodes=5, seed=10_000, verbose=0)
    start = time.perf_counter()
    agent.learn(timesteps, callback=evaluation)
    seconds = time.perf_counter() - start
    return {"task": "pendulum", "variant": variant, "seed": seed, "timesteps": timesteps, "seconds": round(seconds, 1),
            "steps_per_second": round(timesteps / seconds, 1),
            "evaluations": {int(t): round(float(np.mean(r)), 1) for t, r in zip(evaluation.evaluations_timesteps, evaluation.evaluations_results)}}


def bandit(variant: dict, seed: int, rounds: int) -> dict:
    rng = np.random.default_rng(seed)
    demonstrations = (CENTRES[np.arange(1000) % 8] + 0.15 * rng.standard_normal((1000, 2))).astype(np.float32)
    states = np.zeros((1000, 1), np.float32)
    settings = dict(hidden_sizes=[128, 128], critic_hidden_sizes=[64, 64], batch_size=128, alpha=0.02,
                    learning_rate=1e-3, critic_learning_rate=1e-3)
    settings.update(variant)
    agent = flowrl.SWFP(observation_space=spaces.Box(-1, 1, (1,)), action_space=spaces.Box(-4, 4, (2,)), seed=seed, **settings)
    agent.pretrain(states, demonstrations, steps=2000)
    batch = np.zeros((64, 1), np.float32)
    trajectory = {}
    for index in range(1, rounds + 1):
        actions = agent.act(batch)
        agent.observe(batch, actions, reward(actions), batch, np.ones(64, dtype=bool))
        agent.update(4)
        if index % 40 == 0:
            per_mode = shares(agent.act(states))
            trajectory[index] = {"share": round(sum(per_mode), 3), "modes_kept": int(sum(s >= 0.05 for s in per_mode))}
    return {"task": "bandit", "variant": variant, "seed": seed, "rounds": rounds, "trajectory": trajectory}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=["pendulum", "bandit"])
    parser.add_argument("--variant", action="append", default=[], help="JSON object of SWFP settings (repeatable)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--timesteps", type=int, default=10_000)
    parser.add_argument("--eval-every", type=int, default=2_500)
    parser.add_argument("--rounds", type=int, default=160)
    parser.add_argument("--output", type=Path, required=True)
    arguments = parser.parse_args()
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    for text in arguments.variant or ["{}"]:
        for seed in arguments.seeds:
            variant = json.loads(text)
            result = (pendulum(variant, seed, arguments.timesteps, arguments.eval_every) if arguments.task == "pendulum"
                      else bandit(variant, seed, arguments.rounds))
            line = json.dumps(result)
            print(line, flush=True)
            with arguments.output.open("a") as file:
                file.write(line + "\n")


if __name__ == "__main__":
    main()
