"""Where the time of a learning step goes: environment, Swift act, Swift update, Python glue.

Runs ``learn`` for a warm-up (the random-action phase and a few updates), then times
``--timesteps`` more steps with the env's ``step``/``reset``, the agent's ``act`` and ``update``
wrapped by timers; glue is the rest (the loop, observe, logging, callbacks). For ``sac`` it also
reports the update's achieved GFLOP/s from an analytic count of its matrix products (2·m·n·k
each; backward through weights and inputs counted as twice the forward, through inputs only as
once), to set beside bare sgemm's rate from ``./scripts/benchmark-core.sh``:

    .venv/bin/python scripts/profile_learning.py --algorithm sac --env Hopper-v5 --timesteps 2000
"""

from __future__ import annotations

import argparse
import time

import flowrl
import gymnasium as gym
from benchmark_timing import TimedEnv, sac_update_flops, timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algorithm", choices=["sac", "swfp", "sac_flow"], default="sac")
    parser.add_argument("--env", default="Pendulum-v1")
    parser.add_argument("--timesteps", type=int, default=2000)
    arguments = parser.parse_args()

    env = TimedEnv(gym.make(arguments.env))
    make = {"sac": flowrl.SAC, "swfp": flowrl.SWFP, "sac_flow": flowrl.SACFlow}[arguments.algorithm]
    agent = make(env, seed=0, learning_starts=200)
    agent.learn(300)                                  # random phase + first updates: not timed
    totals: dict = {}
    timed(agent, "act", totals)
    timed(agent, "update", totals)
    env.seconds = 0.0
    start = time.perf_counter()
    agent.learn(arguments.timesteps, reset_num_timesteps=False)
    total = time.perf_counter() - start
    steps = arguments.timesteps
    glue = total - env.seconds - totals["act"]["seconds"] - totals["update"]["seconds"]
    print(f"flowrl {flowrl.version()} {arguments.algorithm} on {arguments.env}: {steps / total:.1f} env-steps/s over {steps} steps")
    for name, seconds in (("environment", env.seconds), ("Swift act (with its Python call)", totals["act"]["seconds"]),
                          ("Swift update (with its Python call)", totals["update"]["seconds"]), ("Python glue", glue)):
        print(f"  {name:<36} {1000 * seconds / steps:7.2f} ms/step  {100 * seconds / total:5.1f}%")
    if arguments.algorithm == "sac":
        config = agent.config
        flops = sac_update_flops(agent.observation_size, agent.action_size, config["hidden_sizes"], config["critic_hidden_sizes"],
                                 config["batch_size"])
        per_update = totals["update"]["seconds"] / steps   # one update per env step (train_freq 1, gradient_steps 1)
        print(f"  update: {1000 * per_update:.2f} ms for {flops / 1e6:.0f} MFLOP of matrix products = {flops / per_update / 1e9:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
