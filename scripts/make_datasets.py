"""Makes flowrl's offline datasets: a flowrl SAC trained by a fixed rule, then its stochastic
policy rolled out with flowrl.datasets.collect into a Minari dataset in the local Minari root.

    python scripts/make_datasets.py --env pendulum                      # pendulum/flowrl-medium-v0, well under a minute
    python scripts/make_datasets.py --env hopper --level medium         # hopper/flowrl-medium-v2
    python scripts/make_datasets.py --env all --level all --root ~/minari-flowrl
    python scripts/make_datasets.py --env hopper --quick                # a small check of the whole path

Each (env, level) has a fixed recipe (PLANS below; docs/datasets.md lists them). SAC with
Stable-Baselines3's defaults (flowrl.SAC(env, seed=...)) learns either for exactly ``train_steps``
environment steps or, for levels defined by a score (``target_return``), until its first evaluation
reaching that score, trying seeds in order (Plan says how). The agent is then reseeded with
``collect_seed`` and ``collect_steps`` transitions of its stochastic policy are collected (resets
seeded collect_seed, collect_seed + 1, ...). "medium" is a partly trained policy, "expert" one
trained for a million steps. --quick trains for a tiny fixed budget (QUICK) and writes ids ending
in -quick-v0 instead, so it never replaces a real dataset.

Each dataset's id, episode count and mean return are printed and appended as a row to --results
(a TSV file, with a header when it is new); the trained policy is saved beside it (policies/) so a
dataset can be extended or its policy evaluated later. Existing ids are refused unless --overwrite.

Needs the datasets extra (pip install "./python[datasets]") and, for Hopper, Walker2d and
HalfCheetah, MuJoCo (pip install "gymnasium[mujoco]").
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from benchmark_timing import cpu_model

REPOSITORY = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Plan:
    """How one dataset is made.

    With ``target_return`` unset, SAC learns for exactly ``train_steps``. With it set, the level is
    defined by a score instead of a budget: SAC is evaluated every ``eval_every`` steps (10 episodes
    of its stochastic policy, the policy that will be collected) and stops at the first evaluation
    whose mean return reaches ``target_return``; ``train_steps`` is then the budget per seed, and
    when a seed spends it without reaching the target the next seed is tried (``train_seed``,
    ``train_seed + 1``, ... ``seeds`` in all). A level that hangs on one lucky or unlucky seed is
    what this rule avoids: Hopper's SAC with seed 0 stays on a one-hop plateau (return 325) for
    300k steps, while seed 1 walks at 100k.
    """

    env_id: str
    train_steps: int
    collect_steps: int
    train_seed: int
    collect_seed: int
    #: The id's version: raised when a plan changes, so an id always names one recipe.
    version: int = 0
    target_return: float | None = None
    eval_every: int = 5_000
    seeds: int = 1


#: (env, level) -> plan. Medium levels of the MuJoCo tasks stop SAC at the first evaluation that
#: reaches about a third of the return SAC reaches after a million steps (Hopper about 3,000,
#: Walker2d about 4,000, HalfCheetah about 10,000); each seed has a budget and up to three seeds are
#: tried. Expert budgets are one million steps. Pendulum's small set keeps a fixed budget (tests
#: make it in seconds). hopper/flowrl-medium-v0 (SAC seed 0 for exactly 100k steps: the one-hop
#: plateau, return 325) and -v1 (300k steps: the same plateau) were the earlier recipes; v2 is the
#: score rule.
PLANS: dict[tuple[str, str], Plan] = {
    ("pendulum", "medium"): Plan("Pendulum-v1", 3_000, 10_000, train_seed=0, collect_seed=1000),
    ("hopper", "medium"): Plan("Hopper-v5", 150_000, 100_000, train_seed=0, collect_seed=1000, version=2,
                               target_return=1_000.0, seeds=3),
    ("hopper", "expert"): Plan("Hopper-v5", 1_000_000, 100_000, train_seed=1, collect_seed=1001),
    ("walker2d", "medium"): Plan("Walker2d-v5", 300_000, 100_000, train_seed=0, collect_seed=1000, version=1,
                                 target_return=1_300.0, seeds=3),
    ("walker2d", "expert"): Plan("Walker2d-v5", 1_000_000, 100_000, train_seed=1, collect_seed=1001),
    ("halfcheetah", "medium"): Plan("HalfCheetah-v5", 300_000, 100_000, train_seed=0, collect_seed=1000, version=1,
                                    target_return=3_300.0, seeds=3),
    ("halfcheetah", "expert"): Plan("HalfCheetah-v5", 1_000_000, 100_000, train_seed=1, collect_seed=1001),
}

#: --quick: (train_steps, collect_steps) for every plan.
QUICK = (1_000, 2_000)

ENVS = ["pendulum", "hopper", "walker2d", "halfcheetah"]
LEVELS = ["medium", "expert"]
MUJOCO_ENVS = {"hopper", "walker2d", "halfcheetah"}

COLUMNS = ["date", "dataset_id", "env_id", "level", "quick", "train_steps", "train_seed", "collect_steps", "collect_seed",
           "episodes", "complete_episodes", "mean_return", "std_return", "train_seconds", "collect_seconds", "flowrl",
           "minari", "cpu"]


def dataset_id(env: str, level: str, quick: bool) -> str:
    return f"{env}/flowrl-{level}{'-quick' if quick else ''}-v{0 if quick else PLANS[(env, level)].version}"


def check_dependencies(envs: list[str]) -> None:
    """Exits with a message naming what to install when Minari or MuJoCo is missing."""
    try:
        import h5py  # noqa: F401
        import minari  # noqa: F401
        import PIL  # noqa: F401
    except ImportError as error:
        sys.exit(f"make_datasets: Minari is missing ({error}); install the datasets extra: pip install \"./python[datasets]\"")
    if MUJOCO_ENVS.intersection(envs):
        try:
            import mujoco  # noqa: F401
        except ImportError:
            names = ", ".join(PLANS[(env, "medium")].env_id for env in envs if env in MUJOCO_ENVS)
            sys.exit(f"make_datasets: {names} need MuJoCo, which is missing; install it with: pip install \"gymnasium[mujoco]\"")


def train_for_budget(environment, seed: int, steps: int):
    """SAC with Stable-Baselines3's defaults, trained for exactly ``steps`` steps."""
    import flowrl

    agent = flowrl.SAC(environment, seed=seed)
    started = time.perf_counter()
    agent.learn(steps)
    return agent, seed, steps, time.perf_counter() - started


