"""The contract every algorithm keeps, run over every entry of conftest.MODEL_LIST.

A new algorithm gets all of it by one entry in MODEL_LIST:

- here: the defaults construct; act and predict give the right shapes, dtypes and bounds for one
  observation, a batch and a vector env; observe and update give finite metrics; one seed gives
  identical actions and identical checkpoint bytes; a copy made by save/load, to_bytes/from_bytes,
  pickle or deepcopy continues exactly as the original; learn runs a few hundred steps on a tiny
  env (single and vector); pretraining, then fine-tuning with learn, works;
- test_persistence.py: checkpoints, their error paths, pickling and deepcopy;
- test_errors.py and test_reliability.py: every rejected input raises its exception and leaves
  the agent as it was (byte-identical in test_reliability.py, through conftest.assert_rejected).

Algorithm-specific behaviour (SWFP's bandit, SAC's maximum-likelihood pretraining, SAC Flow's
velocity options) stays in test_sac.py and test_swfp.py.
"""

from __future__ import annotations

import copy
import pickle
from pathlib import Path
from typing import Any, Callable, Optional

import flowrl
from flowrl import _schema
import gymnasium as gym
import numpy as np
import pytest
from conftest import (
    ACTION_SPACE,
    OBSERVATION_SPACE,
    PROBE,
    Model,
    assert_finite_metrics,
    assert_rejected,
    random_batch,
)
from gymnasium import spaces

#: Environment steps of the learn tests: past every entry's learning_starts (50, FlowBC's 100).
LEARN_STEPS = 250


