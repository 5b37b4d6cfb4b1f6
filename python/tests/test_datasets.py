"""flowrl.datasets: Transitions and their checks, .npz files, Minari datasets read and written, collect.

Every test runs with MINARI_DATASETS_PATH set to a temporary directory, so none reads or writes
~/.minari. Tests that read or write Minari datasets need minari with h5py and Pillow
(``pip install "flowrl[datasets]"``; scripts/test.sh installs them): the importorskip guards only
let the rest of the file run where they are missing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

import flowrl
import gymnasium as gym
import numpy as np
import pytest
from flowrl import datasets
from flowrl.datasets import Transitions
from gymnasium import spaces

ARRAYS = ("observations", "actions", "rewards", "next_observations", "terminated", "truncated", "episode_starts")


#: Every test runs with a private Minari root (conftest.minari_root).
pytestmark = pytest.mark.usefixtures("minari_root")


def need_minari() -> Any:
    """The minari module; skips the test only where minari (or its HDF5 storage) is not installed."""
    pytest.importorskip("h5py")
    pytest.importorskip("PIL")
    return pytest.importorskip("minari")


def controller(observation: np.ndarray) -> np.ndarray:
    """A deterministic Pendulum policy (a rough swing-up), within [-2, 2]."""
    cos, sin, speed = (float(value) for value in observation)
    return np.array([np.clip(-3.0 * sin - 0.5 * speed + 0.5 * (1.0 - cos), -2.0, 2.0)], dtype=np.float32)


def assert_same_arrays(first: Transitions, second: Transitions) -> None:
    for name in ARRAYS:
        a, b = getattr(first, name), getattr(second, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        np.testing.assert_array_equal(a, b, err_msg=name)


def small_transitions(rows: int = 10, observation_shape: tuple[int, ...] = (3,), seed: int = 0, **changes: Any) -> Transitions:
    """Valid transitions within Box(-1, 1, observation_shape) / Box(-2, 2, (2,)): episodes of 4 steps."""
    rng = np.random.default_rng(seed)
    arrays: dict[str, Any] = {
        "observations": rng.uniform(-1, 1, (rows, *observation_shape)),
        "actions": rng.uniform(-2, 2, (rows, 2)),
        "rewards": rng.normal(size=rows),
        "next_observations": rng.uniform(-1, 1, (rows, *observation_shape)),
        "terminated": (np.arange(rows) % 4) == 3,
    }
    arrays.update(changes)
    return Transitions.from_arrays(**arrays)


OBSERVATION_SPACE = spaces.Box(-1.0, 1.0, (3,), dtype=np.float32)
ACTION_SPACE = spaces.Box(-2.0, 2.0, (2,), dtype=np.float32)


class EveryNSteps(gym.Env):
    """Terminates every ``length`` steps; observation (step, action) — no spec (not made by gym.make)."""

    def __init__(self, length: int = 7) -> None:
        self.length = length
        self.observation_space = spaces.Box(-np.inf, np.inf, (2,), dtype=np.float64)
        self.action_space = spaces.Box(-1.0, 1.0, (1,), dtype=np.float32)
        self.count = 0

    def reset(self, *, seed: Optional[int] = None, options: Any = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.count = 0
        return np.array([0.0, float(self.np_random.uniform())]), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.count += 1
        value = float(np.asarray(action).reshape(-1)[0])
        return np.array([float(self.count), value]), value, self.count == self.length, False, {}


# ---------------------------------------------------------------------- Transitions


def test_constructor_copies_into_canonical_read_only_arrays() -> None:
    observations = np.arange(12, dtype=np.float64).reshape(4, 3)
    transitions = Transitions(observations, np.zeros((4, 2)), [1, 2, 3, 4], observations + 1, [0, 0, 0, 1],
                              np.zeros(4, np.int64), [True, False, False, False], {"dataset_id": "x"})
    assert transitions.observations.dtype == np.float32 and transitions.rewards.dtype == np.float32
    assert transitions.terminated.dtype == np.bool_ and transitions.truncated.dtype == np.bool_
    observations[0, 0] = 99.0
    assert transitions.observations[0, 0] == 0.0  # a copy
    with pytest.raises(ValueError, match="read-only"):
        transitions.rewards[0] = 5.0
    assert len(transitions) == 4 and transitions.num_episodes == 1
    assert transitions.observation_shape == (3,) and transitions.action_dim == 2
    np.testing.assert_array_equal(transitions.episode_returns(), [10.0])


def test_from_arrays_derives_episode_starts_and_summary() -> None:
    transitions = small_transitions(10)  # ends at rows 3 and 7; rows 8-9 an unfinished episode
    np.testing.assert_array_equal(np.flatnonzero(transitions.episode_starts), [0, 4, 8])
    assert transitions.num_episodes == 3
    returns = transitions.episode_returns()
    np.testing.assert_allclose(returns, [transitions.rewards[0:4].sum(), transitions.rewards[4:8].sum()], rtol=1e-6)
    assert transitions.metadata["num_episodes"] == 3 and transitions.metadata["num_complete_episodes"] == 2
    assert transitions.metadata["mean_episode_return"] == pytest.approx(returns.mean())
    transitions.check(OBSERVATION_SPACE, ACTION_SPACE)


@pytest.mark.parametrize("changes, message", [
    ({"rewards": np.zeros(9)}, "the arrays have inconsistent lengths (rows): observations 10, actions 10, rewards 9"),
    ({"actions": np.zeros(10)}, "actions have shape (10,); expected (n, action_dim) (for one-dimensional actions"),
    ({"observations": np.zeros(10)}, "observations have shape (10,); expected (n, *observation_shape)"),
    ({"next_observations": np.zeros((10, 4))}, "next_observations have shape (10, 4), observations (10, 3)"),
    ({"rewards": np.array(["a"] * 10)}, "rewards must hold real numbers, got an array of dtype <U1"),
    ({"terminated": np.full(10, 0.5)}, "terminated must be booleans (or 0 and 1); row 0 holds 0.5"),
])
def test_constructor_rejects_inconsistent_arrays(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(flowrl.InvalidArgumentError) as caught:
        small_transitions(10, **changes)
    assert message in str(caught.value)


def test_constructor_rejects_episode_starts_that_contradict_the_flags() -> None:
    with pytest.raises(flowrl.InvalidArgumentError) as caught:
        small_transitions(10, episode_starts=np.eye(1, 10, 0, dtype=bool)[0])
    assert str(caught.value) == ("episode_starts[4] is False, but row 3 ends an episode (terminated or truncated); "
                                 "the row after an episode's end must start one")
    with pytest.raises(flowrl.InvalidArgumentError, match=r"episode_starts\[0\] is False"):
        small_transitions(10, episode_starts=np.zeros(10, bool))


def test_check_finds_lengths_changed_behind_the_frozen_dataclass() -> None:
    transitions = small_transitions(10)
    object.__setattr__(transitions, "rewards", transitions.rewards[:7])  # what only deliberate tampering can do
    with pytest.raises(flowrl.InvalidArgumentError, match=r"inconsistent lengths \(rows\): observations 10, actions 10, rewards 7,"):
        transitions.check()


def test_check_rejects_an_empty_dataset() -> None:
    empty = Transitions.from_arrays(np.zeros((0, 3)), np.zeros((0, 2)), np.zeros(0), np.zeros((0, 3)), np.zeros(0, bool))
    assert len(empty) == 0 and empty.num_episodes == 0 and empty.episode_returns().shape == (0,)
    with pytest.raises(flowrl.InvalidArgumentError) as caught:
        empty.check(OBSERVATION_SPACE, ACTION_SPACE)
    assert str(caught.value) == "the dataset is empty (0 transitions)"


@pytest.mark.parametrize("observation_space, action_space, message", [
    (spaces.Box(-1, 1, (4,)), ACTION_SPACE, "observations have shape (3,) per row; the observation space has shape (4,)"),
    (OBSERVATION_SPACE, spaces.Box(-2, 2, (3,)), "actions have 2 dimensions per row; the action space has 3"),
    (spaces.Discrete(3), ACTION_SPACE, "the observation space must be a gymnasium Box, Dict or Tuple, got Discrete(3)"),
    (OBSERVATION_SPACE, spaces.Discrete(3), "the action space must be a one-dimensional gymnasium Box, got Discrete(3)"),
    # a Dict space is checked by its flattening (gymnasium's flatten_space)
    (spaces.Dict({"a": spaces.Box(-1, 1, (2,))}), ACTION_SPACE,
     "observations have shape (3,) per row; the observation space has shape (2,)"),
    (spaces.Dict({"a": spaces.MultiDiscrete([2, 3])}), ACTION_SPACE, "the observation space: observation['a'] is MultiDiscrete"),
    (OBSERVATION_SPACE, spaces.Box(-2, 2, (1, 2)), "the action space must be a one-dimensional gymnasium Box"),
])
def test_check_rejects_spaces_that_do_not_fit(observation_space: Any, action_space: Any, message: str) -> None:
    with pytest.raises(flowrl.InvalidArgumentError) as caught:
        small_transitions().check(observation_space, action_space)
    assert message in str(caught.value)


@pytest.mark.parametrize("name, row, column, message", [
    ("rewards", 3, None, "rewards contain NaN or Inf: the first at row 3 (nan)"),
    ("observations", 2, 1, "observations contain NaN or Inf: the first at row 2, index 1 within the row (nan)"),
    ("next_observations", 7, 0, "next_observations contain NaN or Inf: the first at row 7, index 0 within the row (nan)"),
    ("actions", 5, 1, "actions contain NaN or Inf: the first at row 5, index 1 within the row (nan)"),
])
def test_check_names_the_array_and_row_of_the_first_nan(name: str, row: int, column: Optional[int], message: str) -> None:
    values = getattr(small_transitions(), name).copy()
    values[(row,) if column is None else (row, column)] = np.nan
    values[(row + 1,) if column is None else (row + 1, column)] = np.inf  # a later one is not the one named
    transitions = small_transitions(**{name: values})
    with pytest.raises(flowrl.InvalidArgumentError) as caught:
        transitions.check()
    assert str(caught.value) == message


def test_check_names_an_overflow_to_infinity() -> None:
    rewards = np.zeros(10)
    rewards[6] = 1e300  # finite as float64, infinite as float32
    with pytest.raises(flowrl.InvalidArgumentError, match=r"^rewards contain NaN or Inf: the first at row 6 \(inf\)$"):
        small_transitions(rewards=rewards).check()


def test_check_rejects_actions_outside_the_bounds_within_a_tolerance() -> None:
    actions = np.random.default_rng(0).uniform(-1, 1, (10, 2))
    actions[4, 1] = 2.5
    with pytest.raises(flowrl.InvalidArgumentError) as caught:
        small_transitions(actions=actions).check(OBSERVATION_SPACE, ACTION_SPACE)
    assert str(caught.value) == ("actions[4, 1] = 2.5 is above the high bound 2.0 of the action space (tolerance 4e-05); "
                                 "1 row(s) have an action outside the bounds")
    actions[4, 1], actions[8, 0] = 1.0, -2.0 - 1e-4
    with pytest.raises(flowrl.InvalidArgumentError, match=r"^actions\[8, 0\] = -2.0001 is below the low bound -2.0 "):
        small_transitions(actions=actions).check(OBSERVATION_SPACE, ACTION_SPACE)
    actions[8, 0] = -2.0 - 3e-5  # within the tolerance (1e-5 of the range 4): accepted, as the agents accept it
    small_transitions(actions=actions).check(OBSERVATION_SPACE, ACTION_SPACE)


def test_equality_compares_arrays_and_metadata() -> None:
    assert small_transitions() == small_transitions()
    assert small_transitions() != small_transitions(seed=1)
    assert small_transitions() != Transitions.from_arrays(**{name: getattr(small_transitions(), name) for name in ARRAYS[:5]},
                                                          metadata={"dataset_id": "other"})


# ---------------------------------------------------------------------- .npz files


def test_npz_round_trip_keeps_arrays_and_metadata(tmp_path: Path) -> None:
    transitions = small_transitions(12, observation_shape=(2, 3), truncated=(np.arange(12) == 11))
    metadata = {**transitions.metadata, "dataset_id": "mine-v0", "score": np.float32(1.5), "tags": ("a", "b")}
    transitions = Transitions(**{name: getattr(transitions, name) for name in ARRAYS}, metadata=metadata)
    folder = tmp_path / "files"
    folder.mkdir()
    written = transitions.save_npz(folder / "data")  # ".npz" appended, as numpy.savez does
    assert written == folder / "data.npz" and written.is_file()
    loaded = datasets.load(written)
    assert_same_arrays(loaded, transitions)
    assert loaded.observation_shape == (2, 3)
    assert loaded.metadata == {**transitions.metadata, "score": 1.5, "tags": ["a", "b"]}
    assert Transitions.load_npz(str(written)) == loaded
    assert [path.name for path in folder.iterdir()] == ["data.npz"]  # no temporary file left


def test_loading_an_npz_needs_no_minari(tmp_path: Path) -> None:
    path = small_transitions().save_npz(tmp_path / "data.npz")
    code = ("import sys\n"
            "sys.modules['minari'] = None  # any import of minari now fails\n"
            "from flowrl import datasets\n"
            f"data = datasets.load({str(path)!r})\n"
            "print(len(data), data.num_episodes)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["10", "3"]


def test_npz_files_that_are_not_transitions_are_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.npz"
    np.savez(other, observations=np.zeros((3, 2)))
    with pytest.raises(flowrl.InvalidArgumentError) as caught:
        datasets.load(other)
    assert str(caught.value) == (f"{other} is not a file written by Transitions.save_npz: it lacks format, metadata, "
                                 f"actions, rewards, next_observations, terminated, truncated, episode_starts")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file")
    with pytest.raises(flowrl.InvalidArgumentError, match="is not a .npz file written by Transitions.save_npz"):
        datasets.load(garbage)
    with pytest.raises(flowrl.InvalidArgumentError, match=r"^no such file: .*missing\.npz$"):
        datasets.load(tmp_path / "missing.npz")


def test_as_transitions_checks_what_it_loads(tmp_path: Path) -> None:
    empty = Transitions.from_arrays(np.zeros((0, 3)), np.zeros((0, 2)), np.zeros(0), np.zeros((0, 3)), np.zeros(0, bool))
    path = empty.save_npz(tmp_path / "empty.npz")
    assert len(datasets.load(path)) == 0
    with pytest.raises(flowrl.InvalidArgumentError, match=r"^the dataset is empty \(0 transitions\)$"):
        datasets.as_transitions(path, OBSERVATION_SPACE, ACTION_SPACE)
    transitions = small_transitions()
    assert datasets.as_transitions(transitions, OBSERVATION_SPACE, ACTION_SPACE) is transitions
    with pytest.raises(flowrl.InvalidArgumentError, match="the observation space has shape"):
        datasets.as_transitions(transitions, spaces.Box(-1, 1, (5,)), ACTION_SPACE)
    assert datasets.is_dataset(transitions) and datasets.is_dataset("hopper/flowrl-medium-v0") and datasets.is_dataset(path)
    assert not datasets.is_dataset(np.zeros((3, 3))) and not datasets.is_dataset([[1.0]])
    with pytest.raises(flowrl.InvalidArgumentError, match="dataset must be a Minari dataset id, .* got int"):
        datasets.load(3)


def test_pretraining_on_loaded_transitions(tmp_path: Path) -> None:
    """What an agent's pretrain needs of Transitions: the arrays, in the environment's units."""
    env = gym.make("Pendulum-v1")
    data = datasets.collect(env, controller, 64, seed=0, path=tmp_path / "pendulum.npz")
    loaded = datasets.as_transitions(tmp_path / "pendulum.npz", env.observation_space, env.action_space)
    agent = flowrl.SAC(env, seed=0, hidden_sizes=[16], critic_hidden_sizes=[16], batch_size=16, buffer_size=200)
    metrics = agent.pretrain(loaded.observations, loaded.actions, steps=5, rewards=loaded.rewards,
                             next_observations=loaded.next_observations, terminated=loaded.terminated)
    assert metrics and all(np.isfinite(value) for value in metrics.values())
    assert agent.info()["replay_size"] == len(data) == 64
    agent.close()


# ---------------------------------------------------------------------- collect


def test_collect_spends_exactly_the_budget_and_marks_the_cut_episode_truncated() -> None:
    env = gym.make("Pendulum-v1")  # episodes of 200 steps (a time limit: truncated)
    data = datasets.collect(env, controller, 450, seed=0)
    assert len(data) == 450 and data.num_episodes == 3
    np.testing.assert_array_equal(np.flatnonzero(data.episode_starts), [0, 200, 400])
    np.testing.assert_array_equal(np.flatnonzero(data.truncated), [199, 399, 449])
    assert not data.terminated.any()
    assert data.episode_returns().shape == (3,)
    # within an episode, each next observation is the following row's observation
    np.testing.assert_array_equal(data.next_observations[:199], data.observations[1:200])
    assert data.metadata["num_transitions"] == 450 and data.metadata["env_spec_id"] == "Pendulum-v1"
    data.check(env.observation_space, env.action_space)


def test_collect_keeps_termination_apart_from_the_budget() -> None:
    data = datasets.collect(EveryNSteps(7), lambda observation: np.array([0.5]), 14, seed=0)
    np.testing.assert_array_equal(np.flatnonzero(data.terminated), [6, 13])
    assert not data.truncated.any()  # the budget ended where the episode did
    data = datasets.collect(EveryNSteps(7), lambda observation: np.array([0.5]), 10, seed=0)
    np.testing.assert_array_equal(np.flatnonzero(data.terminated), [6])
    np.testing.assert_array_equal(np.flatnonzero(data.truncated), [9])
    np.testing.assert_allclose(data.episode_returns(), [3.5, 1.5])


class Predictor:
    """An object with SB3's predict, recording the deterministic flags it was given."""

    def __init__(self) -> None:
        self.flags: list[bool] = []

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: Any = None,
                deterministic: bool = False) -> tuple[np.ndarray, None]:
        self.flags.append(deterministic)
        return controller(observation), None


