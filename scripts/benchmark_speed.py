"""Speed of every flowrl algorithm beside Stable-Baselines3's SAC, interleaved in one run (BENCHMARKS.md).

Four parts, every learner with its library's default hyperparameters and one BLAS/torch thread
unless a part says otherwise:

1. learning: env-steps/s while learning on each environment. Every learner is created and taken
   past its random warm-up, then the learners take turns, each learning --segment steps per
   round for --rounds rounds, so that the machine's drifts fall on all alike; a learner's speed
   is its median over rounds, and the ratio to SB3's SAC is the ratio of those medians.
2. update: milliseconds per ``update(1)`` call (as ``learn`` makes them) on the first environment's
   replay data, in interleaved rounds, with GFLOP/s from the library's count of the matrix
   products' FLOPs (``flowrl.info()["product_flops"]``); SB3's ``train(1)`` beside it, with the
   analytic FLOP count of the same networks.
3. act: microseconds per ``predict`` of one observation from Python.
4. threads: each flowrl algorithm's update with 1 thread, 2 BLAS threads alone
   (``set_blas_threads(2)``) and 2 threads (``set_threads(2)``: BLAS and the concurrent
   branches), interleaved: the speed-ups.

Results go to --output (JSON) and a summary table to stdout, with the CPU and the BLAS library,
version and core that ran. Needs stable-baselines3 and gymnasium[mujoco], which
./scripts/benchmark-speed.sh installs into .venv-bench (benchmark only):

    ./scripts/benchmark-speed.sh [--envs Hopper-v5 Pendulum-v1] [--rounds 4] [--segment 1000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import flowrl
import gymnasium as gym
import numpy as np
from benchmark_timing import cpu_model, sac_update_flops

LEARNERS = ["flowrl-sac", "flowrl-swfp", "flowrl-sac-flow-gated", "flowrl-rldt", "sb3-sac"]
FLOWRL_CONSTRUCTORS: dict[str, Callable[..., Any]] = {
    "flowrl-sac": lambda env, seed: flowrl.SAC(env, seed=seed),
    "flowrl-swfp": lambda env, seed: flowrl.SWFP(env, seed=seed),
    "flowrl-sac-flow-gated": lambda env, seed: flowrl.SACFlow(env, seed=seed, velocity="gated"),
    "flowrl-rldt": lambda env, seed: flowrl.RLDT(env, seed=seed),
}


def make_learner(name: str, env_id: str, seed: int) -> Any:
    env = gym.make(env_id)
    if name in FLOWRL_CONSTRUCTORS:
        return FLOWRL_CONSTRUCTORS[name](env, seed)
    import stable_baselines3 as sb3
    import torch

    torch.set_num_threads(1)  # like flowrl's one BLAS thread: one core per learner
    return sb3.SAC("MlpPolicy", env, seed=seed, verbose=0)


def learning_speeds(env_id: str, learners: list[str], rounds: int, segment: int, seed: int) -> dict[str, dict[str, Any]]:
    models = {name: make_learner(name, env_id, seed) for name in learners}
    for name, model in models.items():
        print(f"  {env_id}: warming up {name}", flush=True)
        model.learn(1_000)  # past the 100 random warm-up steps of both libraries' SAC defaults
    speeds: dict[str, list[float]] = {name: [] for name in learners}
    for round_index in range(rounds):
        for name, model in models.items():
            start = time.perf_counter()
            model.learn(segment, reset_num_timesteps=False)
            speeds[name].append(segment / (time.perf_counter() - start))
        print(f"  {env_id} round {round_index + 1}/{rounds}: "
              + ", ".join(f"{name} {values[-1]:.1f}" for name, values in speeds.items()), flush=True)
    return {name: {"steps_per_second": statistics.median(values), "rounds": [round(v, 2) for v in values]}
            for name, values in speeds.items()}, models


def time_calls(call: Callable[[], Any], count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        call()
    return (time.perf_counter() - start) / count


def update_costs(models: dict[str, Any], rounds: int, calls: int) -> dict[str, dict[str, float]]:
    seconds: dict[str, list[float]] = {name: [] for name in models}
    flops: dict[str, float] = {}
    for _ in range(rounds):
        for name, model in models.items():
            if name in FLOWRL_CONSTRUCTORS:
                before = flowrl.info()["product_flops"]
                seconds[name].append(time_calls(lambda: model.update(1), calls))
                flops[name] = (flowrl.info()["product_flops"] - before) / calls
            else:
                seconds[name].append(time_calls(lambda: model.train(gradient_steps=1, batch_size=model.batch_size), calls))
                observation_size = int(np.prod(model.observation_space.shape))
                action_size = int(np.prod(model.action_space.shape))
                flops[name] = sac_update_flops(observation_size, action_size, [256, 256], [256, 256], model.batch_size)
    result = {}
    for name, values in seconds.items():
        best = min(values)
        result[name] = {"milliseconds": round(1000 * statistics.median(values), 3), "milliseconds_min": round(1000 * best, 3),
                        "megaflop": round(flops[name] / 1e6, 1), "gflop_per_second": round(flops[name] / best / 1e9, 1)}
    return result


def act_latency(models: dict[str, Any], repeats: int) -> dict[str, float]:
    latencies = {}
    for name, model in models.items():
        observation = model.observation_space.sample() if hasattr(model, "observation_space") else None
        values = [time_calls(lambda: model.predict(observation, deterministic=False), 200) for _ in range(repeats)]
        latencies[name] = round(1e6 * min(values), 1)
    return latencies


def thread_speedups(models: dict[str, Any], rounds: int, calls: int) -> dict[str, dict[str, float]]:
    result = {}
    for name, model in models.items():
        if name not in FLOWRL_CONSTRUCTORS:
            continue
        # One thread; two BLAS threads alone; two threads for BLAS and the concurrent branches.
        one, two, concurrent = [], [], []
        for _ in range(rounds):
            flowrl.set_threads(1)
            one.append(time_calls(lambda: model.update(1), calls))
            flowrl.set_blas_threads(2)
            two.append(time_calls(lambda: model.update(1), calls))
            flowrl.set_threads(2)
            concurrent.append(time_calls(lambda: model.update(1), calls))
        flowrl.set_threads(1)
        result[name] = {"one_thread_ms": round(1000 * min(one), 3), "two_threads_ms": round(1000 * min(two), 3),
                        "speedup": round(min(one) / min(two), 2),
                        "two_threads_concurrent_ms": round(1000 * min(concurrent), 3),
                        "speedup_concurrent": round(min(one) / min(concurrent), 2)}
    return result


def print_summary(results: dict[str, Any]) -> None:
    blas = results["blas"]
    print(f"\nmachine: {results['cpu']}; {blas['configuration']}; core {blas['core']} ({blas['core_source']}); "
          f"flowrl {results['flowrl_version']}; {results['date']}")
    for env_id, speeds in results["learning"].items():
        reference = speeds.get("sb3-sac", {}).get("steps_per_second")
        print(f"\n{env_id}: env-steps/s while learning (median of {len(next(iter(speeds.values()))['rounds'])} interleaved rounds)")
        for name, row in speeds.items():
            ratio = f"  {row['steps_per_second'] / reference:.2f}x SB3 SAC" if reference else ""
            print(f"  {name:<24} {row['steps_per_second']:8.1f}{ratio}   rounds {row['rounds']}")
    print(f"\nupdate on {results['update_env']} (median ms per update(1) call; GFLOP/s from the fastest round)")
    sac = results["update"].get("flowrl-sac", {}).get("milliseconds")
    for name, row in results["update"].items():
        relative = f"  {row['milliseconds'] / sac:.2f}x flowrl SAC" if sac else ""
        print(f"  {name:<24} {row['milliseconds']:8.2f} ms  {row['megaflop']:7.1f} MFLOP  {row['gflop_per_second']:6.1f} GFLOP/s{relative}")
    print("\nact, one observation from Python (fastest of the repeats)")
    for name, microseconds in results["act_microseconds"].items():
        print(f"  {name:<24} {microseconds:8.1f} µs")
    print("\nthreads: update(1) ms with 1 thread → 2 BLAS threads (set_blas_threads(2)) → 2 threads (set_threads(2))")
    for name, row in results["threads"].items():
        concurrent = (f" → {row['two_threads_concurrent_ms']:8.2f} ms  speed-up {row['speedup_concurrent']:.2f}x"
                      if "two_threads_concurrent_ms" in row else "")  # runs before set_threads existed
        print(f"  {name:<24} {row['one_thread_ms']:8.2f} → {row['two_threads_ms']:8.2f} ms  speed-up {row['speedup']:.2f}x"
              + concurrent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=["Hopper-v5", "Pendulum-v1"])
    parser.add_argument("--learners", nargs="+", default=LEARNERS, choices=LEARNERS)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--segment", type=int, default=1_000, help="env steps per learner per round")
    parser.add_argument("--update-calls", type=int, default=100, help="update(1) calls per learner per round")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=Path("runs/benchmark-speed.json"))
    parser.add_argument("--summary", action="store_true", help="only print the table from --output")
    arguments = parser.parse_args()
    if arguments.summary:
        print_summary(json.loads(arguments.output.read_text()))
        return
    flowrl.set_blas_threads(1)
    results: dict[str, Any] = {"cpu": cpu_model(), "blas": flowrl.info()["blas"], "flowrl_version": flowrl.version(),
                               "date": time.strftime("%Y-%m-%d"), "learning": {}, "update_env": arguments.envs[0]}
    first_models: dict[str, Any] = {}
    for env_id in arguments.envs:
        speeds, models = learning_speeds(env_id, arguments.learners, arguments.rounds, arguments.segment, arguments.seed)
        results["learning"][env_id] = speeds
        if not first_models:
            first_models = models
    results["update"] = update_costs(first_models, arguments.rounds, arguments.update_calls)
    results["act_microseconds"] = act_latency(first_models, arguments.rounds)
    results["threads"] = thread_speedups(first_models, arguments.rounds, arguments.update_calls)
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(json.dumps(results, indent=1))
    print_summary(results)


if __name__ == "__main__":
    main()
