"""Checkpoints (files and bytes), their error paths, pickling and deepcopy, for every algorithm
(conftest.MODEL_LIST, through the ``model`` and ``any_trained_agent`` fixtures). That a copy
continues exactly as the original is in test_contract.py."""

from __future__ import annotations

import copy
import os
import pickle
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path
from typing import Callable

import flowrl
import numpy as np
import pytest
from conftest import (
    ACTION_SPACE,
    ALGORITHM_PARAMS,
    OBSERVATION_SPACE,
    PROBE,
    FakeEnv,
    Model,
    assert_finite_metrics,
    random_batch,
    snapshot,
)
from flowrl import Agent, CheckpointError, InvalidArgumentError, InvalidStateError
from gymnasium import spaces

MAGIC = b"FLOWRLCK"
HEADER = 8 + 4 + 8  # magic, format version (u32), payload length (u64)

Loader = Callable[[flowrl.Agent, Path, bool], flowrl.Agent]


def through_file(agent: flowrl.Agent, directory: Path, include_replay_buffer: bool) -> flowrl.Agent:
    path = directory / "agent.ckpt"
    agent.save(path, include_replay_buffer=include_replay_buffer)
    return Agent.load(path)


def through_bytes(agent: flowrl.Agent, directory: Path, include_replay_buffer: bool) -> flowrl.Agent:
    return Agent.from_bytes(agent.to_bytes(include_replay_buffer=include_replay_buffer))


LOADERS = [pytest.param(through_file, id="file"), pytest.param(through_bytes, id="bytes")]


def reseal(data: bytes | bytearray) -> bytes:
    """Rewrites the payload length and the CRC-32 so that only the edited field is wrong."""
    patched = bytearray(data)
    struct.pack_into("<Q", patched, 12, len(patched) - HEADER - 4)
    struct.pack_into("<I", patched, len(patched) - 4, zlib.crc32(bytes(patched[:-4])))
    return bytes(patched)


def flip_bit(data: bytes, position: int) -> bytes:
    flipped = bytearray(data)
    flipped[position] ^= 1 << (position % 8)
    return bytes(flipped)


def listing(directory: Path) -> list[str]:
    return sorted(entry.name for entry in directory.iterdir())


@pytest.fixture(scope="module", params=ALGORITHM_PARAMS)
def checkpoint_model(request: pytest.FixtureRequest) -> Model:
    """Each entry of MODEL_LIST, for the module-scoped checkpoint below."""
    return request.param


@pytest.fixture(scope="module")
def checkpoint_bytes(checkpoint_model: Model) -> bytes:
    """A valid checkpoint with a replay buffer, of each algorithm."""
    created = checkpoint_model.make(seed=4)
    created.observe(*random_batch(np.random.default_rng(2), 50).as_args())
    created.update(3)
    data = created.to_bytes(include_replay_buffer=True)
    created.close()
    return data


# --------------------------------------------------------------------------- format


def test_checkpoint_layout(checkpoint_bytes: bytes) -> None:
    assert checkpoint_bytes[:8] == MAGIC
    assert struct.unpack_from("<I", checkpoint_bytes, 8)[0] == 1
    assert struct.unpack_from("<Q", checkpoint_bytes, 12)[0] == len(checkpoint_bytes) - HEADER - 4
    assert struct.unpack_from("<I", checkpoint_bytes, len(checkpoint_bytes) - 4)[0] == zlib.crc32(checkpoint_bytes[:-4])
    assert reseal(checkpoint_bytes) == checkpoint_bytes