def test_collect_takes_a_callable_or_an_object_with_predict() -> None:
    by_function = datasets.collect("Pendulum-v1", controller, 250, seed=5)
    predictor = Predictor()
    by_predict = datasets.collect("Pendulum-v1", predictor, 250, seed=5, deterministic=True)
    assert_same_arrays(by_function, by_predict)
    assert predictor.flags == [True] * 250
    assert by_predict.metadata["deterministic"] is True


def test_collect_with_a_flowrl_agent() -> None:
    env = gym.make("Pendulum-v1")
    agent = flowrl.SAC(env, seed=0, hidden_sizes=[16], critic_hidden_sizes=[16])
    agent.seed(7)
    data = datasets.collect(env, agent, 120, seed=0)
    agent.seed(7)
    again = datasets.collect(env, agent, 120, seed=0)
    assert_same_arrays(data, again)  # the agent's own randomness, reseeded, and the env's seed
    assert len(np.unique(data.actions)) > 100  # stochastic actions
    data.check(env.observation_space, env.action_space)
    agent.close()


def test_collect_is_reproducible_with_the_seed() -> None:
    env = gym.make("Pendulum-v1")
    random_policy = lambda observation: env.action_space.sample()  # noqa: E731  (seeded by collect)
    first = datasets.collect(env, random_policy, 300, seed=3)
    second = datasets.collect(env, random_policy, 300, seed=3)
    other = datasets.collect(env, random_policy, 300, seed=4)
    assert_same_arrays(first, second)
    assert not np.array_equal(first.actions, other.actions)
    assert not np.array_equal(first.observations[0], other.observations[0])
    assert first.observations[200].tolist() != first.observations[0].tolist()  # episode 1 reset with seed + 1


