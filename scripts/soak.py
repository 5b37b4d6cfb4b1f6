#!/usr/bin/env python3
"""Soak benchmark: many act/observe/update steps with small networks on a cheap synthetic
environment, resident memory sampled every --sample-every steps; reports whether memory is flat.

    .venv-test/bin/python scripts/soak.py [--algorithm sac] [--steps 1000000] [--sample-every 100000]

One step is one act, one observe and one update. The replay buffer (--buffer-size, default 10,000)
is full long before the flatness window starts, so growth inside the window is a leak, not data.
Flat means: resident memory grew by less than --threshold-mb between the sample at --warmup steps
(default 200,000, or a fifth of --steps if that is smaller) and the end. Writes a JSON report
(default runs/soak/<algorithm>-<steps>-<date>.json); exit status 1 if memory was not flat.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import time
from pathlib import Path
from typing import Any

import flowrl
import numpy as np
from gymnasium import spaces

ALGORITHMS: dict[str, tuple[type[flowrl.Agent], dict[str, Any]]] = {
    "sac": (flowrl.SAC, {"critic_hidden_sizes": [32, 32]}),
    "sac_flow": (flowrl.SACFlow, {"critic_hidden_sizes": [32, 32], "sigma_hidden_sizes": [32], "flow_steps": 4}),
    "swfp": (flowrl.SWFP, {"critic_hidden_sizes": [32, 32], "flow_steps": 4}),
    "flow_bc": (flowrl.FlowBC, {"flow_steps": 4}),
}
OBSERVATION_SIZE, ACTION_SIZE, EPISODE_LENGTH = 3, 1, 200


def resident_mb() -> float:
    """Resident set size now, from /proc/self/statm (the peak from getrusage where /proc is missing)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> str:
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
        return next(line.split(":", 1)[1].strip() for line in lines if line.startswith("Model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algorithm", choices=sorted(ALGORITHMS), default="sac")
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--sample-every", type=int, default=100_000)
    parser.add_argument("--warmup", type=int, default=200_000, help="start of the flatness window (capped at a fifth of --steps)")
    parser.add_argument("--threshold-mb", type=float, default=8.0, help="largest growth inside the window that counts as flat")
    parser.add_argument("--buffer-size", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="where to write the report")
    arguments = parser.parse_args()

    cls, extra = ALGORITHMS[arguments.algorithm]
    box = spaces.Box(-1.0, 1.0, (OBSERVATION_SIZE,), dtype=np.float32)
    action_box = spaces.Box(-1.0, 1.0, (ACTION_SIZE,), dtype=np.float32)
    agent = cls(observation_space=box, action_space=action_box, seed=arguments.seed, hidden_sizes=[32, 32], batch_size=32,
                buffer_size=arguments.buffer_size, **extra)
    rng = np.random.default_rng(arguments.seed)
    observation = rng.uniform(-1, 1, OBSERVATION_SIZE).astype(np.float32)
    reward = np.zeros(1, np.float32)
    terminated = np.zeros(1, np.bool_)
    warmup = min(arguments.warmup, arguments.steps // 5)
    samples: list[dict[str, float]] = [{"step": 0, "rss_mb": resident_mb(), "seconds": 0.0}]
    start = time.perf_counter()
    print(f"soak: {arguments.algorithm}, {arguments.steps} steps, resident memory every {arguments.sample_every}", flush=True)
    print(f"{'step':>10} {'RSS MB':>9} {'seconds':>9}", flush=True)
    print(f"{0:>10} {samples[0]['rss_mb']:>9.1f} {0:>9.1f}", flush=True)
    for step in range(1, arguments.steps + 1):
        # A cheap synthetic task: drift the point by the action, reward closeness to the origin.
        action = agent.act(observation)
        following = np.clip(observation + 0.1 * action[0] + rng.normal(0, 0.01, OBSERVATION_SIZE), -1, 1).astype(np.float32)
        reward[0] = -float(np.dot(following, following))
        agent.observe(observation, action, reward, following, terminated)
        agent.update(1)
        observation = following if step % EPISODE_LENGTH else rng.uniform(-1, 1, OBSERVATION_SIZE).astype(np.float32)
        if step % arguments.sample_every == 0 or step == warmup or step == arguments.steps:
            sample = {"step": step, "rss_mb": resident_mb(), "seconds": time.perf_counter() - start}
            samples.append(sample)
            print(f"{step:>10} {sample['rss_mb']:>9.1f} {sample['seconds']:>9.1f}", flush=True)
    at_warmup = next(sample for sample in samples if sample["step"] >= warmup)
    growth = samples[-1]["rss_mb"] - at_warmup["rss_mb"]
    flat = growth < arguments.threshold_mb
    report = {
        "algorithm": arguments.algorithm, "steps": arguments.steps, "buffer_size": arguments.buffer_size,
        "networks": "hidden_sizes [32, 32], batch_size 32", "samples": samples, "window_start": at_warmup["step"],
        "growth_mb": round(growth, 2), "threshold_mb": arguments.threshold_mb, "flat": flat,
        "steps_per_second": round(arguments.steps / samples[-1]["seconds"], 1), "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M"), "flowrl": flowrl.version(),
    }
    path = arguments.json or Path(__file__).resolve().parent.parent / "runs" / "soak" / (
        f"{arguments.algorithm}-{arguments.steps}-{time.strftime('%Y%m%d-%H%M%S')}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1))
    verdict = "flat" if flat else "NOT flat"
    print(f"soak: RSS grew {growth:+.1f} MB from step {at_warmup['step']} to {arguments.steps} "
          f"(threshold {arguments.threshold_mb} MB): {verdict}; {report['steps_per_second']} steps/s; report in {path}")
    return 0 if flat else 1


if __name__ == "__main__":
    raise SystemExit(main())
