"""Times an agent's ``update`` alone, on a replay buffer filled with random transitions, for
profilers such as ``perf`` (no environment; by default no Python loop around single steps, and
``--per-call 1`` calls ``update(1)`` repeatedly, as ``learn`` does):

    .venv-bench/bin/python scripts/profile_update.py --algorithm sac --updates 400
    perf record -g .venv-bench/bin/python scripts/profile_update.py --algorithm sac
    perf report --no-children --sort symbol -g none

Sizes default to Hopper-v5's (11 observations, 3 actions). ``FLOWRL_LIBRARY`` may point at an
unstripped development build (``.build/release/libflowrl.so``) so the profile names flowrl's symbols.
"""

from __future__ import annotations

import argparse
import time

import flowrl
import gymnasium as gym
import numpy as np
from gymnasium import spaces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algorithm", choices=["sac", "swfp", "sac-flow-gated", "sac-flow-decoder", "sac-flow-mlp"], default="sac")
    parser.add_argument("--observation-size", type=int, default=11)
    parser.add_argument("--action-size", type=int, default=3)
    parser.add_argument("--updates", type=int, default=400)
    parser.add_argument("--per-call", type=int, default=0,
                        help="gradient steps per update call: 1 is what learn does each env step (each call is "
                             "all-or-nothing, so it also pays for the roll-back snapshot); 0 (default) does all "
                             "updates in one call")
    arguments = parser.parse_args()

    class RandomEnv(gym.Env):
        observation_space = spaces.Box(-np.inf, np.inf, (arguments.observation_size,), np.float32)
        action_space = spaces.Box(-1, 1, (arguments.action_size,), np.float32)

    env = RandomEnv()
    if arguments.algorithm == "sac":
        agent = flowrl.SAC(env, seed=0)
    elif arguments.algorithm == "swfp":
        agent = flowrl.SWFP(env, seed=0)
    else:
        agent = flowrl.SACFlow(env, seed=0, velocity=arguments.algorithm.rsplit("-", 1)[1])
    rng = np.random.default_rng(0)
    n = 5_000
    agent.observe(rng.normal(size=(n, arguments.observation_size)).astype(np.float32),
                  rng.uniform(-1, 1, (n, arguments.action_size)).astype(np.float32), rng.normal(size=n).astype(np.float32),
                  rng.normal(size=(n, arguments.observation_size)).astype(np.float32), np.zeros(n, dtype=np.float32))
    agent.update(20)  # warm-up: first-call allocations
    per_call = arguments.per_call or arguments.updates
    calls = max(arguments.updates // per_call, 1)
    start = time.perf_counter()
    for _ in range(calls):
        agent.update(per_call)
    seconds = (time.perf_counter() - start) / (calls * per_call)
    print(f"flowrl {flowrl.version()} {arguments.algorithm}: {1000 * seconds:.2f} ms per update "
          f"({arguments.observation_size} observations, {arguments.action_size} actions, {per_call} per call)")


if __name__ == "__main__":
    main()
