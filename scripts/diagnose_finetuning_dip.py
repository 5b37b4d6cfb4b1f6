"""Where does a fine-tuning dip come from? Pretrain one agent on a dataset, then fine-tune it online
in short chunks, evaluating after each chunk and printing the chunk's mean training metrics (the
critic's Q, α, the entropy estimate, the actor loss and the trust-region terms), so the first steps
after pretraining can be read closely.

    python scripts/diagnose_finetuning_dip.py --algorithm SWFP --seed 2 --config '{"w2_scale": 40}'
    python scripts/diagnose_finetuning_dip.py --dataset pendulum/flowrl-medium-v0 --algorithm SAC --chunk 250 --steps 2000

It is a diagnosis tool for one seed at a time (docs/finetuning-investigation.md uses it); the
benchmark over seeds is scripts/benchmark_offline_to_online.py.
"""

from __future__ import annotations

import argparse
import collections
import json
import time
from typing import Any

import gymnasium as gym
import numpy as np

import flowrl

#: Training metrics worth reading around a dip (any metric whose name contains one of these).
WATCHED = ("q_mean", "alpha", "entropy", "actor_loss", "critic_loss", "movement", "trust_region", "transport", "consistency")

EVAL_SEED = 1_000_000  # the same evaluation resets as the benchmark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="hopper/flowrl-medium-v2", help="a flowrl.datasets id or path")
    parser.add_argument("--algorithm", default="SWFP", help="a flowrl class name (SWFP, SAC, SACFlow, RLDT)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", default="{}", help="JSON settings for the agent's constructor")
    parser.add_argument("--pretrain-steps", type=int, default=20_000)
    parser.add_argument("--chunk", type=int, default=500, help="env steps between evaluations")
    parser.add_argument("--steps", type=int, default=3_000, help="online env steps in all")
    parser.add_argument("--eval-episodes", type=int, default=5)
    args = parser.parse_args()

    data = flowrl.datasets.load(args.dataset)
    env_id = str(data.metadata["env_spec_id"])
    env = gym.make(env_id)
    agent = getattr(flowrl, args.algorithm)(env, seed=args.seed, **json.loads(args.config))
    started = time.perf_counter()
    pretraining = agent.pretrain(data, steps=args.pretrain_steps)
    print(f"pretrained in {time.perf_counter() - started:.0f} s:", {key: round(value, 3) for key, value in pretraining.items()}, flush=True)

    def evaluate() -> float:
        evaluation_env = gym.make(env_id)
        try:
            return float(agent.evaluate(evaluation_env, n_episodes=args.eval_episodes, deterministic=True, seed=EVAL_SEED)[0])
        finally:
            evaluation_env.close()

    print(f"step 0: return {evaluate():.1f}", flush=True)
    recorded: dict[str, list[float]] = collections.defaultdict(list)
    update = agent.update

    def recording_update(gradient_steps: int) -> dict[str, Any]:
        metrics = update(gradient_steps)
        for key, value in metrics.items():
            recorded[key].append(value)
        return metrics

    agent.update = recording_update  # type: ignore[method-assign]  # the loop calls agent.update for every round
    done = 0
    while done < args.steps:
        agent.learn(args.chunk, reset_num_timesteps=False)
        done += args.chunk
        means = {key.split("/")[-1]: round(float(np.mean(values)), 3) for key, values in sorted(recorded.items())
                 if any(name in key for name in WATCHED)}
        print(f"step {done}: return {evaluate():.1f}", means, flush=True)
        recorded.clear()
    agent.close()
    env.close()


if __name__ == "__main__":
    main()