def train_to_target(environment, plan: Plan, identifier: str):
    """Plan's score rule: seeds tried in order until one reaches ``plan.target_return`` within its budget.

    Returns (agent, the seed used, its training steps, seconds spent on every seed tried); exits when
    no seed reaches the target, naming the best return each one reached.
    """
    import flowrl
    import gymnasium as gym
    from flowrl.callbacks import EvalCallback, StopTrainingOnRewardThreshold

    started = time.perf_counter()
    best: list[str] = []
    for seed in range(plan.train_seed, plan.train_seed + plan.seeds):
        print(f"{identifier}: training flowrl.SAC on {plan.env_id} (seed {seed}) until its stochastic policy's mean "
              f"return reaches {plan.target_return:g} (evaluated every {plan.eval_every} steps; budget "
              f"{plan.train_steps} steps)", flush=True)
        agent = flowrl.SAC(environment, seed=seed)
        evaluation_env = gym.make(plan.env_id)
        stop = StopTrainingOnRewardThreshold(plan.target_return)
        evaluation = EvalCallback(evaluation_env, callback_on_new_best=stop, n_eval_episodes=10,
                                  eval_freq=plan.eval_every, deterministic=False, verbose=0, seed=plan.collect_seed + 500)
        agent.learn(plan.train_steps, callback=evaluation)
        evaluation_env.close()
        reached = evaluation.best_mean_reward
        steps = int(agent.num_timesteps)
        print(f"{identifier}: seed {seed}: best mean return {reached:.1f} after {steps} steps", flush=True)
        if reached >= plan.target_return:
            return agent, seed, steps, time.perf_counter() - started
        best.append(f"seed {seed}: {reached:.1f}")
        agent.close()
    sys.exit(f"make_datasets: {identifier}: no seed reached a mean return of {plan.target_return:g} within "
             f"{plan.train_steps} steps ({'; '.join(best)}); nothing was written")


