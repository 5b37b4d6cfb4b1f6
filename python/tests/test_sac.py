"""What is particular to SAC and SAC Flow: SAC's temperature and metrics on a short Pendulum run,
maximum-likelihood pretraining, the policy delay, SAC Flow's velocity fields and its ``bc_coef``
recipe. What every algorithm must do (determinism, checkpoints, learn, pretrain then fine-tune)
is in test_contract.py, over conftest.MODEL_LIST."""

from __future__ import annotations

import flowrl
import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")


def small_sac(env, **overrides) -> flowrl.SAC:
    settings = dict(hidden_sizes=[32, 32], critic_hidden_sizes=[32, 32], batch_size=32, buffer_size=5000)
    settings.update(overrides)
    return flowrl.SAC(env, seed=0, **settings)


def test_pendulum_thousand_steps_with_finite_losses() -> None:
    env = gym.make("Pendulum-v1")
    agent = small_sac(env)
    agent.learn(1000)
    counters = agent.info()["counters"]
    assert counters["transitions_seen"] == 1000
    assert counters["updates"] >= 850   # learning_starts 100, one update per step after it
    metrics = agent.update(2)
    for key in ("train/critic_loss", "train/actor_loss", "train/alpha", "train/alpha_loss", "train/entropy"):
        assert key in metrics and np.isfinite(metrics[key]), (key, metrics)
    assert metrics["train/alpha"] < 1.0   # tuned down from its initial 1.0


def test_pretraining_by_maximum_likelihood_fits_a_torque_law() -> None:
    env = gym.make("Pendulum-v1")
    observations = np.stack([env.observation_space.sample() for _ in range(500)]).astype(np.float32)
    actions = np.clip(-2.0 * observations[:, 1:2], -2, 2).astype(np.float32)
    agent = small_sac(env, learning_rate=3e-3)
    metrics = agent.pretrain(observations, actions, steps=600)
    assert np.isfinite(metrics["pretrain/negative_log_likelihood"])
    error = np.mean(np.abs(agent.act(observations[:64], deterministic=True) - actions[:64]))
    assert error < 0.4, f"mean error {error:.2f}"


@pytest.mark.parametrize("velocity", ["gated", "decoder", "mlp"])
def test_sac_flow_velocity_fields_report_the_soft_actor_critic_metrics(velocity: str) -> None:
    env = gym.make("Pendulum-v1")
    agent = flowrl.SACFlow(env, seed=0, velocity=velocity, hidden_sizes=[16], sigma_hidden_sizes=[8], decoder_width=8,
                           decoder_heads=2, decoder_layers=1, critic_hidden_sizes=[16], batch_size=16, buffer_size=100)
    assert agent.config["velocity"] == velocity
    rng = np.random.default_rng(0)
    observations = np.stack([env.observation_space.sample() for _ in range(32)])
    agent.observe(observations, rng.uniform(-2, 2, (32, 1)), rng.normal(size=32), observations[::-1], np.zeros(32, bool))
    metrics = agent.update(2)
    for key in ("train/critic_loss", "train/actor_loss", "train/alpha", "train/entropy"):
        assert key in metrics and np.isfinite(metrics[key]), (key, metrics)


def test_sac_flow_rejects_unknown_velocities_and_bad_decoder_shapes() -> None:
    env = gym.make("Pendulum-v1")
    with pytest.raises(flowrl.InvalidArgumentError, match="velocity"):
        flowrl.SACFlow(env, velocity="transformer")
    with pytest.raises(flowrl.InvalidArgumentError, match="decoder_heads"):
        flowrl.SACFlow(env, velocity="decoder", decoder_width=10, decoder_heads=4)


def test_policy_delay_trains_the_actor_less_often() -> None:
    env = gym.make("Pendulum-v1")
    probe = np.stack([env.observation_space.sample() for _ in range(8)])

    def actor_after(delay: int) -> np.ndarray:
        agent = small_sac(env, learning_starts=50, policy_delay=delay)
        agent.learn(100)
        before = agent.act(probe, deterministic=True)
        metrics = agent.update(1)
        assert np.isfinite(metrics["train/critic_loss"])
        return agent.act(probe, deterministic=True) - before

    # With policy_delay 1 the actor moves on every update; with a delay of 1000 the actor and α
    # only moved on the update counts divisible by 1000 (the first), so this update leaves it.
    assert np.any(actor_after(1) != 0)
    assert np.all(actor_after(1000) == 0)


