"""Why SWFP ends on one mode of the 2-D bandit with a learned critic (docs/swfp-modes.md): small experiments.

The bandit is examples/bandit2d.py's (docs/algorithms.md, "The 2-D bandit"): one constant state,
one-step episodes, actions in [-4, 4]², a policy pretrained for 2,000 flow-matching steps on an
8-mode mixture, a reward with four equal bumps (width 0.3) on the even-numbered modes; then
--rounds rounds of 64 sampled actions observed and 4 updates. The base configuration is
python/tests/test_swfp.py's (velocity 128×128, critic 64×64, batch 128, α = 0.02, learning rates
1e-3); each variant changes it (or the critic's data) and reports, per seed, the share of 1,000
samples within 0.5 of each rewarded mode at the end, and the learned critic at the four rewarded
centres (``Q(μ_k)``, the mean of the twin networks, read from a checkpoint).

Usage::

    python scripts/investigate_swfp_modes.py [--seeds 4] [--rounds 160] [--only NAME ...]
    python scripts/investigate_swfp_modes.py --trace default --seed 0   # every 20 rounds: shares, Q at the modes

Variants (names as printed):

- ``default``: the test's configuration.
- ``fitted_critic``: the stand-in for "Q is the true reward". The replay buffer holds 16,384
  uniform actions in [-4, 4]² with their true rewards and nothing else (the policy's samples are
  never observed), and the critic takes 2,000 updates on them with the actor's learning rate at 0
  before fine-tuning starts: the critic is fitted to the reward over the whole box and does not
  follow the policy.
- ``uniform_warmup``: the same 16,384 uniform transitions and 2,000 critic-only updates first, but
  the policy's samples are observed as usual afterwards (a critic warmed up on a uniform dataset).
- ``offline_warmup``: pretrain() on whole transitions (the behaviour data with its rewards), so
  the library's own ``critic_warmup_steps`` (1,000) run on the 8-mode data before fine-tuning.
- One SWFP key changed: ``alpha=…``, ``jko_step=…``, ``w2_scale=…``, ``w2_terms=trust_region``,
  ``value_target=logsumexp``, ``act_with=prior``, ``old_particles=stored``, ``divergence=…``,
  ``actor_batch_size=…``, ``critic_learning_rate=…``, ``critic_hidden_sizes=…``;
  ``preset=paper`` (the preset's α, learning rate and layers, the bandit's batch) and
  ``paper_choices`` (the preset's four choices of method at the bandit's α and learning rates).
- Combinations named with ``+``.
- The second study's (2026-12-01): ``pretrain_steps=…`` (a longer pretraining), ``uniform_mix=…``
  (that many uniform actions observed with their rewards beside the policy's every round),
  ``critic_only_rounds=…`` (the actor held for the first rounds), ``policy_delay=4`` (with 16
  updates a round: four critic updates per actor update at the default's actor updates),
  ``flow_steps=20``, and ``entropy_space=action`` (the block loss's entropy taken in the action
  space; a library option since branch swfp-entropy-space, a prototype key before it).

Each run also reports ``twin_gap``, ½|Q₁ − Q₂| at the rewarded centres: how far the twins'
minimum, which the block loss reads, lies below their mean; and ``at_faces``, the share of the
samples within 0.1 of a face of the box.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import flowrl
import numpy as np
from gymnasium import spaces

import bandit_modes  # scripts/bandit_modes.py, beside this file

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
from bandit2d import CENTRES, REWARDED, reward  # noqa: E402

BOUND = 4.0
BASE: dict[str, Any] = {"hidden_sizes": [128, 128], "critic_hidden_sizes": [64, 64], "batch_size": 128, "alpha": 0.02,
                        "learning_rate": 1e-3, "critic_learning_rate": 1e-3}
BATCH, UPDATES, RADIUS, KEPT = 64, 4, 0.5, 0.05
#: A sample "at a face" lies within this of the box's boundary in some coordinate.
FACE = 0.1
UNIFORM_SIZE, WARMUP_UPDATES = 16_384, 5_000
PAPER_CHOICES = {"act_with": "prior", "old_particles": "stored", "value_target": "logsumexp", "value_samples": 8,
                 "solver": "midpoint"}

# name: (SWFP keys, harness options). Harness options: "critic" = "samples" | "fitted" | "uniform_warmup"
# | "offline_warmup"; "pretrain_steps" (default 2,000); "uniform_mix": uniform actions in the box observed
# with their rewards beside the policy's 64 every round (an exploration mix the critic keeps throughout);
# "critic_only_rounds": rounds at the start with the actor's learning rate at 0 (the critic learns the
# policy's own samples before the policy moves); "updates": updates per round (default 4).
VARIANTS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "default": ({}, {}),
    "fitted_critic": ({}, {"critic": "fitted"}),
    "uniform_warmup": ({}, {"critic": "uniform_warmup"}),
    "offline_warmup": ({"critic_warmup_steps": 1000}, {"critic": "offline_warmup"}),
    **{f"alpha={a}": ({"alpha": a}, {}) for a in [0.005, 0.05, 0.1, 0.2]},
    "alpha=auto": ({"alpha": "auto"}, {}),
    **{f"jko_step={t}": ({"jko_step": t}, {}) for t in [0.03, 1.0]},
    **{f"w2_scale={e}": ({"w2_scale": e}, {}) for e in [0.1, 2.0]},
    "w2_terms=trust_region": ({"w2_terms": "trust_region"}, {}),
    "value_target=logsumexp": ({"value_target": "logsumexp", "value_samples": 8}, {}),
    "act_with=prior": ({"act_with": "prior"}, {}),
    "old_particles=stored": ({"old_particles": "stored"}, {}),
    **{f"divergence={d}": ({"divergence": d}, {}) for d in ["logdet", "hutchinson"]},
    **{f"actor_batch_size={b}": ({"actor_batch_size": b}, {}) for b in [32, 512]},
    "preset=paper": ({"preset": "paper", "alpha": None, "learning_rate": None, "hidden_sizes": None}, {}),
    "paper_choices": (PAPER_CHOICES, {}),
    **{f"critic_learning_rate={c}": ({"critic_learning_rate": c}, {}) for c in [1e-4, 1e-2]},
    **{f"critic_hidden_sizes={w}": ({"critic_hidden_sizes": [w, w]}, {}) for w in [16, 256]},
    "fitted_critic+alpha=0.1": ({"alpha": 0.1}, {"critic": "fitted"}),
    "uniform_warmup+alpha=0.1": ({"alpha": 0.1}, {"critic": "uniform_warmup"}),
    **{f"offline_warmup+alpha={a}": ({"critic_warmup_steps": 1000, "alpha": a}, {"critic": "offline_warmup"})
       for a in [0.05, 0.1]},
    "offline_warmup+w2_scale=2.0": ({"critic_warmup_steps": 1000, "w2_scale": 2.0}, {"critic": "offline_warmup"}),
    "offline_warmup+critic_learning_rate=1e-4": ({"critic_warmup_steps": 1000, "critic_learning_rate": 1e-4},
                                                 {"critic": "offline_warmup"}),
    # Second study (2026-12-01): candidates from the mechanism.
    **{f"pretrain_steps={n}": ({}, {"pretrain_steps": n}) for n in [10_000]},
    **{f"uniform_mix={k}": ({}, {"uniform_mix": k}) for k in [16, 64]},
    **{f"critic_only_rounds={r}": ({}, {"critic_only_rounds": r}) for r in [20, 60]},
    "policy_delay=4": ({"policy_delay": 4}, {"updates": 16}),
    **{f"uniform_mix=64+policy_delay=4+alpha={a}": ({"policy_delay": 4, "alpha": a}, {"uniform_mix": 64, "updates": 16})
       for a in [0.02, 0.05, 0.1]},
    "fitted_critic+alpha=0.05": ({"alpha": 0.05}, {"critic": "fitted"}),
    # entropy_space="action": the block loss's entropy is the action's (the tanh's log-Jacobian in the energy).
    **{f"entropy_space=action+alpha={a}": ({"entropy_space": "action", "alpha": a}, {}) for a in [0.02, 0.05, 0.1, 0.2]},
    **{f"fitted_critic+entropy_space=action+alpha={a}": ({"entropy_space": "action", "alpha": a}, {"critic": "fitted"})
       for a in [0.05, 0.1]},
    **{f"entropy_space=action+alpha={a}+policy_delay=4": ({"entropy_space": "action", "alpha": a, "policy_delay": 4},
                                                          {"updates": 16}) for a in [0.05, 0.1]},
    # A sharper pretrained policy: more flow blocks (the 5-block Euler flow blurs the ring).
    **{f"flow_steps={n}+pretrain_steps={p}": ({"flow_steps": n}, {"pretrain_steps": p}) for n in [20] for p in [2000, 10_000]},
    **{f"pretrain_steps={n}": ({}, {"pretrain_steps": n}) for n in [50_000]},
    **{f"uniform_warmup+entropy_space=action+alpha={a}": ({"entropy_space": "action", "alpha": a}, {"critic": "uniform_warmup"}) for a in [0.05]},
    **{f"pretrain_steps=50000+entropy_space=action+alpha={a}": ({"entropy_space": "action", "alpha": a}, {"pretrain_steps": 50_000}) for a in [0.02, 0.05]},
}


def settings_of(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The agent's keywords and the harness options of variant ``name`` (a ``None`` value drops a
    base key, so a preset can set it)."""
    keys, options = VARIANTS[name]
    merged = {**BASE, **keys}
    return {k: v for k, v in merged.items() if v is not None}, options


