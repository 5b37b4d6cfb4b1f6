"""Shared fixtures and helpers for the flowrl test suite.

Every agent here is deliberately tiny (hidden layers of 32, batches of 32, two to four flow
steps, a 1000-transition buffer) so that the whole suite runs in about a minute on two cores.
:data:`MODEL_LIST` is the one list of algorithms that the parametrized suites run over.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, NamedTuple

import flowrl
import numpy as np
import pytest
from pathlib import Path
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


class Model(NamedTuple):
    """One entry of :data:`MODEL_LIST`: an algorithm class, small settings for it, and the settings
    that select its variant (kept apart so that a test can build the variant with its defaults)."""

    cls: type[flowrl.Agent]
    small: dict[str, Any]
    variant: dict[str, Any] = {}

    @property
    def id(self) -> str:
        return "-".join([self.cls.__name__, *(str(value) for value in self.variant.values())])

    def make(self, seed: int = 0, env: Any = None, **overrides: Any) -> flowrl.Agent:
        """A small agent on ``env``'s spaces, or OBSERVATION_SPACE / ACTION_SPACE (``overrides`` may
        replace the spaces and any setting)."""
        spaces_ = {} if env is not None else {"observation_space": OBSERVATION_SPACE, "action_space": ACTION_SPACE}
        return self.cls(env, **{**spaces_, "seed": seed, **self.variant, **self.small, **overrides})


_SAC_FLOW_SMALL: dict[str, Any] = {"hidden_sizes": [32], "sigma_hidden_sizes": [8], "critic_hidden_sizes": [32], "flow_steps": 2,
                                   "critic_warmup_steps": 40, "batch_size": 32, "buffer_size": 1000, "learning_starts": 50}

_RLDT_SMALL: dict[str, Any] = {"hidden_sizes": [32], "critic_hidden_sizes": [32], "critic_warmup_steps": 40, "flow_steps": 2, "particles": 4, "actor_batch_size": 8,
                               "batch_size": 32, "buffer_size": 1000, "learning_starts": 50}

#: Every algorithm (and every variant with its own network or its own state), with tiny networks: the contract
#: suite (test_contract.py) and the persistence, error and reliability suites run over this list,
#: so a new algorithm gets all of them by one entry here (SB3's MODEL_LIST).
#: (A short critic warm-up everywhere, for speed: the default is 2,000 critic steps; test_offline_to_online.py
#: and the Swift CriticWarmupTests check the default and "auto".)
MODEL_LIST: list[Model] = [
    Model(flowrl.FlowBC, SMALL),
    Model(flowrl.SAC, {"hidden_sizes": [32, 32], "critic_hidden_sizes": [32, 32], "critic_warmup_steps": 40, "batch_size": 32, "buffer_size": 1000,
                       "learning_starts": 50}),
    Model(flowrl.SWFP, {"hidden_sizes": [32], "critic_hidden_sizes": [32], "critic_warmup_steps": 40, "flow_steps": 2, "batch_size": 32,
                        "buffer_size": 1000, "learning_starts": 50}),
    Model(flowrl.SWFP, {"hidden_sizes": [32], "critic_hidden_sizes": [32], "critic_warmup_steps": 40, "flow_steps": 2, "batch_size": 32,
                        "buffer_size": 1000, "learning_starts": 50, "value_samples": 2, "actor_batch_size": 48, "alpha": 2.0},
          {"act_with": "prior", "old_particles": "stored", "value_target": "logsumexp", "solver": "midpoint"}),
    Model(flowrl.SACFlow, _SAC_FLOW_SMALL, {"velocity": "gated"}),
    Model(flowrl.SACFlow, {**_SAC_FLOW_SMALL, "decoder_width": 8, "decoder_layers": 1, "decoder_heads": 2},
          {"velocity": "decoder"}),
    Model(flowrl.SACFlow, _SAC_FLOW_SMALL, {"velocity": "mlp"}),
    Model(flowrl.RLDT, _RLDT_SMALL),
    Model(flowrl.RLDT, _RLDT_SMALL, {"reward_scaling": "running_abs_mean", "exploration": "min_extrp"}),
]

#: ``@pytest.mark.parametrize("algorithm", ALGORITHM_PARAMS)``: one test per entry of MODEL_LIST.
ALGORITHM_PARAMS = [pytest.param(model, id=model.id) for model in MODEL_LIST]


def make_algorithm(model: Model, seed: int = 0, **overrides: Any) -> flowrl.Agent:
    """A small agent of the MODEL_LIST entry ``model`` on OBSERVATION_SPACE / ACTION_SPACE."""
    return model.make(seed, **overrides)


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
def model(request: pytest.FixtureRequest) -> Model:
    """Each entry of MODEL_LIST."""
    return request.param


@pytest.fixture
def any_agent(model: Model) -> Iterator[flowrl.Agent]:
    """A fresh agent of each algorithm with an empty replay buffer."""
    created = model.make()
    yield created
    created.close()


@pytest.fixture
def any_trained_agent(model: Model) -> Iterator[flowrl.Agent]:
    """An agent of each algorithm with 64 stored transitions and 3 updates done."""
    created = model.make(seed=7)
    created.observe(*random_batch(np.random.default_rng(1), 64).as_args())
    created.update(3)
    yield created
    created.close()


def state_bytes(agent: flowrl.Agent) -> bytes:
    """Everything the agent would save, replay buffer included (compare before and after a call)."""
    return agent.to_bytes(include_replay_buffer=True)


def assert_rejected(agent: flowrl.Agent, call: Callable[[], Any], name: str,
                    error: type[Exception] = flowrl.InvalidArgumentError) -> None:
    """``call`` raises ``error`` mentioning ``name`` and changes nothing in ``agent``: its
    checkpoint bytes (replay buffer, random state and counters included) are the same after."""
    before = state_bytes(agent)
    with pytest.raises(error) as caught:
        call()
    assert name in str(caught.value), str(caught.value)
    assert state_bytes(agent) == before
    assert agent.act(PROBE[0], deterministic=True).shape == (2,)  # still usable


def assert_finite_metrics(metrics: dict[str, float]) -> None:
    """A non-empty dictionary of finite floats (what update and pretrain return)."""
    assert metrics and all(isinstance(value, float) and np.isfinite(value) for value in metrics.values()), metrics


@pytest.fixture
def minari_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private, empty local Minari root (MINARI_DATASETS_PATH), so no test reads or writes ~/.minari."""
    root = tmp_path / "minari-root"
    root.mkdir()
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    return root
