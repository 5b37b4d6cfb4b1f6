"""flowrl as a drop-in for Stable-Baselines3's SAC (issue 16).

The first part ports the usage shown in Stable-Baselines3's documentation for SAC (the SAC page,
callbacks, logger, TensorBoard, action noise, parameters, replay buffer, vector envs), written
here from the documented API with only the imports changed and the budgets cut to a few hundred
steps of Pendulum-v1. The second part tests each feature with assertions of its own. Stable-
Baselines3 itself is never imported by the package; the tests that use its real VecEnv classes
are skipped when it is not installed, and duck-typed fakes (:class:`FakeVecEnv`) stand in for
them in the tests that always run.
"""

from __future__ import annotations

import ast
import csv
import json
import pickle
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import gymnasium as gym
import numpy as np
import pytest

import flowrl
from flowrl import SAC
from flowrl.callbacks import (
    BaseCallback,
    CallbackList,
    CheckpointCallback,
    EvalCallback,
    EveryNTimesteps,
    StopTrainingOnMaxEpisodes,
    StopTrainingOnNoModelImprovement,
    StopTrainingOnRewardThreshold,
)
from flowrl.evaluation import evaluate_policy
from flowrl.logger import configure
from flowrl.noise import NormalActionNoise, OrnsteinUhlenbeckActionNoise, VectorizedActionNoise

#: Small settings for the feature tests (the ported examples keep the documentation's own calls).
FAST: dict[str, Any] = {"policy_kwargs": dict(net_arch=[32, 32]), "batch_size": 32, "learning_starts": 50, "buffer_size": 2000}

PACKAGE = Path(flowrl.__file__).resolve().parent


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


class FakeVecEnv:
    """Stable-Baselines3's ``DummyVecEnv`` + ``Monitor`` semantics, written from its documentation:
    ``reset()`` returns observations only, ``step`` returns ``(obs, rewards, dones, infos)``, an
    ended sub-env is reset in the same step (final observation in ``"terminal_observation"``, a
    time limit flagged by ``"TimeLimit.truncated"``, ``"episode"`` from the monitor), and
    ``seed(s)`` applies to the next reset."""

    def __init__(self, env_fns: list[Callable[[], gym.Env]]) -> None:
        self.envs = [make() for make in env_fns]
        self.num_envs = len(self.envs)
        self.observation_space = self.envs[0].observation_space
        self.action_space = self.envs[0].action_space
        self._seeds: list[Optional[int]] = [None] * self.num_envs
        self._returns = np.zeros(self.num_envs)
        self._lengths = np.zeros(self.num_envs, dtype=int)
        self._actions: Any = None
        self.resets = 0
        self.step_calls = 0

    def seed(self, seed: Optional[int] = None) -> list[Optional[int]]:
        self._seeds = [None if seed is None else seed + index for index in range(self.num_envs)]
        return self._seeds

    def reset(self) -> np.ndarray:
        self.resets += 1
        observations = [env.reset(seed=seed)[0] for env, seed in zip(self.envs, self._seeds)]
        self._seeds = [None] * self.num_envs
        self._returns[:] = 0
        self._lengths[:] = 0
        return np.stack(observations)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        self.step_calls += 1
        observations, rewards, dones, infos = [], [], [], []
        for index, env in enumerate(self.envs):
            observation, reward, terminated, truncated, info = env.step(self._actions[index])
            info = dict(info)
            self._returns[index] += reward
            self._lengths[index] += 1
            done = terminated or truncated
            if done:
                info["TimeLimit.truncated"] = truncated and not terminated
                info["terminal_observation"] = observation
                info["episode"] = {"r": float(self._returns[index]), "l": int(self._lengths[index]), "t": 0.0}
                self._returns[index] = 0
                self._lengths[index] = 0
                observation, _ = env.reset()
            observations.append(observation)
            rewards.append(reward)
            dones.append(done)
            infos.append(info)
        return np.stack(observations), np.array(rewards, dtype=np.float32), np.array(dones), infos

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        self.step_async(actions)
        return self.step_wait()

    def close(self) -> None:
        for env in self.envs:
            env.close()


class FakeVecNormalize(FakeVecEnv):
    """A ``VecNormalize``-like layer: ``venv``, ``obs_rms``, ``ret_rms`` and ``save``; here it
    scales rewards by 0.01 (so the monitor's returns differ from the stepped rewards)."""

    def __init__(self, venv: FakeVecEnv) -> None:
        self.venv = venv
        self.num_envs = venv.num_envs
        self.observation_space = venv.observation_space
        self.action_space = venv.action_space
        self.obs_rms = {"mean": np.zeros(3)}
        self.ret_rms = {"var": np.ones(1)}
        self.saved: list[str] = []

    def seed(self, seed: Optional[int] = None) -> list[Optional[int]]:
        return self.venv.seed(seed)

    def reset(self) -> np.ndarray:
        return self.venv.reset()

    def step_async(self, actions: np.ndarray) -> None:
        self.venv.step_async(actions)

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        observations, rewards, dones, infos = self.venv.step_wait()
        return observations, rewards * 0.01, dones, infos

    def save(self, path: str) -> None:
        self.saved.append(path)
        Path(path).write_bytes(pickle.dumps({"obs_rms": self.obs_rms}))


class SameStart(gym.Wrapper):
    """Every episode starts from the same state (reset with seed 0)."""

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict[str, Any]] = None) -> Any:
        return self.env.reset(seed=0, options=options)


def pendulum_vec(n_envs: int = 2) -> FakeVecEnv:
    return FakeVecEnv([lambda: gym.make("Pendulum-v1") for _ in range(n_envs)])


# ====================================================================== the documentation's examples


