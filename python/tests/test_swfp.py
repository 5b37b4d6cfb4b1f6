"""What is particular to SWFP: the 2-D bandit of docs/algorithms.md solved by fine-tuning a
pretrained flow, and the particle chain of its sampler. What every algorithm must do
(checkpoints that continue identically, vector envs, learn, pretrain then fine-tune) is in
test_contract.py, over conftest.MODEL_LIST. Keeping three of the four rewarded modes with a learned
critic is a known problem (docs/swfp-modes.md): its test is a strict expected failure, so it
reports the day it passes."""

from __future__ import annotations

import functools

import flowrl
import numpy as np
import pytest
from gymnasium import spaces

RADIUS, MODE_STD, REWARD_WIDTH = 2.0, 0.15, 0.3
CENTRES = np.array([[RADIUS * np.cos(2 * np.pi * k / 8), RADIUS * np.sin(2 * np.pi * k / 8)] for k in range(8)])
REWARDED = CENTRES[::2]


def bandit_reward(actions: np.ndarray) -> np.ndarray:
    """High on the four even-numbered modes, low elsewhere."""
    squared = ((actions[:, None, :] - REWARDED[None, :, :]) ** 2).sum(axis=-1)
    return np.exp(-squared / (2 * REWARD_WIDTH**2)).sum(axis=1)


def share_near(actions: np.ndarray, centres: np.ndarray, radius: float = 0.5) -> float:
    distances = np.linalg.norm(actions[:, None, :] - centres[None, :, :], axis=2)
    return float(np.mean(distances.min(axis=1) < radius))


def bandit_agent(seed: int) -> flowrl.SWFP:
    # α = 0.02: with a critic learned from the samples (not the true reward), α = 0.05 moves the
    # mass too slowly for a short test (see BENCHMARKS.md, "SWFP: the choices left to measurement").
    return flowrl.SWFP(observation_space=spaces.Box(-1, 1, (1,)), action_space=spaces.Box(-4, 4, (2,)), seed=seed,
                       hidden_sizes=[128, 128], critic_hidden_sizes=[64, 64], batch_size=128, alpha=0.02,
                       learning_rate=1e-3, critic_learning_rate=1e-3)


