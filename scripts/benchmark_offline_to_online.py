"""The offline-to-online benchmark: pretrain each algorithm on a dataset, then fine-tune it online.

For each (dataset, row, seed): pretrain the row's policy on the dataset (the same number of steps
for every row; the whole transitions also seed the replay buffer, and the library's fine-tuning
start applies: α set from the rewards, the critic warmed up, no random warm-up actions), evaluate
it, then fine-tune online for ``--online-steps`` env steps, evaluating every ``--eval-every``.
"sac-scratch" skips pretraining (its curve starts from the untrained policy).

Per run it records the pretrained score, the worst evaluation during fine-tuning (the dip, also
relative to the pretrained score), the final score, the area under the curve (the mean of the
evaluations after step 0) and the wall time; these metrics are
``flowrl.experiments.offline_to_online_metrics``, which ``flowrl.experiments.report`` uses too. Each finished run is appended to ``--results`` as
one JSON line, and runs already in that file are skipped, so a long benchmark can be split by
dataset, row and seed over several invocations:

    python scripts/benchmark_offline_to_online.py --dataset pendulum/flowrl-medium-v0 --rows swfp sac-bc --seeds 0 1 2
    python scripts/benchmark_offline_to_online.py --summary                  # the table (markdown)
    python scripts/benchmark_offline_to_online.py --plot docs/offline-to-online.png

Datasets are made by scripts/make_datasets.py into the local Minari root. The same rows run as a
resumable multi-seed sweep (on Ray, or serially) from benchmarks/grids/offline-to-online-hopper.yaml:

    python -m flowrl.experiments run benchmarks/grids/offline-to-online-hopper.yaml
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import gymnasium as gym
import numpy as np

import flowrl
from benchmark_timing import cpu_model
from flowrl.experiments import offline_to_online_metrics

#: Each row: how to build the agent on an env with a seed, and whether it is pretrained.
ROWS: dict[str, tuple[Callable[..., flowrl.Agent], bool]] = {
    "swfp": (lambda env, seed, **kw: flowrl.SWFP(env, seed=seed, **kw), True),
    "swfp-trust-region": (lambda env, seed, **kw: flowrl.SWFP(env, seed=seed, w2_terms="trust_region", **kw), True),
    "swfp-anchored": (lambda env, seed, **kw: flowrl.SWFP(env, seed=seed, preset="anchored", **kw), True),
    "sac-flow-gated": (lambda env, seed, **kw: flowrl.SACFlow(env, seed=seed, velocity="gated", **kw), True),
    "sac-flow-decoder": (lambda env, seed, **kw: flowrl.SACFlow(env, seed=seed, velocity="decoder", **kw), True),
    "rldt": (lambda env, seed, **kw: flowrl.RLDT(env, seed=seed, **kw), True),
    "rldt-anchored": (lambda env, seed, **kw: flowrl.RLDT(env, seed=seed, preset="anchored", **kw), True),
    "sac-bc": (lambda env, seed, **kw: flowrl.SAC(env, seed=seed, **kw), True),
    "sac-scratch": (lambda env, seed, **kw: flowrl.SAC(env, seed=seed, **kw), False),
}

EVAL_SEED = 1_000_000  # evaluation episodes reset from EVAL_SEED, EVAL_SEED + 1, ...


def evaluate(agent: flowrl.Agent, env_id: str, episodes: int) -> float:
    env = gym.make(env_id)
    try:
        return float(agent.evaluate(env, n_episodes=episodes, deterministic=True, seed=EVAL_SEED)[0])
    finally:
        env.close()


def env_id_of(data: Any, given: str | None) -> str:
    if given:
        return given
    env_id = data.metadata.get("env_spec_id")
    if not env_id:
        raise SystemExit("the dataset names no environment: pass --env")
    return str(env_id)


def segments(online_steps: int, eval_every: int, hold_actor_steps: int = 0) -> list[tuple[int, bool, int | None]]:
    """The online run as `learn` calls: (env steps, whether the actor learns, the step evaluated
    after the call or None). An evaluation every `eval_every` steps; the first `hold_actor_steps`
    steps hold the actor, split off where the hold ends inside an evaluation interval."""
    calls: list[tuple[int, bool, int | None]] = []
    done = 0
    for step in range(eval_every, online_steps + 1, eval_every):
        if done < hold_actor_steps < step:
            calls.append((hold_actor_steps - done, False, None))
            done = hold_actor_steps
        calls.append((step - done, done >= hold_actor_steps, step))
        done = step
    return calls


def start(dataset: str, row: str, seed: int, args: argparse.Namespace) -> tuple[flowrl.Agent, Any, str, dict[str, float], float]:
    """The row's agent on the dataset's env, pretrained on the dataset when the row is: the agent,
    the dataset, the env id, the pretraining's metrics and its seconds (the agent's construction excluded)."""
    data = flowrl.datasets.load(dataset)
    env_id = env_id_of(data, args.env)
    make, pretrained = ROWS[row]
    agent = make(gym.make(env_id), seed, **json.loads(args.config))
    started = time.perf_counter()
    pretrain_metrics = agent.pretrain(data, steps=args.pretrain_steps) if pretrained else {}
    return agent, data, env_id, pretrain_metrics, time.perf_counter() - started


def run(dataset: str, row: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    agent, data, env_id, pretrain_metrics, pretrain_seconds = start(dataset, row, seed, args)
    pretrained = ROWS[row][1]
    curve = {0: evaluate(agent, env_id, args.eval_episodes)}
    online_started = time.perf_counter()
    learning_rate, learning = agent.config["learning_rate"], True
    for steps, actor_learns, step in segments(args.online_steps, args.eval_every, args.hold_actor_steps):
        if actor_learns != learning:  # learning rate 0 holds the policy and α while the critic learns online
            agent.set_config(learning_rate=learning_rate if actor_learns else 0.0)
            learning = actor_learns
        agent.learn(steps, reset_num_timesteps=False)
        if step is not None:
            curve[step] = evaluate(agent, env_id, args.eval_episodes)
            print(f"  {row} seed {seed} step {step}: {curve[step]:.1f}", flush=True)
    online_seconds = time.perf_counter() - online_started
    metrics = offline_to_online_metrics(curve)
    info = agent.info()
    agent.close()
    return {
        "dataset": dataset, "env": env_id, "row": row, "seed": seed, "pretrained": pretrained,
        "pretrain_steps": args.pretrain_steps if pretrained else 0, "online_steps": args.online_steps,
        **{name: metrics[name] for name in ("start", "worst", "dip", "final", "auc")},
        "curve": curve, "pretrain_metrics": pretrain_metrics, "pretrain_seconds": pretrain_seconds,
        "online_seconds": online_seconds, "settings": args.config, "hold_actor_steps": args.hold_actor_steps, "config": info["config"], "dataset_size": len(data),
        "dataset_mean_return": float(np.mean(data.episode_returns())) if data.num_episodes else None,
        "machine": cpu_model(), "date": time.strftime("%Y-%m-%d"),
        "blas": flowrl.info().get("blas", {}),
    }


def read(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def summary(results: list[dict[str, Any]]) -> str:
    """One markdown row per (dataset, row, online steps): means ± standard deviations over seeds."""
    groups: dict[tuple[str, str, int, str], list[dict[str, Any]]] = {}
    for result in results:
        key = (result["dataset"], result["row"], result["online_steps"], result.get("settings", "{}"))
        groups.setdefault(key, []).append(result)

    def cell(values: list[float], digits: int = 1) -> str:
        if len(values) == 1:
            return f"{values[0]:.{digits}f}"
        return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"

    lines = ["| dataset | row | seeds | pretrained | worst (dip) | final | final / pretrained | AUC | dip ≤ 10% |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for (dataset, row, steps, settings), runs in sorted(groups.items()):
        label = row if settings == "{}" else f"{row} `{settings}`"
        # the metrics of each run's curve (JSON keeps the steps as strings)
        metrics = [offline_to_online_metrics({int(step): value for step, value in r["curve"].items()}) for r in runs]
        starts, worsts, finals = ([m[name] for m in metrics] for name in ("start", "worst", "final"))
        dips = [100 * m["dip"] for m in metrics]
        ratios = [m["final_ratio"] for m in metrics]
        kept = sum(1 for m in metrics if m["dip"] >= -0.10)
        ratio = cell(ratios, 2) if all(np.isfinite(ratios)) else "n/a (score ≤ 0)"
        # Without pretraining there is no pretrained score to keep: the start is the untrained policy.
        pretrained = all(r["pretrained"] for r in runs)
        start_label = cell(starts) if pretrained else f"({cell(starts)} untrained)"
        dip = f"{cell(worsts)} ({cell(dips, 0)}%)" if pretrained else cell(worsts)
        lines.append(f"| {dataset} ({steps // 1000}k) | {label} | {len(runs)} | {start_label} | {dip} "
                     f"| {cell(finals)} | {ratio if pretrained else '–'} | {cell([m['auc'] for m in metrics])} "
                     f"| {f'{kept}/{len(runs)}' if pretrained else '–'} |")
    return "\n".join(lines)


def curve_groups(results: list[dict[str, Any]], dataset: str) -> list[tuple[str, str]]:
    """The (row, settings) pairs of `dataset`'s runs in the order of `ROWS`, then of first appearance:
    one curve each, so that a row run with other `--config` settings is never averaged into its defaults."""
    pairs = list(dict.fromkeys((r["row"], r.get("settings", "{}")) for r in results if r["dataset"] == dataset))
    return sorted(pairs, key=lambda pair: list(ROWS).index(pair[0]) if pair[0] in ROWS else len(ROWS))


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = sorted({r["dataset"] for r in results})
    figure, axes = plt.subplots(1, len(datasets), figsize=(9 * len(datasets), 7), squeeze=False)
    for axis, dataset in zip(axes[0], datasets):
        for row, settings in curve_groups(results, dataset):
            runs = [r for r in results if r["dataset"] == dataset and r["row"] == row and r.get("settings", "{}") == settings]
            steps = sorted(int(step) for step in runs[0]["curve"])
            values = np.array([[r["curve"][str(step)] if str(step) in r["curve"] else r["curve"][step] for step in steps] for r in runs])
            mean = values.mean(axis=0)
            name = row if settings == "{}" else f"{row} " + ", ".join(f"{key}={value}" for key, value in json.loads(settings).items())
            (line,) = axis.plot(steps, mean, label=f"{name} ({len(runs)} seed{'s' if len(runs) > 1 else ''}, mean; band: min–max)")
            if len(runs) > 1:
                axis.fill_between(steps, values.min(axis=0), values.max(axis=0), alpha=0.2, color=line.get_color())
        axis.set_title(dataset)
        axis.set_xlabel("online env steps")
        axis.set_ylabel("evaluation return (10 episodes)")
        axis.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=1)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)


def arguments_parser() -> argparse.ArgumentParser:
    """The command line (its defaults are the benchmark's protocol, which
    benchmarks/grids/offline-to-online-hopper.yaml repeats; python/tests/test_experiments.py checks that they agree)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", nargs="+", default=["hopper/flowrl-medium-v2"], help="dataset ids or paths")
    parser.add_argument("--env", help="the env id (default: the one the dataset names)")
    parser.add_argument("--rows", nargs="+", choices=sorted(ROWS), default=list(ROWS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--pretrain-steps", type=int, default=20_000)
    parser.add_argument("--online-steps", type=int, default=50_000)
    parser.add_argument("--eval-every", type=int, default=5_000)
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--hold-actor-steps", type=int, default=0,
                        help="online steps with the policy's (and α's) learning rate at 0 while the critic learns, "
                             "then the configured rate (a probe of the fine-tuning dip, docs/finetuning-investigation.md)")
    parser.add_argument("--config", default="{}", help="JSON settings for every row's constructor (e.g. smaller networks)")
    parser.add_argument("--results", type=Path, nargs="+", default=[Path("runs/offline-to-online/results.jsonl")],
                        help="the results file that runs append to; --summary and --plot read every file given")
    parser.add_argument("--summary", action="store_true", help="print the table of --results and stop")
    parser.add_argument("--plot", type=Path, help="write the curves of --results (PNG) and stop")
    return parser


def main() -> None:
    parser = arguments_parser()
    args = parser.parse_args()
    results = [result for path in args.results for result in read(path)]
    if args.summary or args.plot:
        if args.summary:
            print(summary(results))
        if args.plot:
            plot(results, args.plot)
        return
    if len(args.results) != 1:
        parser.error("a run appends to one --results file")
    output = args.results[0]
    output.parent.mkdir(parents=True, exist_ok=True)
    for dataset in args.dataset:
        for row in args.rows:
            for seed in args.seeds:
                done = any((r["dataset"], r["row"], r["seed"], r["online_steps"], r["settings"])
                           == (dataset, row, seed, args.online_steps, args.config) for r in results)
                if done:
                    print(f"skip {dataset} {row} seed {seed}: in {output}")
                    continue
                print(f"{dataset} {row} seed {seed}", flush=True)
                result = run(dataset, row, seed, args)
                with output.open("a") as file:
                    file.write(json.dumps(result) + "\n")
                print(f"  start {result['start']:.1f} worst {result['worst']:.1f} final {result['final']:.1f} "
                      f"({result['pretrain_seconds']:.0f} s pretraining, {result['online_seconds']:.0f} s online)", flush=True)


if __name__ == "__main__":
    main()