def test_to_bytes_is_deterministic_and_matches_the_file(any_trained_agent: flowrl.Agent, tmp_path: Path) -> None:
    for include in (False, True):
        data = any_trained_agent.to_bytes(include_replay_buffer=include)
        assert data == any_trained_agent.to_bytes(include_replay_buffer=include)
        any_trained_agent.save(tmp_path / "a.ckpt", include_replay_buffer=include)
        assert (tmp_path / "a.ckpt").read_bytes() == data
    assert len(any_trained_agent.to_bytes(True)) > len(any_trained_agent.to_bytes(False))


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize("include_replay_buffer", [False, True])
def test_round_trip_gives_identical_actions(any_trained_agent: flowrl.Agent, tmp_path: Path, loader: Loader,
                                            include_replay_buffer: bool) -> None:
    before = snapshot(any_trained_agent)
    loaded = loader(any_trained_agent, tmp_path, include_replay_buffer)
    try:
        assert type(loaded) is type(any_trained_agent)
        assert loaded.observation_space == any_trained_agent.observation_space
        assert loaded.action_space == any_trained_agent.action_space
        after = snapshot(loaded)
        np.testing.assert_array_equal(after.deterministic_actions, before.deterministic_actions)
        np.testing.assert_array_equal(loaded.act(PROBE[0], deterministic=True), any_trained_agent.act(PROBE[0], deterministic=True))
        assert after.counters == before.counters
        assert after.replay_size == (before.replay_size if include_replay_buffer else 0)
        assert loaded.info()["config"] == any_trained_agent.info()["config"]
        assert loaded.info()["metadata"] == any_trained_agent.info()["metadata"]
        # the random state is part of the checkpoint: stochastic actions agree too
        np.testing.assert_array_equal(loaded.act(PROBE), any_trained_agent.act(PROBE))
    finally:
        loaded.close()


def test_without_replay_buffer_update_needs_new_data(any_trained_agent: flowrl.Agent, tmp_path: Path) -> None:
    loaded = through_file(any_trained_agent, tmp_path, False)
    try:
        assert loaded.info()["replay_size"] == 0
        assert loaded.info()["counters"] == any_trained_agent.info()["counters"]
        with pytest.raises(InvalidStateError):
            loaded.update(1)
        loaded.observe(*random_batch(np.random.default_rng(9), 4).as_args())
        assert_finite_metrics(loaded.update(1))
    finally:
        loaded.close()


def test_load_dispatches_and_checks_the_env(any_trained_agent: flowrl.Agent, tmp_path: Path) -> None:
    path = tmp_path / "agent.ckpt"
    any_trained_agent.save(path)
    cls = type(any_trained_agent)
    for loaded in (Agent.load(path), cls.load(path), Agent.load(str(path)), Agent.load(os.fsencode(path))):
        assert type(loaded) is cls
        np.testing.assert_array_equal(loaded.act(PROBE, deterministic=True), any_trained_agent.act(PROBE, deterministic=True))
        loaded.close()
    matching = FakeEnv(OBSERVATION_SPACE, ACTION_SPACE)
    with Agent.load(path, env=matching) as loaded:
        assert loaded.action_space is ACTION_SPACE
    mismatching = [
        FakeEnv(OBSERVATION_SPACE, spaces.Box(-1.0, 1.0, (2,), np.float32)),  # other bounds
        FakeEnv(OBSERVATION_SPACE, spaces.Box(-2.0, 2.0, (3,), np.float32)),  # other action size
        FakeEnv(spaces.Box(-1.0, 1.0, (4,), np.float32), ACTION_SPACE),  # other observation size
        FakeEnv(spaces.Box(-1.0, 1.0, (3, 1), np.float32), ACTION_SPACE),  # other observation shape
    ]
    for env in mismatching:
        with pytest.raises(InvalidArgumentError):
            Agent.load(path, env=env)
        with pytest.raises(InvalidArgumentError):
            Agent.from_bytes(path.read_bytes(), env=env)


def test_loading_with_a_real_gymnasium_env(model: Model, tmp_path: Path) -> None:
    gym = pytest.importorskip("gymnasium")
    env = gym.make("Pendulum-v1")
    created = model.make(seed=1, env=env)
    observation, _ = env.reset(seed=0)
    action = created.act(observation, deterministic=True)
    assert action.shape == (1,) and -2.0 <= action[0] <= 2.0
    created.save(tmp_path / "pendulum.ckpt")
    with Agent.load(tmp_path / "pendulum.ckpt", env=env) as loaded:
        np.testing.assert_array_equal(loaded.act(observation, deterministic=True), action)
    with pytest.raises(InvalidArgumentError):
        Agent.load(tmp_path / "pendulum.ckpt", env=FakeEnv(OBSERVATION_SPACE, ACTION_SPACE))
    created.close()
    env.close()


