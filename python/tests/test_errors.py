"""Every error path raises its specific exception class and leaves the agent as it was.

The checks of a call's inputs and of the all-or-nothing rule run over every algorithm
(conftest.MODEL_LIST, through the ``any_agent``, ``any_trained_agent`` and ``model`` fixtures);
the hyperparameter checks of FlowBC's own keys, the handle checks and direct ctypes calls that
need an algorithm's particular keys run on FlowBC."""

from __future__ import annotations

import ctypes
import json
import pickle
from typing import Any, Callable

import flowrl
import numpy as np
import pytest
from conftest import (
    ACTION_SPACE,
    MODEL_LIST,
    OBSERVATION_SPACE,
    PROBE,
    SMALL,
    Batch,
    Model,
    assert_finite_metrics,
    assert_unchanged,
    make_agent,
    random_batch,
    snapshot,
)
from flowrl import _lib
from flowrl.errors import (
    CheckpointError,
    FlowRLError,
    InternalError,
    InvalidArgumentError,
    InvalidStateError,
    NumericalError,
    error_for_status,
)
from gymnasium import spaces

OK, INVALID_ARGUMENT, INVALID_STATE, IO, NUMERICAL, INTERNAL = range(6)


def float_pointer(array: np.ndarray) -> int:
    """The address of a C-contiguous float32 array."""
    assert array.dtype == np.float32 and array.flags.c_contiguous
    return array.ctypes.data


def last_error() -> str:
    return _lib.last_error()


# --------------------------------------------------------------------------- exception classes


def test_exception_hierarchy_and_status_mapping() -> None:
    assert issubclass(InvalidArgumentError, ValueError)
    assert issubclass(CheckpointError, OSError)
    for cls in (InvalidArgumentError, InvalidStateError, CheckpointError, NumericalError, InternalError):
        assert issubclass(cls, FlowRLError)
        error = error_for_status(cls.status, "message")
        assert type(error) is cls
        assert error.message == "message"
    copied = pickle.loads(pickle.dumps(InvalidArgumentError("bad size")))
    assert type(copied) is InvalidArgumentError and copied.message == "bad size"
    unknown = error_for_status(99, "what")
    assert type(unknown) is InternalError and "99" in str(unknown) and "what" in str(unknown)


# --------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("observations", [
    np.zeros(4, np.float32),
    np.zeros(2, np.float32),
    np.zeros((5, 4), np.float32),
    np.zeros((5, 3, 1), np.float32),
    np.zeros((3, 1), np.float32),
    np.float32(0.5),
    np.zeros((0, 3), np.float32),
])
def test_act_wrong_observation_shape(any_trained_agent: flowrl.Agent, observations: np.ndarray) -> None:
    before = snapshot(any_trained_agent)
    with pytest.raises(InvalidArgumentError):
        any_trained_agent.act(observations)
    with pytest.raises(InvalidArgumentError):
        any_trained_agent.act(observations, deterministic=True)
    assert_unchanged(any_trained_agent, before)
    assert any_trained_agent.act(PROBE[0]).shape == (2,)


def test_observe_wrong_shapes(any_trained_agent: flowrl.Agent, rng: np.random.Generator) -> None:
    good = random_batch(rng, 4)
    before = snapshot(any_trained_agent)
    bad_batches: list[Batch] = [
        Batch(np.zeros((4, 5), np.float32), good.actions, good.rewards, good.next_observations, good.terminated),
        Batch(good.observations, good.actions, good.rewards, np.zeros((4, 2), np.float32), good.terminated),
        Batch(good.observations, good.actions, good.rewards, good.next_observations[:3], good.terminated),
        Batch(good.observations, good.actions[:3], good.rewards, good.next_observations, good.terminated),
        Batch(good.observations, np.zeros((4, 3), np.float32), good.rewards, good.next_observations, good.terminated),
        Batch(good.observations, good.actions, good.rewards[:3], good.next_observations, good.terminated),
        Batch(good.observations, good.actions, good.rewards, good.next_observations, good.terminated[:2]),
    ]
    for batch in bad_batches:
        with pytest.raises(InvalidArgumentError):
            any_trained_agent.observe(*batch.as_args())
    assert_unchanged(any_trained_agent, before)
    any_trained_agent.observe(*good.as_args())
    assert any_trained_agent.info()["replay_size"] == before.replay_size + 4


