"""flowrl's SWFP, RLDT, SAC Flow (and its Gaussian SAC) beside Stable-Baselines3's SAC on a Gymnasium task, in one invocation.

Both learn with equal budgets and network sizes (256×256 hidden layers for every network); each
learns in segments and is evaluated between them (10 deterministic episodes on seeded resets),
so the env-steps/s figure counts learning only. Each (algorithm, seed) result is appended to
--output as a JSON line as soon as it finishes; --summary prints the table from that file.
Needs stable-baselines3 (benchmark only; scripts/benchmark-pendulum.sh installs it into .venv-bench):

    python scripts/benchmark_pendulum.py --env Pendulum-v1 --seeds 0 1 2 --checkpoints 5000 10000 20000 \
        --output runs/benchmark-pendulum.jsonl
    python scripts/benchmark_pendulum.py --summary --output runs/benchmark-pendulum.jsonl
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
from benchmark_timing import TimedEnv, sac_update_flops, timed

ALGORITHMS = ["flowrl-swfp", "flowrl-rldt", "flowrl-sac", "flowrl-sac-flow-gated", "flowrl-sac-flow-decoder", "flowrl-sac-flow-mlp", "sb3-sac"]


def evaluate(predict, env_id: str, episodes: int = 10) -> float:
    env = gym.make(env_id)
    returns = []
    for episode in range(episodes):
        observation, _ = env.reset(seed=100_000 + episode)
        total, done = 0.0, False
        while not done:
            observation, reward, terminated, truncated, _ = env.step(predict(observation))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return float(np.mean(returns))


def run(algorithm: str, env_id: str, seed: int, checkpoints: list[int]) -> dict:
    """Learns in segments up to each checkpoint, evaluating between them; the time split (environment,
    acting, update, the rest as glue) covers the learning segments only."""
    env = TimedEnv(gym.make(env_id))
    totals: dict = {}
    if algorithm.startswith("flowrl-"):
        import flowrl

        if algorithm == "flowrl-swfp":
            model = flowrl.SWFP(env, seed=seed, hidden_sizes=[256, 256], critic_hidden_sizes=[256, 256])
        elif algorithm == "flowrl-rldt":  # RLDT's defaults, with SAC's network widths
            model = flowrl.RLDT(env, seed=seed, hidden_sizes=[256, 256], critic_hidden_sizes=[256, 256])
        elif algorithm.startswith("flowrl-sac-flow-"):  # SAC Flow with SAC's shared defaults
            model = flowrl.SACFlow(env, seed=seed, velocity=algorithm.rsplit("-", 1)[1], critic_hidden_sizes=[256, 256])
        else:  # flowrl-sac: SB3's SAC defaults, which flowrl.SAC shares
            model = flowrl.SAC(env, seed=seed, hidden_sizes=[256, 256], critic_hidden_sizes=[256, 256])
        predict = model.predict
        timed(model, "act", totals)
        timed(model, "update", totals)
        act, update = "act", "update"
    else:
        import stable_baselines3 as sb3
        import torch

        torch.set_num_threads(1)  # like flowrl's one BLAS thread: one core per learner
        model = sb3.SAC("MlpPolicy", env, seed=seed, verbose=0, policy_kwargs={"net_arch": [256, 256]})
        predict = model.predict
        timed(model, "predict", totals)  # SB3's collect_rollouts acts through self.predict
        timed(model, "train", totals)    # one call per env step, gradient_steps=1
        act, update = "predict", "train"
    learning_seconds, environment_seconds, act_seconds, update_seconds, updates, done, evaluations = 0.0, 0.0, 0.0, 0.0, 0, 0, {}
    for checkpoint in checkpoints:
        before = (env.seconds, totals[act]["seconds"], totals[update]["seconds"], totals[update]["calls"])
        start = time.perf_counter()
        model.learn(checkpoint - done, reset_num_timesteps=(done == 0))
        learning_seconds += time.perf_counter() - start
        environment_seconds += env.seconds - before[0]
        act_seconds += totals[act]["seconds"] - before[1]
        update_seconds += totals[update]["seconds"] - before[2]
        updates += totals[update]["calls"] - before[3]
        done = checkpoint
        evaluations[checkpoint] = round(evaluate(lambda o: predict(o, deterministic=True)[0], env_id), 1)
        print(f"  {algorithm} seed {seed}: {checkpoint} steps, return {evaluations[checkpoint]}", flush=True)
    split = {"environment": environment_seconds, "act": act_seconds, "update": update_seconds,
             "glue": learning_seconds - environment_seconds - act_seconds - update_seconds}
    return {"algorithm": algorithm, "env": env_id, "seed": seed, "evaluations": evaluations,
            "steps_per_second": round(checkpoints[-1] / learning_seconds, 1),
            "milliseconds_per_step": {part: round(1000 * seconds / checkpoints[-1], 3) for part, seconds in split.items()},
            "updates": updates, "milliseconds_per_update": round(1000 * update_seconds / max(updates, 1), 3),
            "observation_size": int(np.prod(env.observation_space.shape)), "action_size": int(np.prod(env.action_space.shape)),
            "machine": platform.processor() or platform.machine(), "date": time.strftime("%Y-%m-%d")}


def summary(path: Path) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for env_id in sorted({row["env"] for row in rows}):
        print(f"\n{env_id}")
        by_algorithm: dict[str, list[dict]] = {}
        for row in rows:
            if row["env"] == env_id:
                by_algorithm.setdefault(row["algorithm"], []).append(row)
        speeds = {}
        for algorithm, results in sorted(by_algorithm.items()):
            checkpoints = sorted({int(k) for r in results for k in r["evaluations"]})
            cells = []
            for checkpoint in checkpoints:
                values = [r["evaluations"][str(checkpoint)] if str(checkpoint) in r["evaluations"] else r["evaluations"].get(checkpoint)
                          for r in results]
                cells.append(f"{checkpoint}: {statistics.mean(values):8.1f} [{', '.join(f'{v:.0f}' for v in values)}]")
            speeds[algorithm] = statistics.mean(r["steps_per_second"] for r in results)
            print(f"  {algorithm:<12} seeds {sorted(r['seed'] for r in results)}  " + "  ".join(cells)
                  + f"  steps/s {speeds[algorithm]:.1f}")
        for algorithm, results in sorted(by_algorithm.items()):
            splits = [r["milliseconds_per_step"] for r in results if "milliseconds_per_step" in r]
            if not splits:
                continue
            parts = {part: statistics.mean(split[part] for split in splits) for part in splits[0]}
            update_ms = statistics.mean(r["milliseconds_per_update"] for r in results if "milliseconds_per_update" in r)
            line = "  ".join(f"{part} {value:.2f}" for part, value in parts.items())
            flops = ""
            if algorithm in ("flowrl-sac", "sb3-sac"):  # the same networks and update: one analytic FLOP count
                count = sac_update_flops(results[0]["observation_size"], results[0]["action_size"], [256, 256], [256, 256], 256)
                flops = f", {count / 1e6:.0f} MFLOP = {count / update_ms / 1e6:.1f} GFLOP/s"
            print(f"  {algorithm:<12} ms per env step: {line}; update {update_ms:.2f} ms{flops}")
        if "sb3-sac" in speeds:
            for name in sorted(speeds):
                if name != "sb3-sac":
                    print(f"  speed ratio {name} / sb3-sac: {speeds[name] / speeds['sb3-sac']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="Pendulum-v1")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--checkpoints", type=int, nargs="+", default=[5_000, 10_000, 20_000])
    parser.add_argument("--algorithms", nargs="+", default=["flowrl-swfp", "sb3-sac"], choices=ALGORITHMS)
    parser.add_argument("--output", type=Path, default=Path("runs/benchmark-pendulum.jsonl"))
    parser.add_argument("--summary", action="store_true", help="only print the table from --output")
    arguments = parser.parse_args()
    if not arguments.summary:
        arguments.output.parent.mkdir(parents=True, exist_ok=True)
        for seed in arguments.seeds:
            for algorithm in arguments.algorithms:
                result = run(algorithm, arguments.env, seed, sorted(arguments.checkpoints))
                with arguments.output.open("a") as file:
                    file.write(json.dumps(result) + "\n")
    summary(arguments.output)


if __name__ == "__main__":
    main()
