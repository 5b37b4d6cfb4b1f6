"""SWFP on the 2-D bandit of docs/algorithms.md ("The 2-D bandit"): pretrain on an 8-mode mixture, fine-tune on a reward
that favours four of the modes, and draw the particles after each flow block, before and after.

One constant state, one-step episodes, actions in [-4, 4]². Behaviour data: 1,000 samples from
8 Gaussians (radius 2, std 0.15). Reward: Σ over the 4 even-numbered modes of
exp(−‖a − μ_k‖² / (2·0.3²)). Writes ``bandit2d.png`` (rows: before / after fine-tuning; columns:
particles x_0 … x_N) and prints the share of samples on the rewarded modes.

    python examples/bandit2d.py [--rounds 160] [--alpha 0.02] [--seed 0] [--output runs/bandit2d]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import flowrl
import numpy as np
from gymnasium import spaces

CENTRES = np.array([[2 * np.cos(2 * np.pi * k / 8), 2 * np.sin(2 * np.pi * k / 8)] for k in range(8)])
REWARDED = CENTRES[::2]


def reward(actions: np.ndarray) -> np.ndarray:
    squared = ((actions[:, None, :] - REWARDED[None, :, :]) ** 2).sum(axis=-1)
    return np.exp(-squared / (2 * 0.3**2)).sum(axis=1)


def shares(actions: np.ndarray) -> list[float]:
    """Share of samples within 0.5 of each rewarded mode."""
    return [float(np.mean(np.linalg.norm(actions - centre, axis=1) < 0.5)) for centre in REWARDED]


def draw(chains: dict[str, np.ndarray], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, columns = len(chains), next(iter(chains.values())).shape[0]
    figure, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 2.3 * rows), squeeze=False)
    for row, (name, chain) in enumerate(chains.items()):
        for column in range(columns):
            axis = axes[row][column]
            axis.scatter(chain[column, :, 0], chain[column, :, 1], s=2, alpha=0.4)
            axis.scatter(REWARDED[:, 0], REWARDED[:, 1], marker="x", color="red", s=30)
            axis.set_xlim(-4, 4)
            axis.set_ylim(-4, 4)
            axis.set_xticks([])
            axis.set_yticks([])
            axis.set_title(f"{name}: x_{column}", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=160, help="rounds of 64 samples and 4 updates")
    parser.add_argument("--alpha", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=Path("runs/bandit2d"))
    arguments = parser.parse_args()
    arguments.output.mkdir(parents=True, exist_ok=True)

    rng = np.random.default_rng(arguments.seed)
    demonstrations = (CENTRES[np.arange(1000) % 8] + 0.15 * rng.standard_normal((1000, 2))).astype(np.float32)
    states = np.zeros((1000, 1), np.float32)
    agent = flowrl.SWFP(observation_space=spaces.Box(-1, 1, (1,)), action_space=spaces.Box(-4, 4, (2,)),
                        seed=arguments.seed, hidden_sizes=[128, 128], critic_hidden_sizes=[64, 64], batch_size=128,
                        alpha=arguments.alpha, learning_rate=1e-3, critic_learning_rate=1e-3)
    metrics = agent.pretrain(states, demonstrations, steps=2000)
    before = agent.sample_chain(states)
    print(f"pretrained: flow-matching loss {metrics['pretrain/flow_matching_loss']:.3f}, "
          f"share on rewarded modes {sum(shares(before[-1])):.2f} {np.round(shares(before[-1]), 2).tolist()}")

    batch = np.zeros((64, 1), np.float32)
    for round_index in range(1, arguments.rounds + 1):
        actions = agent.act(batch)
        agent.observe(batch, actions, reward(actions), batch, np.ones(64, dtype=bool))
        metrics = agent.update(4)
        if round_index % 20 == 0:
            now = agent.act(states)
            print(f"round {round_index:4d}: share {sum(shares(now)):.2f} {np.round(shares(now), 2).tolist()}  "
                  f"critic loss {metrics['train/critic_loss']:.4f}  movement {metrics['train/movement']:.4f}  "
                  f"trust region {metrics['train/trust_region']:.4f}  entropy {metrics['train/entropy']:.2f}")
    after = agent.sample_chain(states)
    print(f"fine-tuned: share on rewarded modes {sum(shares(after[-1])):.2f}, mean reward {reward(after[-1]).mean():.3f} "
          f"(pretrained {reward(before[-1]).mean():.3f})")
    try:
        draw({"pretrained": before, "fine-tuned": after}, arguments.output / "bandit2d.png")
        print(f"figure: {arguments.output / 'bandit2d.png'}")
    except ImportError:
        print("matplotlib is not installed: no figure (pip install matplotlib)")


if __name__ == "__main__":
    main()