def uniform_transitions(rng: np.random.Generator, count: int) -> tuple[np.ndarray, ...]:
    """``count`` one-step transitions at the constant state with their true rewards: half uniform
    in the box, half around all eight centres (std 0.3, each centre equally often), so the
    critic sees every bump, rewarded or not, equally well."""
    half = count // 2
    near = CENTRES[np.arange(count - half) % 8] + 0.3 * rng.standard_normal((count - half, 2))
    actions = np.clip(np.concatenate([rng.uniform(-BOUND, BOUND, (half, 2)), near]), -BOUND, BOUND).astype(np.float32)
    zeros = np.zeros((count, 1), np.float32)
    return zeros, actions, reward(actions).astype(np.float32), zeros, np.ones(count, dtype=bool)


def critic_at(agent: flowrl.SWFP, points: np.ndarray) -> np.ndarray:
    return bandit_modes.critic_values(agent, points / BOUND)


def twin_gap_at(agent: flowrl.SWFP, points: np.ndarray) -> np.ndarray:
    """``½|Q₁ − Q₂|`` at ``points``: how far the twins' minimum, which the block loss reads, lies
    below their mean."""
    q1, q2 = bandit_modes.critic_networks(agent, points / BOUND)
    return 0.5 * np.abs(q1 - q2)


