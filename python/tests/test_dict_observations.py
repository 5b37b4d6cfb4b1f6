"""Dict (and Tuple) observation spaces: flattened as gymnasium flattens them, everywhere a user
meets observations (learn, predict, evaluate, callbacks, checkpoints, policy files, datasets)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import flowrl
import flowrl.datasets
import gymnasium as gym
import numpy as np
import pytest
from flowrl import _checkpoint
from flowrl.policies import MlpPolicy
from gymnasium import spaces

SAC_SMALL: dict[str, Any] = {"hidden_sizes": [32], "critic_hidden_sizes": [32], "critic_warmup_steps": 40, "batch_size": 32,
                             "buffer_size": 1000, "learning_starts": 50}
SWFP_SMALL: dict[str, Any] = {**SAC_SMALL, "flow_steps": 2}


class PointGoal(gym.Env):
    """A 2-D point that moves towards a goal: observation = {"observation": position, "desired_goal": goal}."""

    metadata: dict[str, Any] = {}

    def __init__(self) -> None:
        self.observation_space = spaces.Dict({"observation": spaces.Box(-1.0, 1.0, (2,), np.float32),
                                              "desired_goal": spaces.Box(-1.0, 1.0, (2,), np.float32)})
        self.action_space = spaces.Box(-0.2, 0.2, (2,), np.float32)
        self.position = np.zeros(2, np.float32)
        self.goal = np.zeros(2, np.float32)
        self.steps = 0

    def _observation(self) -> dict[str, np.ndarray]:
        return {"observation": self.position.copy(), "desired_goal": self.goal.copy()}

    def reset(self, *, seed: Any = None, options: Any = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        self.position = self.np_random.uniform(-1, 1, 2).astype(np.float32)
        self.goal = self.np_random.uniform(-1, 1, 2).astype(np.float32)
        self.steps = 0
        return self._observation(), {}

    def step(self, action: np.ndarray) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        self.position = np.clip(self.position + action, -1, 1).astype(np.float32)
        self.steps += 1
        distance = float(np.linalg.norm(self.position - self.goal))
        return self._observation(), -distance, distance < 0.05, self.steps >= 25, {}


def observations(count: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"observation": rng.uniform(-1, 1, (count, 2)).astype(np.float32),
            "desired_goal": rng.uniform(-1, 1, (count, 2)).astype(np.float32)}


def flattened(space: spaces.Space, batch: dict[str, np.ndarray]) -> np.ndarray:
    count = len(next(iter(batch.values())))
    return np.stack([spaces.flatten(space, {key: value[i] for key, value in batch.items()}) for i in range(count)])


@pytest.mark.parametrize("cls, small", [(flowrl.SAC, SAC_SMALL), (flowrl.SWFP, SWFP_SMALL)], ids=["SAC", "SWFP"])
def test_learn_and_predict_with_dicts(cls: type[flowrl.Agent], small: dict[str, Any]) -> None:
    env = PointGoal()
    seen: list[Any] = []

    class Record(flowrl.callbacks.BaseCallback):
        def _on_step(self) -> bool:
            seen.append(self.locals["new_obs"])
            return True

    agent = cls("MultiInputPolicy", env, seed=1, **small).learn(300, callback=Record())
    assert agent.num_timesteps == 300 and agent.info()["replay_size"] == 300 and agent.info()["counters"]["updates"] > 0
    assert agent.observation_space == env.observation_space and agent.observation_size == 4
    assert set(seen[-1]) == {"observation", "desired_goal"} and seen[-1]["observation"].shape == (1, 2)
    batch = observations(5)
    flat = flattened(env.observation_space, batch)
    assert np.array_equal(agent.predict(batch, deterministic=True)[0], agent.predict(flat, deterministic=True)[0])
    one = {key: value[0] for key, value in batch.items()}
    action, _ = agent.predict(one, deterministic=True)
    assert action.shape == (2,) and np.array_equal(action, agent.predict(flat[0], deterministic=True)[0])
    assert np.array_equal(agent.policy.predict(batch, deterministic=True)[0], agent.predict(flat, deterministic=True)[0])
    mean, _ = agent.evaluate(env, n_episodes=2)
    assert np.isfinite(mean)


def test_flattening_is_gymnasiums_for_nested_tuple_and_discrete() -> None:
    space = spaces.Dict({"b": spaces.Tuple((spaces.Box(-2, 2, (2, 2), np.float32), spaces.Discrete(3, start=1))),
                         "a": spaces.MultiBinary(3)})
    agent = flowrl.SAC(observation_space=space, action_space=spaces.Box(-1, 1, (1,), np.float32), seed=0, **SAC_SMALL)
    assert agent.observation_size == spaces.flatdim(space) == 10
    space.seed(3)
    samples = [space.sample() for _ in range(4)]
    layout = agent._layout
    for sample in samples:
        flat, single = layout.flatten(sample)
        assert single and np.array_equal(flat[0], spaces.flatten(space, sample).astype(np.float32))
        back = layout.unflatten_one(flat[0])
        assert np.array_equal(back["a"], sample["a"]) and back["b"][1] == sample["b"][1]
        assert np.array_equal(agent.predict(sample, deterministic=True)[0],
                              agent.predict(spaces.flatten(space, sample), deterministic=True)[0])


def test_vector_env_learns_and_get_env_gives_dicts() -> None:
    venv = gym.vector.SyncVectorEnv([PointGoal, PointGoal])
    agent = flowrl.SAC(venv, seed=2, **SAC_SMALL).learn(200)
    assert agent.num_timesteps == 200 and agent.info()["replay_size"] == 200
    reset = agent.get_env().reset()
    assert reset["observation"].shape == (2, 2) and agent.predict(reset)[0].shape == (2, 2)
    _, _, dones, infos = agent.get_env().step(agent.predict(reset)[0])
    assert len(infos) == 2 and dones.shape == (2,)
    assert np.isfinite(agent.evaluate(venv, n_episodes=2)[0])


def test_save_load_and_policy_file_keep_the_space(tmp_path: Any) -> None:
    env = PointGoal()
    agent = flowrl.SAC(env, seed=3, **SAC_SMALL).learn(100)
    batch = observations(6, seed=1)
    expected = agent.predict(batch, deterministic=True)[0]
    agent.save(tmp_path / "agent.flowrl")
    loaded = flowrl.SAC.load(tmp_path / "agent.flowrl")
    assert loaded.observation_space == env.observation_space
    assert list(loaded.observation_space.spaces) == list(env.observation_space.spaces)
    assert np.array_equal(loaded.predict(batch, deterministic=True)[0], expected)
    with_env = flowrl.SAC.load(tmp_path / "agent.flowrl", env=env)
    assert np.array_equal(with_env.predict(batch, deterministic=True)[0], expected)
    with pytest.raises(flowrl.InvalidArgumentError, match="differ"):
        flowrl.SAC.load(tmp_path / "agent.flowrl", env=gym.make("Pendulum-v1"))
    agent.policy.save(tmp_path / "policy")
    policy = MlpPolicy.load(tmp_path / "policy")
    assert policy.observation_space == env.observation_space
    assert np.array_equal(policy.predict(batch, deterministic=True)[0], expected)
    assert np.array_equal(flowrl.SAC.from_bytes(agent.to_bytes()).predict(batch, deterministic=True)[0], expected)


def _rewrite_metadata(data: bytes, change: Any) -> bytes:
    checkpoint = _checkpoint.parse(data)
    metadata = json.loads(checkpoint.metadata_json)
    change(metadata)
    return _checkpoint.build(dataclasses.replace(checkpoint, metadata_json=json.dumps(metadata)))


@pytest.mark.parametrize("change", [
    lambda m: m.__setitem__("observation_structure", {"type": "Nope"}),
    lambda m: m.__setitem__("observation_structure", {"type": "Dict", "items": [["a", {"type": "Box", "shape": [3],
                                                      "low": [0, 0, 0], "high": [1, 1, 1], "dtype": "float32"}]]}),
    lambda m: m["observation_structure"]["items"][0][1].__setitem__("low", ["x", 0]),
    lambda m: m.__setitem__("observation_structure", json.loads("[" * 50 + "]" * 50)),
    lambda m: m.__setitem__("observation_structure", {"type": "Tuple", "items": [{"type": "Discrete", "n": 0, "start": 0}]}),
], ids=["unknown-type", "wrong-size", "bad-bound", "deep", "empty-discrete"])
def test_a_bad_recorded_structure_is_a_checkpoint_error(change: Any) -> None:
    agent = flowrl.SAC(PointGoal(), seed=4, **SAC_SMALL)
    data = _rewrite_metadata(agent.to_bytes(), change)
    with pytest.raises(flowrl.CheckpointError, match="observation structure"):
        flowrl.SAC.from_bytes(data)


def test_a_box_checkpoint_loads_as_before() -> None:
    agent = flowrl.SAC(gym.make("Pendulum-v1"), seed=5, **SAC_SMALL)
    assert "observation_structure" not in agent._metadata()
    loaded = flowrl.SAC.from_bytes(agent.to_bytes())
    assert isinstance(loaded.observation_space, spaces.Box) and loaded.observation_space.shape == (3,)


def test_bad_dicts_are_refused_naming_the_key() -> None:
    agent = flowrl.SAC(PointGoal(), seed=6, **SAC_SMALL)
    before = agent.to_bytes()
    good = {"observation": np.zeros(2, np.float32), "desired_goal": np.zeros(2, np.float32)}
    for bad, message in (({"observation": np.zeros(2)}, "lacks the key 'desired_goal'"),
                         ({**good, "achieved_goal": np.zeros(2)}, "has the key 'achieved_goal'"),
                         ({**good, "desired_goal": np.zeros(3)}, r"\['desired_goal'\] has shape \(3,\)"),
                         ({**good, "desired_goal": np.zeros((4, 2))}, "does not match"),
                         ({**good, "observation": np.array([np.nan, 0])}, r"\['observation'\] contain NaN"),
                         ((np.zeros(2), np.zeros(2)), "must be a dict")):
        with pytest.raises(flowrl.InvalidArgumentError, match=message):
            agent.predict(bad)
    with pytest.raises(flowrl.InvalidArgumentError, match="lacks the key"):
        agent.observe({"observation": np.zeros(2)}, np.zeros(2), 0.0, good, False)
    assert agent.info()["replay_size"] == 0 and agent.to_bytes() == before


def test_policy_names_and_refused_spaces() -> None:
    env = PointGoal()
    assert flowrl.SAC("MultiInputPolicy", env, **SAC_SMALL).observation_size == 4
    assert flowrl.SAC("MlpPolicy", env, **SAC_SMALL).observation_size == 4
    with pytest.raises(flowrl.InvalidArgumentError, match="MultiInputPolicy.*Box"):
        flowrl.SAC("MultiInputPolicy", gym.make("Pendulum-v1"))
    box = spaces.Box(-1, 1, (1,), np.float32)
    for space, message in ((spaces.Dict({"a": spaces.MultiDiscrete([2, 3])}), "MultiDiscrete"),
                           (spaces.Dict({"a": spaces.Text(5)}), "not MultiDiscrete, Text"),
                           (spaces.Dict({}), "empty"),
                           (spaces.Discrete(4), "must be a gymnasium Box, or a Dict")):
        with pytest.raises(flowrl.InvalidArgumentError, match=message):
            flowrl.SAC(observation_space=space, action_space=box)


def test_collect_writes_a_dict_minari_dataset_that_pretrains(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("minari")
    pytest.importorskip("h5py")
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    env = PointGoal()
    def expert(observation: dict[str, np.ndarray]) -> np.ndarray:
        return (observation["desired_goal"] - observation["observation"]).clip(-0.2, 0.2)

    collected = flowrl.datasets.collect(env, expert, total_steps=120, seed=0, dataset_id="pointgoal/expert-v0")
    assert collected.observation_shape == (4,)
    import minari
    dataset = minari.load_dataset("pointgoal/expert-v0")
    assert isinstance(dataset.observation_space, spaces.Dict)
    episode = next(iter(dataset.iterate_episodes()))
    assert set(episode.observations) == {"observation", "desired_goal"}
    data = flowrl.datasets.load("pointgoal/expert-v0")
    assert np.array_equal(data.observations, collected.observations) and data.observation_shape == (4,)
    first = {key: value[0] for key, value in episode.observations.items()}
    assert np.array_equal(data.observations[0], spaces.flatten(env.observation_space, first))
    data.check(env.observation_space, env.action_space)
    with pytest.raises(flowrl.InvalidArgumentError, match="shape"):
        data.check(spaces.Dict({"observation": spaces.Box(-1, 1, (3,))}), env.action_space)
    agent = flowrl.SWFP(env, seed=7, **SWFP_SMALL)
    metrics = agent.pretrain("pointgoal/expert-v0", steps=50)
    assert all(np.isfinite(value) for value in metrics.values()) and agent.info()["replay_size"] == 120
    agent.learn(60)
    assert agent.num_timesteps == 60