def test_round_trip_preserves_space_dtypes(model: Model, tmp_path: Path) -> None:
    """BUG (agent.py, Agent._metadata / Agent._from_handle): the checkpoint metadata records the
    bounds and shapes of the spaces but not their dtype, so a loaded, unpickled or deep-copied
    agent always gets float32 Boxes. For float64 spaces, the original returns float64 actions
    and the copy float32 ones (different values, different dtype, different action_space)."""
    observation_space = spaces.Box(-1.0, 1.0, (3,), dtype=np.float64)
    action_space = spaces.Box(-2.0, 2.0, (2,), dtype=np.float64)
    created = model.make(observation_space=observation_space, action_space=action_space)
    try:
        expected = created.act(PROBE, deterministic=True)
        assert expected.dtype == np.float64
        for restored in (copy.deepcopy(created), through_bytes(created, tmp_path, True), through_file(created, tmp_path, True)):
            assert restored.action_space == action_space
            assert restored.observation_space == observation_space
            actions = restored.act(PROBE, deterministic=True)
            assert actions.dtype == expected.dtype
            np.testing.assert_array_equal(actions, expected)
            restored.close()
    finally:
        created.close()


def test_multidimensional_observation_space_round_trip(model: Model) -> None:
    observation_space = spaces.Box(-1.0, 1.0, (2, 3), dtype=np.float32)
    created = model.make(observation_space=observation_space)
    observations = np.random.default_rng(0).uniform(-1, 1, (4, 2, 3)).astype(np.float32)
    with Agent.from_bytes(created.to_bytes()) as restored:
        assert restored.observation_space == observation_space
        assert restored.act(observations[0]).shape == (2,)
        np.testing.assert_array_equal(restored.act(observations, deterministic=True), created.act(observations, deterministic=True))
    created.close()


# --------------------------------------------------------------------------- reading bad checkpoints


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError) as caught:
        Agent.load(tmp_path / "missing.ckpt")
    assert "missing.ckpt" in str(caught.value)
    assert isinstance(caught.value, OSError)


def test_load_directory(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError):
        Agent.load(tmp_path)


@pytest.mark.parametrize("content", [b"", b"hello, I am not a checkpoint", b"\x00" * 100, MAGIC, b"FLOWRLCX" + b"\x00" * 200])
def test_load_not_a_checkpoint(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bogus.ckpt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError):
        Agent.load(path)
    with pytest.raises(CheckpointError):
        Agent.from_bytes(content)