@pytest.mark.parametrize("policy, message", [
    (lambda observation: np.array([2.5]), "the policy returned an action outside the action space at step 0: component 0 "
                                          "is 2.5, above the high bound 2; clip actions in the policy"),
    (lambda observation: np.array([np.nan]), "the policy returned a non-finite action at step 0: [nan]"),
    (lambda observation: np.zeros(3), "the policy returned an action of shape (3,) at step 0; the action space has shape (1,)"),
    ("not a policy", "policy must have a predict(observation, deterministic=...) method"),
])
def test_collect_rejects_bad_policies_and_writes_nothing(policy: Any, message: str, tmp_path: Path,
                                                         minari_root: Path) -> None:
    with pytest.raises(flowrl.InvalidArgumentError) as caught:
        datasets.collect("Pendulum-v1", policy, 50, path=tmp_path / "out.npz")
    assert message in str(caught.value)
    assert not (tmp_path / "out.npz").exists()


def test_collect_clips_actions_within_the_tolerance() -> None:
    data = datasets.collect("Pendulum-v1", lambda observation: np.array([2.0 + 1e-5]), 5, seed=0)
    np.testing.assert_array_equal(data.actions, np.full((5, 1), 2.0, np.float32))


@pytest.mark.parametrize("arguments, message", [
    ({"total_steps": 0}, "total_steps must be in [1, 4294967296], got 0"),
    ({"total_steps": 2.5}, "total_steps must be an integer"),
    ({"seed": -1}, "seed must be in [0, 9223372036854775807], got -1"),
    ({"author": 3}, "author must be a str or None, got int 3"),
    ({"ref_max_score": float("nan")}, "ref_max_score must be finite, got nan"),
    ({"dataset_id": "no version"}, "dataset_id 'no version' is not a Minari dataset id: expected [namespace/]name-vN"),
    ({"dataset_id": "../escape-v0"}, "dataset_id '../escape-v0' is not a Minari dataset id"),
])
def test_collect_checks_its_arguments(arguments: dict[str, Any], message: str) -> None:
    call = {"env": "Pendulum-v1", "policy": controller, "total_steps": 10, **arguments}
    with pytest.raises(flowrl.InvalidArgumentError) as caught:
        datasets.collect(**call)
    assert message in str(caught.value)