def make(env: str, level: str, *, quick: bool, overwrite: bool, results: Path) -> dict:
    import flowrl
    import gymnasium as gym
    import minari
    from flowrl import datasets

    plan = PLANS[(env, level)]
    train_steps, collect_steps = QUICK if quick else (plan.train_steps, plan.collect_steps)
    identifier = dataset_id(env, level, quick)
    if not overwrite and (datasets.minari_root() / identifier).exists():
        print(f"{identifier}: already in {datasets.minari_root()}; skipped (--overwrite replaces it)", flush=True)
        return {}
    environment = gym.make(plan.env_id)
    if quick or plan.target_return is None:
        print(f"{identifier}: training flowrl.SAC on {plan.env_id} for {train_steps} steps (seed {plan.train_seed})",
              flush=True)
        agent, train_seed, steps_taken, train_seconds = train_for_budget(environment, plan.train_seed, train_steps)
        score_rule = ""
    else:
        agent, train_seed, steps_taken, train_seconds = train_to_target(environment, plan, identifier)
        score_rule = (f" until its stochastic policy's mean return over 10 episodes (evaluated every {plan.eval_every} "
                      f"steps) reached {plan.target_return:g}")
    train_steps = steps_taken
    policies = results.parent / "policies"
    policies.mkdir(parents=True, exist_ok=True)
    agent.save(policies / f"{identifier.replace('/', '-')}.flowrl")
    print(f"{identifier}: collecting {collect_steps} transitions of the stochastic policy (seed {plan.collect_seed})", flush=True)
    agent.seed(plan.collect_seed)
    started = time.perf_counter()
    data = datasets.collect(
        environment, agent, collect_steps, identifier, seed=plan.collect_seed, deterministic=False,
        author="flowrl scripts/make_datasets.py", algorithm_name=f"flowrl.SAC ({train_steps} steps)",
        description=(f"flowrl.SAC (Stable-Baselines3's defaults) trained for {train_steps} steps on {plan.env_id} "
                     f"(seed {train_seed}){score_rule}, then {collect_steps} transitions of its stochastic policy (agent and "
                     f"resets seeded from {plan.collect_seed}); level '{level}'{', --quick' if quick else ''}. "
                     f"Made by scripts/make_datasets.py."),
        overwrite=overwrite)
    collect_seconds = time.perf_counter() - started
    environment.close()
    agent.close()
    summary = data.summary()
    row = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "dataset_id": identifier, "env_id": plan.env_id, "level": level, "quick": quick, "train_steps": train_steps,
        "train_seed": train_seed, "collect_steps": collect_steps, "collect_seed": plan.collect_seed,
        "episodes": summary["num_episodes"], "complete_episodes": summary["num_complete_episodes"],
        "mean_return": round(summary["mean_episode_return"], 2), "std_return": round(summary["std_episode_return"], 2),
        "train_seconds": round(train_seconds, 1), "collect_seconds": round(collect_seconds, 1),
        "flowrl": flowrl.__version__, "minari": minari.__version__, "cpu": cpu_model(),
    }
    new = not results.exists()
    with results.open("a") as file:
        if new:
            file.write("\t".join(COLUMNS) + "\n")
        file.write("\t".join(str(row[column]) for column in COLUMNS) + "\n")
    print(f"{identifier}: {summary['num_episodes']} episodes, mean return {summary['mean_episode_return']:.2f} "
          f"(± {summary['std_episode_return']:.2f}); trained in {train_seconds:.0f} s, collected in {collect_seconds:.0f} s",
          flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", required=True, choices=[*ENVS, "all"], help="which task ('all': every one)")
    parser.add_argument("--level", default="all", choices=[*LEVELS, "all"],
                        help="which level (default all; Pendulum has medium only)")
    parser.add_argument("--root", type=Path, help="the Minari root to write to (sets MINARI_DATASETS_PATH; default: "
                                                  "MINARI_DATASETS_PATH, else ~/.minari/datasets)")
    parser.add_argument("--quick", action="store_true", help=f"tiny budgets {QUICK} and -quick-v0 ids: a check of the path")
    parser.add_argument("--overwrite", action="store_true", help="replace datasets that exist (default: skip them)")
    parser.add_argument("--results", type=Path, default=REPOSITORY / "runs" / "datasets" / "results.tsv",
                        help="the TSV file rows are appended to (default runs/datasets/results.tsv)")
    arguments = parser.parse_args()
    if arguments.root is not None:
        arguments.root.expanduser().mkdir(parents=True, exist_ok=True)
        os.environ["MINARI_DATASETS_PATH"] = str(arguments.root.expanduser().resolve())
    envs = ENVS if arguments.env == "all" else [arguments.env]
    levels = LEVELS if arguments.level == "all" else [arguments.level]
    work = [(env, level) for env in envs for level in levels if (env, level) in PLANS]
    if not work:
        sys.exit(f"make_datasets: no dataset for --env {arguments.env} --level {arguments.level} (Pendulum has medium only)")
    check_dependencies(envs)
    arguments.results.parent.mkdir(parents=True, exist_ok=True)
    for env, level in work:
        make(env, level, quick=arguments.quick, overwrite=arguments.overwrite, results=arguments.results)
    print(f"results: {arguments.results}")


if __name__ == "__main__":
    main()