def test_pretrain_wrong_shapes(any_trained_agent: flowrl.Agent) -> None:
    before = snapshot(any_trained_agent)
    with pytest.raises(InvalidArgumentError):
        any_trained_agent.pretrain(np.zeros((8, 4), np.float32), np.zeros((8, 2)), steps=2)
    with pytest.raises(InvalidArgumentError):
        any_trained_agent.pretrain(np.zeros((8, 3), np.float32), np.zeros((7, 2)), steps=2)
    with pytest.raises(InvalidArgumentError):
        any_trained_agent.pretrain(np.zeros((8, 3), np.float32), np.zeros((8, 3)), steps=2)
    with pytest.raises(InvalidArgumentError):
        any_trained_agent.pretrain(np.zeros((0, 3), np.float32), np.zeros((0, 2)), steps=2)
    with pytest.raises(InvalidArgumentError):
        any_trained_agent.pretrain(np.zeros((8, 3), np.float32), np.zeros((8, 2)), steps=0)
    assert_unchanged(any_trained_agent, before)
    assert_finite_metrics(any_trained_agent.pretrain(np.zeros((8, 3), np.float32), np.zeros((8, 2)), steps=2))
    assert any_trained_agent.info()["counters"]["pretrain_steps"] == before.counters["pretrain_steps"] + 2


# --------------------------------------------------------------------------- NaN, Inf, bounds


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_act_non_finite_observation(any_trained_agent: flowrl.Agent, value: float) -> None:
    before = snapshot(any_trained_agent)
    batch = PROBE.copy()
    batch[2, 1] = value
    with pytest.raises(InvalidArgumentError, match="NaN or Inf"):
        any_trained_agent.act(batch, deterministic=True)
    with pytest.raises(InvalidArgumentError):
        any_trained_agent.act(batch[2])
    assert_unchanged(any_trained_agent, before)


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_act_observation_overflowing_float32_is_rejected(any_trained_agent: flowrl.Agent) -> None:
    before = snapshot(any_trained_agent)
    with pytest.raises(InvalidArgumentError):
        any_trained_agent.act(np.array([1e39, 0.0, 0.0]))  # finite in float64, Inf in float32
    assert_unchanged(any_trained_agent, before)