def truncation_lengths(size: int) -> list[int]:
    return sorted({0, 1, 7, 8, 11, 12, 19, 20, 23, 24, 30, 100, size // 3, size // 2, size - 5, size - 4, size - 1})


def test_truncated_checkpoint_bytes(checkpoint_bytes: bytes) -> None:
    for length in truncation_lengths(len(checkpoint_bytes)):
        with pytest.raises(CheckpointError):
            Agent.from_bytes(checkpoint_bytes[:length])


def test_truncated_checkpoint_file(checkpoint_bytes: bytes, tmp_path: Path) -> None:
    path = tmp_path / "cut.ckpt"
    for length in truncation_lengths(len(checkpoint_bytes)):
        path.write_bytes(checkpoint_bytes[:length])
        with pytest.raises(CheckpointError):
            Agent.load(path)


def test_trailing_bytes_are_rejected(checkpoint_bytes: bytes) -> None:
    with pytest.raises(CheckpointError):
        Agent.from_bytes(checkpoint_bytes + b"\x00")
    with pytest.raises(CheckpointError):
        Agent.from_bytes(checkpoint_bytes + checkpoint_bytes)


def flip_positions(size: int) -> list[int]:
    header_and_crc = list(range(HEADER + 8)) + list(range(size - 4, size))
    spread = list(range(HEADER + 8, size - 4, max(1, (size - HEADER - 12) // 300)))
    return sorted(set(header_and_crc + spread))


def test_every_bit_flip_is_rejected_bytes(checkpoint_bytes: bytes) -> None:
    positions = flip_positions(len(checkpoint_bytes))
    assert len(positions) > 250
    for position in positions:
        with pytest.raises(CheckpointError):
            Agent.from_bytes(flip_bit(checkpoint_bytes, position))


def test_bit_flips_are_rejected_file(checkpoint_bytes: bytes, tmp_path: Path) -> None:
    path = tmp_path / "flipped.ckpt"
    size = len(checkpoint_bytes)
    for position in (0, 7, 8, 12, 19, 20, 64, size // 2, size - 5, size - 1):
        path.write_bytes(flip_bit(checkpoint_bytes, position))
        with pytest.raises(CheckpointError):
            Agent.load(path)


@pytest.mark.parametrize("version", [0, 2, 0xFFFFFFFF])
def test_wrong_format_version(checkpoint_bytes: bytes, tmp_path: Path, version: int) -> None:
    patched = bytearray(checkpoint_bytes)
    struct.pack_into("<I", patched, 8, version)
    # The checksum now mismatches too; the error must still be a CheckpointError, ...
    assert zlib.crc32(bytes(patched[:-4])) != struct.unpack_from("<I", patched, len(patched) - 4)[0]
    with pytest.raises(CheckpointError):
        Agent.from_bytes(bytes(patched))
    path = tmp_path / "version.ckpt"
    path.write_bytes(bytes(patched))
    with pytest.raises(CheckpointError):
        Agent.load(path)
    # ... and with a recomputed checksum, it is the version that is refused.
    with pytest.raises(CheckpointError, match="version"):
        Agent.from_bytes(reseal(patched))


def test_valid_checksum_but_invalid_contents(checkpoint_model: Model, checkpoint_bytes: bytes) -> None:
    """Well-sealed checkpoints whose contents are wrong are still CheckpointErrors."""
    name = checkpoint_model.cls.algorithm.encode()
    assert b'"batch_size":32' in checkpoint_bytes and checkpoint_bytes[HEADER + 4:HEADER + 4 + len(name)] == name
    name_length = struct.unpack_from("<I", checkpoint_bytes, HEADER)[0]
    sizes = HEADER + 4 + name_length
    variants: dict[str, bytes] = {
        "unknown algorithm": reseal(checkpoint_bytes.replace(name, name[:-2] + b"xx", 1)),
        "bad config": reseal(checkpoint_bytes.replace(b'"batch_size":32', b'"batch_size":0', 1)),
        "payload cut": reseal(checkpoint_bytes[:-100] + checkpoint_bytes[-4:]),
        "payload extended": reseal(checkpoint_bytes[:-4] + b"\x00\x00\x00\x00" + checkpoint_bytes[-4:]),
    }
    for field, value in (("observation_size", 4), ("action_size", 3), ("observation_size", 2**39), ("observation_size", 0)):
        patched = bytearray(checkpoint_bytes)
        struct.pack_into("<Q", patched, sizes + (0 if field == "observation_size" else 8), value)
        variants[f"{field}={value}"] = reseal(patched)
    for name, data in variants.items():
        with pytest.raises(CheckpointError):
            Agent.from_bytes(data)
        assert name  # (the name shows in the traceback of a failure)


def test_resealed_original_still_loads(checkpoint_bytes: bytes) -> None:
    """The sanity check for the test above: resealing an unmodified checkpoint changes nothing."""
    with Agent.from_bytes(reseal(bytearray(checkpoint_bytes))) as loaded:
        assert loaded.info()["replay_size"] == 50


# --------------------------------------------------------------------------- writing


def test_save_into_missing_directory(any_trained_agent: flowrl.Agent, tmp_path: Path) -> None:
    target = tmp_path / "does" / "not" / "exist.ckpt"
    with pytest.raises(CheckpointError) as caught:
        any_trained_agent.save(target)
    assert "exist.ckpt" in str(caught.value)
    assert not (tmp_path / "does").exists()
    assert any_trained_agent.act(PROBE[0]).shape == (2,)


def test_save_onto_a_directory(any_trained_agent: flowrl.Agent, tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    with pytest.raises(CheckpointError):
        any_trained_agent.save(tmp_path / "taken")
    assert (tmp_path / "taken").is_dir()
    assert listing(tmp_path) == ["taken"]  # no temporary file left behind


def test_save_to_empty_path(any_trained_agent: flowrl.Agent) -> None:
    with pytest.raises(InvalidArgumentError):
        any_trained_agent.save("")


def test_saving_again_replaces_atomically(any_trained_agent: flowrl.Agent, tmp_path: Path) -> None:
    path = tmp_path / "agent.ckpt"
    any_trained_agent.save(path, include_replay_buffer=True)
    first = path.read_bytes()
    any_trained_agent.update(2)
    any_trained_agent.save(path, include_replay_buffer=True)
    assert listing(tmp_path) == ["agent.ckpt"]
    assert path.read_bytes() != first
    with Agent.load(path) as loaded:
        assert loaded.info()["counters"] == any_trained_agent.info()["counters"]
        np.testing.assert_array_equal(loaded.act(PROBE, deterministic=True), any_trained_agent.act(PROBE, deterministic=True))


def test_failed_save_keeps_the_existing_checkpoint(checkpoint_bytes: bytes, tmp_path: Path) -> None:
    """A write that fails half-way (file-size limit, as a root-proof stand-in for a full disk)
    must leave the previous checkpoint intact and no temporary file behind."""
    path = tmp_path / "agent.ckpt"
    path.write_bytes(checkpoint_bytes)
    script = textwrap.dedent(f"""
        import resource, signal, sys
        import flowrl
        agent = flowrl.Agent.from_bytes(open({str(path)!r}, "rb").read())
        agent.update(1)  # a different state, so a successful save would change the file
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, resource.RLIM_INFINITY))
        try:
            agent.save({str(path)!r}, include_replay_buffer=True)
        except flowrl.CheckpointError as error:
            print("CheckpointError", error)
            sys.exit(0)
        sys.exit(3)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "CheckpointError" in result.stdout and "too large" in result.stdout, result.stdout
    assert path.read_bytes() == checkpoint_bytes
    assert listing(tmp_path) == ["agent.ckpt"]
    with Agent.load(path) as loaded:
        assert loaded.info()["replay_size"] == 50


# --------------------------------------------------------------------------- pickle and deepcopy


def pickle_copy(agent: flowrl.Agent) -> flowrl.Agent:
    return pickle.loads(pickle.dumps(agent))


@pytest.mark.parametrize("duplicate", [pytest.param(pickle_copy, id="pickle"), pytest.param(copy.deepcopy, id="deepcopy")])
def test_copies_are_identical_and_independent(any_trained_agent: flowrl.Agent,
                                              duplicate: Callable[[flowrl.Agent], flowrl.Agent]) -> None:
    duplicate_agent = duplicate(any_trained_agent)
    assert type(duplicate_agent) is type(any_trained_agent)
    assert duplicate_agent.handle != any_trained_agent.handle
    original = snapshot(any_trained_agent)
    copied = snapshot(duplicate_agent)
    np.testing.assert_array_equal(copied.deterministic_actions, original.deterministic_actions)
    assert copied.counters == original.counters and copied.replay_size == original.replay_size
    np.testing.assert_array_equal(duplicate_agent.act(PROBE), any_trained_agent.act(PROBE))
    # independent: training the copy leaves the original alone
    assert any_trained_agent.to_bytes() == duplicate_agent.to_bytes()
    reference = any_trained_agent.to_bytes()
    duplicate_agent.update(5)
    duplicate_agent.observe(*random_batch(np.random.default_rng(8), 3).as_args())
    assert any_trained_agent.to_bytes() == reference
    assert any_trained_agent.info()["counters"] == original.counters
    np.testing.assert_array_equal(any_trained_agent.act(PROBE, deterministic=True), original.deterministic_actions)
    assert not np.array_equal(duplicate_agent.act(PROBE, deterministic=True), original.deterministic_actions)
    # and it survives the original being closed
    any_trained_agent.close()
    assert duplicate_agent.act(PROBE).shape == (5, 2)
    assert_finite_metrics(duplicate_agent.update(1))
    duplicate_agent.close()


def test_copy_survives_original_being_collected(model: Model) -> None:
    created = model.make(seed=5)
    expected = created.act(PROBE, deterministic=True)
    duplicate = pickle_copy(created)
    del created
    import gc

    gc.collect()
    np.testing.assert_array_equal(duplicate.act(PROBE, deterministic=True), expected)
    duplicate.close()


def test_pickling_a_closed_agent_fails(model: Model) -> None:
    created = model.make()
    created.close()
    with pytest.raises(InvalidStateError):
        pickle.dumps(created)
    with pytest.raises(InvalidStateError):
        copy.deepcopy(created)