def test_doc_sac_pendulum_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The SAC page's example: train, save, delete, load, run the policy."""
    monkeypatch.chdir(tmp_path)
    env = gym.make("Pendulum-v1")

    model = SAC("MlpPolicy", env, verbose=1)
    model.learn(total_timesteps=200, log_interval=4)
    model.save("sac_pendulum")

    del model  # remove to demonstrate saving and loading

    model = SAC.load("sac_pendulum")

    obs, info = env.reset()
    for _ in range(50):
        action, _states = model.predict(obs, deterministic=True)
        obs, reward, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            obs, info = env.reset()
    assert model.num_timesteps == 200 and env.action_space.contains(action)


def test_doc_get_env_loop_and_evaluate_policy() -> None:
    """The getting-started loop on ``model.get_env()`` (a VecEnv) and ``evaluate_policy``."""
    model = SAC("MlpPolicy", "Pendulum-v1", **FAST)
    model.learn(total_timesteps=200)
    vec_env = model.get_env()
    obs = vec_env.reset()
    for _ in range(210):
        action, _states = model.predict(obs, deterministic=True)
        obs, rewards, dones, info = vec_env.step(action)
    assert obs.shape == (1, 3) and rewards.shape == (1,) and dones.shape == (1,) and isinstance(info, list)
    mean_reward, std_reward = evaluate_policy(model, model.get_env(), n_eval_episodes=2)
    assert np.isfinite(mean_reward) and std_reward >= 0.0
    rewards_list, lengths = evaluate_policy(model, gym.make("Pendulum-v1"), n_eval_episodes=2, return_episode_rewards=True)
    assert lengths == [200, 200] and len(rewards_list) == 2


def test_doc_custom_callback_skeleton() -> None:
    """The callbacks page's ``CustomCallback``: every hook, the attributes it lists."""
    events: list[str] = []

    class CustomCallback(BaseCallback):
        def __init__(self, verbose: int = 0) -> None:
            super().__init__(verbose)

        def _on_training_start(self) -> None:
            events.append("training_start")
            assert self.model is not None and self.training_env is not None and self.logger is not None

        def _on_rollout_start(self) -> None:
            events.append("rollout_start")

        def _on_step(self) -> bool:
            events.append("step")
            assert self.num_timesteps == self.n_calls and isinstance(self.locals["infos"], list)
            return True

        def _on_rollout_end(self) -> None:
            events.append("rollout_end")

        def _on_training_end(self) -> None:
            events.append("training_end")

    model = SAC("MlpPolicy", "Pendulum-v1", train_freq=10, **FAST)
    model.learn(100, callback=CustomCallback())
    assert events[0] == "training_start" and events[-1] == "training_end"
    assert events.count("step") == 100 and events.count("rollout_start") == events.count("rollout_end") == 10
    assert events[1:13] == ["rollout_start"] + ["step"] * 10 + ["rollout_end"]


def test_doc_checkpoint_and_eval_callbacks(tmp_path: Path) -> None:
    """The callbacks page: CheckpointCallback, EvalCallback, CallbackList, then loading the best model."""
    checkpoint_callback = CheckpointCallback(save_freq=100, save_path=str(tmp_path / "logs"), name_prefix="rl_model",
                                             save_replay_buffer=True, save_vecnormalize=True)
    eval_env = gym.make("Pendulum-v1")
    eval_callback = EvalCallback(eval_env, best_model_save_path=str(tmp_path / "logs" / "best_model"),
                                 log_path=str(tmp_path / "logs" / "results"), eval_freq=100, n_eval_episodes=1,
                                 deterministic=True, render=False)
    callback = CallbackList([checkpoint_callback, eval_callback])
    model = SAC("MlpPolicy", "Pendulum-v1", **FAST)
    model.learn(200, callback=callback)

    assert sorted(path.name for path in (tmp_path / "logs").glob("rl_model_*")) == [
        "rl_model_100_steps.flowrl", "rl_model_200_steps.flowrl",
        "rl_model_replay_buffer_100_steps.flowrl", "rl_model_replay_buffer_200_steps.flowrl"]
    restored = SAC.load(str(tmp_path / "logs" / "rl_model_100_steps"))  # without the extension, as SB3's .zip
    assert restored.num_timesteps == 100 and restored.replay_buffer.size() == 0  # the buffer is in its own file, as SB3's
    restored.load_replay_buffer(str(tmp_path / "logs" / "rl_model_replay_buffer_100_steps"))
    assert restored.replay_buffer.size() == 100
    best = SAC.load(str(tmp_path / "logs" / "best_model" / "best_model"))
    assert isinstance(best, SAC)
    results = np.load(tmp_path / "logs" / "results" / "evaluations.npz")
    assert list(results["timesteps"]) == [100, 200] and results["results"].shape == (2, 1)


def test_doc_stop_training_on_reward_threshold() -> None:
    """``callback_on_new_best=StopTrainingOnRewardThreshold(...)``: a threshold met at the first
    evaluation stops training there."""
    callback_on_best = StopTrainingOnRewardThreshold(reward_threshold=-1e9, verbose=1)
    eval_callback = EvalCallback(gym.make("Pendulum-v1"), callback_on_new_best=callback_on_best, verbose=1,
                                 eval_freq=60, n_eval_episodes=1)
    model = SAC("MlpPolicy", "Pendulum-v1", verbose=1, **FAST)
    model.learn(int(1e10), callback=eval_callback)
    assert model.num_timesteps == 60


def test_doc_every_n_timesteps() -> None:
    """``EveryNTimesteps(n_steps=..., callback=CheckpointCallback-like)``."""
    calls: list[int] = []

    class Record(BaseCallback):
        def _on_step(self) -> bool:
            calls.append(self.num_timesteps)
            return True

    event_callback = EveryNTimesteps(n_steps=50, callback=Record())
    model = SAC("MlpPolicy", "Pendulum-v1", **FAST)
    model.learn(230, callback=event_callback)
    assert calls == [50, 100, 150, 200]


def test_doc_stop_training_on_max_episodes() -> None:
    callback_max_episodes = StopTrainingOnMaxEpisodes(max_episodes=2, verbose=1)
    model = SAC("MlpPolicy", "Pendulum-v1", verbose=1, **FAST)
    model.learn(int(1e10), callback=callback_max_episodes)
    assert model.num_timesteps == 400  # two episodes of 200 steps


