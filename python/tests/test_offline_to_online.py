"""The offline-to-online path through an agent: pretrain(dataset), the fine-tuning start, and the
errors a bad dataset gives (each changing nothing).

Every test runs with MINARI_DATASETS_PATH set to a temporary directory.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import flowrl
import gymnasium as gym
import numpy as np
import pytest
from conftest import MODEL_LIST, Model, state_bytes
from flowrl import datasets
from flowrl.datasets import Transitions
from flowrl.errors import InvalidArgumentError
from gymnasium import spaces

OBSERVATION_SPACE = spaces.Box(-1.0, 1.0, (3,), dtype=np.float32)
ACTION_SPACE = spaces.Box(-2.0, 2.0, (2,), dtype=np.float32)


#: Every test runs with a private Minari root (conftest.minari_root).
pytestmark = pytest.mark.usefixtures("minari_root")


def demonstrations(rows: int = 64, seed: int = 0) -> Transitions:
    """Transitions in OBSERVATION_SPACE / ACTION_SPACE, episodes of 8 steps."""
    rng = np.random.default_rng(seed)
    observations = rng.uniform(-1, 1, (rows, 3))
    return Transitions.from_arrays(observations=observations, actions=np.clip(1.5 * observations[:, :2], -2, 2),
                                   rewards=-np.abs(observations[:, 0]), next_observations=rng.uniform(-1, 1, (rows, 3)),
                                   terminated=(np.arange(rows) % 8) == 7)


def small(model: Model, **overrides: Any) -> flowrl.Agent:
    """A small agent on OBSERVATION_SPACE / ACTION_SPACE with a short critic warm-up where there is one."""
    names = flowrl._schema.schema(model.cls.algorithm).names
    settings = {key: value for key, value in {"critic_warmup_steps": 20}.items() if key in names}
    return model.make(0, observation_space=OBSERVATION_SPACE, action_space=ACTION_SPACE, **{**settings, **overrides})


@pytest.mark.parametrize("model", MODEL_LIST, ids=str)
def test_pretraining_from_a_dataset_equals_pretraining_from_its_arrays(model: Model, tmp_path: Path) -> None:
    data = demonstrations()
    path = data.save_npz(tmp_path / "demos.npz")
    with small(model) as from_arrays, small(model) as from_transitions, small(model) as from_file:
        expected = from_arrays.pretrain(data.observations, data.actions, steps=6, rewards=data.rewards,
                                        next_observations=data.next_observations, terminated=data.terminated)
        assert from_transitions.pretrain(data, steps=6) == expected
        assert from_file.pretrain(str(path), steps=6) == expected
        assert state_bytes(from_arrays) == state_bytes(from_transitions) == state_bytes(from_file)
        assert from_arrays.info()["replay_size"] == len(data)


def test_pretraining_from_a_minari_id_equals_pretraining_from_its_arrays() -> None:
    pytest.importorskip("h5py")
    pytest.importorskip("PIL")
    pytest.importorskip("minari")
    env = gym.make("Pendulum-v1")
    data = datasets.collect(env, lambda observation: np.array([-1.0 * observation[1]], dtype=np.float32), total_steps=300,
                            dataset_id="pendulum/test-v0", seed=3)
    with flowrl.SAC(env, seed=1, critic_warmup_steps=10) as by_id, flowrl.SAC(env, seed=1, critic_warmup_steps=10) as by_arrays:
        assert by_id.pretrain("pendulum/test-v0", steps=5) == by_arrays.pretrain(
            data.observations, data.actions, steps=5, rewards=data.rewards, next_observations=data.next_observations,
            terminated=data.terminated)
        assert state_bytes(by_id) == state_bytes(by_arrays)
    env.close()


def test_seed_replay_false_trains_the_policy_only() -> None:
    data = demonstrations()
    with flowrl.SAC(None, observation_space=OBSERVATION_SPACE, action_space=ACTION_SPACE, seed=2, batch_size=16) as agent:
        metrics = agent.pretrain(data, steps=4, seed_replay=False)
        assert set(metrics) == {"pretrain/negative_log_likelihood"}
        info = agent.info()
        assert info["replay_size"] == 0 and info["counters"]["updates"] == 0 and info["counters"]["pretrain_steps"] == 4


@pytest.mark.parametrize("make_bad, message", [
    (lambda data: Transitions.from_arrays(**{**arrays(data), "rewards": np.where(np.arange(len(data)) == 5, np.nan, data.rewards)}),
     "rewards"),
    (lambda data: Transitions.from_arrays(**{**arrays(data), "observations": np.zeros((len(data), 4)),
                                             "next_observations": np.zeros((len(data), 4))}), "observation"),
    (lambda data: Transitions.from_arrays(**{**arrays(data), "actions": np.full((len(data), 2), 3.0)}), "bound"),
    (lambda data: "nobody/no-such-dataset-v0", "no-such-dataset"),
])
def test_a_bad_dataset_is_refused_and_changes_nothing(make_bad: Any, message: str) -> None:
    with flowrl.SAC(None, observation_space=OBSERVATION_SPACE, action_space=ACTION_SPACE, seed=2, batch_size=16,
                    critic_warmup_steps=5) as agent:
        agent.pretrain(demonstrations(seed=1), steps=2)
        before = state_bytes(agent)
        with pytest.raises(InvalidArgumentError, match=message):
            agent.pretrain(make_bad(demonstrations()), steps=2)
        assert state_bytes(agent) == before


def test_an_empty_dataset_is_refused() -> None:
    data = demonstrations()
    with pytest.raises(InvalidArgumentError, match="empty"):
        empty = Transitions.from_arrays(**{name: value[:0] for name, value in arrays(data).items()})
        with flowrl.SAC(None, observation_space=OBSERVATION_SPACE, action_space=ACTION_SPACE, seed=2) as agent:
            agent.pretrain(empty, steps=2)


def test_a_dataset_with_arrays_beside_it_is_refused() -> None:
    data = demonstrations()
    with flowrl.SAC(None, observation_space=OBSERVATION_SPACE, action_space=ACTION_SPACE, seed=2) as agent:
        with pytest.raises(InvalidArgumentError, match="steps by keyword"):
            agent.pretrain(data, 100)
        with pytest.raises(InvalidArgumentError, match="needs actions"):
            agent.pretrain(data.observations, steps=3)


def arrays(data: Transitions) -> dict[str, np.ndarray]:
    return {name: np.array(getattr(data, name)) for name in ("observations", "actions", "rewards", "next_observations", "terminated")}


@pytest.mark.parametrize(("settings", "steps"), [({}, 2000),
                                                 ({"gamma": 0.8, "critic_warmup_steps": "auto", "critic_warmup_tau": 0.05}, 300),
                                                 ({"gamma": 0.9, "critic_warmup_steps": "auto", "critic_warmup_tau": 0.2}, 150),
                                                 ({"gamma": 0.8, "critic_warmup_steps": "auto"}, 3000)])
def test_the_automatic_critic_warmup_follows_the_horizon(settings: dict[str, Any], steps: int) -> None:
    # 2000 by default; "auto": round(3 / (τ_w · (1 − γ))) critic-only updates, τ_w = critic_warmup_tau
    # or, when that is "auto", critic_tau (0.005) per step.
    with flowrl.SAC(observation_space=OBSERVATION_SPACE, action_space=ACTION_SPACE, seed=0, hidden_sizes=[8],
                    critic_hidden_sizes=[8], batch_size=16, **settings) as agent:
        metrics = agent.pretrain(demonstrations(), steps=2)
        assert metrics["critic_warmup/steps"] == steps
        assert agent.info()["counters"]["updates"] == steps and agent.info()["counters"]["actor_updates"] == 0
        assert agent.info()["config"]["critic_warmup_steps"] == settings.get("critic_warmup_steps", 2000)


@pytest.mark.parametrize("algorithm", ["swfp", "rldt"])
def test_the_example_runs_end_to_end_and_draws_what_the_papers_watch(algorithm: str, tmp_path: Path) -> None:
    """examples/offline_to_online.py with tiny settings: collects, pretrains, fine-tunes, prints the
    curve and, with matplotlib, draws it beside the trust region and entropy panels."""
    example = Path(__file__).resolve().parents[2] / "examples" / "offline_to_online.py"
    plot = tmp_path / "curve.png"
    small_settings = '{"critic_warmup_steps": 50, "hidden_sizes": [16], "critic_hidden_sizes": [16], "batch_size": 32}'
    command = [sys.executable, str(example), "--algorithm", algorithm, "--transitions", "400", "--pretrain-steps", "50",
               "--online-steps", "400", "--eval-every", "200", "--config", small_settings]
    drawn = importlib.util.find_spec("matplotlib") is not None
    if drawn:
        command += ["--plot", str(plot)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "step 0 (pretrained)" in result.stdout and "step 400:" in result.stdout, result.stdout
    if drawn:
        assert plot.stat().st_size > 0
    # The panels come from the progress file learn writes: the metrics must be logged by name.
    sys.path.insert(0, str(example.parent))
    try:
        spec = importlib.util.spec_from_file_location("offline_to_online_example", example)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.pop(0)
    env = gym.make("Pendulum-v1")
    agent = flowrl.SWFP(env, seed=0, log_dir=tmp_path / "log", hidden_sizes=[16], critic_hidden_sizes=[16], batch_size=32,
                        learning_starts=50) if algorithm == "swfp" else \
        flowrl.RLDT(env, seed=0, log_dir=tmp_path / "log", hidden_sizes=[16], critic_hidden_sizes=[16], batch_size=32,
                    learning_starts=50, actor_batch_size=8, particles=4)
    agent.learn(600, log_interval=1)
    agent.close()
    watched = module.training_metrics(tmp_path / "log" / "progress.csv")
    expected = {"train/trust_region", "train/entropy"} if algorithm == "swfp" else {"train/trust_region_loss"}
    assert set(watched) == expected
    assert all(len(steps) > 0 and all(np.isfinite(values)) for steps, values in watched.values())
