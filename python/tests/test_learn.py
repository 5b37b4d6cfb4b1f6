"""The Stable-Baselines3-style training layer: learn, predict, evaluate, callbacks, logs, plots.

Agents are tiny (hidden [32, 32], batches of 32, four flow steps) and runs a few hundred env
steps, so the file runs in seconds. FlowBC has no schedule keys in its config, so learn uses the
defaults learning_starts=100, train_freq=1, gradient_steps=1 (SB3's rule: an update after every
step once more than learning_starts transitions were collected); other schedules are tested by
overriding the agent's ``_train_schedule``.
"""

from __future__ import annotations

import copy
import csv
import pickle
import sys
from pathlib import Path
from typing import Any, Optional

import flowrl
import gymnasium as gym
import numpy as np
import pytest
from flowrl.callbacks import BaseCallback, CallbackList, CheckpointCallback, EvalCallback
from gymnasium import spaces

SMALL: dict[str, Any] = {"hidden_sizes": [32, 32], "batch_size": 32, "flow_steps": 4, "buffer_size": 2000}
LEARNING_STARTS = 100
SB3_KEYS = ("rollout/ep_rew_mean", "rollout/ep_len_mean", "time/fps", "time/episodes", "time/time_elapsed",
            "time/total_timesteps", "train/n_updates", "train/bc_loss")