def test_doc_stop_training_on_no_model_improvement() -> None:
    stop_train_callback = StopTrainingOnNoModelImprovement(max_no_improvement_evals=1, min_evals=1, verbose=1)
    eval_callback = EvalCallback(SameStart(gym.make("Pendulum-v1")), eval_freq=20, n_eval_episodes=1,
                                 callback_after_eval=stop_train_callback, verbose=1)
    model = SAC("MlpPolicy", "Pendulum-v1", learning_starts=10_000, policy_kwargs=dict(net_arch=[16]), seed=1)
    model.learn(int(1e10), callback=eval_callback)
    # with the same deterministic policy (no update before learning_starts) no evaluation improves on the first
    assert eval_callback.evaluations_timesteps == [20, 40, 60] and model.num_timesteps == 60


def test_doc_logger_configure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The logger page: ``configure(tmp_path, ["stdout", "csv", "json"])`` and ``set_logger``."""
    tmp = str(tmp_path / "sb3_log")
    new_logger = configure(tmp, ["stdout", "csv", "json"])
    model = SAC("MlpPolicy", "Pendulum-v1", verbose=1, **FAST)
    model.set_logger(new_logger)
    model.learn(400, log_interval=1)
    rows = read_csv(tmp_path / "sb3_log" / "progress.csv")
    assert [int(row["time/total_timesteps"]) for row in rows] == [200, 400]  # a row per episode
    for key in ("train/ent_coef", "train/ent_coef_loss", "train/actor_loss", "train/critic_loss", "train/n_updates",
                "time/fps", "rollout/ep_rew_mean", "rollout/ep_len_mean", "time/episodes", "time/time_elapsed"):
        assert key in rows[0], key
    lines = (tmp_path / "sb3_log" / "progress.json").read_text().splitlines()
    assert json.loads(lines[0])["time/total_timesteps"] == 200 and len(lines) == 2
    assert "| train/" in capsys.readouterr().out
    model.learn(400, log_interval=1)  # a second run continues the same files
    assert len(read_csv(tmp_path / "sb3_log" / "progress.csv")) == 4


def test_doc_tensorboard_log_and_custom_values(tmp_path: Path) -> None:
    """The TensorBoard page: ``tensorboard_log=``, ``tb_log_name=`` and a callback recording its own value."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    class TensorboardCallback(BaseCallback):
        def _on_step(self) -> bool:
            self.logger.record("random_value", float(np.random.random()))
            return True

    model = SAC("MlpPolicy", "Pendulum-v1", tensorboard_log=str(tmp_path / "sac_tb"), verbose=0, **FAST)
    model.learn(400, tb_log_name="first_run", callback=TensorboardCallback(), log_interval=1)
    model.learn(200, tb_log_name="first_run", reset_num_timesteps=False, log_interval=1)  # continues first_run_1
    model.learn(200, tb_log_name="second_run", log_interval=1)
    assert sorted(path.name for path in (tmp_path / "sac_tb").iterdir()) == ["first_run_1", "second_run_1"]
    events = EventAccumulator(str(tmp_path / "sac_tb" / "first_run_1"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"random_value", "rollout/ep_rew_mean", "train/critic_loss", "train/ent_coef", "time/fps"} <= tags
    assert [event.step for event in events.Scalars("time/total_timesteps")] == [200, 400, 600]


def test_doc_action_noise() -> None:
    """The examples page's action noise, on SAC."""
    env = gym.make("Pendulum-v1")
    n_actions = env.action_space.shape[-1]
    action_noise = NormalActionNoise(mean=np.zeros(n_actions), sigma=0.1 * np.ones(n_actions))
    model = SAC("MlpPolicy", env, action_noise=action_noise, verbose=1, **FAST)
    model.learn(total_timesteps=200, log_interval=10)
    assert model.num_timesteps == 200


def test_doc_parameters_access() -> None:
    """The examples page's "accessing and modifying model parameters", on SAC."""
    model = SAC("MlpPolicy", "Pendulum-v1", **FAST)
    params = model.get_parameters()
    assert all(isinstance(value, np.ndarray) for value in params.values())
    mutated = {name: value + 0.01 for name, value in params.items()}
    model.set_parameters(mutated, exact_match=True)
    for name, value in model.get_parameters().items():
        np.testing.assert_allclose(value, mutated[name], rtol=0, atol=1e-6)


def test_doc_save_and_load_replay_buffer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The examples page's replay buffer example."""
    monkeypatch.chdir(tmp_path)
    model = SAC("MlpPolicy", "Pendulum-v1", buffer_size=1000, policy_kwargs=dict(net_arch=[32]), learning_starts=50)
    model.learn(total_timesteps=300, log_interval=4)
    assert model.replay_buffer.size() == 300
    model.save_replay_buffer("sac_replay_buffer")
    model.save("sac")
    loaded_model = SAC.load("sac")
    assert loaded_model.replay_buffer.size() == 0
    loaded_model.load_replay_buffer("sac_replay_buffer")
    assert loaded_model.replay_buffer.size() == 300
    loaded_model.set_env(gym.make("Pendulum-v1"))
    loaded_model.learn(50, reset_num_timesteps=False)  # trains on the restored transitions
    assert loaded_model.replay_buffer.size() == 350


def test_doc_custom_net_arch_and_ent_coef() -> None:
    """The policy page's ``policy_kwargs=dict(net_arch=dict(pi=..., qf=...))`` and SAC's ``ent_coef``."""
    policy_kwargs = dict(net_arch=dict(pi=[32, 32], qf=[64, 64]))
    model = SAC("MlpPolicy", "Pendulum-v1", policy_kwargs=policy_kwargs, ent_coef="auto_0.1", learning_starts=50,
                batch_size=32, verbose=1)
    config = model.config
    assert config["hidden_sizes"] == [32, 32] and config["critic_hidden_sizes"] == [64, 64]
    assert config["alpha"] == "auto" and config["initial_alpha"] == 0.1
    model.learn(100)


@pytest.mark.skipif("stable_baselines3" not in sys.modules and not __import__("importlib").util.find_spec("stable_baselines3"),
                    reason="Stable-Baselines3 is not installed (it is never a dependency)")
def test_doc_make_vec_env_and_vec_normalize_with_real_sb3(tmp_path: Path) -> None:
    """The vector-env examples with Stable-Baselines3's own classes."""
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecNormalize

    vec_env = make_vec_env("Pendulum-v1", n_envs=2, seed=0)
    model = SAC("MlpPolicy", vec_env, **FAST)
    model.learn(200)
    assert model.get_env() is vec_env and model.num_timesteps == 200
    normalized = VecNormalize(DummyVecEnv([lambda: gym.make("Pendulum-v1")]), norm_obs=True, norm_reward=True)
    model.set_env(normalized)
    model.learn(100, callback=CheckpointCallback(50, tmp_path, save_vecnormalize=True))
    assert list(tmp_path.glob("*vecnormalize*"))
    subproc = SubprocVecEnv([lambda: gym.make("Pendulum-v1") for _ in range(2)])
    model.set_env(subproc)
    model.learn(40)
    subproc.close()


# ====================================================================== the constructor


def test_policy_argument_and_env_forms() -> None:
    env = gym.make("Pendulum-v1")
    for agent in (SAC("MlpPolicy", env, **FAST), SAC(env, **FAST), SAC(env=env, **FAST), SAC("Pendulum-v1", **FAST),
                  SAC("MlpPolicy", "Pendulum-v1", **FAST), SAC(policy="MlpPolicy", env=env, **FAST)):
        assert agent.observation_space.shape == (3,) and agent.env is not None
    flow = flowrl.SACFlow("FlowT", env, policy_kwargs=dict(net_arch=[16]), decoder_width=8, decoder_heads=2, decoder_layers=1)
    assert flow.config["velocity"] == "decoder" and flow.config["hidden_sizes"] == [16]
    assert flowrl.SWFP("FlowPolicy", env, policy_kwargs=dict(net_arch=[16])).config["hidden_sizes"] == [16]
    for policy, message in (("CnnPolicy", "CNN"), ("MultiInputPolicy", "Dict"), ("NoSuchPolicy", "MlpPolicy"),
                            (object, "policy name")):
        with pytest.raises(flowrl.InvalidArgumentError, match=message):
            SAC(policy, env)
    with pytest.raises(flowrl.InvalidArgumentError, match="NoSuchEnv"):
        SAC("MlpPolicy", "NoSuchEnv-v0")
    assert flowrl.SACFlow("MlpPolicy", env, policy_kwargs=dict(net_arch=[16]), velocity="gated").config["velocity"] == "gated"
    with pytest.raises(flowrl.InvalidArgumentError, match="velocity is set twice"):
        flowrl.SACFlow("FlowT", env, velocity="gated")


def test_net_arch_mapping_and_errors() -> None:
    env = gym.make("Pendulum-v1")
    both = SAC("MlpPolicy", env, policy_kwargs=dict(net_arch=[24, 12]))
    assert both.config["hidden_sizes"] == [24, 12] and both.config["critic_hidden_sizes"] == [24, 12]
    apart = SAC("MlpPolicy", env, policy_kwargs=dict(net_arch=dict(pi=[8], qf=[16, 16])))
    assert apart.config["hidden_sizes"] == [8] and apart.config["critic_hidden_sizes"] == [16, 16]
    assert flowrl.FlowBC(env, policy_kwargs=dict(net_arch=[8])).config["hidden_sizes"] == [8]  # no critic
    relu = type("ReLU", (), {})
    assert flowrl.SWFP(env, policy_kwargs=dict(activation_fn=relu, net_arch=[8])).config["activation"] == "relu"
    for kwargs, message in ((dict(net_arch=dict(vf=[8])), "'pi' and 'qf'"), (dict(optimizer_class=object), "optimizer_class"),
                            (dict(net_arch="big"), "net_arch"), (dict(activation_fn=relu), "activation"),
                            (dict(n_critics=3), "n_critics"), ([1], "dict")):
        with pytest.raises(flowrl.InvalidArgumentError, match=message):
            SAC("MlpPolicy", env, policy_kwargs=kwargs)
    with pytest.raises(flowrl.InvalidArgumentError, match="qf"):
        flowrl.FlowBC(env, policy_kwargs=dict(net_arch=dict(qf=[8])))
    with pytest.raises(flowrl.InvalidArgumentError, match="twice"):
        SAC("MlpPolicy", env, policy_kwargs=dict(net_arch=[8]), hidden_sizes=[16])


def test_device_verbose_and_seed() -> None:
    env = gym.make("Pendulum-v1")
    for device in ("cpu", "auto"):
        SAC("MlpPolicy", env, device=device)
    for device in ("cuda", "cuda:0", "mps"):
        with pytest.raises(flowrl.InvalidArgumentError, match="CPU only"):
            SAC("MlpPolicy", env, device=device)
    assert SAC("MlpPolicy", env, verbose=2).verbose == 2
    seeded = [SAC("MlpPolicy", env, seed=5, **FAST).predict(np.ones(3))[0] for _ in range(2)]
    np.testing.assert_array_equal(*seeded)
    unseeded = {SAC("MlpPolicy", env, seed=None).config["seed"] for _ in range(3)}
    assert len(unseeded) == 3  # seed=None draws a seed, as Stable-Baselines3 leaves the run unseeded


def test_sb3_hyperparameter_names() -> None:
    env = gym.make("Pendulum-v1")
    agent = SAC("MlpPolicy", env, tau=0.02, ent_coef=0.05, target_entropy=-2.0, gamma=0.98, learning_rate=1e-3,
                replay_buffer_class=None, replay_buffer_kwargs=None, optimize_memory_usage=False, use_sde=False,
                sde_sample_freq=-1, use_sde_at_warmup=False, stats_window_size=10, _init_setup_model=True)
    config = agent.config
    assert (config["critic_tau"], config["alpha"], config["target_entropy"], config["gamma"]) == (0.02, 0.05, -2.0, 0.98)
    assert agent.ep_info_buffer.maxlen == 10
    assert SAC(env, ent_coef="auto").config["alpha"] == "auto"
    for kwargs, message in ((dict(use_sde=True), "gSDE"), (dict(optimize_memory_usage=True), "optimize_memory_usage"),
                            (dict(ent_coef="auto_x"), "ent_coef"), (dict(ent_coef="auto_0.1", initial_alpha=0.2), "ent_coef"),
                            (dict(gamma=lambda progress: 0.99), "gamma takes no schedule"),
                            (dict(learning_rate=lambda progress: "fast"), "learning_rate schedule returned 'fast'"),
                            (dict(learning_rate=lambda progress: 2.0), "'learning_rate' must be in"),
                            (dict(train_freq=(4, "minute")), "unit"), (dict(gamma=object()), "gamma"),
                            (dict(gamma=1j), "gamma"), (dict(tau=2.0), "Stable-Baselines3's tau")):
        with pytest.raises(flowrl.InvalidArgumentError, match=message):
            SAC("MlpPolicy", env, **kwargs)
    with pytest.raises(flowrl.InvalidArgumentError, match="ent_coef"):
        flowrl.RLDT(env, ent_coef=0.1)  # RLDT has no temperature: the core names the unknown key


def test_tau_is_the_polyak_rate_for_swfp_too_and_its_jko_step_is_jko_step() -> None:
    env = gym.make("Pendulum-v1")
    with pytest.warns(FutureWarning, match="now jko_step"):
        agent = flowrl.SWFP(env, tau=0.02)
    config = agent.config
    assert config["critic_tau"] == 0.02 and "tau" not in config
    assert config["jko_step"] == flowrl.SWFP.__signature__.parameters["jko_step"].default == 0.1
    assert flowrl.SWFP(env, jko_step=0.5).config["jko_step"] == 0.5
    assert "jko_step" in (flowrl.SWFP.__doc__ or "") and "renamed" not in flowrl.SAC.__doc__
    with pytest.raises(flowrl.InvalidArgumentError, match="tau and critic_tau"), pytest.warns(FutureWarning):
        flowrl.SWFP(env, tau=0.02, critic_tau=0.01)


def test_an_swfp_checkpoint_written_with_tau_loads_with_it_as_jko_step() -> None:
    """Before the rename, SWFP's checkpoints stored the JKO step as ``tau``: the core migrates it."""
    from flowrl import _checkpoint

    env = gym.make("Pendulum-v1")
    agent = flowrl.SWFP(env, jko_step=0.25, hidden_sizes=[16], critic_hidden_sizes=[16], batch_size=8, seed=3)
    stored = _checkpoint.parse(agent.to_bytes())
    config = json.loads(stored.config_json)
    config["tau"] = config.pop("jko_step")
    stored.config_json = json.dumps(config)
    old = flowrl.SWFP.from_bytes(_checkpoint.build(stored))
    assert old.config == agent.config and old.config["jko_step"] == 0.25
    observations = np.random.default_rng(0).normal(size=(5, 3))
    np.testing.assert_array_equal(old.predict(observations, deterministic=True)[0],
                                  agent.predict(observations, deterministic=True)[0])


# ====================================================================== learning-rate schedules


def trained_parameters(agent: flowrl.Agent) -> dict[str, np.ndarray]:
    """The parameters an optimiser trains (the actor, the critic, log α; not the targets)."""
    return {name: value for name, value in agent.get_parameters().items() if name.split(".")[0] in ("actor", "critic", "temperature")}


def test_a_linear_learning_rate_schedule_is_set_before_each_update(tmp_path: Path) -> None:
    env = gym.make("Pendulum-v1")
    seen: list[float] = []

    def linear(progress_remaining: float) -> float:
        seen.append(progress_remaining)
        return 1e-3 * progress_remaining + 1e-5

    agent = SAC("MlpPolicy", env, learning_rate=linear, seed=0, **FAST)
    assert seen == [1.0]  # the value at the start sets the optimisers at creation, as SB3's lr_schedule(1)
    assert agent.config["learning_rate"] == pytest.approx(1e-3 + 1e-5)
    agent.learn(120)
    updates = agent.info()["counters"]["updates"]
    assert updates == 120 - FAST["learning_starts"]
    # One evaluation per update for learning_rate and one for critic_learning_rate, which follows it (SAC).
    progress = seen[1::2]
    assert len(seen) == 1 + 2 * updates and seen[1::2] == seen[2::2]
    assert progress == sorted(progress, reverse=True) and progress[-1] == pytest.approx(0.0)
    assert progress[0] == pytest.approx(1 - (FAST["learning_starts"] + 1) / 120)
    final = np.float32(linear(progress[-1]))
    assert np.float32(agent.config["learning_rate"]) == final == np.float32(agent.config["critic_learning_rate"])
    # Checkpoints keep the rate in use; the schedule itself is not saved.
    agent.save(tmp_path / "scheduled")
    loaded = SAC.load(tmp_path / "scheduled", env=env)
    assert np.float32(loaded.config["learning_rate"]) == final
    calls = len(seen)
    loaded.learn(60)  # ten updates, at the stored rate
    assert loaded.info()["counters"]["updates"] == updates + 10
    assert len(seen) == calls and np.float32(loaded.config["learning_rate"]) == final
    # load(custom_objects=) gives a schedule again (SB3's lr_schedule) or a new rate.
    again = SAC.load(tmp_path / "scheduled", env=env, custom_objects={"lr_schedule": lambda progress: 2e-4})
    again.learn(60)
    assert again.config["learning_rate"] == again.config["critic_learning_rate"] == pytest.approx(2e-4)
    assert SAC.load(tmp_path / "scheduled", custom_objects={"learning_rate": 5e-4}).config["learning_rate"] == 5e-4


def test_a_zero_learning_rate_from_a_schedule_freezes_the_networks() -> None:
    env = gym.make("Pendulum-v1")
    frozen = SAC("MlpPolicy", env, learning_rate=lambda progress: 0.0 if progress < 1 else 1e-3, seed=1, **FAST)
    assert frozen.config["learning_rate"] == 1e-3
    before = trained_parameters(frozen)
    frozen.learn(100)
    assert frozen.info()["counters"]["updates"] == 50 and frozen.config["learning_rate"] == 0.0
    after = trained_parameters(frozen)
    assert after.keys() == before.keys() and len(before) > 4
    for name in before:
        np.testing.assert_array_equal(after[name], before[name], err_msg=name)
    learning = SAC("MlpPolicy", env, learning_rate=lambda progress: 1e-3, seed=1, **FAST)
    learning.learn(100)
    changed = trained_parameters(learning)
    assert all(not np.array_equal(changed[name], before[name]) for name in before if name.startswith(("actor.", "critic.")))


def test_a_critic_learning_rate_schedule_of_its_own_and_set_config() -> None:
    env = gym.make("Pendulum-v1")
    agent = flowrl.SWFP(env, learning_rate=3e-4, critic_learning_rate=lambda progress: 1e-4 * progress,
                        hidden_sizes=[16], critic_hidden_sizes=[16], **{key: FAST[key] for key in ("batch_size", "learning_starts")})
    agent.learn(60)
    assert agent.config["learning_rate"] == 3e-4  # not scheduled: unchanged
    assert agent.config["critic_learning_rate"] == pytest.approx(0.0)
    agent.set_config(learning_rate=2e-4)
    assert agent.config["learning_rate"] == 2e-4
    before = agent.to_bytes()
    for values, message in ((dict(learning_rate=-1.0), "'learning_rate' must be in"),
                            (dict(batch_size=16), "'batch_size' of swfp is fixed"),
                            (dict(learning_rate=1e-4, flow_steps=2), "'flow_steps'"),
                            (dict(learning_rate=float("nan")), "'learning_rate' must be finite")):
        with pytest.raises(flowrl.InvalidArgumentError, match=message):
            agent.set_config(**values)
        assert agent.to_bytes() == before
    with pytest.raises(flowrl.InvalidArgumentError, match="unknown config key 'critic_learning_rate'"):
        flowrl.FlowBC(env).set_config(critic_learning_rate=1e-3)


def test_a_failing_schedule_stops_learn_and_leaves_the_agent_usable() -> None:
    env = gym.make("Pendulum-v1")
    agent = SAC("MlpPolicy", env, learning_rate=lambda progress: 1e-3 if progress > 0.5 else 5.0, seed=2, **FAST)
    with pytest.raises(flowrl.InvalidArgumentError, match=r"'learning_rate' must be in .*progress_remaining="):
        agent.learn(200)
    assert agent.config["learning_rate"] == 1e-3
    assert 0 < agent.info()["counters"]["updates"] < 150


# ====================================================================== the training loop


def test_gradient_steps_minus_one_and_train_freq_in_episodes(tmp_path: Path) -> None:
    env = gym.make("Pendulum-v1")
    every_step = SAC("MlpPolicy", env, train_freq=4, gradient_steps=-1, **FAST)
    every_step.learn(100)
    assert every_step.info()["counters"]["updates"] == 52  # 13 rounds ending at 52, 56, ..., 100 (after 50), 4 each
    per_episode = SAC("MlpPolicy", env, train_freq=(1, "episode"), gradient_steps=-1, **FAST)
    per_episode.learn(450)
    assert per_episode.info()["counters"]["updates"] == 400  # after each of the two full episodes, 200 steps each
    path = tmp_path / "per_episode"
    per_episode.save(path)
    loaded = SAC.load(path)
    assert loaded._train_freq_unit == "episode" and loaded._train_schedule()[2] == -1  # kept in the checkpoint
    assert SAC(env, train_freq=(3, "step")).config["train_freq"] == 3


def test_callback_stops_at_exactly_that_step_and_lists() -> None:
    class StopAt(BaseCallback):
        def __init__(self, at: int) -> None:
            super().__init__()
            self.at = at

        def _on_step(self) -> bool:
            return self.num_timesteps < self.at

    for at in (1, 37, 60):
        model = SAC("MlpPolicy", "Pendulum-v1", train_freq=8, **FAST)
        model.learn(500, callback=[StopAt(at), StopAt(10_000)])
        assert model.num_timesteps == at


def test_infos_are_sb3_shaped() -> None:
    seen: list[dict[str, Any]] = []

    class Collect(BaseCallback):
        def _on_step(self) -> bool:
            infos = self.locals["infos"]
            assert isinstance(infos, list) and len(infos) == self.training_env.num_envs
            seen.extend(info for info in infos if "episode" in info)
            return True

    SAC("MlpPolicy", "Pendulum-v1", **FAST).learn(400, callback=Collect())
    assert [info["episode"]["l"] for info in seen] == [200, 200]
    assert all(info["TimeLimit.truncated"] and info["terminal_observation"].shape == (3,) for info in seen)
    seen.clear()
    vector = gym.vector.SyncVectorEnv([lambda: gym.make("Pendulum-v1")] * 2)
    SAC("MlpPolicy", vector, **FAST).learn(400, callback=Collect())
    assert [info["episode"]["l"] for info in seen] == [200, 200]


def test_action_noise_is_added_and_reset() -> None:
    class Fixed(NormalActionNoise):
        resets = 0

        def __call__(self) -> np.ndarray:
            return np.full(1, 0.5, dtype=np.float32)

        def reset(self) -> None:
            Fixed.resets += 1

    taken: list[np.ndarray] = []
    env = gym.make("Pendulum-v1")
    model = SAC("MlpPolicy", env, action_noise=Fixed(np.zeros(1), np.ones(1)), learning_starts=0, seed=3,
                policy_kwargs=dict(net_arch=[16]), batch_size=16)
    model.learn(400, callback=lambda local, _: taken.append(local["actions"].copy()))
    assert Fixed.resets == 2  # one per finished episode
    assert all(np.all(action >= -2) and np.all(action <= 2) for action in taken)
    # with the noise's +0.5 in unit space (+1.0 in env units), no action lies below -1
    assert min(float(action.min()) for action in taken) >= -1.0 - 1e-6

    vector = pendulum_vec(3)
    vectorized = SAC("MlpPolicy", vector, action_noise=OrnsteinUhlenbeckActionNoise(np.zeros(1), 0.2 * np.ones(1)), **FAST)
    vectorized.learn(30)
    assert isinstance(vectorized.action_noise, VectorizedActionNoise) and vectorized.action_noise.n_envs == 3
    noise = NormalActionNoise(np.zeros(2), np.ones(2), seed=0)
    assert noise().shape == (2,) and noise().dtype == np.float32
    ou = OrnsteinUhlenbeckActionNoise(np.zeros(2), np.ones(2), seed=0)
    ou()
    ou.reset()
    assert np.all(ou.noise_prev == 0)
    with pytest.raises(flowrl.InvalidArgumentError, match="sigma"):
        NormalActionNoise(np.zeros(2), -np.ones(2))
    with pytest.raises(flowrl.InvalidArgumentError, match="action_noise"):
        SAC("MlpPolicy", env, action_noise="loud")


def test_noise_shifts_the_actions_in_unit_space() -> None:
    env = gym.make("Pendulum-v1")  # actions in [-2, 2]: unit noise 0.25 moves them by 0.5
    model = SAC("MlpPolicy", env, seed=0, policy_kwargs=dict(net_arch=[8]))
    actions = np.array([[0.0], [1.9]], dtype=np.float32)
    noisy = model._noisy(actions, lambda: np.full(1, 0.25))
    np.testing.assert_allclose(noisy, [[0.5], [2.0]], atol=1e-6)


# ====================================================================== vector envs by duck typing


def test_fake_sb3_vec_env_in_learn_predict_evaluate_set_env_and_load(tmp_path: Path) -> None:
    vec_env = pendulum_vec(2)
    model = SAC("MlpPolicy", vec_env, seed=4, **FAST)
    assert model.get_env() is vec_env
    model.learn(420)
    assert model.num_timesteps == 420 and model.replay_buffer.size() == 420
    assert [episode["l"] for episode in model.ep_info_buffer] == [200, 200]  # 210 steps of 2 sub-envs
    obs = model.get_env().reset()
    actions, _ = model.predict(obs, deterministic=True)
    assert actions.shape == (2, 1)
    mean, _ = model.evaluate(pendulum_vec(2), n_episodes=2)
    assert np.isfinite(mean)
    model.save(tmp_path / "vec")
    loaded = SAC.load(tmp_path / "vec", env=pendulum_vec(1))
    loaded.learn(30)
    assert loaded.get_env().num_envs == 1
    other = pendulum_vec(3)
    model.set_env(other)
    model.learn(30, reset_num_timesteps=False)
    assert other.step_calls == 10


def test_monitor_returns_and_vec_normalize_sync(tmp_path: Path) -> None:
    train_env = FakeVecNormalize(pendulum_vec(1))
    eval_env = FakeVecNormalize(pendulum_vec(1))
    train_env.obs_rms = {"mean": np.arange(3.0)}
    model = SAC("MlpPolicy", train_env, **FAST)
    assert model.get_vec_normalize_env() is train_env
    evaluation = EvalCallback(eval_env, eval_freq=200, n_eval_episodes=1, verbose=0)
    checkpoints = CheckpointCallback(200, tmp_path, name_prefix="norm", save_vecnormalize=True)
    model.learn(200, callback=[evaluation, checkpoints])
    # returns are the monitor's (raw rewards), not the stepped ones scaled by VecNormalize
    assert model.ep_info_buffer[0]["r"] < -100 and evaluation.last_mean_reward < -100
    np.testing.assert_array_equal(eval_env.obs_rms["mean"], np.arange(3.0))
    assert eval_env.obs_rms is not train_env.obs_rms
    assert (tmp_path / "norm_vecnormalize_200_steps.pkl").exists() and (tmp_path / "norm_200_steps.flowrl").exists()


def test_get_env_adapter_steps_like_a_vec_env() -> None:
    env = gym.make("Pendulum-v1")
    model = SAC("MlpPolicy", env, **FAST)
    vec_env = model.get_env()
    assert model.get_env() is vec_env and vec_env.num_envs == 1 and vec_env.envs == [env]
    vec_env.seed(3)
    first = vec_env.reset()
    vec_env.seed(3)
    np.testing.assert_array_equal(first, vec_env.reset())
    dones = []
    for _ in range(200):
        obs, rewards, done, infos = vec_env.step(np.zeros((1, 1), dtype=np.float32))
        dones.append(bool(done[0]))
    assert dones == [False] * 199 + [True]
    assert infos[0]["episode"]["l"] == 200 and infos[0]["TimeLimit.truncated"]
    assert not np.array_equal(obs[0], infos[0]["terminal_observation"])  # reset in the same step
    assert vec_env.get_attr("spec")[0].id == "Pendulum-v1"
    model.learn(10)
    model.get_env().reset()  # the loop forgets its episode in progress: the next learn resets
    assert model._rollout is None


def test_set_env_refuses_another_action_space() -> None:
    model = SAC("MlpPolicy", "Pendulum-v1", **FAST)
    with pytest.raises(flowrl.InvalidArgumentError, match="action bounds"):
        model.set_env(gym.wrappers.RescaleAction(gym.make("Pendulum-v1"), np.float32(-1.0), np.float32(1.0)))
    with pytest.raises(flowrl.InvalidArgumentError, match="spaces"):
        model.set_env(gym.make("MountainCarContinuous-v0"))
    model.set_env("Pendulum-v1")
    assert model.env.spec.id == "Pendulum-v1"


# ====================================================================== logger


def test_logger_formats_exclude_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    logger = configure(tmp_path / "run", ["stdout", "log", "csv", "json"])
    assert logger.get_dir() == str(tmp_path / "run")
    logger.record("a/x", 1.5)
    logger.record("a/hidden", 2, exclude=("stdout", "log"))
    logger.record_mean("a/mean", 1.0)
    logger.record_mean("a/mean", 3.0)
    logger.dump(step=7)
    logger.close()
    out = capsys.readouterr().out
    assert "x" in out and "hidden" not in out and "mean" in out
    assert read_csv(tmp_path / "run" / "progress.csv") == [{"a/hidden": "2", "a/mean": "2.0", "a/x": "1.5"}]
    assert json.loads((tmp_path / "run" / "progress.json").read_text()) == {"a/x": 1.5, "a/hidden": 2, "a/mean": 2.0}
    assert "hidden" not in (tmp_path / "run" / "log.txt").read_text()
    with pytest.raises(ValueError, match="unknown log formats"):
        configure(tmp_path, ["stdout", "xml"])
    with pytest.raises(flowrl.InvalidArgumentError, match="logger"):
        SAC("MlpPolicy", "Pendulum-v1").set_logger("stdout")  # type: ignore[arg-type]


def test_tensorboard_missing_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in sys.modules if name.startswith("tensorboard")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(ImportError, match="pip install tensorboard"):
        configure(tmp_path, ["tensorboard"])
    model = SAC("MlpPolicy", "Pendulum-v1", tensorboard_log=str(tmp_path), **FAST)
    with pytest.raises(ImportError, match="flowrl\\[tensorboard\\]"):
        model.learn(10)


def test_evaluations_at_exact_multiples_of_eval_freq() -> None:
    evaluation = EvalCallback(gym.make("Pendulum-v1"), eval_freq=70, n_eval_episodes=1, verbose=0)
    SAC("MlpPolicy", "Pendulum-v1", **FAST).learn(300, callback=evaluation)
    assert evaluation.evaluations_timesteps == [70, 140, 210, 280]


# ====================================================================== parameters, replay buffer, files


def test_set_parameters_is_all_or_nothing(tmp_path: Path) -> None:
    model = SAC("MlpPolicy", "Pendulum-v1", seed=1, **FAST)
    model.learn(80)
    params = model.get_parameters()
    assert "temperature.log_alpha" in params and not any(".m." in name or "replay" in name for name in params)
    before = model.to_bytes()
    probe = np.ones(3, dtype=np.float32)
    action = model.predict(probe, deterministic=True)[0]
    name = next(name for name in params if name.startswith("actor."))
    bad_cases = [({**params, "nope": params[name]}, True, "unknown"), ({name: params[name]}, True, "missing"),
                 ({name: np.zeros((2, 2))}, False, "shape"), ({name: np.full_like(params[name], np.nan)}, False, "NaN")]
    for given, exact, message in bad_cases:
        with pytest.raises(flowrl.InvalidArgumentError, match=message):
            model.set_parameters(given, exact_match=exact)
        assert model.to_bytes() == before
    model.set_parameters({name: np.zeros_like(params[name])}, exact_match=False)
    assert not np.array_equal(model.predict(probe, deterministic=True)[0], action)
    assert model.replay_buffer.size() == 80 and model.info()["counters"]["transitions_seen"] == 80
    other = SAC("MlpPolicy", "Pendulum-v1", seed=2, **FAST)
    model.save(tmp_path / "source")
    other.set_parameters(str(tmp_path / "source"))  # a checkpoint file, extension added
    np.testing.assert_array_equal(other.predict(probe, deterministic=True)[0], model.predict(probe, deterministic=True)[0])


def test_replay_buffer_errors(tmp_path: Path) -> None:
    model = SAC("MlpPolicy", "Pendulum-v1", **FAST)
    model.learn(60)
    model.save(tmp_path / "no_buffer")
    with pytest.raises(flowrl.CheckpointError, match="no replay buffer"):
        model.load_replay_buffer(tmp_path / "no_buffer")
    bigger = SAC("MlpPolicy", "Pendulum-v1", **{**FAST, "buffer_size": 4000})
    bigger.save_replay_buffer(tmp_path / "big")
    assert (tmp_path / "big.flowrl").exists()
    with pytest.raises(flowrl.InvalidArgumentError, match="buffer_size"):
        model.load_replay_buffer(tmp_path / "big")
    assert model.replay_buffer.size() == 60 and model.replay_buffer.buffer_size == 2000 and not model.replay_buffer.full


def test_load_arguments(tmp_path: Path) -> None:
    model = SAC("MlpPolicy", "Pendulum-v1", **FAST)
    model.save(tmp_path / "plain")
    noise = NormalActionNoise(np.zeros(1), np.ones(1))
    loaded = SAC.load(tmp_path / "plain", device="cpu", custom_objects={"action_noise": noise}, env="Pendulum-v1")
    assert loaded.action_noise is noise and loaded.env.spec.id == "Pendulum-v1"
    with pytest.raises(flowrl.InvalidArgumentError, match="CPU"):
        SAC.load(tmp_path / "plain", device="cuda")
    with pytest.raises(flowrl.InvalidArgumentError, match="cannot be changed"):
        SAC.load(tmp_path / "plain", learning_rate=1e-3)
    with pytest.raises(flowrl.CheckpointError):
        SAC.load(tmp_path / "missing")


# ====================================================================== the package never imports SB3


def test_the_package_never_imports_stable_baselines3() -> None:
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(name.split(".")[0] in ("stable_baselines3", "torch") for name in names), path