@pytest.mark.parametrize("field", ["observations", "actions", "rewards", "next_observations"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_observe_non_finite_stores_nothing(any_trained_agent: flowrl.Agent, rng: np.random.Generator, field: str,
                                           value: float) -> None:
    batch = random_batch(rng, 6)
    array = getattr(batch, field).copy()
    array.reshape(-1)[-1] = value  # the last row: earlier rows must not be stored either
    setattr(batch, field, array)
    before = snapshot(any_trained_agent)
    with pytest.raises(InvalidArgumentError):
        any_trained_agent.observe(*batch.as_args())
    assert_unchanged(any_trained_agent, before)
    assert any_trained_agent.info()["counters"]["transitions_seen"] == before.counters["transitions_seen"]
    assert_finite_metrics(any_trained_agent.update(1))


@pytest.mark.parametrize("bad_action", [[2.5, 0.0], [0.0, -2.1], [-3.0, 3.0], [2.001, 0.0]])
def test_observe_actions_outside_bounds(any_trained_agent: flowrl.Agent, rng: np.random.Generator, bad_action: list[float]) -> None:
    batch = random_batch(rng, 3)
    batch.actions[1] = bad_action
    before = snapshot(any_trained_agent)
    with pytest.raises(InvalidArgumentError, match="bounds"):
        any_trained_agent.observe(*batch.as_args())
    assert_unchanged(any_trained_agent, before)


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")
def test_observe_nan_terminated_flag_is_rejected(any_trained_agent: flowrl.Agent, rng: np.random.Generator) -> None:
    """Agent.observe documents "NaN or Inf anywhere ... nothing is stored".

    BUG (agent.py, Agent.observe): `terminated` is converted with .astype(np.uint8), so NaN
    silently becomes 0 (not terminated) and the batch is stored. (Likewise 0.5 becomes 0 and 256
    becomes 0, though both are truthy.)
    """
    batch = random_batch(rng, 3)
    batch.terminated = np.array([0.0, np.nan, 1.0])
    before = snapshot(any_trained_agent)
    with pytest.raises(InvalidArgumentError):
        any_trained_agent.observe(*batch.as_args())
    assert_unchanged(any_trained_agent, before)


def test_observe_actions_on_the_bounds_are_accepted(any_agent: flowrl.Agent, rng: np.random.Generator) -> None:
    batch = random_batch(rng, 2)
    batch.actions[:] = [[-2.0, 2.0], [2.0, -2.0]]
    any_agent.observe(*batch.as_args())
    assert any_agent.info()["replay_size"] == 2


@pytest.mark.parametrize("where", ["observations", "actions"])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_pretrain_non_finite(any_trained_agent: flowrl.Agent, where: str, value: float) -> None:
    observations = np.zeros((8, 3), np.float32)
    actions = np.zeros((8, 2), np.float32)
    (observations if where == "observations" else actions)[3, 1] = value
    before = snapshot(any_trained_agent)
    with pytest.raises(InvalidArgumentError):
        any_trained_agent.pretrain(observations, actions, steps=2)
    assert_unchanged(any_trained_agent, before)


def test_pretrain_actions_outside_bounds(any_trained_agent: flowrl.Agent) -> None:
    before = snapshot(any_trained_agent)
    with pytest.raises(InvalidArgumentError, match="bounds"):
        any_trained_agent.pretrain(np.zeros((4, 3), np.float32), np.full((4, 2), 2.5), steps=2)
    assert_unchanged(any_trained_agent, before)


# --------------------------------------------------------------------------- hyperparameters


def test_unknown_hyperparameter_names_key_and_lists_valid_keys() -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        make_agent(learning_rat=1e-3)
    message = str(caught.value)
    assert "learning_rat" in message
    for valid in ("hidden_sizes", "flow_steps", "learning_rate", "batch_size", "buffer_size", "time_embedding_size"):
        assert valid in message
    assert make_agent().act(PROBE[0], deterministic=True).shape == (2,)


@pytest.mark.parametrize("key, value", [
    ("learning_rate", -1),
    ("learning_rate", -1e-9),  # 0 is valid (it freezes the networks it drives)
    ("learning_rate", 1.5),
    ("learning_rate", float("nan")),
    ("flow_steps", 0),
    ("hidden_sizes", []),
    ("hidden_sizes", [32, 0]),
    ("batch_size", 0),
    ("buffer_size", 0),
    ("time_embedding_size", 3),
    ("seed", -1),
])
def test_out_of_range_hyperparameter(key: str, value: Any) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        make_agent(**{key: value})
    assert key in str(caught.value)


@pytest.mark.parametrize("key, value", [
    ("flow_steps", "x"),
    ("hidden_sizes", "32"),
    ("batch_size", 3.5),
    ("learning_rate", "fast"),
    ("activation", "no_such_activation"),
])
def test_wrong_hyperparameter_type(key: str, value: Any) -> None:
    """The header promises errors that name the key. BUG (Sources/FlowRL/RL/AgentConfiguration.swift,
    `decode`/`describe`): a non-integral or out-of-range number for an integer key (batch_size=3.5,
    seed=-1) gives "config for flow_bc: the config: The given data was not valid JSON." -- the
    key is not named and the JSON was valid."""
    with pytest.raises(InvalidArgumentError) as caught:
        make_agent(**{key: value})
    assert key in str(caught.value)


@pytest.mark.parametrize("key, value", [("learning_rat", 1e-3), ("learning_rate", -1.0), ("learning_rate", float("nan")),
                                        ("batch_size", 0), ("buffer_size", 0), ("hidden_sizes", []), ("hidden_sizes", [32, 0])])
def test_every_algorithm_names_an_unknown_or_out_of_range_key(model: Model, key: str, value: Any) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        model.make(**{key: value})
    assert key in str(caught.value)


def test_numpy_hyperparameters_are_accepted() -> None:
    created = make_agent(flow_steps=np.int64(3), learning_rate=np.float32(1e-3), hidden_sizes=(np.int32(16), 16))
    config = created.config
    assert config["flow_steps"] == 3 and config["hidden_sizes"] == [16, 16]
    created.close()


def test_bad_spaces() -> None:
    with pytest.raises(InvalidArgumentError):
        flowrl.FlowBC(None, observation_space=OBSERVATION_SPACE, **SMALL)
    with pytest.raises(InvalidArgumentError):
        flowrl.FlowBC(None, observation_space=spaces.Discrete(3), action_space=ACTION_SPACE, **SMALL)
    with pytest.raises(InvalidArgumentError):
        flowrl.FlowBC(None, observation_space=OBSERVATION_SPACE, action_space=spaces.Box(-np.inf, np.inf, (2,)), **SMALL)
    with pytest.raises(InvalidArgumentError):
        flowrl.FlowBC(None, observation_space=OBSERVATION_SPACE, action_space=spaces.Box(-1, 1, (2, 2)), **SMALL)
    with pytest.raises(TypeError):
        flowrl.Agent(None, observation_space=OBSERVATION_SPACE, action_space=ACTION_SPACE)


def test_unbounded_observation_space_is_supported() -> None:
    """Most continuous-control envs (MuJoCo) have observation spaces bounded by +-inf.

    BUG (agent.py, Agent._metadata / Agent.__init__): json.dumps writes the bounds as
    `Infinity`, which is not JSON, so flowrl_agent_set_metadata rejects the metadata and the
    constructor raises InvalidArgumentError for any env with an unbounded observation space.
    """
    observation_space = spaces.Box(-np.inf, np.inf, (3,), dtype=np.float32)
    created = flowrl.FlowBC(None, observation_space=observation_space, action_space=ACTION_SPACE, **SMALL)
    try:
        assert created.act(PROBE[0], deterministic=True).shape == (2,)
        copy = flowrl.FlowBC.from_bytes(created.to_bytes())
        assert copy.observation_space.shape == (3,)
        np.testing.assert_array_equal(copy.act(PROBE, deterministic=True), created.act(PROBE, deterministic=True))
        copy.close()
    finally:
        created.close()


# --------------------------------------------------------------------------- integer arguments


def test_update_gradient_steps_out_of_range(any_trained_agent: flowrl.Agent) -> None:
    before = snapshot(any_trained_agent)
    for steps in (0, -1, 1_000_001, 2**31):
        with pytest.raises(InvalidArgumentError):
            any_trained_agent.update(steps)
    assert_unchanged(any_trained_agent, before)


def test_update_gradient_steps_beyond_int32_are_rejected_not_wrapped(any_trained_agent: flowrl.Agent) -> None:
    """BUG (agent.py, Agent.update): the count goes to a c_int32 argument unchecked, so ctypes
    truncates it: update(2**32 + 1) silently runs ONE gradient step instead of raising."""
    before = snapshot(any_trained_agent)
    with pytest.raises(InvalidArgumentError):
        any_trained_agent.update(2**32 + 1)
    assert_unchanged(any_trained_agent, before)


def test_pretrain_steps_beyond_int64_are_rejected_not_wrapped(any_trained_agent: flowrl.Agent) -> None:
    """BUG (agent.py, Agent.pretrain): steps goes to a c_int64 unchecked; 2**64 + 1 wraps to 1."""
    before = snapshot(any_trained_agent)
    with pytest.raises(InvalidArgumentError):
        any_trained_agent.pretrain(np.zeros((4, 3), np.float32), np.zeros((4, 2)), steps=2**64 + 1)
    assert_unchanged(any_trained_agent, before)


@pytest.mark.parametrize("seed", [-1, 2**64])
def test_seed_out_of_range(any_trained_agent: flowrl.Agent, seed: int) -> None:
    before = snapshot(any_trained_agent)
    with pytest.raises(InvalidArgumentError):
        any_trained_agent.seed(seed)
    assert_unchanged(any_trained_agent, before)
    any_trained_agent.seed(2**64 - 1)


@pytest.mark.parametrize("setter", [flowrl.set_blas_threads, flowrl.set_threads])
def test_thread_setters_reject_zero(setter: Callable[[int], None]) -> None:
    with pytest.raises(InvalidArgumentError):
        setter(0)
    setter(1)


# --------------------------------------------------------------------------- state errors


def test_update_on_empty_replay_buffer(any_agent: flowrl.Agent) -> None:
    before = snapshot(any_agent)
    with pytest.raises(InvalidStateError, match="empty"):
        any_agent.update(1)
    assert_unchanged(any_agent, before)
    any_agent.observe(*random_batch(np.random.default_rng(3), 2).as_args())
    assert_finite_metrics(any_agent.update(1))
    assert any_agent.info()["counters"]["updates"] == 1


def test_calls_on_closed_agent(tmp_path: Any) -> None:
    created = make_agent()
    batch = random_batch(np.random.default_rng(0), 2)
    created.close()
    assert created.closed
    calls: list[Callable[[], Any]] = [
        lambda: created.act(PROBE[0]),
        lambda: created.act(PROBE, deterministic=True),
        lambda: created.observe(*batch.as_args()),
        lambda: created.update(1),
        lambda: created.pretrain(PROBE, np.zeros((5, 2)), steps=1),
        lambda: created.seed(1),
        lambda: created.info(),
        lambda: created.config,
        lambda: created.save(tmp_path / "closed.ckpt"),
        lambda: created.to_bytes(),
        lambda: created.handle,
    ]
    for call in calls:
        with pytest.raises(InvalidStateError):
            call()
    assert not (tmp_path / "closed.ckpt").exists()
    created.close()  # closing twice is harmless
    assert "closed" in repr(created)


def test_context_manager_closes() -> None:
    with make_agent() as created:
        assert created.act(PROBE[0], deterministic=True).shape == (2,)
        assert not created.closed
    assert created.closed
    with pytest.raises(InvalidStateError):
        created.act(PROBE[0])


def test_stale_handle_through_ctypes() -> None:
    created = make_agent()
    stale = created.handle
    created.close()
    observations = np.ascontiguousarray(PROBE[:1])
    out = np.full(2, 7.0, np.float32)
    status = _lib.lib.flowrl_agent_act(stale, float_pointer(observations), 1, 3, 1, float_pointer(out), 2)
    assert status == INVALID_STATE
    assert "not valid" in last_error()
    np.testing.assert_array_equal(out, [7.0, 7.0])  # nothing written
    text = ctypes.c_char_p()
    assert _lib.lib.flowrl_agent_info(stale, ctypes.byref(text)) == INVALID_STATE
    assert _lib.lib.flowrl_agent_update(stale, 1, ctypes.byref(text)) == INVALID_STATE
    assert _lib.lib.flowrl_agent_seed(stale, 3) == INVALID_STATE
    assert _lib.lib.flowrl_agent_set_config(stale, b'{"learning_rate": 0.001}') == INVALID_STATE
    # double free, and free(NULL)
    assert _lib.lib.flowrl_agent_free(stale) == INVALID_STATE
    assert "already freed" in last_error()
    assert _lib.lib.flowrl_agent_free(None) == OK
    assert last_error() == ""
    # a handle never returned by flowrl
    assert _lib.lib.flowrl_agent_act(0x7FFF_0000_0010, float_pointer(observations), 1, 3, 1, float_pointer(out), 2) == INVALID_STATE
    assert _lib.lib.flowrl_agent_free(0x7FFF_0000_0010) == INVALID_STATE
    # the library still works
    fresh = make_agent()
    assert fresh.act(PROBE[0]).shape == (2,)
    fresh.close()


# --------------------------------------------------------------------------- direct ctypes calls


def test_create_unknown_algorithm_and_null_arguments() -> None:
    handle = ctypes.c_void_p(0xDEAD0)
    assert _lib.lib.flowrl_agent_create(b"nope", None, 3, 2, ctypes.byref(handle)) == INVALID_ARGUMENT
    assert "nope" in last_error()
    assert handle.value is None  # set to NULL on failure
    with pytest.raises(InvalidArgumentError, match="nope"):
        _lib.call(_lib.lib.flowrl_agent_create, b"nope", None, 3, 2, ctypes.byref(handle))
    assert _lib.lib.flowrl_agent_create(None, None, 3, 2, ctypes.byref(handle)) == INVALID_ARGUMENT
    assert _lib.lib.flowrl_agent_create(b"flow_bc", None, 3, 2, None) == INVALID_ARGUMENT
    assert _lib.lib.flowrl_agent_create(b"flow_bc", b"not json", 3, 2, ctypes.byref(handle)) == INVALID_ARGUMENT
    assert _lib.lib.flowrl_agent_create(b"flow_bc", b"[1, 2]", 3, 2, ctypes.byref(handle)) == INVALID_ARGUMENT
    for observation_size, action_size in ((0, 2), (3, 0), (-1, 2)):
        assert _lib.lib.flowrl_agent_create(b"flow_bc", json.dumps(SMALL).encode(), observation_size, action_size,
                                            ctypes.byref(handle)) == INVALID_ARGUMENT, (observation_size, action_size)
        assert handle.value is None
    # the defaults (NULL config) work and give a freeable handle
    assert _lib.lib.flowrl_agent_create(b"flow_bc", json.dumps(SMALL).encode(), 3, 2, ctypes.byref(handle)) == OK
    assert handle.value
    assert _lib.lib.flowrl_agent_free(handle) == OK


def test_algorithms_lists_flow_bc() -> None:
    names = json.loads(_lib.string_result(_lib.lib.flowrl_algorithms))
    assert "flow_bc" in names
    assert {model.cls.algorithm for model in MODEL_LIST} <= set(names)
    assert _lib.lib.flowrl_algorithms(None) == INVALID_ARGUMENT


def test_act_wrong_lengths_through_ctypes(any_trained_agent: flowrl.Agent) -> None:
    handle = any_trained_agent.handle
    before = snapshot(any_trained_agent)
    observations = np.ascontiguousarray(PROBE[:2])
    out = np.zeros(4, np.float32)
    act = _lib.lib.flowrl_agent_act
    assert act(handle, float_pointer(observations), 2, 4, 1, float_pointer(out), 4) == INVALID_ARGUMENT
    assert "observation_size" in last_error()
    assert act(handle, float_pointer(observations), 2, 3, 1, float_pointer(out), 3) == INVALID_ARGUMENT
    assert "actions_capacity" in last_error()
    assert act(handle, None, 2, 3, 1, float_pointer(out), 4) == INVALID_ARGUMENT
    assert act(handle, float_pointer(observations), 2, 3, 1, None, 4) == INVALID_ARGUMENT
    assert act(handle, float_pointer(observations), 0, 3, 1, float_pointer(out), 4) == INVALID_ARGUMENT
    assert act(handle, float_pointer(observations), -5, 3, 1, float_pointer(out), 4) == INVALID_ARGUMENT
    assert act(None, float_pointer(observations), 2, 3, 1, float_pointer(out), 4) == INVALID_ARGUMENT
    np.testing.assert_array_equal(out, np.zeros(4, np.float32))
    assert act(handle, float_pointer(observations), 2, 3, 1, float_pointer(out), 4) == OK
    assert last_error() == ""
    # (compared with a batch of the same size: BLAS may round differently for another batch size)
    np.testing.assert_array_equal(any_trained_agent._scale_actions(out.reshape(2, 2)), any_trained_agent.act(PROBE[:2], deterministic=True))
    assert_unchanged(any_trained_agent, before)


def test_observe_wrong_lengths_through_ctypes(any_trained_agent: flowrl.Agent, rng: np.random.Generator) -> None:
    handle = any_trained_agent.handle
    before = snapshot(any_trained_agent)
    batch = random_batch(rng, 3)
    observations = np.ascontiguousarray(batch.observations)
    actions = any_trained_agent._normalise_actions(batch.actions, 3)
    rewards = np.ascontiguousarray(batch.rewards)
    following = np.ascontiguousarray(batch.next_observations)
    flags = np.ascontiguousarray(batch.terminated.astype(np.uint8))
    pointers = [float_pointer(observations), float_pointer(actions), float_pointer(rewards), float_pointer(following),
                flags.ctypes.data]
    observe = _lib.lib.flowrl_agent_observe
    assert observe(handle, *pointers, 3, 4, 2) == INVALID_ARGUMENT
    assert observe(handle, *pointers, 3, 3, 1) == INVALID_ARGUMENT
    assert observe(handle, *pointers, 0, 3, 2) == INVALID_ARGUMENT
    for index in range(5):
        with_null = list(pointers)
        with_null[index] = None
        assert observe(handle, *with_null, 3, 3, 2) == INVALID_ARGUMENT, index
    out_of_range = np.full((3, 2), 1.5, np.float32)
    assert observe(handle, pointers[0], float_pointer(out_of_range), *pointers[2:], 3, 3, 2) == INVALID_ARGUMENT
    assert observe(None, *pointers, 3, 3, 2) == INVALID_ARGUMENT
    assert_unchanged(any_trained_agent, before)
    assert observe(handle, *pointers, 3, 3, 2) == OK
    assert any_trained_agent.info()["replay_size"] == before.replay_size + 3


def test_update_pretrain_info_null_outputs(any_trained_agent: flowrl.Agent) -> None:
    handle = any_trained_agent.handle
    before = snapshot(any_trained_agent)
    assert _lib.lib.flowrl_agent_update(handle, 1, None) == INVALID_ARGUMENT
    observations = np.zeros((4, 3), np.float32)
    actions = np.zeros((4, 2), np.float32)
    assert _lib.lib.flowrl_agent_pretrain(handle, float_pointer(observations), float_pointer(actions), 4, 3, 2, 1,
                                          None) == INVALID_ARGUMENT
    text = ctypes.c_char_p()
    assert _lib.lib.flowrl_agent_pretrain(handle, float_pointer(observations), float_pointer(actions), 4, 3, 3, 1,
                                          ctypes.byref(text)) == INVALID_ARGUMENT
    assert _lib.lib.flowrl_agent_info(handle, None) == INVALID_ARGUMENT
    assert _lib.lib.flowrl_agent_set_metadata(handle, None) == INVALID_ARGUMENT
    assert _lib.lib.flowrl_agent_set_metadata(handle, b"[1, 2]") == INVALID_ARGUMENT
    assert _lib.lib.flowrl_agent_set_metadata(handle, b"{not json") == INVALID_ARGUMENT
    assert any_trained_agent.info()["metadata"]["python_class"] == type(any_trained_agent).__name__
    config_before = any_trained_agent.config
    for config in (None, b"", b"[1]", b"{", b"\xff\xfe", b'{"learning_rate": 1e400}', b'{"learning_rate": 2}',
                   b'{"learning_rate": 0.001, "buffer_size": 10}', b'{"learning_rate": 0.001, "nope": 1}'):
        assert _lib.lib.flowrl_agent_set_config(handle, config) == INVALID_ARGUMENT, config
        assert last_error(), config
    assert any_trained_agent.config == config_before
    assert_unchanged(any_trained_agent, before)


def test_save_bytes_and_load_bytes_through_ctypes(any_trained_agent: flowrl.Agent) -> None:
    handle = any_trained_agent.handle
    size = ctypes.c_int64(-1)
    assert _lib.lib.flowrl_agent_save_bytes(handle, 0, None, 0, None) == INVALID_ARGUMENT
    assert _lib.lib.flowrl_agent_save_bytes(handle, 0, None, 0, ctypes.byref(size)) == OK
    needed = size.value
    assert needed > 24
    small = (ctypes.c_uint8 * (needed - 1))()
    size.value = -1
    assert _lib.lib.flowrl_agent_save_bytes(handle, 0, small, needed - 1, ctypes.byref(size)) == INVALID_ARGUMENT
    assert size.value == needed  # the size is reported even on failure
    buffer = (ctypes.c_uint8 * needed)()
    assert _lib.lib.flowrl_agent_save_bytes(handle, 0, buffer, needed, ctypes.byref(size)) == OK
    assert bytes(buffer[:8]) == b"FLOWRLCK"
    assert bytes(buffer) == any_trained_agent.to_bytes(include_replay_buffer=False)
    out = ctypes.c_void_p(0xDEAD0)
    assert _lib.lib.flowrl_agent_load_bytes(None, needed, ctypes.byref(out)) == INVALID_ARGUMENT
    assert out.value is None
    assert _lib.lib.flowrl_agent_load_bytes(buffer, needed, None) == INVALID_ARGUMENT
    assert _lib.lib.flowrl_agent_load_bytes(buffer, -1, ctypes.byref(out)) == INVALID_ARGUMENT
    assert _lib.lib.flowrl_agent_load(None, ctypes.byref(out)) == INVALID_ARGUMENT
    assert _lib.lib.flowrl_agent_save(handle, None, 0) == INVALID_ARGUMENT
    assert _lib.lib.flowrl_agent_load_bytes(buffer, needed, ctypes.byref(out)) == OK
    assert out.value
    assert _lib.lib.flowrl_agent_free(out) == OK


def test_last_error_is_cleared_by_a_successful_call(any_trained_agent: flowrl.Agent) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        any_trained_agent.act(np.zeros(3) + np.nan)
    assert caught.value.message and caught.value.message == str(caught.value)
    any_trained_agent.act(PROBE[0])
    assert last_error() == ""


# --------------------------------------------------------------------------- numerical errors


def test_pretrain_overflow_raises_numerical_error_and_restores(model: Model) -> None:
    agent = model.make(seed=11)
    twin = model.make(seed=11)
    try:
        for created in (agent, twin):
            created.observe(*random_batch(np.random.default_rng(5), 40).as_args())
            created.update(3)
        before = snapshot(agent)
        huge = np.full((16, 3), 1e30, np.float32)  # finite, but the loss overflows
        if model.variant.get("velocity") == "decoder":
            # Flow-T's decoder normalises the state token (layer norm), so no finite observation
            # overflows its pretraining loss: the call succeeds. (Its update overflows: below.)
            assert_finite_metrics(agent.pretrain(huge, np.zeros((16, 2)), steps=3))
            return
        with pytest.raises(NumericalError) as caught:
            agent.pretrain(huge, np.zeros((16, 2)), steps=3)
        assert "restored" in str(caught.value)
        assert isinstance(caught.value, ArithmeticError)
        assert_unchanged(agent, before)
        # Everything was restored, the random generator and the optimiser included: the agent
        # continues exactly like a twin that never saw the failing call.
        np.testing.assert_array_equal(agent.act(PROBE), twin.act(PROBE))
        assert agent.update(4) == twin.update(4)
        np.testing.assert_array_equal(agent.act(PROBE, deterministic=True), twin.act(PROBE, deterministic=True))
        assert agent.to_bytes() == twin.to_bytes()
    finally:
        agent.close()
        twin.close()


def test_update_overflow_raises_numerical_error_and_restores(model: Model, rng: np.random.Generator) -> None:
    created = model.make(seed=3)
    twin = model.make(seed=3)
    try:
        batch = random_batch(rng, 8)
        batch.observations[:] = 1e30
        for agent in (created, twin):
            agent.observe(*batch.as_args())
        before = snapshot(created)
        with pytest.raises(NumericalError, match="restored"):
            created.update(3)
        assert_unchanged(created, before)
        assert created.info()["counters"]["updates"] == 0
        # restored to the byte (random generator and optimisers included): as a twin that never updated
        assert created.to_bytes() == twin.to_bytes()
        np.testing.assert_array_equal(created.act(PROBE), twin.act(PROBE))
    finally:
        created.close()
        twin.close()
