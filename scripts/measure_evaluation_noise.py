"""How far the offline-to-online benchmark's dip can move without the policy getting worse.

The benchmark (scripts/benchmark_offline_to_online.py) scores a policy by the mean return of 10
deterministic episodes reset from the same seeds every time, and calls the worst of its 10 online
evaluations "the dip". A frozen policy would repeat its score exactly; a policy that changes a
little, without getting better or worse, plays other trajectories (Hopper's contacts make small
changes in action grow) and its score moves like a fresh draw of 10 episodes. This script measures
that spread on the pretrained policy itself: it pretrains each row as the benchmark does, then
evaluates the policy on ``--sets`` disjoint sets of ``--episodes`` episode seeds. The first set is
the benchmark's own seeds, so its mean is the benchmark's pretrained score.

Per run it prints the set means and reports:

- ``spread``: the standard deviation of the set means over their mean (the noise of one evaluation);
- ``same-policy dip``: the worst of sets 1.. against set 0 (the benchmark's dip,
  ``flowrl.experiments.offline_to_online_metrics``), the dip the benchmark would report if
  fine-tuning left the policy's return distribution unchanged but moved its trajectories;
- ``set 0 against the pooled mean``: how lucky the benchmark's pretrained score is.

    python scripts/measure_evaluation_noise.py --dataset hopper/flowrl-medium-v2 --rows swfp rldt --seeds 0 1 2

Results are appended to ``--results`` as JSON lines (one per row and seed).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import flowrl
from flowrl.experiments import offline_to_online_metrics
from benchmark_offline_to_online import EVAL_SEED, ROWS, start
from benchmark_timing import cpu_model


def set_means(agent: flowrl.Agent, env_id: str, sets: int, episodes: int) -> list[float]:
    """The mean deterministic return on each of `sets` disjoint blocks of `episodes` reset seeds;
    block 0 starts at the benchmark's `EVAL_SEED`."""
    env = gym.make(env_id)
    try:
        return [float(agent.evaluate(env, n_episodes=episodes, deterministic=True, seed=EVAL_SEED + k * episodes)[0])
                for k in range(sets)]
    finally:
        env.close()


def measure(dataset: str, row: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    agent, _, env_id, _, _ = start(dataset, row, seed, args)  # --rows offers the pretrained rows only
    means = set_means(agent, env_id, args.sets, args.episodes)
    agent.close()
    pooled = statistics.mean(means)
    return {
        "dataset": dataset, "env": env_id, "row": row, "seed": seed, "settings": args.config,
        "pretrain_steps": args.pretrain_steps, "episodes": args.episodes, "set_means": means,
        "pooled_mean": pooled, "spread": statistics.stdev(means) / abs(pooled),
        # the benchmark's own dip (relative to |start|, so returns below zero read the same way)
        "same_policy_dip": offline_to_online_metrics(dict(enumerate(means)))["dip"],
        "set0_against_pooled": (means[0] - pooled) / abs(pooled),
        "machine": cpu_model(), "date": time.strftime("%Y-%m-%d"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="hopper/flowrl-medium-v2")
    parser.add_argument("--env", help="the env id (default: the one the dataset names)")
    parser.add_argument("--rows", nargs="+", choices=sorted(name for name, (_, pre) in ROWS.items() if pre), default=["swfp"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--pretrain-steps", type=int, default=20_000)
    parser.add_argument("--episodes", type=int, default=10, help="episodes per evaluation (the benchmark's 10)")
    parser.add_argument("--sets", type=int, default=11, help="evaluations: the pretrained one and the benchmark's 10 online ones")
    parser.add_argument("--config", default="{}", help="JSON settings for every row's constructor")
    parser.add_argument("--results", type=Path, default=Path("runs/offline-to-online/evaluation-noise.jsonl"))
    args = parser.parse_args()
    if args.sets < 2 or args.episodes < 1:
        parser.error("--sets must be at least 2 and --episodes at least 1")
    args.results.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for row in args.rows:
        for seed in args.seeds:
            result = measure(args.dataset, row, seed, args)
            rows.append(result)
            with args.results.open("a") as file:
                file.write(json.dumps(result) + "\n")
            print(f"{row} seed {seed}: sets {', '.join(f'{m:.0f}' for m in result['set_means'])}; "
                  f"spread {100 * result['spread']:.1f}%, same-policy dip {100 * result['same_policy_dip']:+.0f}%, "
                  f"set 0 against pooled {100 * result['set0_against_pooled']:+.0f}%", flush=True)
    dips = [r["same_policy_dip"] for r in rows]
    print(f"same-policy dip over {len(rows)} runs: mean {100 * np.mean(dips):+.1f}%, worst {100 * min(dips):+.1f}%; "
          f"within 10%: {sum(d >= -0.10 for d in dips)}/{len(dips)}")


if __name__ == "__main__":
    main()