def test_collect_refuses_unsupported_dict_observations_and_vector_envs() -> None:
    class DictEnv(EveryNSteps):
        def __init__(self) -> None:
            super().__init__()
            self.observation_space = spaces.Dict({"position": spaces.MultiDiscrete([2, 3])})

    with pytest.raises(flowrl.InvalidArgumentError) as caught:
        datasets.collect(DictEnv(), lambda observation: np.zeros(1), 5)
    assert str(caught.value).startswith("the env's observation space: observation['position'] is MultiDiscrete(")
    vector = gym.make_vec("Pendulum-v1", num_envs=2, vectorization_mode="sync")
    with pytest.raises(flowrl.InvalidArgumentError, match="collect takes a single environment, got the vector env"):
        datasets.collect(vector, controller, 5)
    vector.close()


def test_collect_refuses_to_overwrite_an_npz_file(tmp_path: Path) -> None:
    target = tmp_path / "data.npz"
    datasets.collect("Pendulum-v1", controller, 20, seed=0, path=target)
    with pytest.raises(flowrl.InvalidArgumentError, match=r"data\.npz already exists; pass overwrite=True to replace it"):
        datasets.collect("Pendulum-v1", controller, 30, seed=0, path=target)
    assert len(datasets.load(target)) == 20
    datasets.collect("Pendulum-v1", controller, 30, seed=0, path=target, overwrite=True)
    assert len(datasets.load(target)) == 30


