"""Why is a pretrained policy thrown away at the start of online fine-tuning? (issue 14)

A small 2-D reaching task (``Reach2D`` below): a point moved by actions in [-1, 1]^2 times a step
of 0.1, reward −‖position − goal‖ each step, 50 steps, start and goal uniform in [-0.75, 0.75]^2,
the goal in the observation. Uniform-random actions score about −42, the straight-line controller
about −3. Demonstrations come from a slow, noisy scripted controller (speed 0.4 of the maximum,
Gaussian noise 0.3, about −10.5).

Each run: make demonstrations (``--demo-episodes`` episodes, seeded by the run's seed), pretrain
the agent on them (``agent.pretrain``), evaluate (10 episodes, deterministic, the same 10 goals
every time), then fine-tune with ``agent.learn`` in chunks of ``--eval-every`` steps up to
``--steps``, evaluating after each chunk. A variant changes one thing against the baseline (see
``VARIANTS``); the per-update training metrics returned by ``agent.update`` are kept as means
over windows of 100 updates. Each run appends one JSON line to ``--results``; the summary table
(dip = worst evaluation during fine-tuning minus the pretrained score, as a fraction of the
pretrained score's magnitude) is printed from that file.

Some variants need a setting changed in the middle of a run (a critic warmed with the actor frozen,
then the actor released; an actor learning rate other than the one used in pretraining). The API
has no call for that, so ``reconfigure`` rewrites the configuration JSON inside the agent's
checkpoint (the documented format of ``Sources/FlowRL/Checkpoint/Checkpoint.swift``: the
configuration is a length-prefixed string in the payload, a CRC-32 ends the file) and loads it
back with ``from_bytes``; networks, optimiser moments, α, counters, random state and the replay
buffer are carried over unchanged.

    .venv-test/bin/python scripts/investigate_finetuning.py --algo swfp --variant baseline --seeds 0 1 2
    .venv-test/bin/python scripts/investigate_finetuning.py --summary
    .venv-test/bin/python scripts/investigate_finetuning.py --calibrate
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import struct
import sys
import time
import zlib
from pathlib import Path
from typing import Any, Callable, Optional

import flowrl
import gymnasium as gym
import numpy as np
from gymnasium import spaces

STEP_SIZE = 0.1
HORIZON = 50
START_BOX = 0.75
EVAL_SEED = 12_345


class Reach2D(gym.Env):
    """A point in [-1, 1]^2 moved by ``STEP_SIZE · action``; reward −distance to the goal."""

    metadata = {"render_modes": []}

    def __init__(self) -> None:
        self.observation_space = spaces.Box(-1.0, 1.0, (4,), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.position = np.zeros(2)
        self.goal = np.zeros(2)
        self.t = 0

    def _observation(self) -> np.ndarray:
        return np.concatenate([self.position, self.goal]).astype(np.float32)

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.position = self.np_random.uniform(-START_BOX, START_BOX, 2)
        self.goal = self.np_random.uniform(-START_BOX, START_BOX, 2)
        self.t = 0
        return self._observation(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        action = np.clip(np.asarray(action, np.float64), -1.0, 1.0)
        self.position = np.clip(self.position + STEP_SIZE * action, -1.0, 1.0)
        self.t += 1
        reward = -float(np.linalg.norm(self.position - self.goal))
        return self._observation(), reward, False, self.t >= HORIZON, {}


# ---------------------------------------------------------------------------- scripted policies

def scripted(observation: np.ndarray, rng: np.random.Generator, speed: float = 0.4, noise: float = 0.3) -> np.ndarray:
    """The slow, noisy demonstrator: ``speed`` of the maximum towards the goal plus Gaussian noise."""
    delta = observation[2:4] - observation[0:2]
    distance = float(np.linalg.norm(delta)) + 1e-8
    action = min(speed, distance / STEP_SIZE) * delta / distance + noise * rng.standard_normal(2)
    return np.clip(action, -1.0, 1.0).astype(np.float32)


def straight_line(observation: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.clip((observation[2:4] - observation[0:2]) / STEP_SIZE, -1.0, 1.0).astype(np.float32)


def uniform_random(observation: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(-1.0, 1.0, 2).astype(np.float32)


def rollouts(policy: Callable[[np.ndarray, np.random.Generator], np.ndarray], episodes: int, seed: int) -> dict[str, np.ndarray]:
    """Transitions of ``episodes`` episodes and their returns."""
    env, rng = Reach2D(), np.random.default_rng(seed)
    columns: dict[str, list] = {"observations": [], "actions": [], "rewards": [], "next_observations": [], "terminated": []}
    returns = []
    for episode in range(episodes):
        observation, _ = env.reset(seed=seed * 100_003 + episode)
        total, done = 0.0, False
        while not done:
            action = policy(observation, rng)
            following, reward, terminated, truncated, _ = env.step(action)
            for key, value in zip(columns, (observation, action, reward, following, terminated)):
                columns[key].append(value)
            total += reward
            observation, done = following, terminated or truncated
        returns.append(total)
    data = {key: np.asarray(value) for key, value in columns.items()}
    data["observations"] = data["observations"].astype(np.float32)
    data["next_observations"] = data["next_observations"].astype(np.float32)
    data["actions"] = data["actions"].astype(np.float32)
    data["rewards"] = data["rewards"].astype(np.float32)
    data["terminated"] = data["terminated"].astype(bool)
    data["returns"] = np.asarray(returns)
    return data


# ---------------------------------------------------------------------------- the variants

# Each variant changes one thing against the baseline (or names a combination). Keys:
#   config          constructor settings (learning_starts, initial_alpha, alpha, w2_scale, ...)
#   seed_replay     pretrain with whole transitions: the demonstrations also go into the replay buffer
#   critic_warmup   K updates on the demonstrations before learn with the actor frozen
#                   (policy_delay set huge, then back to 1); needs seed_replay
#   actor_freeze    the first K online updates with the actor (and α, stepped on actor turns) frozen
#   finetune_config settings changed after pretraining (e.g. the actor learning rate)
VARIANTS: dict[str, dict[str, Any]] = {
    "baseline": {},
    # 1. the random warm-up actions
    "learning_starts=0": {"config": {"learning_starts": 0}},
    "learning_starts=100": {"config": {"learning_starts": 100}},
    # 5. the replay mix: demonstrations in the buffer
    "demos_in_buffer": {"seed_replay": True},
    "demos_in_buffer+learning_starts=0": {"seed_replay": True, "config": {"learning_starts": 0}},
    # 3. α starting at 1
    "initial_alpha=0.01": {"config": {"initial_alpha": 0.01}},
    "alpha=0.01_fixed": {"config": {"alpha": 0.01}},
    "alpha=0.001_fixed": {"config": {"alpha": 0.001}},
    # 4. the trust region (SWFP) and the actor learning rate
    "w2_scale=4": {"config": {"w2_scale": 4.0}},
    "jko_step=0.01": {"config": {"jko_step": 0.01}},  # the JKO step, called tau when measured
    "prior_update=0.001": {"config": {"prior_update": 0.001}},
    "actor_lr=1e-5": {"finetune_config": {"learning_rate": 1e-5}},
    "w2_scale=0.04": {"config": {"w2_scale": 0.04}},
    "w2_scale=0": {"config": {"w2_scale": 0.0}},
    "energy_at=terminal": {"config": {"energy_at": "terminal"}},
    # 2. an untrained critic steering the actor
    "actor_freeze=2000": {"actor_freeze": 2000},
    "critic_warmup=2000": {"seed_replay": True, "critic_warmup": 2000, "config": {"learning_starts": 0}},
    # combinations
    "ls0+alpha0.01": {"config": {"learning_starts": 0, "initial_alpha": 0.01}},
    "ls0+alpha0.01_fixed": {"config": {"learning_starts": 0, "alpha": 0.01}},
    "demos+ls0+alpha0.01": {"seed_replay": True, "config": {"learning_starts": 0, "initial_alpha": 0.01}},
    "demos+ls0+alpha0.01+warmup": {"seed_replay": True, "critic_warmup": 2000,
                                   "config": {"learning_starts": 0, "initial_alpha": 0.01}},
    "actor_lr=1e-5+alpha0.01_fixed": {"config": {"alpha": 0.01}, "finetune_config": {"learning_rate": 1e-5}},
    "w2_scale=0+alpha0.01_fixed": {"config": {"w2_scale": 0.0, "alpha": 0.01}},
    "w2_scale=0.04+alpha0.01_fixed": {"config": {"w2_scale": 0.04, "alpha": 0.01}},
    "w2_scale=0+alpha0.01_fixed+warmup": {"seed_replay": True, "critic_warmup": 2000,
                                          "config": {"w2_scale": 0.0, "alpha": 0.01, "learning_starts": 0}},
    "alpha0.01_fixed+warmup": {"seed_replay": True, "critic_warmup": 2000, "config": {"alpha": 0.01, "learning_starts": 0}},
    # the library fix (pretrain on whole transitions with the library's defaults: α set from the
    # rewards, critic warm-up, no random warm-up actions), and SWFP's trust region alone on top
    "library_fix": {"seed_replay": True},
    "library_fix+w2_terms=trust_region": {"seed_replay": True, "config": {"w2_terms": "trust_region"}},
    # the SWFP paper's choices (docs/algorithms.md, "SWFP: differences from the paper"), one at a
    # time on the library fix, and all of them with the paper's hyperparameters (the preset; --hidden
    # still sets the widths)
    "library_fix+act_with=prior": {"seed_replay": True, "config": {"act_with": "prior"}},
    "library_fix+old_particles=stored": {"seed_replay": True, "config": {"old_particles": "stored"}},
    "library_fix+value_target=logsumexp": {"seed_replay": True, "config": {"value_target": "logsumexp", "value_samples": 8}},
    "library_fix+solver=midpoint": {"seed_replay": True, "config": {"solver": "midpoint"}},
    "library_fix+actor_batch_size=1024": {"seed_replay": True, "config": {"actor_batch_size": 1024}},
    "library_fix+preset=paper": {"seed_replay": True, "config": {"preset": "paper"}},
}

ALGORITHMS = {"swfp": flowrl.SWFP, "sac": flowrl.SAC}
HUGE_DELAY = 1_000_000  # the core accepts policy_delay up to 10^6


# ---------------------------------------------------------------------------- checkpoint surgery

def reconfigure(agent: flowrl.Agent, env: Any, **changes: Any) -> flowrl.Agent:
    """The same agent (state, optimisers, replay buffer, counters) with ``changes`` in its configuration.

    Rewrites the configuration string of the checkpoint (magic, u32 version, u64 payload length,
    payload = algorithm string, u64 sizes ×2, configuration string, ...; u32 CRC-32 at the end).
    """
    data = agent.to_bytes(include_replay_buffer=True)
    header = 8 + 4 + 8
    payload = data[header:-4]
    (name_length,) = struct.unpack_from("<I", payload, 0)
    offset = 4 + name_length + 16
    (config_length,) = struct.unpack_from("<I", payload, offset)
    config = json.loads(payload[offset + 4: offset + 4 + config_length])
    config.update(changes)
    text = json.dumps(config).encode()
    payload = payload[:offset] + struct.pack("<I", len(text)) + text + payload[offset + 4 + config_length:]
    body = data[:8] + data[8:12] + struct.pack("<Q", len(payload)) + payload
    restored = type(agent).from_bytes(body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF), env=env)
    for key, value in changes.items():
        assert restored.config[key] == value, (key, restored.config[key], value)
    agent.close()
    return restored


# ---------------------------------------------------------------------------- one run

class MetricLog:
    """Means of ``update``'s metrics over windows of ``window`` updates, keyed by the window's last env step."""

    def __init__(self, window: int = 100) -> None:
        self.window = window
        self.rows: list[dict[str, float]] = []
        self.current: dict[str, list[float]] = {}
        self.count = 0

    def add(self, metrics: dict[str, float], step: int, phase: str) -> None:
        for key, value in metrics.items():
            self.current.setdefault(key, []).append(value)
        self.count += 1
        if self.count % self.window == 0:
            row = {"phase": phase, "step": step, "updates": self.count}
            row.update({key.replace("train/", ""): round(float(np.mean(values)), 5) for key, values in self.current.items()})
            self.rows.append(row)
            self.current = {}


def run(algo: str, variant_name: str, seed: int, args: argparse.Namespace, demos: dict[str, np.ndarray]) -> dict[str, Any]:
    variant = VARIANTS[variant_name]
    cls = ALGORITHMS[algo]
    env, eval_env = Reach2D(), Reach2D()
    settings = {"hidden_sizes": args.hidden, "critic_hidden_sizes": args.hidden} if args.hidden else {}
    settings.update(variant.get("config", {}))
    agent = cls(env, seed=seed, **settings)
    transitions = {}
    if variant.get("seed_replay"):
        transitions = {key: demos[key] for key in ("rewards", "next_observations", "terminated")}
    started = time.perf_counter()
    pretrain_metrics = agent.pretrain(demos["observations"], demos["actions"], steps=args.pretrain_steps, **transitions)
    pretrain_seconds = time.perf_counter() - started

    def evaluate() -> float:
        return round(agent.evaluate(eval_env, n_episodes=args.eval_episodes, deterministic=True, seed=EVAL_SEED)[0], 2)

    probe = demos["observations"][:: max(1, len(demos["observations"]) // 256)][:256]
    direction = probe[:, 2:4] - probe[:, 0:2]
    direction /= np.linalg.norm(direction, axis=1, keepdims=True) + 1e-8

    def probe_actions() -> dict[str, float]:
        """The policy on 256 demonstration observations: deterministic action size and its
        cosine with the goal direction, and the spread of sampled actions."""
        deterministic = agent.act(probe, deterministic=True)
        sampled = np.stack([agent.act(probe) for _ in range(8)])
        norm = np.linalg.norm(deterministic, axis=1)
        cosine = np.sum(deterministic * direction, axis=1) / (norm + 1e-8)
        return {"norm": round(float(norm.mean()), 3), "cos": round(float(cosine.mean()), 3),
                "spread": round(float(sampled.std(axis=0).mean()), 3)}

    pretrained = evaluate()
    probes = {0: probe_actions()}
    log = MetricLog()
    state = {"phase": "online"}

    def wrap(target: flowrl.Agent) -> None:
        original = target.update

        def update(gradient_steps: int = 1) -> dict[str, float]:
            metrics = original(gradient_steps)
            log.add(metrics, target.num_timesteps, state["phase"])
            return metrics
        target.update = update  # type: ignore[method-assign]

    if variant.get("finetune_config"):
        agent = reconfigure(agent, env, **variant["finetune_config"])
    warmup = variant.get("critic_warmup", 0)
    warmed = None
    if warmup:
        delay = agent.config["policy_delay"]
        agent = reconfigure(agent, env, policy_delay=HUGE_DELAY)
        wrap(agent)
        state["phase"] = "critic_warmup"
        for _ in range(warmup):
            agent.update(1)
        agent = reconfigure(agent, env, policy_delay=delay)
        state["phase"] = "online"
        warmed = evaluate()
    freeze = variant.get("actor_freeze", 0)
    if freeze:
        delay = agent.config["policy_delay"]
        agent = reconfigure(agent, env, policy_delay=HUGE_DELAY)
        state["phase"] = "actor_frozen"
    wrap(agent)
    agent.set_env(env)

    curve = {0: pretrained}
    diverged = None
    train_returns: dict[int, Optional[float]] = {}
    done_steps = 0
    started = time.perf_counter()
    while done_steps < args.steps:
        chunk = min(args.eval_every, args.steps - done_steps)
        if freeze and done_steps < freeze < done_steps + chunk:
            chunk = freeze - done_steps
        episodes_before = agent._episode_num
        try:
            agent.learn(chunk, reset_num_timesteps=done_steps == 0, log_interval=None)
        except flowrl.errors.NumericalError as error:  # the update diverged: the run ends here
            diverged = {"step": agent.num_timesteps, "error": str(error)}
            curve[agent.num_timesteps] = evaluate()
            break
        done_steps += chunk
        finished = list(agent.ep_info_buffer)[-(agent._episode_num - episodes_before):] if agent._episode_num > episodes_before else []
        if freeze and done_steps == freeze:
            agent = reconfigure(agent, env, policy_delay=delay)
            wrap(agent)
            agent.set_env(env)
            state["phase"] = "online"
        if done_steps % args.eval_every == 0:
            curve[done_steps] = evaluate()
            probes[done_steps] = probe_actions()
            train_returns[done_steps] = round(float(np.mean([e["r"] for e in finished])), 2) if finished else None
    learn_seconds = time.perf_counter() - started
    info = agent.info()
    agent.close()
    worst = min(value for step, value in curve.items() if step > 0)
    scale = abs(pretrained) if pretrained else 1.0
    return {
        "algo": algo, "variant": variant_name, "spec": variant, "seed": seed, "pretrain_steps": args.pretrain_steps, "hidden": args.hidden,
        "demo_episodes": args.demo_episodes, "demo_return": round(float(demos["returns"].mean()), 2),
        "steps": args.steps, "eval_every": args.eval_every, "eval_episodes": args.eval_episodes,
        "pretrain_metrics": pretrain_metrics, "pretrained": pretrained, "after_critic_warmup": warmed,
        "curve": curve, "probes": probes, "train_episode_returns": train_returns,
        "worst": worst, "diverged": diverged, "dip": round((worst - pretrained) / scale, 3),
        "at_2000": curve.get(2000), "at_5000": curve.get(5000), "final": curve[max(curve)],
        "metrics": log.rows, "counters": info["counters"], "config": info["config"],
        "pretrain_seconds": round(pretrain_seconds, 1), "learn_seconds": round(learn_seconds, 1),
        "machine": platform.node(), "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


# ---------------------------------------------------------------------------- summary

def summary(path: Path, algos: Optional[list[str]] = None) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        if algos and row["algo"] not in algos:
            continue
        width = "x".join(map(str, row.get("hidden") or [256, 256]))
        groups.setdefault((row["algo"], width, row["variant"]), []).append(row)

    def cell(values: list[float], digits: int = 1) -> str:
        values = [v for v in values if v is not None]
        if not values:
            return "–"
        return f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}" if len(values) > 1 else f"{values[0]:.{digits}f}"

    print("| algo | widths | variant | seeds | pretrained | worst (dip) | at 2,000 | at 5,000 | dip ≤ 10% in |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    order = list(VARIANTS)
    for (algo, width, variant), group in sorted(groups.items(), key=lambda item: (item[0][0], item[0][1], order.index(item[0][2]) if item[0][2] in order else 99)):
        kept = sum(row["dip"] >= -0.10 for row in group)
        print(f"| {algo} | {width} | {variant} | {','.join(str(r['seed']) for r in group)} | {cell([r['pretrained'] for r in group])} | "
              f"{cell([r['worst'] for r in group])} ({cell([100 * r['dip'] for r in group], 0)}%) | "
              f"{cell([r['at_2000'] for r in group])} | {cell([r['at_5000'] for r in group])} | {kept}/{len(group)} |")


def trace(path: Path, algo: str, variant: str, seed: int, width: Optional[list[int]]) -> None:
    """One run's evaluations, policy probes and training metrics (means over 100 updates) around the collapse."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r["algo"] == algo and r["variant"] == variant and r["seed"] == seed and r.get("hidden") == width]
    if not rows:
        print("no such run")
        return
    row = rows[-1]
    print(f"{algo} {variant} seed {seed} widths {width or 'default'}; after critic warm-up: {row.get('after_critic_warmup')}")
    print("| env step | eval return | det. action norm | cos to goal | sample spread |")
    print("| --- | --- | --- | --- | --- |")
    probes = row.get("probes", {})
    for step, value in row["curve"].items():
        probe = probes.get(step, {})
        print(f"| {step} | {value} | {probe.get('norm', '–')} | {probe.get('cos', '–')} | {probe.get('spread', '–')} |")
    keys = ["alpha", "entropy", "q_mean", "critic_loss", "actor_loss", "movement", "trust_region"]
    print("\n| phase | env step | updates | " + " | ".join(keys) + " |")
    print("| --- " * (len(keys) + 3) + "|")
    metrics = row["metrics"]
    chosen = [m for i, m in enumerate(metrics) if i < 10 or i % 5 == 4]
    for m in chosen:
        print(f"| {m['phase']} | {m['step']} | {m['updates']} | " + " | ".join(str(m.get(k, "–")) for k in keys) + " |")