class CountingEnv(gym.Env):
    """Observation ``[t, length]`` with t the step within the episode; every episode is ``length``
    steps and ends by termination (or by truncation when ``truncate``); reward 1 per step.

    A real transition therefore always has ``next_t == t + 1``, and ``terminated`` exactly when
    ``next_t == length`` (never when ``truncate``).
    """

    metadata: dict[str, Any] = {}

    def __init__(self, length: int = 5, truncate: bool = False) -> None:
        self.length = length
        self.truncate = truncate
        self.observation_space = spaces.Box(0.0, 10.0, (2,), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (1,), dtype=np.float32)
        self.t = 0
        self.steps = 0
        self.resets = 0
        self.actions: list[np.ndarray] = []

    def _observation(self) -> np.ndarray:
        return np.array([self.t, self.length], dtype=np.float32)

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict[str, Any]] = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.t = 0
        self.resets += 1
        return self._observation(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        assert self.t < self.length, "stepped past the end of an episode"
        action = np.asarray(action)
        assert self.action_space.contains(action.astype(np.float32)), action
        self.actions.append(action.copy())
        self.t += 1
        self.steps += 1
        ended = self.t >= self.length
        return self._observation(), 1.0, ended and not self.truncate, ended and self.truncate, {}


def make_agent(env: Any, seed: int = 0, **keywords: Any) -> flowrl.FlowBC:
    return flowrl.FlowBC(env, seed=seed, **SMALL, **keywords)


def vector_env(mode: Optional[str] = None, lengths: tuple[int, ...] = (5, 7)) -> gym.vector.SyncVectorEnv:
    """CountingEnvs of the given episode lengths in a SyncVectorEnv."""
    keywords = {} if mode is None else {"autoreset_mode": gym.vector.AutoresetMode(mode)}
    return gym.vector.SyncVectorEnv([lambda length=length: CountingEnv(length) for length in lengths], **keywords)


def record_observe(agent: flowrl.Agent) -> list[tuple[np.ndarray, ...]]:
    """Records every batch learn stores (the instance attribute shadows the method)."""
    batches: list[tuple[np.ndarray, ...]] = []
    original = agent.observe

    def spy(observations: Any, actions: Any, rewards: Any, next_observations: Any, terminated: Any) -> None:
        arrays = (observations, actions, rewards, next_observations, terminated)
        batches.append(tuple(np.array(item, copy=True) for item in arrays))
        original(observations, actions, rewards, next_observations, terminated)

    agent.observe = spy  # type: ignore[method-assign]
    return batches


def stored(batches: list[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
    return tuple(np.concatenate([batch[index].reshape(len(batch[2]), -1) for batch in batches]) for index in range(5))


class StepRecorder(BaseCallback):
    """Records ``num_timesteps`` after every step (and whether the hooks ran)."""

    def __init__(self) -> None:
        super().__init__()
        self.timesteps: list[int] = []
        self.started = False
        self.ended = False

    def _on_training_start(self) -> None:
        self.started = True

    def _on_step(self) -> bool:
        self.timesteps.append(self.num_timesteps)
        return True

    def _on_training_end(self) -> None:
        self.ended = True


def expected_updates(timesteps: list[int], learning_starts: int = LEARNING_STARTS, train_freq: int = 1,
                     gradient_steps: int = 1) -> int:
    """Gradient steps SB3's schedule runs, given num_timesteps after each vector step."""
    return sum(gradient_steps for step, count in enumerate(timesteps, 1) if step % train_freq == 0 and count > learning_starts)


@pytest.fixture
def pendulum() -> Any:
    env = gym.make("Pendulum-v1")
    yield env
    env.close()


# ---------------------------------------------------------------------- the loop and its counters


def test_learn_on_pendulum_counts_transitions_and_updates(pendulum: Any) -> None:
    agent = make_agent(pendulum)
    recorder = StepRecorder()
    assert agent.learn(300, callback=recorder) is agent
    info = agent.info()
    assert agent.num_timesteps == 300
    assert info["counters"]["transitions_seen"] == 300 and info["replay_size"] == 300
    assert info["counters"]["updates"] == 300 - LEARNING_STARTS == expected_updates(recorder.timesteps)
    assert recorder.started and recorder.ended and recorder.n_calls == 300
    assert agent._episode_num == 1 and len(agent.ep_info_buffer) == 1
    assert agent.ep_info_buffer[0]["l"] == 200 and np.isfinite(agent.ep_info_buffer[0]["r"])
    assert np.isfinite(agent.logger.last_row.get("train/bc_loss", 0.0))

    # continuing: the count, the episode and the updates go on
    assert agent.learn(150, reset_num_timesteps=False) is agent
    info = agent.info()
    assert agent.num_timesteps == 450 == info["counters"]["transitions_seen"]
    assert info["counters"]["updates"] == 350
    assert agent._episode_num == 2 and [episode["l"] for episode in agent.ep_info_buffer] == [200, 200]

    # a new run: the count restarts and learning_starts applies again
    agent.learn(120)
    assert agent.num_timesteps == 120
    assert agent.info()["counters"]["updates"] == 350 + 20


def test_random_actions_until_learning_starts_then_the_policy() -> None:
    env = CountingEnv(length=7)
    agent = make_agent(env)
    calls = []
    original_act = agent.act

    def counting_act(observations: Any, deterministic: bool = False) -> np.ndarray:
        calls.append((agent.num_timesteps, deterministic))
        return original_act(observations, deterministic)

    agent.act = counting_act  # type: ignore[method-assign]
    agent.learn(130)
    assert [timesteps for timesteps, _ in calls] == list(range(LEARNING_STARTS, 130))
    assert not any(deterministic for _, deterministic in calls)
    random_actions = np.concatenate(env.actions[:LEARNING_STARTS])
    assert np.all(np.abs(random_actions) <= 1.0) and random_actions.std() > 0.4  # uniform on [-1, 1]: std 0.58

    # the random actions (and the env's reset seed) come from the agent's seed
    again = CountingEnv(length=7)
    make_agent(again).learn(LEARNING_STARTS)
    other = CountingEnv(length=7)
    make_agent(other, seed=1).learn(LEARNING_STARTS)
    np.testing.assert_array_equal(np.concatenate(again.actions), random_actions)
    assert not np.array_equal(np.concatenate(other.actions), random_actions)


def test_learn_zero_steps_and_bad_arguments(pendulum: Any) -> None:
    agent = make_agent(pendulum)
    assert agent.learn(0) is agent
    assert agent.num_timesteps == 0 and agent.info()["counters"]["transitions_seen"] == 0
    with pytest.raises(flowrl.InvalidArgumentError):
        agent.learn(-1)
    with pytest.raises(flowrl.InvalidArgumentError):
        agent.learn(10, log_interval=0)
    with pytest.raises(flowrl.InvalidArgumentError, match="callback"):
        agent.learn(10, callback=42)  # type: ignore[arg-type]
    detached = flowrl.FlowBC(observation_space=pendulum.observation_space, action_space=pendulum.action_space, **SMALL)
    with pytest.raises(flowrl.InvalidStateError, match="no env"):
        detached.learn(10)
    with pytest.raises(flowrl.InvalidArgumentError):
        detached.set_env(CountingEnv())
    detached.set_env(pendulum)
    assert detached.env is pendulum and detached.get_env().env is pendulum  # get_env(): SB3's VecEnv view
    assert detached.learn(20).num_timesteps == 20


@pytest.mark.parametrize(("learning_starts", "train_freq", "gradient_steps"), [(10, 3, 2), (0, 1, 1), (20, 4, -1)])
def test_training_schedule(learning_starts: int, train_freq: int, gradient_steps: int) -> None:
    env = vector_env()
    agent = make_agent(env)
    agent._train_schedule = lambda: (learning_starts, train_freq, gradient_steps)  # type: ignore[method-assign]
    recorder = StepRecorder()
    agent.learn(60, callback=recorder)
    updates = agent.info()["counters"]["updates"]
    if gradient_steps > 0:
        expected = expected_updates(recorder.timesteps, learning_starts, train_freq, gradient_steps)
    else:  # -1: one gradient step per transition collected in the last train_freq steps
        counts = [0] + recorder.timesteps
        expected = sum(counts[step] - counts[step - train_freq] for step in range(train_freq, len(counts), train_freq)
                       if counts[step] > learning_starts)
    assert updates == expected > 0
    assert agent._n_updates == updates


# ---------------------------------------------------------------------- vector envs and autoreset


def check_transitions(batches: list[tuple[np.ndarray, ...]], terminal_flags: bool = True) -> int:
    """Every stored transition is a real one of CountingEnv; returns how many were stored."""
    observations, actions, rewards, next_observations, terminated = stored(batches)
    np.testing.assert_array_equal(next_observations[:, 0], observations[:, 0] + 1)  # never reset -> final
    np.testing.assert_array_equal(rewards[:, 0], 1.0)                              # never an autoreset step's 0
    np.testing.assert_array_equal(terminated[:, 0].astype(bool), terminal_flags & (next_observations[:, 0] == observations[:, 1]))
    assert np.all(np.abs(actions) <= 1.0)
    return len(rewards)


@pytest.mark.parametrize("mode", ["NextStep", "SameStep", "Disabled"])
def test_vector_env_stores_only_real_transitions(mode: str) -> None:
    if not hasattr(gym.vector, "AutoresetMode"):
        pytest.skip("this gymnasium has no AutoresetMode")
    env = vector_env(mode)
    agent = make_agent(env)
    batches = record_observe(agent)
    recorder = StepRecorder()
    acts: list[tuple[int, ...]] = []
    original_act = agent.act

    def recording_act(observations: Any, deterministic: bool = False) -> np.ndarray:
        acts.append(np.shape(observations))
        return original_act(observations, deterministic)

    agent.act = recording_act  # type: ignore[method-assign]
    agent.learn(160, callback=recorder)

    count = check_transitions(batches)
    real_steps = sum(sub_env.steps for sub_env in env.envs)
    autoreset_steps = 2 * recorder.n_calls - real_steps
    assert count == real_steps == agent.num_timesteps == agent.info()["counters"]["transitions_seen"]
    counts = [0] + recorder.timesteps
    # one observe per vector step that had a real transition (both sub-envs may be resetting at once)
    assert len(batches) == sum(later > earlier for earlier, later in zip(counts, counts[1:])) >= recorder.n_calls - 5
    assert all(shape == (2, 2) for shape in acts)  # one act per vector step, for both sub-envs
    assert 160 <= agent.num_timesteps <= 161
    if mode == "NextStep":
        assert autoreset_steps == sum(sub_env.resets for sub_env in env.envs) - 2 > 0
    else:
        assert autoreset_steps == 0
    assert agent.info()["counters"]["updates"] == expected_updates(recorder.timesteps)
    assert agent._episode_num == sum(sub_env.steps // sub_env.length for sub_env in env.envs) > 0
    assert all(episode["l"] in (5, 7) and episode["r"] == episode["l"] for episode in agent.ep_info_buffer)
    env.close()


def test_single_env_truncation_is_not_termination() -> None:
    env = CountingEnv(length=4, truncate=True)
    agent = make_agent(env)
    batches = record_observe(agent)
    agent.learn(30)
    observations, _, _, next_observations, terminated = stored(batches)
    assert len(terminated) == 30 and not terminated.any()
    np.testing.assert_array_equal(next_observations[:, 0], observations[:, 0] + 1)  # the final observation
    assert env.resets == 1 + 30 // 4


def test_continuing_keeps_the_episode_in_progress() -> None:
    env = CountingEnv(length=50)
    agent = make_agent(env)
    agent.learn(30)
    agent.learn(30, reset_num_timesteps=False)
    assert env.resets == 2 and agent._episode_num == 1 and agent.ep_info_buffer[0]["l"] == 50
    agent.learn(5)  # reset_num_timesteps=True resets the env
    assert env.resets == 3


# ---------------------------------------------------------------------- interruption


def test_keyboard_interrupt_leaves_the_agent_consistent(pendulum: Any) -> None:
    agent = make_agent(pendulum)
    original = agent.observe
    calls = {"count": 0}

    def interrupted_observe(*arguments: Any) -> None:
        original(*arguments)  # the transition is stored...
        calls["count"] += 1
        if calls["count"] == 150:
            raise KeyboardInterrupt  # ...and the interrupt lands before Python counts it

    agent.observe = interrupted_observe  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        agent.learn(300)
    info = agent.info()
    assert agent.num_timesteps == 150 == info["counters"]["transitions_seen"]
    assert agent._n_updates == info["counters"]["updates"] == 150 - 1 - LEARNING_STARTS

    class Interrupt(BaseCallback):
        def _on_step(self) -> bool:
            if self.n_calls == 10:
                raise KeyboardInterrupt
            return True

    agent.observe = original  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        agent.learn(100, callback=Interrupt(), reset_num_timesteps=False)
    assert agent.num_timesteps == 160 == agent.info()["counters"]["transitions_seen"]
    # still usable: learn again (the env is reset), act, save
    agent.learn(40, reset_num_timesteps=False)
    assert agent.num_timesteps == 200 == agent.info()["counters"]["transitions_seen"]
    assert agent.predict(pendulum.reset(seed=0)[0])[0].shape == (1,)


# ---------------------------------------------------------------------- predict and evaluate


def test_predict_shape_rule_and_evaluate(pendulum: Any) -> None:
    agent = make_agent(pendulum)
    observation, _ = pendulum.reset(seed=0)
    action, state = agent.predict(observation)
    assert action.shape == (1,) and state is None and action.dtype == pendulum.action_space.dtype
    assert pendulum.action_space.contains(action)
    batch = np.stack([observation] * 4)
    actions, state = agent.predict(batch, state=None, episode_start=np.ones(4, dtype=bool), deterministic=True)
    assert actions.shape == (4, 1) and state is None
    np.testing.assert_array_equal(actions[0], agent.predict(observation, deterministic=True)[0])
    np.testing.assert_array_equal(actions, np.repeat(actions[:1], 4, axis=0))
    assert agent.predict(batch[:1])[0].shape == (1, 1)  # a batch of one stays a batch
    with pytest.raises(flowrl.InvalidArgumentError):
        agent.predict(np.zeros(5))

    mean, std = agent.evaluate(pendulum, n_episodes=2, seed=3)
    assert np.isfinite(mean) and np.isfinite(std) and std >= 0 and mean < 0
    assert agent.evaluate(pendulum, n_episodes=2, seed=3) == (mean, std)  # deterministic policy, seeded env


def test_evaluate_on_vector_env_and_the_sb3_evaluate_policy_loop() -> None:
    env = vector_env("NextStep", lengths=(5, 5, 8))
    agent = make_agent(env)
    mean, std = agent.evaluate(env, n_episodes=4)  # episodes per sub-env: 1, 1, 2 (as SB3's evaluate_policy)
    assert (mean, std) == (np.mean([5, 5, 8, 8]), np.std([5, 5, 8, 8]))

    # what stable_baselines3.common.evaluation.evaluate_policy does with the agent, step by step
    observations, _ = env.reset(seed=0)
    states, episode_starts = None, np.ones(3, dtype=bool)
    for _ in range(6):
        actions, states = agent.predict(observations, state=states, episode_start=episode_starts, deterministic=True)
        observations, _, terminated, truncated, _ = env.step(actions)
        episode_starts = terminated | truncated
    assert states is None
    env.close()


# ---------------------------------------------------------------------- callbacks


def test_callback_returning_false_stops_training(pendulum: Any) -> None:
    class StopAt(BaseCallback):
        def _on_step(self) -> bool:
            assert {"actions", "new_obs", "rewards", "dones", "infos", "self"} <= set(self.locals)
            assert self.locals["self"] is self.model
            return self.num_timesteps < 42

    agent = make_agent(pendulum)
    assert agent.learn(1000, callback=StopAt()) is agent
    assert agent.num_timesteps == 42 == agent.info()["counters"]["transitions_seen"]


def test_callable_and_list_callbacks(pendulum: Any) -> None:
    seen: list[int] = []

    def legacy(locals_: dict[str, Any], globals_: dict[str, Any]) -> Optional[bool]:
        assert isinstance(globals_, dict)
        seen.append(locals_["self"].num_timesteps)
        return None if len(seen) < 30 else False

    agent = make_agent(pendulum)
    agent.learn(100, callback=legacy)
    assert agent.num_timesteps == 30 and seen == list(range(1, 31))

    first, second = StepRecorder(), StepRecorder()
    agent.learn(25, callback=[first, second])
    assert first.timesteps == second.timesteps == list(range(1, 26))
    assert first.ended and second.ended
    both = CallbackList([StepRecorder(), lambda locals_, globals_: locals_["self"].num_timesteps < 5])
    agent.learn(25, callback=both)
    assert agent.num_timesteps == 5


def test_eval_callback_records_evaluations(tmp_path: Path) -> None:
    env = vector_env("NextStep")
    agent = make_agent(env, log_dir=tmp_path / "logs")
    evaluation = EvalCallback(CountingEnv(length=6), eval_freq=40, n_eval_episodes=3, log_path=tmp_path / "eval",
                              best_model_save_path=tmp_path / "best", verbose=0)
    agent.learn(200, callback=evaluation)
    calls = evaluation.n_calls
    assert len(evaluation.evaluations_timesteps) == calls // 40 >= 2
    assert evaluation.evaluations_results == [[6.0] * 3] * (calls // 40)
    assert evaluation.evaluations_length == [[6] * 3] * (calls // 40)
    assert evaluation.evaluations_timesteps == sorted(evaluation.evaluations_timesteps)
    assert evaluation.last_mean_reward == evaluation.best_mean_reward == 6.0
    saved = np.load(tmp_path / "eval" / "evaluations.npz")
    np.testing.assert_array_equal(saved["timesteps"], evaluation.evaluations_timesteps)
    assert saved["results"].shape == (calls // 40, 3)
    assert isinstance(flowrl.Agent.load(tmp_path / "best" / "best_model.flowrl"), flowrl.FlowBC)
    _, rows = read_csv(tmp_path / "logs" / "progress.csv")  # one row per evaluation, as in SB3
    evaluations = [row for row in rows if row.get("eval/mean_reward")]
    assert [float(row["eval/mean_reward"]) for row in evaluations] == [6.0] * (calls // 40)
    assert [int(row["time/total_timesteps"]) for row in evaluations] == evaluation.evaluations_timesteps


def test_checkpoint_callback_writes_loadable_files(tmp_path: Path, pendulum: Any) -> None:
    agent = make_agent(pendulum, log_dir=tmp_path / "logs", verbose=0)
    checkpoints = CheckpointCallback(save_freq=60, save_path=tmp_path / "checkpoints", name_prefix="bc")
    agent.learn(130, callback=checkpoints)
    names = sorted(path.name for path in (tmp_path / "checkpoints").iterdir())
    assert names == ["bc_120_steps.flowrl", "bc_60_steps.flowrl"]
    loaded = flowrl.FlowBC.load(tmp_path / "checkpoints" / "bc_120_steps.flowrl", env=pendulum)
    assert loaded.num_timesteps == 120 and loaded.info()["counters"]["transitions_seen"] == 120
    assert loaded.log_dir == str(tmp_path / "logs") and loaded.env is pendulum
    loaded.learn(10, reset_num_timesteps=False)
    assert loaded.num_timesteps == 130


# ---------------------------------------------------------------------- Python-only settings


def test_verbose_and_log_dir_stay_in_python_and_survive_copies(tmp_path: Path, pendulum: Any) -> None:
    agent = make_agent(pendulum, verbose=1, log_dir=tmp_path)
    assert "verbose" not in agent.config and "log_dir" not in agent.config
    agent.verbose = 0
    agent.learn(50)
    path = tmp_path / "agent.flowrl"
    agent.save(path)
    for restored in (flowrl.Agent.load(path), pickle.loads(pickle.dumps(agent)), copy.deepcopy(agent)):
        assert restored.verbose == 0 and restored.log_dir == str(tmp_path)
        assert restored.num_timesteps == 50 and restored.get_env() is None
        # the random-action generator continues where the saved one was
        assert restored._action_rng.random() == copy.deepcopy(agent._action_rng).random()


# ---------------------------------------------------------------------- logs, CSV, progress bar, plots


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as file:
        reader = csv.DictReader(file)
        return list(reader.fieldnames or []), list(reader)


def test_csv_has_the_sb3_keys_and_grows_its_header(tmp_path: Path) -> None:
    env = CountingEnv(length=10)
    agent = make_agent(env, log_dir=tmp_path)
    agent.learn(200, log_interval=2)
    columns, rows = read_csv(tmp_path / "progress.csv")
    assert set(SB3_KEYS) <= set(columns)
    assert len(rows) == 200 // 20
    assert [int(row["time/total_timesteps"]) for row in rows] == list(range(20, 201, 20))
    assert [int(row["time/episodes"]) for row in rows] == list(range(2, 21, 2))
    assert all(float(row["rollout/ep_rew_mean"]) == 10.0 and float(row["rollout/ep_len_mean"]) == 10.0 for row in rows)
    # train/ keys appear once updates start (after learning_starts): earlier rows have them empty
    assert rows[0]["train/bc_loss"] == "" and rows[-1]["train/bc_loss"] != ""
    assert np.isfinite(float(rows[-1]["train/bc_loss"])) and int(rows[-1]["train/n_updates"]) == 200 - 1 - LEARNING_STARTS

    agent.learn(40, log_interval=2, reset_num_timesteps=False)  # continues the file
    assert len(read_csv(tmp_path / "progress.csv")[1]) == 12
    agent.learn(40, log_interval=2)  # a new run of the same agent appends too, its count from 0
    _, rows = read_csv(tmp_path / "progress.csv")
    assert [int(row["time/total_timesteps"]) for row in rows][12:] == [20, 40]
    fresh = make_agent(env, log_dir=tmp_path)  # a new agent starts the file anew
    fresh.learn(40, log_interval=2)
    assert len(read_csv(tmp_path / "progress.csv")[1]) == 2


def test_verbose_prints_the_sb3_table(capsys: pytest.CaptureFixture[str]) -> None:
    agent = make_agent(CountingEnv(length=60), verbose=1)
    agent.learn(240, log_interval=2)
    output = capsys.readouterr().out
    assert output.count("| rollout/") == 2 and output.count("|    ep_rew_mean") == 2
    for line in ("|    total_timesteps | 120", "|    total_timesteps | 240", "|    ep_len_mean     | 60", "| train/"):
        assert line in output
    widths = {len(line) for line in output.splitlines() if line.startswith(("|", "-"))}
    assert len(widths) <= 2  # each table is a rectangle
    quiet = make_agent(CountingEnv(length=60), verbose=0)
    quiet.learn(240, log_interval=2)
    assert capsys.readouterr().out == ""


def test_progress_bar(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    agent = make_agent(CountingEnv())
    with monkeypatch.context() as patched:
        patched.setitem(sys.modules, "tqdm", None)
        patched.setitem(sys.modules, "tqdm.auto", None)
        with pytest.raises(ImportError, match="pip install tqdm"):
            agent.learn(10, progress_bar=True)
    pytest.importorskip("tqdm")
    agent.learn(150, progress_bar=True)
    assert agent.num_timesteps == 150
    assert "150/150" in capsys.readouterr().err


def test_plot_learning_curve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    agent = make_agent(CountingEnv(length=10), log_dir=tmp_path / "run")
    agent.learn(120, log_interval=1)
    progress = tmp_path / "run" / "progress.csv"
    with monkeypatch.context() as patched:
        for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
            patched.setitem(sys.modules, name, None)
        with pytest.raises(ImportError, match="pip install matplotlib"):
            flowrl.plot_learning_curve(progress, tmp_path / "curve.png")
    pytest.importorskip("matplotlib")
    output = flowrl.plot_learning_curve(progress, tmp_path / "plots" / "curve.png")
    assert output == tmp_path / "plots" / "curve.png"
    assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and output.stat().st_size > 5000
    assert flowrl.plot_learning_curve(progress, tmp_path / "loss.png", key="train/bc_loss").is_file()
    with pytest.raises(ValueError, match="no column"):
        flowrl.plot_learning_curve(progress, tmp_path / "none.png", key="train/critic_loss")


# ---------------------------------------------------------------------- an algorithm with schedule keys


def test_schedule_keys_come_from_the_config(pendulum: Any) -> None:
    """SWFP's config has learning_starts, train_freq and gradient_steps: learn must use them."""
    swfp = pytest.importorskip("flowrl.swfp")
    agent = swfp.SWFP(pendulum, seed=0, hidden_sizes=[32, 32], critic_hidden_sizes=[32, 32], batch_size=32, flow_steps=4,
                      buffer_size=2000, learning_starts=30, train_freq=2, gradient_steps=3)
    assert agent._train_schedule() == (30, 2, 3)
    recorder = StepRecorder()
    agent.learn(80, callback=recorder)
    assert agent.num_timesteps == 80 == agent.info()["counters"]["transitions_seen"]
    assert agent.info()["counters"]["updates"] == expected_updates(recorder.timesteps, 30, 2, 3) == 25 * 3
    assert all(np.isfinite(value) for key, value in agent.logger.name_to_value.items() if key.startswith("train/"))
    assert {"train/critic_loss", "train/actor_loss", "train/n_updates"} <= set(agent.logger.name_to_value)