# ---------------------------------------------------------------------- Minari


def rollout_with_minari_buffers(minari: Any, env_id: str, policy: Any, total_steps: int, seed: int) -> list[Any]:
    """The test's own rollout into Minari's EpisodeBuffer objects, one step at a time (lists of
    per-step values, as Minari's DataCollector keeps them), with collect's seeding convention."""
    env = gym.make(env_id)
    buffers = []
    step = 0
    while step < total_steps:
        episode_seed = seed + len(buffers)
        observation, _ = env.reset(seed=episode_seed)
        observations, actions, rewards, terminations, truncations = [observation], [], [], [], []
        done = False
        while not done:
            action = policy(observation)
            observation, reward, terminated, truncated, _ = env.step(action)
            step += 1
            truncated = truncated or step == total_steps
            observations.append(observation)
            actions.append(action)
            rewards.append(reward)
            terminations.append(terminated)
            truncations.append(truncated)
            done = terminated or truncated
        buffers.append(minari.data_collector.EpisodeBuffer(
            id=len(buffers), seed=episode_seed, observations=observations, actions=actions, rewards=rewards,
            terminations=terminations, truncations=truncations))
    env.close()
    return buffers


def test_minari_written_and_collected_datasets_load_to_the_same_transitions(minari_root: Path) -> None:
    minari = need_minari()
    env = gym.make("Pendulum-v1")
    buffers = rollout_with_minari_buffers(minari, "Pendulum-v1", controller, 450, seed=11)
    with pytest.warns(UserWarning):  # Minari's reminders about optional metadata
        minari.create_dataset_from_buffers("test/by-minari-v0", buffers, env=env, algorithm_name="swing-up",
                                           author="tests", description="written by Minari's own API")
    collected = datasets.collect(env, controller, 450, "test/by-collect-v0", seed=11, algorithm_name="swing-up",
                                 author="tests", description="written by flowrl.datasets.collect")
    by_minari = datasets.load("test/by-minari-v0")
    by_collect = datasets.load("test/by-collect-v0")
    assert_same_arrays(by_minari, by_collect)
    assert_same_arrays(by_collect, collected)
    assert len(by_minari) == 450 and by_minari.num_episodes == 3
    assert by_minari.truncated[-1] and by_minari.truncated.sum() == 3
    for key in ("env_spec_id", "algorithm_name", "author", "num_transitions", "num_episodes", "mean_episode_return"):
        assert by_minari.metadata[key] == by_collect.metadata[key] == collected.metadata[key], key
    assert by_collect.metadata["dataset_id"] == "test/by-collect-v0" and by_collect.metadata["source"] == "minari"
    assert by_collect.metadata["description"] == "written by flowrl.datasets.collect"
    # Minari's own reading of what collect wrote: T + 1 observations per episode, the seeds recorded
    dataset = minari.load_dataset("test/by-collect-v0")
    assert dataset.total_steps == 450 and dataset.total_episodes == 3 and dataset.env_spec.id == "Pendulum-v1"
    assert [len(episode.observations) for episode in dataset.iterate_episodes()] == [201, 201, 51]
    assert [meta["seed"] for meta in dataset.storage.get_episode_metadata(range(3))] == [11, 12, 13]