class TinyEnv(gym.Env):
    """OBSERVATION_SPACE / ACTION_SPACE, episodes of 25 steps that end by termination, and a reward
    for actions near twice the first two observation entries (cheap to step, easy to learn)."""

    metadata: dict[str, Any] = {}

    def __init__(self) -> None:
        self.observation_space = OBSERVATION_SPACE
        self.action_space = ACTION_SPACE
        self._observation = np.zeros(3, np.float32)
        self._t = 0

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict[str, Any]] = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._t = 0
        self._observation = self.np_random.uniform(-1.0, 1.0, 3).astype(np.float32)
        return self._observation.copy(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        action = np.asarray(action)
        assert action.shape == (2,) and np.all(np.abs(action) <= 2.0), action
        reward = -float(np.mean((action - 2.0 * self._observation[:2]) ** 2))
        self._t += 1
        self._observation = self.np_random.uniform(-1.0, 1.0, 3).astype(np.float32)
        return self._observation.copy(), reward, self._t >= 25, False, {}


def demonstrations(count: int = 200) -> dict[str, np.ndarray]:
    """Whole transitions whose actions follow the law TinyEnv rewards (a = 1.6 s[:2])."""
    batch = random_batch(np.random.default_rng(21), count)
    actions = (1.6 * batch.observations[:, :2]).astype(np.float32)
    return {"observations": batch.observations, "actions": actions, "rewards": batch.rewards,
            "next_observations": batch.next_observations, "terminated": batch.terminated}


def in_bounds(actions: np.ndarray) -> bool:
    return bool(np.all(actions >= ACTION_SPACE.low) and np.all(actions <= ACTION_SPACE.high))


# --------------------------------------------------------------------------- construction


def test_defaults_construct(model: Model) -> None:
    with model.cls(None, observation_space=OBSERVATION_SPACE, action_space=ACTION_SPACE, **model.variant) as agent:
        assert isinstance(agent, flowrl.Agent) and type(agent) is model.cls
        info = agent.info()
        assert info["algorithm"] == model.cls.algorithm
        assert info["observation_size"] == 3 and info["action_size"] == 2
        assert info["replay_size"] == 0 and info["config"]["seed"] == 0
        assert set(model.small) | set(model.variant) <= set(info["config"])  # the list's settings are real keys
        assert all(info["config"][key] == value for key, value in model.variant.items())
        assert agent.act(PROBE[0], deterministic=True).shape == (2,)
    env = TinyEnv()
    with model.cls(env, **model.variant) as agent:
        assert agent.env is env and agent.get_env().env is env and agent.observation_space == OBSERVATION_SPACE


def test_each_preset_sets_its_published_values_under_the_keywords_given(model: Model) -> None:
    """Every named configuration of the algorithm's schema: it sets exactly the values the schema
    publishes for it, a keyword given beside it wins, and the agent reports the preset's name."""
    presets = _schema.schema(model.cls.algorithm).presets
    if not presets:
        pytest.skip(f"{model.cls.__name__} has no presets")
    with model.make() as plain:
        defaults = plain.config
    for name, values in presets.items():
        assert values, name
        with model.make(preset=name) as agent:
            config = agent.config
        assert config["preset"] == name
        given = set(model.small) | set(model.variant)  # keywords: they win over the preset
        changed = {key for key in config if key != "preset" and config[key] != defaults[key]}
        assert changed == {key for key in values if key not in given}, name
        assert all(config[key] == value for key, value in values.items() if key not in given), name
        key = next(iter(values))
        with model.make(preset=name, **{key: defaults[key]}) as agent:
            assert agent.config[key] == defaults[key], (name, key)


# --------------------------------------------------------------------------- acting


@pytest.mark.parametrize("deterministic", [True, False])
def test_act_and_predict_shapes_dtypes_and_bounds(any_agent: flowrl.Agent, deterministic: bool) -> None:
    agent = any_agent
    one = agent.act(PROBE[0], deterministic=deterministic)
    assert one.shape == (2,) and one.dtype == np.float32 and in_bounds(one)
    batch = agent.act(PROBE, deterministic=deterministic)
    assert batch.shape == (5, 2) and batch.dtype == np.float32 and in_bounds(batch) and np.all(np.isfinite(batch))
    assert agent.act(PROBE[:1], deterministic=deterministic).shape == (1, 2)  # a batch of one stays a batch
    assert agent.act(PROBE.astype(np.float64).tolist(), deterministic=deterministic).shape == (5, 2)
    action, state = agent.predict(PROBE[0], deterministic=deterministic)
    assert state is None and action.shape == (2,) and ACTION_SPACE.contains(action)
    actions, state = agent.predict(PROBE, state=None, episode_start=np.ones(5, dtype=bool), deterministic=deterministic)
    assert state is None and actions.shape == (5, 2) and actions.dtype == ACTION_SPACE.dtype and in_bounds(actions)
    again = agent.act(PROBE, deterministic=deterministic)
    if deterministic:
        np.testing.assert_array_equal(again, batch)
    else:
        assert not np.array_equal(again, batch)  # fresh noise each call


def test_actions_have_the_action_space_dtype(model: Model) -> None:
    observation_space = spaces.Box(-1.0, 1.0, (3,), dtype=np.float64)
    action_space = spaces.Box(-2.0, 2.0, (2,), dtype=np.float64)
    with model.make(observation_space=observation_space, action_space=action_space) as agent:
        assert agent.act(PROBE).dtype == np.float64 and agent.act(PROBE[0]).dtype == np.float64
        action, _ = agent.predict(PROBE[0])
        assert action_space.contains(action)


def test_predict_on_a_vector_env(model: Model) -> None:
    envs = gym.vector.SyncVectorEnv([TinyEnv for _ in range(3)])
    with model.make(env=envs) as agent:
        observations, _ = envs.reset(seed=0)
        for deterministic in (True, False):
            actions, _ = agent.predict(observations, deterministic=deterministic)
            assert actions.shape == (3, 2) and in_bounds(actions)
        envs.step(actions)
    envs.close()


# --------------------------------------------------------------------------- observe and update


def test_observe_and_update_give_finite_metrics(any_agent: flowrl.Agent) -> None:
    agent = any_agent
    batch = random_batch(np.random.default_rng(5), 64)
    assert agent.observe(*batch.as_args()) is None
    agent.observe(batch.observations[0], batch.actions[0], batch.rewards[:1], batch.next_observations[0], batch.terminated[:1])
    info = agent.info()
    assert info["replay_size"] == 65 and info["counters"]["transitions_seen"] == 65
    metrics = agent.update(3)
    assert_finite_metrics(metrics)
    assert all(key.startswith("train/") for key in metrics), metrics
    assert agent.info()["counters"]["updates"] == 3
    assert_finite_metrics(agent.update())


# --------------------------------------------------------------------------- determinism


def same_calls(agent: flowrl.Agent) -> list[Any]:
    """A fixed sequence of every kind of call; returns what each returned."""
    arguments = demonstrations(40)
    results: list[Any] = [agent.act(PROBE), agent.act(PROBE[0])]
    agent.observe(*random_batch(np.random.default_rng(8), 48).as_args())
    results += [agent.update(2), agent.act(PROBE)]
    results.append(agent.pretrain(arguments["observations"], arguments["actions"], steps=2))
    results += [agent.update(1), agent.act(PROBE, deterministic=True), agent.info()["counters"]]
    return results


def assert_same_results(first: list[Any], second: list[Any]) -> None:
    assert len(first) == len(second)
    for one, other in zip(first, second):
        if isinstance(one, np.ndarray):
            np.testing.assert_array_equal(one, other)
        else:
            assert one == other


def test_one_seed_gives_identical_actions_and_checkpoints(model: Model) -> None:
    with model.make(seed=3) as first, model.make(seed=3) as second, model.make(seed=4) as other:
        assert first.to_bytes() == second.to_bytes()
        assert_same_results(same_calls(first), same_calls(second))
        assert first.to_bytes() == second.to_bytes()
        assert not np.array_equal(other.act(PROBE), model.make(seed=3).act(PROBE))
        assert other.to_bytes() != model.make(seed=3).to_bytes()


def test_one_seed_gives_identical_learning(model: Model) -> None:
    def learned() -> bytes:
        with model.make(seed=1, env=TinyEnv()) as agent:
            agent.learn(120)
            return agent.to_bytes()

    assert learned() == learned()


# --------------------------------------------------------------------------- copies continue identically


def through_file(agent: flowrl.Agent, directory: Path) -> flowrl.Agent:
    agent.save(directory / "agent.flowrl", include_replay_buffer=True)
    return flowrl.Agent.load(directory / "agent.flowrl")


def through_bytes(agent: flowrl.Agent, directory: Path) -> flowrl.Agent:
    return type(agent).from_bytes(agent.to_bytes(include_replay_buffer=True))


DUPLICATES = [pytest.param(through_file, id="file"), pytest.param(through_bytes, id="bytes"),
              pytest.param(lambda agent, _: pickle.loads(pickle.dumps(agent)), id="pickle"),
              pytest.param(lambda agent, _: copy.deepcopy(agent), id="deepcopy")]


@pytest.mark.parametrize("duplicate", DUPLICATES)
def test_a_copy_continues_identically(any_trained_agent: flowrl.Agent, duplicate: Callable[[flowrl.Agent, Path], flowrl.Agent],
                                      tmp_path: Path) -> None:
    agent = any_trained_agent
    with duplicate(agent, tmp_path) as twin:
        assert type(twin) is type(agent) and twin.handle != agent.handle
        assert twin.config == agent.config and twin.info()["metadata"] == agent.info()["metadata"]
        assert twin.to_bytes() == agent.to_bytes()
        assert_same_results(same_calls(twin), same_calls(agent))
        assert twin.to_bytes() == agent.to_bytes()


def test_a_trained_copy_continues_learning_identically(model: Model, tmp_path: Path) -> None:
    """After learn, a checkpoint with its replay buffer (the loop's state included) trains on as the original."""
    with model.make(env=TinyEnv()) as agent:
        agent.learn(LEARN_STEPS // 2)
        with through_file(agent, tmp_path) as twin:
            assert twin.num_timesteps == agent.num_timesteps and twin.get_env() is None
            assert agent.update(5) == twin.update(5)
            np.testing.assert_array_equal(agent.act(PROBE), twin.act(PROBE))
            assert agent.to_bytes() == twin.to_bytes()


# --------------------------------------------------------------------------- learn


def train_values(agent: flowrl.Agent) -> dict[str, float]:
    values = {**agent.logger.last_row, **agent.logger.name_to_value}
    return {key: value for key, value in values.items() if key.startswith("train/")}


def test_learn_a_few_hundred_steps(model: Model) -> None:
    with model.make(env=TinyEnv()) as agent:
        learning_starts = agent._train_schedule()[0]
        assert agent.learn(LEARN_STEPS) is agent
        info = agent.info()
        assert agent.num_timesteps == LEARN_STEPS == info["counters"]["transitions_seen"] == info["replay_size"]
        assert info["counters"]["updates"] == LEARN_STEPS - learning_starts > 0
        assert agent._episode_num == LEARN_STEPS // 25 and all(episode["l"] == 25 for episode in agent.ep_info_buffer)
        values = train_values(agent)
        assert "train/n_updates" in values and all(np.isfinite(value) for value in values.values()), values
        mean, std = agent.evaluate(TinyEnv(), n_episodes=2, seed=0)
        assert np.isfinite(mean) and np.isfinite(std)
        agent.learn(50, reset_num_timesteps=False)
        assert agent.num_timesteps == LEARN_STEPS + 50 == agent.info()["counters"]["transitions_seen"]


def test_learn_on_a_vector_env(model: Model) -> None:
    envs = gym.vector.SyncVectorEnv([TinyEnv for _ in range(3)])
    with model.make(env=envs) as agent:
        agent.learn(LEARN_STEPS)
        counters = agent.info()["counters"]
        assert counters["transitions_seen"] == agent.num_timesteps >= LEARN_STEPS
        assert counters["updates"] > 0 and all(np.isfinite(value) for value in train_values(agent).values())
        mean, _ = agent.evaluate(envs, n_episodes=3)
        assert np.isfinite(mean)
    envs.close()


# --------------------------------------------------------------------------- pretrain, then fine-tune


def test_pretrain_then_fine_tune(model: Model) -> None:
    arguments = demonstrations()
    observations, actions = arguments.pop("observations"), arguments.pop("actions")
    with model.make(env=TinyEnv(), learning_rate=1e-3) as agent:
        def error() -> float:
            return float(np.mean(np.abs(agent.act(observations, deterministic=True) - actions)))

        before = error()
        metrics = agent.pretrain(observations, actions, steps=300, **arguments)  # whole transitions: seeds the buffer
        assert_finite_metrics(metrics)
        assert all(key.startswith(("pretrain/", "critic_warmup/")) for key in metrics), metrics
        info = agent.info()
        assert info["counters"]["pretrain_steps"] == 300 and info["replay_size"] == len(actions)
        # the critic warm-up: critic-only updates on the stored demonstrations
        warmup = int(metrics.get("critic_warmup/steps", 0))
        assert info["config"].get("critic_warmup_steps", 0) in (warmup, "auto"), (info["config"], metrics)
        assert (info["config"].get("critic_warmup_steps", 0) != 0) == (warmup > 0), metrics  # "auto" is never 0 steps
        assert info["counters"]["updates"] == warmup and info["counters"]["actor_updates"] == 0
        assert ("critic_warmup/critic_loss" in metrics) == (warmup > 0), metrics
        after = error()
        assert after < 0.8 * before, f"pretraining did not move towards the demonstrations ({before:.3f} -> {after:.3f})"
        agent.learn(LEARN_STEPS)
        info = agent.info()
        assert info["counters"]["updates"] > 0 and info["replay_size"] == len(actions) + LEARN_STEPS
        assert np.all(np.isfinite(agent.act(observations)))


@pytest.mark.parametrize("warmup_actions", ["auto", "random", "policy"])
def test_learn_after_pretrain_acts_with_the_policy(model: Model, warmup_actions: str) -> None:
    """After pretrain, "auto" takes no uniform random action and the stored demonstrations count
    towards learning_starts; "random" acts at random until learning_starts, as without pretraining."""
    names = _schema.schema(model.cls.algorithm).names
    settings: dict[str, Any] = {"warmup_actions": warmup_actions, "learning_starts": 50, "critic_warmup_steps": 0}
    if warmup_actions != "auto" and "warmup_actions" not in names:
        pytest.skip(f"{model} has no training-loop keys: the schema's defaults apply")
    arguments = demonstrations()
    with model.make(env=TinyEnv(), **{key: value for key, value in settings.items() if key in names}) as agent:
        agent.pretrain(steps=5, **arguments)
        random_calls: list[int] = []
        original = agent._random_actions
        agent._random_actions = lambda count: random_calls.append(count) or original(count)  # type: ignore[method-assign]
        agent.learn(20)
        assert bool(random_calls) == (warmup_actions == "random"), random_calls
        # 200 demonstrations > learning_starts: updates from the first step, unless the warm-up is
        # random (then learning_starts counts this run's 20 steps only, and none is past 50)
        assert agent.info()["counters"]["updates"] == (0 if warmup_actions == "random" else 20)


def test_update_before_any_data_is_rejected_unchanged(any_agent: flowrl.Agent) -> None:
    assert_rejected(any_agent, lambda: any_agent.update(1), "empty", flowrl.InvalidStateError)
