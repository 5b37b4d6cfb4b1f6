"""flowrl's SAC beside Stable-Baselines3's SAC, identical hyperparameters, in one run (BENCHMARKS.md).

Pendulum-v1 (20k steps, seeds 0 1 2; evaluated at 5k, 10k, 20k) and Hopper-v5 (30k steps, seeds 0
1; evaluated at 10k, 20k, 30k). For each environment and seed the two libraries run one after the
other, so slow drifts of the machine fall on both alike. Each result (returns, env-steps/s while
learning, the time split into environment, acting, update and glue, and the update's time) is
appended to --output as it finishes; the table, the speed ratio and the update's GFLOP/s are printed
at the end (and by --summary). Needs stable-baselines3 and gymnasium[mujoco], which
./scripts/benchmark-sac-vs-sb3.sh installs into .venv-bench (benchmark only):

    ./scripts/benchmark-sac-vs-sb3.sh [--cpu 1] [--output runs/benchmark-sac-vs-sb3.jsonl]

--envs and --seeds run a part of the plan (a check after a change, not the benchmark of record).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from benchmark_pendulum import run, summary

# (environment, seeds, evaluation checkpoints; the last is the budget)
PLAN = [("Pendulum-v1", [0, 1, 2], [5_000, 10_000, 20_000]), ("Hopper-v5", [0, 1], [10_000, 20_000, 30_000])]
LIBRARIES = ["flowrl-sac", "sb3-sac"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("runs/benchmark-sac-vs-sb3.jsonl"))
    parser.add_argument("--cpu", type=int, help="pin the run to this core (Linux), away from other work on the machine")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every budget (a quick check of the script: 0.05)")
    parser.add_argument("--envs", nargs="+", choices=[env_id for env_id, _, _ in PLAN], help="only these environments of the plan")
    parser.add_argument("--seeds", type=int, nargs="+", help="only these seeds of the plan")
    parser.add_argument("--summary", action="store_true", help="only print the tables from --output")
    arguments = parser.parse_args()
    if not arguments.summary:
        if arguments.cpu is not None:
            os.sched_setaffinity(0, {arguments.cpu})
        arguments.output.parent.mkdir(parents=True, exist_ok=True)
        for env_id, seeds, checkpoints in PLAN:
            if arguments.envs and env_id not in arguments.envs:
                continue
            for seed in seeds if arguments.seeds is None else [seed for seed in seeds if seed in arguments.seeds]:
                for library in LIBRARIES:
                    result = run(library, env_id, seed, [max(1, int(c * arguments.scale)) for c in checkpoints])
                    with arguments.output.open("a") as file:
                        file.write(json.dumps(result) + "\n")
    summary(arguments.output)


if __name__ == "__main__":
    main()
