"""scripts/make_datasets.py's score rule: the first evaluation reaching the target stops training,
and seeds are tried in order until one does (or the script stops, writing nothing)."""

from __future__ import annotations

from pathlib import Path

import pytest

gym = pytest.importorskip("gymnasium")


@pytest.fixture()
def make_datasets(monkeypatch: pytest.MonkeyPatch):
    scripts = Path(__file__).resolve().parents[2] / "scripts"
    monkeypatch.syspath_prepend(str(scripts))
    import make_datasets

    return make_datasets


def test_training_stops_at_the_first_evaluation_that_reaches_the_target(make_datasets) -> None:
    # Any Pendulum return is above -1e9, so the first evaluation (after eval_every steps) stops it.
    plan = make_datasets.Plan("Pendulum-v1", 600, 100, train_seed=3, collect_seed=1000, target_return=-1e9,
                              eval_every=200, seeds=2)
    agent, seed, steps, seconds = make_datasets.train_to_target(gym.make("Pendulum-v1"), plan, "test")
    try:
        assert (seed, steps) == (3, 200)
        assert seconds > 0
    finally:
        agent.close()


def test_every_seed_is_tried_and_nothing_is_returned_when_none_reaches_the_target(make_datasets, capsys) -> None:
    # Pendulum's returns are at most 0, so a target of 1 is never reached.
    plan = make_datasets.Plan("Pendulum-v1", 400, 100, train_seed=5, collect_seed=1000, target_return=1.0,
                              eval_every=200, seeds=2)
    with pytest.raises(SystemExit) as stopped:
        make_datasets.train_to_target(gym.make("Pendulum-v1"), plan, "test")
    message = str(stopped.value.code)
    assert message.startswith("make_datasets: test: no seed reached a mean return of 1 within 400 steps (seed 5: ")
    assert "; seed 6: " in message and message.endswith("nothing was written")
    printed = capsys.readouterr().out
    assert "(seed 5)" in printed and "(seed 6)" in printed and "(seed 7)" not in printed


def test_every_medium_mujoco_level_is_defined_by_a_score(make_datasets) -> None:
    for (env, level), plan in make_datasets.PLANS.items():
        if level == "medium" and env in make_datasets.MUJOCO_ENVS:
            assert plan.target_return is not None and plan.seeds >= 2, (env, level)