@functools.lru_cache(maxsize=None)
def fine_tuned_bandit(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The pretrained and the fine-tuned policy's samples (1,000 each) on the 2-D bandit: 2,000
    flow-matching steps on the 8-mode mixture, then 160 rounds of 64 observed actions and 4
    updates. Cached, so that the tests of one seed share a run."""
    rng = np.random.default_rng(seed)
    demonstrations = (CENTRES[np.arange(1000) % 8] + MODE_STD * rng.standard_normal((1000, 2))).astype(np.float32)
    states = np.zeros((1000, 1), np.float32)
    agent = bandit_agent(seed)
    agent.pretrain(states, demonstrations, steps=2000)
    before = agent.act(states)
    batch = np.zeros((64, 1), np.float32)
    for _ in range(160):
        actions = agent.act(batch)
        agent.observe(batch, actions, bandit_reward(actions), batch, np.ones(64, dtype=bool))
        metrics = agent.update(4)
        assert all(np.isfinite(value) for value in metrics.values()), metrics
    return before, agent.act(states)


@pytest.mark.parametrize("seed", [0, 1])
def test_bandit_fine_tuning_moves_most_mass_to_the_rewarded_modes(seed: int) -> None:
    before, after = (share_near(samples, REWARDED) for samples in fine_tuned_bandit(seed))
    assert before < 0.5, f"the pretrained policy already sits on the rewarded modes ({before})"
    assert after >= 0.7, f"only {after:.2f} of the samples moved to the rewarded modes (from {before:.2f})"


@pytest.mark.xfail(strict=True, reason="known problem: with a learned critic SWFP ends on one rewarded mode (docs/swfp-modes.md)")
@pytest.mark.parametrize("seed", [0, 1])
def test_bandit_fine_tuning_keeps_three_of_the_four_rewarded_modes(seed: int) -> None:
    # The target: ≥ 80% of the samples on the rewarded modes, and ≥ 5% on each of at least 3.
    _, after = fine_tuned_bandit(seed)
    shares = [share_near(after, centre[None, :]) for centre in REWARDED]
    assert sum(shares) >= 0.8, f"only {sum(shares):.2f} of the samples on the rewarded modes ({np.round(shares, 2)})"
    assert sum(share >= 0.05 for share in shares) >= 3, f"fewer than 3 rewarded modes kept: shares {np.round(shares, 2)}"


def small_swfp(env, **overrides) -> flowrl.SWFP:
    settings = dict(hidden_sizes=[32, 32], critic_hidden_sizes=[32, 32], batch_size=32, learning_starts=100, buffer_size=5000)
    settings.update(overrides)
    return flowrl.SWFP(env, seed=0, **settings)


def test_sample_chain_ends_at_the_action_and_starts_at_the_noise() -> None:
    gym = pytest.importorskip("gymnasium")
    env = gym.make("Pendulum-v1")
    agent = small_swfp(env, flow_steps=4)
    observations = np.stack([env.observation_space.sample() for _ in range(5)])
    chain = agent.sample_chain(observations, deterministic=True)
    assert chain.shape == (5, 5, 1)
    np.testing.assert_allclose(chain[-1], agent.act(observations, deterministic=True), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(chain[0], 0.0, atol=1e-6)   # zero noise, squashed and mapped to [-2, 2]
    assert np.all(np.abs(chain) <= 2)


def test_the_paper_preset_sets_its_values_and_explicit_keywords_win() -> None:
    paper = flowrl._schema.schema("swfp").presets["paper"]
    assert paper["act_with"] == "prior" and paper["old_particles"] == "stored" and paper["solver"] == "midpoint"
    agent = flowrl.SWFP(observation_space=spaces.Box(-1, 1, (3,)), action_space=spaces.Box(-1, 1, (2,)), preset="paper",
                        hidden_sizes=[16], critic_hidden_sizes=[16], buffer_size=1000, batch_size=32)
    config = agent.config
    assert config["preset"] == "paper" and config["hidden_sizes"] == [16] and config["batch_size"] == 32
    for key, value in paper.items():
        if key not in ("hidden_sizes", "batch_size"):
            assert config[key] == value, key
    # batch_size given, actor_batch_size set by the preset: the preset's value, not batch_size's.
    assert config["actor_batch_size"] == paper["actor_batch_size"]


def test_the_anchored_preset_is_the_anchored_trust_region() -> None:
    anchored = flowrl._schema.schema("swfp").presets["anchored"]
    assert anchored == {"w2_terms": "trust_region", "trust_region_scale": "energy", "prior_update": 5000}
    agent = flowrl.SWFP(observation_space=spaces.Box(-1, 1, (3,)), action_space=spaces.Box(-1, 1, (2,)), preset="anchored",
                        hidden_sizes=[16], critic_hidden_sizes=[16], buffer_size=1000, prior_update=100)
    config = agent.config
    assert config["preset"] == "anchored" and config["w2_terms"] == "trust_region"
    assert config["trust_region_scale"] == "energy" and config["prior_update"] == 100  # the keyword wins
    agent.close()


def test_stored_particles_reach_the_block_loss_through_learn() -> None:
    # Pendulum's actions span [-2, 2]: each action crosses act and observe in the env's units, and
    # the core must still match it to the chain it acted with.
    gym = pytest.importorskip("gymnasium")
    env = gym.make("Pendulum-v1")
    agent = small_swfp(env, old_particles="stored", act_with="prior", warmup_actions="policy", learning_starts=60,
                       critic_warmup_steps=0, value_target="logsumexp", value_samples=2, solver="midpoint", actor_batch_size=48)
    agent.learn(120)
    metrics = agent.update(2)
    assert metrics["train/stored_particles"] == 1.0, metrics
    assert all(np.isfinite(value) for value in metrics.values()), metrics