def test_load_takes_a_directory_an_opened_dataset_and_a_selection(minari_root: Path) -> None:
    minari = need_minari()
    collected = datasets.collect("Pendulum-v1", controller, 450, "pendulum/test-v1", seed=2)
    assert_same_arrays(datasets.load(minari_root / "pendulum" / "test-v1"), collected)
    assert_same_arrays(datasets.load(str(minari_root / "pendulum" / "test-v1" / "data")), collected)
    opened = minari.load_dataset("pendulum/test-v1")
    assert_same_arrays(datasets.load(opened), collected)
    second = minari.MinariDataset(opened.storage.data_path, episode_indices=np.array([1]))
    selected = datasets.load(second)
    assert len(selected) == 200 and selected.num_episodes == 1
    np.testing.assert_array_equal(selected.observations, collected.observations[200:400])
    assert datasets.local_dataset_ids() == ["pendulum/test-v1"]
    assert datasets.minari_root() == minari_root


def test_a_missing_id_names_the_root_and_how_to_make_it(minari_root: Path) -> None:
    with pytest.raises(flowrl.InvalidArgumentError) as caught:
        datasets.load("hopper/flowrl-medium-v0")
    message = str(caught.value)
    assert message.startswith(f"no Minari dataset 'hopper/flowrl-medium-v0' in the local Minari root {minari_root} "
                              f"(MINARI_DATASETS_PATH); there is no dataset there. flowrl never downloads datasets")
    assert "flowrl.datasets.collect(env, policy, total_steps, dataset_id='hopper/flowrl-medium-v0')" in message
    assert "scripts/make_datasets.py" in message
    assert list(minari_root.iterdir()) == []  # looking did not create anything