def at_faces(samples: np.ndarray) -> float:
    """The share of ``samples`` within FACE of a face of the box: where a policy goes whose
    entropy has no finite target (docs/swfp-modes.md, "The pre-squash entropy has no finite target")."""
    return round(float((np.abs(samples) > BOUND - FACE).any(axis=1).mean()), 3)


def run(name: str, seed: int, rounds: int, trace_every: int = 0) -> dict[str, Any]:
    """One run of the bandit under variant ``name``: final shares per rewarded mode, the critic at
    the rewarded and unrewarded centres, and, when ``trace_every``, the same along the way."""
    keys, options = settings_of(name)
    rng = np.random.default_rng(seed)
    demonstrations = (CENTRES[np.arange(1000) % 8] + 0.15 * rng.standard_normal((1000, 2))).astype(np.float32)
    states = np.zeros((1000, 1), np.float32)
    agent = flowrl.SWFP(observation_space=spaces.Box(-1, 1, (1,)), action_space=spaces.Box(-BOUND, BOUND, (2,)), seed=seed,
                        **keys)
    critic = options.get("critic", "samples")
    if critic == "offline_warmup":
        agent.pretrain(states, demonstrations, steps=2000, rewards=reward(demonstrations).astype(np.float32),
                       next_observations=states, terminated=np.ones(1000, dtype=bool))
    else:
        agent.pretrain(states, demonstrations, steps=options.get("pretrain_steps", 2000))
    before = bandit_modes.shares(agent.act(states), REWARDED, RADIUS)
    if critic in ("fitted", "uniform_warmup"):
        agent.observe(*uniform_transitions(rng, UNIFORM_SIZE))
        learning_rate = agent.config["learning_rate"]
        agent.set_config(learning_rate=0.0)
        agent.update(WARMUP_UPDATES)
        agent.set_config(learning_rate=learning_rate)
    batch = np.zeros((BATCH, 1), np.float32)
    mix, critic_only = options.get("uniform_mix", 0), options.get("critic_only_rounds", 0)
    learning_rate = agent.config["learning_rate"]
    if critic_only:
        agent.set_config(learning_rate=0.0)
    trace = []
    metrics: dict[str, float] = {}
    for round_index in range(1, rounds + 1):
        if critic_only and round_index == critic_only + 1:
            agent.set_config(learning_rate=learning_rate)
        actions = agent.act(batch)
        if mix:
            actions = np.concatenate([actions, rng.uniform(-BOUND, BOUND, (mix, 2)).astype(np.float32)])
        if critic != "fitted":
            rows = np.zeros((len(actions), 1), np.float32)
            agent.observe(rows, actions, reward(actions), rows, np.ones(len(actions), dtype=bool))
        metrics = agent.update(options.get("updates", UPDATES))
        if trace_every and round_index % trace_every == 0:
            samples = agent.act(states)
            trace.append({"round": round_index, "shares": bandit_modes.shares(samples, REWARDED, RADIUS).round(3).tolist(),
                          "q_rewarded": critic_at(agent, REWARDED).round(3).tolist(),
                          "q_unrewarded": critic_at(agent, CENTRES[1::2]).round(3).tolist(),
                          "twin_gap": twin_gap_at(agent, REWARDED).round(3).tolist(),
                          "reward": round(float(reward(samples).mean()), 3), "at_faces": at_faces(samples),
                          "entropy": round(metrics.get("train/entropy", float("nan")), 2),
                          "alpha": round(metrics.get("train/alpha", float("nan")), 4),
                          "trust_region": round(metrics.get("train/trust_region", float("nan")), 4)})
    samples = agent.act(states)
    after = bandit_modes.shares(samples, REWARDED, RADIUS)
    result = {"variant": name, "seed": seed, "rounds": rounds, "before": before.round(3).tolist(),
              "after": after.round(3).tolist(), "on_modes": round(float(after.sum()), 3),
              "modes_kept": int((after >= KEPT).sum()), "reward": round(float(reward(samples).mean()), 3),
              "at_faces": at_faces(samples),
              "q_rewarded": critic_at(agent, REWARDED).round(3).tolist(),
              "q_unrewarded": critic_at(agent, CENTRES[1::2]).round(3).tolist(),
              "twin_gap": twin_gap_at(agent, REWARDED).round(3).tolist(),
              "alpha": round(metrics.get("train/alpha", float("nan")), 4), "trace": trace}
    agent.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=4, help="seeds 0 .. seeds-1 per variant")
    parser.add_argument("--rounds", type=int, default=160)
    parser.add_argument("--only", nargs="*", help="variant names (default: all)")
    parser.add_argument("--trace", help="one variant, traced every 20 rounds")
    parser.add_argument("--seed", type=int, default=0, help="the seed of --trace")
    parser.add_argument("--output", type=Path, help="also append each run as a JSON line here")
    args = parser.parse_args()
    if args.trace:
        for point in run(args.trace, args.seed, args.rounds, trace_every=20)["trace"]:
            print(json.dumps(point), flush=True)
        return
    print(f"{'variant':28s} ≥3 kept  all 4  mass on modes (mean; reward, share at a face)  per seed: shares of the 4 rewarded modes; "
          f"critic Q at them", flush=True)
    for name in args.only or list(VARIANTS):
        start = time.time()
        results = []
        for seed in range(args.seeds):
            result = run(name, seed, args.rounds)
            results.append(result)
            if args.output:
                with args.output.open("a") as file:
                    file.write(json.dumps(result) + "\n")
        cells = "  ".join(f"[{' '.join(f'{s:.2f}' for s in r['after'])}] Q[{' '.join(f'{q:.2f}' for q in r['q_rewarded'])}]"
                          for r in results)
        print(f"{name:28s} {sum(r['modes_kept'] >= 3 for r in results):>3d}/{len(results)}  "
              f"{sum(r['modes_kept'] == 4 for r in results):>3d}/{len(results)}  "
              f"{np.mean([r['on_modes'] for r in results]):5.2f} (r {np.mean([r['reward'] for r in results]):.2f}, "
              f"faces {np.mean([r['at_faces'] for r in results]):.3f})  "
              f"{cells}   [{time.time() - start:.0f} s]", flush=True)


if __name__ == "__main__":
    main()
