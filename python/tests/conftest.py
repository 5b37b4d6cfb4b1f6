"""Shared fixtures and helpers for the flowrl test suite.

Every agent here is deliberately tiny (two hidden layers of 32, batches of 32, four flow steps,
a 1000-transition buffer) so that the whole suite runs in well under two minutes on two cores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import flowrl
import numpy as np
import pytest
from gymnasium import spaces

OBSERVATION_SPACE = spaces.Box(-1.0, 1.0, (3,), dtype=np.float32)
ACTION_SPACE = spaces.Box(-2.0, 2.0, (2,), dtype=np.float32)
SMALL: dict[str, Any] = {"hidden_sizes": [32, 32], "batch_size": 32, "flow_steps": 4, "buffer_size": 1000}

#: Fixed observations used to compare deterministic actions before and after a call.
PROBE = np.random.default_rng(12345).uniform(-1.0, 1.0, (5, 3)).astype(np.float32)


class FakeEnv:
    """The two attributes of a gymnasium env that flowrl reads."""

    def __init__(self, observation_space: spaces.Box, action_space: spaces.Box) -> None:
        self.observation_space = observation_space
        self.action_space = action_space


#: Small settings of every algorithm, for tests parametrized over all of them.
ALGORITHMS: dict[type[flowrl.Agent], dict[str, Any]] = {
    flowrl.FlowBC: SMALL,
    flowrl.SAC: {"hidden_sizes": [32, 32], "critic_hidden_sizes": [32, 32], "batch_size": 32, "buffer_size": 1000},
    flowrl.SACFlow: {"hidden_sizes": [32], "sigma_hidden_sizes": [8], "critic_hidden_sizes": [32], "flow_steps": 2,
                     "batch_size": 32, "buffer_size": 1000},
    flowrl.SWFP: {"hidden_sizes": [32], "critic_hidden_sizes": [32], "flow_steps": 2, "batch_size": 32,
                  "buffer_size": 1000},
}

#: ``@pytest.mark.parametrize("algorithm", ALGORITHM_PARAMS)``: one test per algorithm class.
ALGORITHM_PARAMS = [pytest.param(cls, id=cls.__name__) for cls in ALGORITHMS]


def make_algorithm(algorithm: type[flowrl.Agent], seed: int = 0, **overrides: Any) -> flowrl.Agent:
    """A small agent of ``algorithm`` on OBSERVATION_SPACE / ACTION_SPACE."""
    return algorithm(None, observation_space=OBSERVATION_SPACE, action_space=ACTION_SPACE, seed=seed,
                     **{**ALGORITHMS[algorithm], **overrides})


def make_agent(seed: int = 0, **overrides: Any) -> flowrl.FlowBC:
    """A small FlowBC agent on OBSERVATION_SPACE / ACTION_SPACE."""
    hyperparameters = {**SMALL, **overrides}
    return flowrl.FlowBC(None, observation_space=OBSERVATION_SPACE, action_space=ACTION_SPACE, seed=seed, **hyperparameters)


@dataclass
class Batch:
    """A batch of transitions in the environment's units (actions within ACTION_SPACE)."""

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_observations: np.ndarray
    terminated: np.ndarray

    def as_args(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return (self.observations, self.actions, self.rewards, self.next_observations, self.terminated)


def random_batch(rng: np.random.Generator, count: int) -> Batch:
    """`count` random, valid transitions."""
    return Batch(
        observations=rng.uniform(-1.0, 1.0, (count, 3)).astype(np.float32),
        actions=rng.uniform(-2.0, 2.0, (count, 2)).astype(np.float32),
        rewards=rng.normal(size=count).astype(np.float32),
        next_observations=rng.uniform(-1.0, 1.0, (count, 3)).astype(np.float32),
        terminated=rng.random(count) < 0.1,
    )


@dataclass
class Snapshot:
    """What must not change when a call is rejected."""

    replay_size: int
    counters: dict[str, int]
    deterministic_actions: np.ndarray


def snapshot(agent: flowrl.Agent) -> Snapshot:
    """The agent's observable state (deterministic actions do not consume randomness)."""
    info = agent.info()
    return Snapshot(info["replay_size"], dict(info["counters"]), agent.act(PROBE, deterministic=True))


def assert_unchanged(agent: flowrl.Agent, before: Snapshot) -> None:
    """Asserts the agent is exactly as in `before` and still usable."""
    after = snapshot(agent)
    assert after.replay_size == before.replay_size
    assert after.counters == before.counters
    np.testing.assert_array_equal(after.deterministic_actions, before.deterministic_actions)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def agent() -> Iterator[flowrl.FlowBC]:
    """A fresh agent with an empty replay buffer."""
    created = make_agent()
    yield created
    created.close()


@pytest.fixture
def trained_agent() -> Iterator[flowrl.FlowBC]:
    """An agent with 64 stored transitions and 5 updates done."""
    created = make_agent(seed=7)
    created.observe(*random_batch(np.random.default_rng(1), 64).as_args())
    created.update(5)
    yield created
    created.close()


@pytest.fixture(params=ALGORITHM_PARAMS)
def any_trained_agent(request: pytest.FixtureRequest) -> Iterator[flowrl.Agent]:
    """An agent of each algorithm with 64 stored transitions and 3 updates done."""
    created = make_algorithm(request.param, seed=7)
    created.observe(*random_batch(np.random.default_rng(1), 64).as_args())
    created.update(3)
    yield created
    created.close()


def state_bytes(agent: flowrl.Agent) -> bytes:
    """Everything the agent would save, replay buffer included (compare before and after a call)."""
    return agent.to_bytes(include_replay_buffer=True)