def calibrate(episodes: int) -> None:
    for name, policy in (("zero action (stand still)", lambda o, r: np.zeros(2, np.float32)), ("uniform random", uniform_random), ("straight line", straight_line), ("scripted demonstrator", scripted)):
        data = rollouts(policy, episodes, seed=999)
        print(f"{name:26s} {data['returns'].mean():7.2f} ± {data['returns'].std():.2f} over {episodes} episodes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algo", choices=sorted(ALGORITHMS), default="swfp")
    parser.add_argument("--variant", action="append", choices=sorted(VARIANTS), help="repeatable; default baseline")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=5000, help="online fine-tuning steps")
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--pretrain-steps", type=int, default=3000)
    parser.add_argument("--hidden", type=int, nargs="+", default=None,
                        help="hidden widths of policy and critic (default: the library's [256, 256])")
    parser.add_argument("--demo-episodes", type=int, default=100)
    parser.add_argument("--results", type=Path, default=Path("runs/finetuning/results.jsonl"))
    parser.add_argument("--summary", action="store_true", help="only print the table of --results")
    parser.add_argument("--trace", metavar="VARIANT", help="print one run's curve, probes and metrics (with --algo, --seeds, --hidden)")
    parser.add_argument("--calibrate", action="store_true", help="only print the scripted policies' returns")
    args = parser.parse_args()
    if args.calibrate:
        calibrate(200)
        return
    if args.trace:
        trace(args.results, args.algo, args.trace, args.seeds[0], args.hidden)
        return
    if args.summary:
        summary(args.results)
        return
    args.results.parent.mkdir(parents=True, exist_ok=True)
    for variant in args.variant or ["baseline"]:
        for seed in args.seeds:
            demos = rollouts(scripted, args.demo_episodes, seed=seed)
            result = run(args.algo, variant, seed, args, demos)
            with args.results.open("a") as handle:
                handle.write(json.dumps(result) + "\n")
            print(f"{args.algo} {variant} seed {seed}: demos {result['demo_return']}, pretrained {result['pretrained']}, "
                  f"worst {result['worst']} (dip {100 * result['dip']:.0f}%), 2000: {result['at_2000']}, 5000: {result['at_5000']} "
                  f"[{result['pretrain_seconds']}s + {result['learn_seconds']}s]", flush=True)
    summary(args.results, [args.algo])


if __name__ == "__main__":
    main()
