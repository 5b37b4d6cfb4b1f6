"""Offline-to-online on Pendulum-v1: make a dataset, pretrain a flow policy on it, fine-tune online.

1. A deliberately poor controller (an energy-pumping swing-up with a weak, noisy hold at the top)
   plays Pendulum-v1; ``flowrl.datasets.collect`` records its transitions (as an ``.npz`` file, or
   as a Minari dataset with ``--minari`` when the datasets extra is installed).
2. ``agent.pretrain(dataset, steps=...)`` trains SWFP's flow on it by flow matching; the whole
   transitions also seed the replay buffer, α is set from the rewards and the critic warms up.
3. ``agent.learn`` fine-tunes online, acting with the pretrained policy from the first step; the
   policy is evaluated every ``--eval-every`` steps, and the curve is printed (and drawn to
   ``--plot`` when matplotlib is installed, beside what the papers watch during fine-tuning: how
   far each actor step moves the policy from its trust region's anchor, ``train/trust_region``
   (SWFP) or ``train/trust_region_loss`` (RLDT), and the policy's entropy estimate
   ``train/entropy``, read from the ``progress.csv`` that ``learn`` writes).

    python examples/offline_to_online.py [--algorithm swfp|sac_flow|rldt|sac] [--transitions 5000]
        [--pretrain-steps 3000] [--online-steps 5000] [--eval-every 1000] [--plot curve.png] [--minari]
        [--config '{"critic_warmup_steps": 5000}']

With SWFP or RLDT, ``--config '{"preset": "anchored"}'`` holds the policy near the pretrained one
by a trust region anchored to it: meant for demonstrations worth keeping, it slows learning from
poor ones (docs/algorithms.md, "SWFP: choices and defaults" and "RLDT: known problems").
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

import flowrl
import gymnasium as gym
import numpy as np
from flowrl.plotting import read_curve

ALGORITHMS = {"swfp": flowrl.SWFP, "sac_flow": flowrl.SACFlow, "rldt": flowrl.RLDT, "sac": flowrl.SAC}


def make_controller(rng: np.random.Generator):
    """A swing-up for Pendulum-v1 (upright at θ = 0, |u| ≤ 2) that holds the top poorly: a soft PD
    law near the top and Gaussian noise on every action, so there is room to improve online."""

    def act(observation: np.ndarray) -> np.ndarray:
        cos_theta, sin_theta, velocity = (float(value) for value in observation)
        theta = np.arctan2(sin_theta, cos_theta)
        if cos_theta > 0.85:
            torque = -(4.0 * theta + 1.0 * velocity)
        else:
            energy = 0.5 * velocity**2 + 15.0 * cos_theta
            torque = 2.0 * np.sign(velocity * (15.0 - energy)) if abs(velocity) > 1e-3 else 1.0
        return np.clip(np.array([torque + rng.normal(0.0, 0.5)], dtype=np.float32), -2.0, 2.0)

    return act


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algorithm", choices=sorted(ALGORITHMS), default="swfp")
    parser.add_argument("--transitions", type=int, default=5_000)
    parser.add_argument("--pretrain-steps", type=int, default=3_000)
    parser.add_argument("--online-steps", type=int, default=5_000)
    parser.add_argument("--eval-every", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", type=Path, help="write the curve to this PNG (needs matplotlib)")
    parser.add_argument("--minari", action="store_true", help="write a Minari dataset (needs the datasets extra)")
    parser.add_argument("--config", default="{}", help='JSON settings for the agent, e.g. \'{"critic_warmup_steps": 5000}\'')
    args = parser.parse_args()

    env, eval_env = gym.make("Pendulum-v1"), gym.make("Pendulum-v1")
    controller = make_controller(np.random.default_rng(args.seed))
    with tempfile.TemporaryDirectory() as folder:
        if args.minari:
            os.environ["MINARI_DATASETS_PATH"] = folder   # a private Minari root for this run
            flowrl.datasets.collect(env, controller, args.transitions, dataset_id="pendulum/example-v0", seed=args.seed)
            dataset: object = "pendulum/example-v0"
        else:
            dataset = Path(folder) / "pendulum-demos.npz"
            flowrl.datasets.collect(env, controller, args.transitions, path=dataset, seed=args.seed)
        data = flowrl.datasets.load(dataset)
        print(f"dataset: {len(data)} transitions, {data.num_episodes} episodes, "
              f"mean return {np.mean(data.episode_returns()):.1f}")

        log_dir = Path(tempfile.mkdtemp(prefix="flowrl-offline-to-online-"))
        agent = ALGORITHMS[args.algorithm](env, seed=args.seed, log_dir=log_dir, **json.loads(args.config))
        metrics = agent.pretrain(dataset, steps=args.pretrain_steps)
        print("pretraining:", {key: round(value, 4) for key, value in sorted(metrics.items())})

    def evaluate() -> float:
        return float(agent.evaluate(eval_env, n_episodes=10, deterministic=True, seed=10_000)[0])

    curve = {0: evaluate()}
    print(f"step 0 (pretrained): {curve[0]:.1f}")
    for step in range(args.eval_every, args.online_steps + 1, args.eval_every):
        agent.learn(args.eval_every, reset_num_timesteps=False, log_interval=1)  # a progress row per episode
        curve[step] = evaluate()
        print(f"step {step}: {curve[step]:.1f}")
    worst = min(value for step, value in curve.items() if step > 0) if len(curve) > 1 else curve[0]
    print(f"pretrained {curve[0]:.1f}, worst during fine-tuning {worst:.1f}, final {curve[max(curve)]:.1f}")

    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        watched = training_metrics(log_dir / "progress.csv")
        figure, axes = plt.subplots(1, 1 + len(watched), figsize=(6 * (1 + len(watched)), 4), squeeze=False)
        axis = axes[0][0]
        axis.plot(list(curve), list(curve.values()), marker="o", label=args.algorithm)
        axis.set_xlabel("online env steps")
        axis.set_ylabel("evaluation return (10 episodes)")
        axis.set_title("Pendulum-v1: pretrained, then fine-tuned")
        axis.legend()
        for axis, (key, (steps, values)) in zip(axes[0][1:], watched.items()):
            axis.plot(steps, values)
            axis.set_xlabel("online env steps")
            axis.set_title(key)
        figure.tight_layout()
        figure.savefig(args.plot, dpi=100)
        print(f"wrote {args.plot}")
    agent.close()
    env.close()
    eval_env.close()
    shutil.rmtree(log_dir, ignore_errors=True)


def training_metrics(progress: Path) -> dict[str, tuple[list[float], list[float]]]:
    """The fine-tuning metrics the papers watch, those of them this algorithm logs: the trust
    region's size per actor step and the entropy estimate, against the env steps."""
    watched = {}
    for key in ("train/trust_region", "train/trust_region_loss", "train/entropy"):
        try:
            watched[key] = read_curve(progress, key)
        except (OSError, ValueError):  # not logged by this algorithm, or no row yet
            continue
    return watched


if __name__ == "__main__":
    main()