def test_a_directory_that_is_not_a_dataset_is_refused(tmp_path: Path) -> None:
    with pytest.raises(flowrl.InvalidArgumentError) as caught:
        datasets.load(tmp_path)
    assert str(caught.value) == (f"{tmp_path} is a directory but not a Minari dataset: it has neither data/metadata.json "
                                 f"nor metadata.json")


def test_dict_observations_in_a_minari_dataset_are_flattened(minari_root: Path) -> None:
    minari = need_minari()
    observation_space = spaces.Dict({"position": spaces.Box(-1, 1, (2,), dtype=np.float32)})
    action_space = spaces.Box(-1, 1, (1,), dtype=np.float32)
    buffer = minari.data_collector.EpisodeBuffer(
        id=0, observations={"position": np.zeros((4, 2), np.float32)}, actions=np.zeros((3, 1), np.float32),
        rewards=[0.0, 0.0, 1.0], terminations=[False, False, True], truncations=[False, False, False])
    with pytest.warns(UserWarning):
        minari.create_dataset_from_buffers("test/dict-v0", [buffer], observation_space=observation_space,
                                           action_space=action_space, algorithm_name="none", author="tests")
    data = datasets.load("test/dict-v0")
    assert data.observation_shape == (2,) and len(data) == 3
    data.check(observation_space, action_space)