def test_pretraining_on_whole_transitions_seeds_the_replay_buffer() -> None:
    env = gym.make("Pendulum-v1")
    rng = np.random.default_rng(0)
    n = 300
    observations = np.stack([env.observation_space.sample() for _ in range(n)]).astype(np.float32)
    actions = rng.uniform(-2, 2, (n, 1)).astype(np.float32)
    rewards = rng.normal(size=n).astype(np.float32)
    following = np.stack([env.observation_space.sample() for _ in range(n)]).astype(np.float32)
    done = np.zeros(n, dtype=bool)
    agent = flowrl.SACFlow(env, seed=0, hidden_sizes=[16], sigma_hidden_sizes=[8], critic_hidden_sizes=[16], batch_size=32,
                           buffer_size=1000, bc_coef=0.5)
    agent.pretrain(observations, actions, steps=20, rewards=rewards, next_observations=following, terminated=done)
    assert agent.info()["replay_size"] == n
    assert np.isfinite(agent.update(3)["train/actor_loss"])
    # Incomplete or bad transitions change nothing.
    with pytest.raises(flowrl.InvalidArgumentError):
        agent.pretrain(observations, actions, steps=5, rewards=rewards)
    bad = rewards.copy()
    bad[3] = np.nan
    steps_before = agent.info()["counters"]["pretrain_steps"]
    with pytest.raises(flowrl.InvalidArgumentError):
        agent.pretrain(observations, actions, steps=5, rewards=bad, next_observations=following, terminated=done)
    assert agent.info()["counters"]["pretrain_steps"] == steps_before and agent.info()["replay_size"] == n


def test_critic_layer_norm_learns_saves_and_loads(tmp_path) -> None:
    env = gym.make("Pendulum-v1")
    agent = small_sac(env, critic_layer_norm=True, learning_starts=50)
    assert agent.config["critic_layer_norm"] is True and small_sac(env).config["critic_layer_norm"] is False
    agent.learn(150)
    parameters = agent.get_parameters()
    # A scale and an offset per hidden layer of Q1 and Q2, in the critic and in its targets.
    norms = sorted(name for name in parameters if ".norms." in name)
    assert len(norms) == 2 * 2 * 2 * 2 and all(name.startswith(("critic.", "critic_target.")) for name in norms)
    assert all(parameters[name].shape == (1, 32) for name in norms)
    assert any(not np.all(parameters[name] == 1) for name in norms if name.endswith(".weight")), "the scales did not learn"
    # A checkpoint continues exactly.
    agent.save(tmp_path / "sac_layer_norm", include_replay_buffer=True)
    loaded = flowrl.SAC.load(tmp_path / "sac_layer_norm", env=env)
    assert loaded.config["critic_layer_norm"] is True
    metrics = agent.update(3)
    assert all(np.isfinite(value) for value in metrics.values()), metrics
    assert loaded.update(3) == metrics
    probe = np.stack([env.observation_space.sample() for _ in range(4)])
    np.testing.assert_array_equal(agent.act(probe, deterministic=False), loaded.act(probe, deterministic=False))
    # An agent without the norms does not take their parameters.
    with pytest.raises(flowrl.InvalidArgumentError, match="norms"):
        small_sac(env).set_parameters(tmp_path / "sac_layer_norm")
    # Only true or false, refused naming the key.
    for bad in ("yes", 1, None, [True]):
        with pytest.raises(flowrl.InvalidArgumentError, match="critic_layer_norm") as caught:
            flowrl.SAC(env, critic_layer_norm=bad)
        assert "true or false" in str(caught.value), caught.value
    # An algorithm without the twin critic has no such key.
    with pytest.raises(flowrl.InvalidArgumentError, match="unknown config key 'critic_layer_norm'"):
        flowrl.FlowBC(env, critic_layer_norm=True)
