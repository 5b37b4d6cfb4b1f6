"""SWFP on Pendulum-v1: train, evaluate, plot, save, reload (the README's main job).

Trains ``flowrl.SWFP`` for 10,000 environment steps (about three minutes on two cores), prints
evaluation returns, writes a learning curve and a checkpoint, then reloads the checkpoint and
evaluates the reloaded agent.

    python examples/quickstart.py [--timesteps 10000] [--seed 0] [--output runs/quickstart]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import flowrl
import gymnasium as gym


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=Path("runs/quickstart"))
    parser.add_argument("--no-progress-bar", action="store_true")
    arguments = parser.parse_args()
    arguments.output.mkdir(parents=True, exist_ok=True)

    env = gym.make("Pendulum-v1")
    agent = flowrl.SWFP(env, seed=arguments.seed, log_dir=str(arguments.output), verbose=0)
    print(f"flowrl {flowrl.version()}: SWFP on Pendulum-v1 for {arguments.timesteps} steps "
          f"(random actions for the first {agent.config['learning_starts']})")
    evaluation = flowrl.EvalCallback(gym.make("Pendulum-v1"), eval_freq=2_500, n_eval_episodes=5, seed=1000)
    start = time.perf_counter()
    agent.learn(arguments.timesteps, callback=evaluation, progress_bar=not arguments.no_progress_bar, log_interval=1)
    seconds = time.perf_counter() - start
    print(f"trained in {seconds:.0f} s ({arguments.timesteps / seconds:.0f} env steps/s)")
    for steps, returns in zip(evaluation.evaluations_timesteps, evaluation.evaluations_results):
        print(f"  evaluation at {steps:>6} steps: mean return {sum(returns) / len(returns):8.1f}")

    mean, std = agent.evaluate(env, n_episodes=10, seed=0)
    print(f"final evaluation over 10 episodes: {mean:.1f} ± {std:.1f}")

    checkpoint = arguments.output / "swfp_pendulum.flowrl"
    agent.save(checkpoint)
    try:
        curve = flowrl.plot_learning_curve(arguments.output / "progress.csv", arguments.output / "learning_curve.png")
        print(f"learning curve: {curve}")
    except ImportError as error:
        print(f"no learning curve ({error})")

    reloaded = flowrl.SWFP.load(checkpoint, env=env)
    reloaded_mean, _ = reloaded.evaluate(env, n_episodes=10, seed=0)
    print(f"checkpoint: {checkpoint}; the reloaded agent scores {reloaded_mean:.1f} on the same 10 episodes")
    if reloaded_mean != mean:
        raise SystemExit("the reloaded agent evaluates differently")


if __name__ == "__main__":
    main()