def test_collect_refuses_an_existing_id_unless_told_to_overwrite(minari_root: Path) -> None:
    need_minari()
    first = datasets.collect("Pendulum-v1", controller, 30, "test/data-v0", seed=0)
    with pytest.raises(flowrl.InvalidArgumentError) as caught:
        datasets.collect("Pendulum-v1", controller, 40, "test/data-v0", seed=1)
    assert str(caught.value) == (f"a Minari dataset 'test/data-v0' already exists at {minari_root / 'test' / 'data-v0'}; "
                                 f"pass overwrite=True to replace it, or choose another id (another name or version)")
    assert_same_arrays(datasets.load("test/data-v0"), first)
    second = datasets.collect("Pendulum-v1", controller, 40, "test/data-v0", seed=1, overwrite=True)
    assert_same_arrays(datasets.load("test/data-v0"), second)
    assert datasets.local_dataset_ids() == ["test/data-v0"]  # the replaced dataset is gone
    assert sorted(path.name for path in (minari_root / "test").iterdir()) == ["data-v0", "namespace_metadata.json"]


def test_a_failed_rollout_writes_no_dataset(minari_root: Path) -> None:
    need_minari()
    calls = []

    def failing(observation: np.ndarray) -> np.ndarray:
        calls.append(1)
        if len(calls) == 30:
            raise RuntimeError("the policy broke")
        return controller(observation)

    with pytest.raises(RuntimeError, match="the policy broke"):
        datasets.collect("Pendulum-v1", failing, 100, "test/broken-v0", seed=0)
    assert not (minari_root / "test").exists() and datasets.local_dataset_ids() == []


def test_collect_writes_an_env_without_a_spec_and_the_reference_scores(minari_root: Path) -> None:
    minari = need_minari()
    with pytest.warns(UserWarning, match="env_spec is None"):  # Minari's, passed on
        data = datasets.collect(EveryNSteps(5), lambda observation: np.array([0.2]), 12, "test/nospec-v0", seed=0)
    loaded = datasets.load("test/nospec-v0")
    assert_same_arrays(loaded, data)
    assert loaded.metadata["env_spec_id"] is None and loaded.observations.dtype == np.float32
    with pytest.raises(flowrl.InvalidArgumentError, match="ref_max_score needs an env with a spec"):
        datasets.collect(EveryNSteps(5), lambda observation: np.array([0.2]), 12, "test/nospec-v1", ref_max_score=1.0)
    with pytest.raises(flowrl.InvalidArgumentError, match="ref_min_score is given without ref_max_score"):
        datasets.collect("Pendulum-v1", controller, 12, "test/scores-v0", ref_min_score=-1500.0)
    datasets.collect("Pendulum-v1", controller, 12, "test/scores-v0", ref_min_score=-1500.0, ref_max_score=-150.0)
    loaded = datasets.load("test/scores-v0")
    assert (loaded.metadata["ref_min_score"], loaded.metadata["ref_max_score"]) == (-1500.0, -150.0)
    assert minari.load_dataset("test/scores-v0").storage.metadata["ref_max_score"] == -150.0


def test_missing_minari_names_the_extra(monkeypatch: pytest.MonkeyPatch, minari_root: Path) -> None:
    monkeypatch.setitem(sys.modules, "minari", None)  # import minari now fails
    with pytest.raises(ImportError) as caught:
        datasets.collect("Pendulum-v1", controller, 10, "test/data-v0")
    assert 'pip install "flowrl[datasets]"' in str(caught.value) and "minari" in str(caught.value)
    (minari_root / "test" / "data-v0" / "data").mkdir(parents=True)
    with pytest.raises(ImportError, match=r'pip install "flowrl\[datasets\]"'):
        datasets.load("test/data-v0")
