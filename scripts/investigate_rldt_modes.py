"""Why RLDT ends on one mode of the bimodal bandit (docs/rldt-modes.md): small experiments.

The bandit is python/tests/test_rldt.py's: one constant state, one-step episodes, actions in
[-1, 1], reward ``r(a) = Σ_{μ=±0.5} exp(-(a - μ)² / (2·0.1²))``, a policy pretrained on uniform
actions in [-0.9, 0.9], then 300 rounds of 64 sampled actions observed and 4 updates. Each variant
changes the test's configuration (or its data) and reports, per seed, the share of 1,000 samples
within 0.2 of each mode after the rounds, and along the way the learned critic's two bumps (read
from a checkpoint: ``Q(s, -0.5)`` and ``Q(s, 0.5)``, the mean of the twin networks).

Usage::

    FLOWRL_LIBRARY=.build/release/libflowrl.so python scripts/investigate_rldt_modes.py [--seeds 4] [--only NAME ...]
    python scripts/investigate_rldt_modes.py --trace default --seed 0     # every 25 rounds: shares, mean, std,
                                                                          # a 10-bin histogram, the critic's bumps

Variants (names as printed):

- ``default``: the test's configuration.
- ``svgd_temperature=T``, ``particles=P``, ``kernel=delta``, ``consistency_weight=c``,
  ``trust_region_weight=w``, ``reference=pretrained``, ``exploration=min_extrp``,
  ``reward_scaling=running_abs_mean``: one key changed.
- ``transport_only`` (and ``+kernel=delta``): no consistency term, no trust region.
- ``learning_rate=1e-4``, ``flow_steps=K``: the policy's step size and the flow's Euler steps.
- ``uniform_critic``: the replay buffer holds 8,192 uniform actions in [-1, 1] with their true
  rewards and nothing else (the policy's own samples are not observed), so the critic is fitted to
  the true reward over the whole action range and does not follow the policy: the closest this
  loop gets to training with the true reward.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import flowrl
import numpy as np
from gymnasium import spaces

import bandit_modes  # scripts/bandit_modes.py, beside this file

MODES, WIDTH = np.array([-0.5, 0.5]), 0.1
BASE = {"hidden_sizes": [64, 64], "critic_hidden_sizes": [64, 64], "batch_size": 128, "learning_rate": 1e-3,
        "critic_learning_rate": 1e-3}
ROUNDS, BATCH, UPDATES = 300, 64, 4

VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    **{f"svgd_temperature={t}": {"svgd_temperature": t} for t in [0.01, 0.1, 0.3, 1.0, 3.0]},
    **{f"particles={p}": {"particles": p} for p in [2, 4, 16, 32]},
    "kernel=delta": {"kernel": "delta"},
    **{f"consistency_weight={c}": {"consistency_weight": c} for c in [0.0, 2.0]},
    **{f"trust_region_weight={w}": {"trust_region_weight": w} for w in [0.0, 1.0]},
    "reference=pretrained": {"reference": "pretrained"},
    "exploration=min_extrp": {"exploration": "min_extrp"},
    "reward_scaling=running_abs_mean": {"reward_scaling": "running_abs_mean"},
    "uniform_critic": {},
    "transport_only": {"consistency_weight": 0.0, "trust_region_weight": 0.0},
    "transport_only+kernel=delta": {"consistency_weight": 0.0, "trust_region_weight": 0.0, "kernel": "delta"},
    "learning_rate=1e-4": {"learning_rate": 1e-4},
    **{f"flow_steps={k}": {"flow_steps": k} for k in [1, 8]},
}


def bandit_reward(actions: np.ndarray) -> np.ndarray:
    """Two equally high bumps at ±0.5."""
    return np.exp(-((actions[:, :1] - MODES[None, :]) ** 2) / (2 * WIDTH**2)).sum(axis=1)


def shares(actions: np.ndarray, radius: float = 0.2) -> np.ndarray:
    """The share of the samples within ``radius`` of each mode."""
    return bandit_modes.shares(actions[:, :1], MODES[:, None], radius)


def critic_values(agent: flowrl.Agent, actions: np.ndarray) -> np.ndarray:
    """``½(Q₁ + Q₂)(0, a)`` of the online critic (the action space is [-1, 1] already)."""
    return bandit_modes.critic_values(agent, actions.reshape(-1, 1))


def run(name: str, seed: int, trace_every: int = 0) -> dict[str, Any]:
    """One run of the bandit under variant ``name``; the final shares and, when ``trace_every``,
    the shares and critic bumps along the way."""
    rng = np.random.default_rng(seed)
    agent = flowrl.RLDT(observation_space=spaces.Box(-1, 1, (1,)), action_space=spaces.Box(-1, 1, (1,)), seed=seed,
                        **{**BASE, **VARIANTS[name]})
    states = np.zeros((1000, 1), np.float32)
    agent.pretrain(states, rng.uniform(-0.9, 0.9, (1000, 1)).astype(np.float32), steps=1000)
    before = shares(agent.act(states))
    batch = np.zeros((BATCH, 1), np.float32)
    uniform = name == "uniform_critic"
    if uniform:
        count = 8192
        actions = rng.uniform(-1, 1, (count, 1)).astype(np.float32)
        zeros = np.zeros((count, 1), np.float32)
        agent.observe(zeros, actions, bandit_reward(actions), zeros, np.ones(count, dtype=bool))
    trace = []
    for round_index in range(1, ROUNDS + 1):
        actions = agent.act(batch)
        if not uniform:
            agent.observe(batch, actions, bandit_reward(actions), batch, np.ones(BATCH, dtype=bool))
        agent.update(UPDATES)
        if trace_every and round_index % trace_every == 0:
            q = critic_values(agent, MODES)
            samples = agent.act(states)[:, 0]
            histogram = np.histogram(samples, bins=10, range=(-1, 1))[0] / len(samples)
            trace.append({"round": round_index, "shares": shares(samples[:, None]).round(3).tolist(),
                          "mean": round(float(samples.mean()), 3), "std": round(float(samples.std()), 3),
                          "histogram": histogram.round(2).tolist(),
                          "q_minus": round(float(q[0]), 3), "q_plus": round(float(q[1]), 3)})
    after = shares(agent.act(states))
    q = critic_values(agent, MODES)
    agent.close()
    return {"variant": name, "seed": seed, "before": before.round(3).tolist(), "after": after.round(3).tolist(),
            "both": bool(after.sum() >= 0.8 and after.min() >= 0.25),
            "q_minus": round(float(q[0]), 3), "q_plus": round(float(q[1]), 3), "trace": trace}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=4, help="seeds 0 .. seeds-1 per variant")
    parser.add_argument("--only", nargs="*", help="variant names (default: all)")
    parser.add_argument("--trace", help="one variant, traced every 25 rounds")
    parser.add_argument("--seed", type=int, default=0, help="the seed of --trace")
    args = parser.parse_args()
    if args.trace:
        for point in run(args.trace, args.seed, trace_every=25)["trace"]:
            print(json.dumps(point))
        return
    print(f"{'variant':34s} {'both kept':>9s}  final shares near -0.5 / +0.5 per seed; critic Q(-0.5) / Q(+0.5) at the end")
    for name in args.only or list(VARIANTS):
        start = time.time()
        results = [run(name, seed) for seed in range(args.seeds)]
        cells = "  ".join(f"{r['after'][0]:.2f}/{r['after'][1]:.2f} (Q {r['q_minus']:.2f}/{r['q_plus']:.2f})" for r in results)
        print(f"{name:34s} {sum(r['both'] for r in results):>4d}/{len(results)}  {cells}   [{time.time() - start:.0f} s]", flush=True)


if __name__ == "__main__":
    main()
