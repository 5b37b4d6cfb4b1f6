"""Cost of one ``act`` call for a single observation from Python (Pendulum-v1 shapes), split
into the Swift computation itself and the overhead around it (Python wrapper, ctypes, C-ABI checks).

The core times its own ``act`` work (``info()["timing"]``); the overhead is the wall time per
call minus that, both averaged over the same calls. Run with the package installed:

    .venv/bin/python scripts/benchmark_act_overhead.py [--calls 20000] [--rounds 7]

Reports the median over rounds. Targets (BENCHMARKS.md): overhead ≤ 5 µs; SWFP act ≤ 50 µs.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import flowrl
import gymnasium as gym
import numpy as np
from flowrl import _lib


def measure(agent: flowrl.Agent, call, calls: int) -> tuple[float, float]:
    """(wall µs per call, core µs per call) over ``calls`` calls."""
    before = agent.info()["timing"]
    start = time.perf_counter()
    for _ in range(calls):
        call()
    wall = (time.perf_counter() - start) / calls
    after = agent.info()["timing"]
    core = (after["act_seconds"] - before["act_seconds"]) / (after["act_calls"] - before["act_calls"])
    return wall * 1e6, core * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    arguments = parser.parse_args()

    env = gym.make("Pendulum-v1")
    print(f"flowrl {flowrl.version()}, Python {platform.python_version()}, numpy {np.__version__}, {platform.processor() or platform.machine()}")
    for name, make in (("SWFP defaults (velocity 256×256, N = 5)", lambda: flowrl.SWFP(env, seed=0)),
                       ("SWFP, velocity 256×256×256 (N = 5)", lambda: flowrl.SWFP(env, seed=0, hidden_sizes=[256, 256, 256])),
                       ("FlowBC defaults (256×256, 10 flow steps)", lambda: flowrl.FlowBC(env, seed=0)),
                       ("FlowBC tiny (hidden 4, 1 flow step)", lambda: flowrl.FlowBC(env, seed=0, hidden_sizes=[4], flow_steps=1))):
        agent = make()
        observation, _ = env.reset(seed=0)
        single = np.ascontiguousarray(observation, dtype=np.float32)
        output = np.empty(agent.action_size, dtype=np.float32)
        handle, act = agent.handle, _lib.lib.flowrl_agent_act
        observation_address, output_address = single.ctypes.data, output.ctypes.data
        variants = {
            "agent.act(obs)": lambda: agent.act(observation),
            "bare ctypes call": lambda: act(handle, observation_address, 1, agent.observation_size, 0, output_address, agent.action_size),
        }
        for _ in range(1000):
            agent.act(observation)
        print(f"\n{name}: median of {arguments.rounds} rounds × {arguments.calls} calls")
        for label, call in variants.items():
            rounds = [measure(agent, call, arguments.calls) for _ in range(arguments.rounds)]
            wall = statistics.median(r[0] for r in rounds)
            core = statistics.median(r[1] for r in rounds)
            overhead = statistics.median(r[0] - r[1] for r in rounds)
            print(f"  {label:<18} wall {wall:8.2f} µs   Swift act {core:8.2f} µs   overhead {overhead:6.2f} µs")
        agent.close()

    try:  # Stable-Baselines3's SAC predict for comparison, where installed (benchmark environments only)
        import stable_baselines3 as sb3
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)
    model = sb3.SAC("MlpPolicy", env, seed=0, verbose=0)
    observation, _ = env.reset(seed=0)
    for _ in range(500):
        model.predict(observation, deterministic=True)
    rounds = []
    for _ in range(arguments.rounds):
        start = time.perf_counter()
        for _ in range(arguments.calls // 10):
            model.predict(observation, deterministic=True)
        rounds.append((time.perf_counter() - start) / (arguments.calls // 10) * 1e6)
    print(f"\nStable-Baselines3 {sb3.__version__} SAC (256×256, one torch thread): model.predict(obs, deterministic=True) "
          f"median {statistics.median(rounds):.1f} µs")


if __name__ == "__main__":
    main()
