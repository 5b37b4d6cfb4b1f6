"""``agent.policy`` and the policy-only file (flowrl.policies): Stable-Baselines3's
``model.policy.predict``, ``policy.save`` and ``MlpPolicy.load``.

A loaded policy must act exactly as the agent did when it saved it (deterministic actions, and
stochastic ones from the same random state or the same seed), for every algorithm and variant of
MODEL_LIST; the file must hold only what acting needs; loading must refuse any damaged or foreign
file with a clear error.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any, Callable

import flowrl
import numpy as np
import pytest
from conftest import ACTION_SPACE, MODEL_LIST, OBSERVATION_SPACE, PROBE, Model, random_batch
from flowrl import _checkpoint
from flowrl.policies import FlowG, FlowMlp, FlowPolicy, FlowT, MlpPolicy

ALGORITHMS = [pytest.param(model, id=model.id) for model in MODEL_LIST]


def trained(model: Model, seed: int = 7, updates: int = 5) -> flowrl.Agent:
    """An agent of ``model`` whose networks have moved away from their initial values."""
    agent = model.make(seed=seed)
    agent.observe(*random_batch(np.random.default_rng(1), 64).as_args())
    agent.update(updates)
    return agent


@pytest.fixture(scope="module")
def sac_policy_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SAC policy file (a small trained agent)."""
    path = tmp_path_factory.mktemp("policy") / "sac_policy.flowrl"
    trained(MODEL_LIST[1]).policy.save(path)
    return path


def rewritten(path: Path, target: Path, change: Callable[[_checkpoint.Checkpoint], None]) -> Path:
    """A copy of the policy file ``path`` at ``target`` with ``change`` applied to its fields and a
    valid CRC-32 (so that only the loader's own checks can refuse it)."""
    checkpoint = _checkpoint.parse(path.read_bytes())
    change(checkpoint)
    target.write_bytes(_checkpoint.build(checkpoint))
    return target


# ---------------------------------------------------------------------------------- round trip


@pytest.mark.parametrize("model", ALGORITHMS)
def test_a_loaded_policy_acts_as_the_agent(model: Model, tmp_path: Path) -> None:
    agent = trained(model)
    untrained = model.make(seed=7)
    # the test can fail: the trained acting network differs from the one its configuration builds
    assert not np.array_equal(agent.predict(PROBE, deterministic=True)[0], untrained.predict(PROBE, deterministic=True)[0])
    path = tmp_path / "policy.flowrl"
    agent.policy.save(path)
    policy = MlpPolicy.load(path)
    assert isinstance(policy, MlpPolicy) and policy.algorithm == agent.algorithm
    assert policy.observation_space == OBSERVATION_SPACE and policy.action_space == ACTION_SPACE
    assert policy.to_bytes() == path.read_bytes()  # the file round-trips byte for byte
    # stochastic: from the random state at the save, then after the same seed
    for _ in range(2):
        np.testing.assert_array_equal(policy.predict(PROBE)[0], agent.policy.predict(PROBE)[0])
        np.testing.assert_array_equal(policy.predict(PROBE[0])[0], agent.predict(PROBE[0])[0])
    policy.seed(123)
    agent.policy.seed(123)
    np.testing.assert_array_equal(policy.predict(PROBE)[0], agent.predict(PROBE)[0])
    # deterministic, a batch and one observation
    for observation in (PROBE, PROBE[2]):
        actions, state = policy.predict(observation, deterministic=True)
        assert state is None
        np.testing.assert_array_equal(actions, agent.predict(observation, deterministic=True)[0])
    assert policy.predict(PROBE[2], deterministic=True)[0].shape == (2,)
    assert policy.predict(PROBE, deterministic=True)[0].shape == (len(PROBE), 2)


@pytest.mark.parametrize("model", ALGORITHMS)
def test_the_file_holds_only_what_acting_needs(model: Model, tmp_path: Path) -> None:
    agent = trained(model)
    stored = _checkpoint.parse(agent.policy.to_bytes())
    full = _checkpoint.parse(agent.to_bytes(include_replay_buffer=True))
    prefixes = {name.split(".")[0] for name in stored.tensors}
    assert prefixes in ({"actor"}, {"policy"}, {"policy", "prior"}), prefixes
    assert ("prior" in prefixes) == (agent.config.get("act_with") == "prior")
    assert all(_checkpoint.is_parameter(name) for name in stored.tensors)
    for name, array in stored.tensors.items():
        np.testing.assert_array_equal(array, full.tensors[name])
    assert set(stored.integers) == {name for name in full.integers if name.startswith("generator.")}
    assert json.loads(stored.config_json) == agent.config
    metadata = json.loads(stored.metadata_json)
    assert metadata["kind"] == "flowrl-policy" and metadata["version"] == 1
    assert metadata["observation_shape"] == [3] and metadata["action_low"] == [-2.0, -2.0]


def test_the_file_is_much_smaller_than_a_checkpoint_with_replay(tmp_path: Path) -> None:
    agent = flowrl.SAC(observation_space=OBSERVATION_SPACE, action_space=ACTION_SPACE, seed=0, buffer_size=5000)
    agent.observe(*random_batch(np.random.default_rng(2), 2000).as_args())
    agent.update(2)
    agent.policy.save(tmp_path / "policy.flowrl")
    agent.save(tmp_path / "agent.flowrl", include_replay_buffer=True)
    agent.save(tmp_path / "agent_without_replay.flowrl")
    policy_size = (tmp_path / "policy.flowrl").stat().st_size
    # actor only: no critic, target critic, Adam moments or replay buffer
    assert policy_size * 5 < (tmp_path / "agent_without_replay.flowrl").stat().st_size
    assert policy_size * 5 < (tmp_path / "agent.flowrl").stat().st_size


def test_the_policy_names_load_the_files_their_algorithms_take(tmp_path: Path, sac_policy_file: Path) -> None:
    """``FlowG.load`` reads a Flow-G SACFlow policy; the other names refuse what they do not name."""
    for model in MODEL_LIST:
        agent = model.make(seed=1)
        path = tmp_path / f"{model.id}.flowrl"
        agent.policy.save(path)
        velocity = agent.config.get("velocity")
        for policy_class, takes in ((MlpPolicy, True), (FlowPolicy, agent.algorithm != "sac"),
                                    (FlowG, velocity == "gated"), (FlowT, velocity == "decoder"),
                                    (FlowMlp, velocity == "mlp")):
            if takes:
                loaded = policy_class.load(path)
                assert type(loaded) is policy_class
                np.testing.assert_array_equal(loaded.predict(PROBE, deterministic=True)[0],
                                              agent.predict(PROBE, deterministic=True)[0])
            else:
                with pytest.raises(flowrl.InvalidArgumentError, match=f"which {policy_class.__name__} does not name"):
                    policy_class.load(path)
    with pytest.raises(flowrl.InvalidArgumentError, match=r"'sac' policy, .*load it with flowrl.policies.MlpPolicy.load$"):
        FlowPolicy.load(sac_policy_file)


def test_the_view_is_the_agents_policy() -> None:
    agent = trained(MODEL_LIST[2])
    policy = agent.policy
    assert isinstance(policy, MlpPolicy) and policy.algorithm == "swfp" and policy.config == agent.config
    before = policy.predict(PROBE, deterministic=True)[0]
    agent.update(3)  # a view: it acts with the agent's current parameters
    after = policy.predict(PROBE, deterministic=True)[0]
    assert not np.array_equal(before, after)
    np.testing.assert_array_equal(after, agent.predict(PROBE, deterministic=True)[0])
    # SB3's keywords and positional order
    actions, state = policy.predict(PROBE[0], None, None, True)
    assert state is None and actions.shape == (2,) and actions.dtype == np.float32
    assert repr(policy) == "MlpPolicy(algorithm='swfp')"


def test_a_loaded_policy_saves_and_pickles(tmp_path: Path, sac_policy_file: Path) -> None:
    import pickle

    policy = MlpPolicy.load(sac_policy_file)
    policy.save(tmp_path / "again.flowrl")
    assert (tmp_path / "again.flowrl").read_bytes() == sac_policy_file.read_bytes()
    copy = pickle.loads(pickle.dumps(policy))
    np.testing.assert_array_equal(copy.predict(PROBE, deterministic=True)[0], policy.predict(PROBE, deterministic=True)[0])


# ---------------------------------------------------------------------------------- writing


def test_save_replaces_atomically_and_keeps_permissions(tmp_path: Path, sac_policy_file: Path) -> None:
    agent = trained(MODEL_LIST[0])
    path = tmp_path / "policy.flowrl"
    path.write_bytes(b"old contents")
    os.chmod(path, 0o640)
    agent.policy.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert MlpPolicy.load(path).algorithm == "flow_bc"
    link = tmp_path / "link.flowrl"
    link.symlink_to(path)
    trained(MODEL_LIST[1]).policy.save(link)  # the link is followed; it stays a link
    assert link.is_symlink() and MlpPolicy.load(path).algorithm == "sac"
    assert sorted(item.name for item in tmp_path.iterdir()) == ["link.flowrl", "policy.flowrl"]  # no temporary file left


def test_save_refuses_what_it_cannot_write(tmp_path: Path) -> None:
    agent = trained(MODEL_LIST[0])
    existing = tmp_path / "policy.flowrl"
    agent.policy.save(existing)
    before = existing.read_bytes()
    with pytest.raises(flowrl.CheckpointError, match="not a regular file"):
        agent.policy.save(tmp_path)
    with pytest.raises(flowrl.CheckpointError, match="cannot write"):
        agent.policy.save(tmp_path / "no_such_folder" / "policy.flowrl")
    for path, message in (("", "empty"), ("a\0b", "NUL"), (3.5, "path")):
        with pytest.raises(flowrl.InvalidArgumentError, match=message):
            agent.policy.save(path)  # type: ignore[arg-type]
    agent.close()
    with pytest.raises(flowrl.InvalidStateError, match="closed"):
        agent.policy.save(existing)
    assert existing.read_bytes() == before
    assert sorted(item.name for item in tmp_path.iterdir()) == ["policy.flowrl"]


# ---------------------------------------------------------------------------------- reading


def test_damaged_files_are_refused(tmp_path: Path, sac_policy_file: Path) -> None:
    data = sac_policy_file.read_bytes()
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x01
    cases = {"flipped": (bytes(flipped), "CRC-32"), "truncated": (data[:-100], "length"),
             "empty": (b"", "shorter than its header"), "other": (b"PK\x03\x04" + data[4:], "magic"),
             "tail": (data + b"\0", "length")}
    for name, (contents, message) in cases.items():
        path = tmp_path / f"{name}.flowrl"
        path.write_bytes(contents)
        with pytest.raises(flowrl.CheckpointError, match=message):
            MlpPolicy.load(path)
    with pytest.raises(flowrl.CheckpointError, match="cannot read the policy file"):
        MlpPolicy.load(tmp_path / "missing.flowrl")
    with pytest.raises(flowrl.CheckpointError, match="cannot read the policy file"):
        MlpPolicy.load(tmp_path)


def _set_metadata(key: str, value: Any) -> Callable[[_checkpoint.Checkpoint], None]:
    def change(checkpoint: _checkpoint.Checkpoint) -> None:
        metadata = json.loads(checkpoint.metadata_json)
        if value is None:
            del metadata[key]
        else:
            metadata[key] = value
        checkpoint.metadata_json = json.dumps(metadata)
    return change


def _set_config(key: str, value: Any) -> Callable[[_checkpoint.Checkpoint], None]:
    def change(checkpoint: _checkpoint.Checkpoint) -> None:
        checkpoint.config_json = json.dumps({**json.loads(checkpoint.config_json), key: value})
    return change


def _first_tensor(checkpoint: _checkpoint.Checkpoint) -> str:
    return sorted(checkpoint.tensors)[0]


def _poison(checkpoint: _checkpoint.Checkpoint) -> None:
    name = _first_tensor(checkpoint)
    array = checkpoint.tensors[name].copy()
    array.flat[0] = np.nan
    checkpoint.tensors[name] = array


def _reshape(checkpoint: _checkpoint.Checkpoint) -> None:
    name = _first_tensor(checkpoint)
    checkpoint.tensors[name] = np.zeros((1, checkpoint.tensors[name].size + 1), np.float32)


CHANGES: dict[str, tuple[Callable[[_checkpoint.Checkpoint], None], str]] = {
    "nan parameter": (_poison, "holds NaN or Inf"),
    "missing parameter": (lambda c: c.tensors.pop(_first_tensor(c)), "do not match its configuration: missing"),
    "extra parameter": (lambda c: c.tensors.update({"critic.0.q1.layers.0.weight": np.zeros((1, 1), np.float32)}),
                        "unexpected \\['critic"),
    "misshapen parameter": (_reshape, "has shape"),
    "missing random state": (lambda c: c.integers.clear(), "random-state entries do not match"),
    "invalid random state": (lambda c: c.integers.update({name: 0 for name in c.integers}), "generator"),
    "agent checkpoint": (_set_metadata("kind", None), "not a policy file but a 'sac' agent checkpoint"),
    "newer version": (_set_metadata("version", 2), "policy file version 2"),
    "spaces": (_set_metadata("action_low", ["nan", 0.0]), "recorded spaces are invalid"),
    "space sizes": (_set_metadata("observation_shape", [4]), "recorded spaces"),
    "metadata": (lambda c: setattr(c, "metadata_json", "[1, 2]"), "metadata is not a JSON object"),
    "config json": (lambda c: setattr(c, "config_json", "{"), "configuration is not valid JSON"),
    "deep metadata": (lambda c: setattr(c, "metadata_json", "[" * 100_000), "metadata is not valid JSON"),
    "deep config": (lambda c: setattr(c, "config_json", '{"a":' * 2000), "configuration is not valid JSON"),
    "config value": (_set_config("hidden_sizes", [0]), "configuration is invalid: .*hidden_sizes"),
    "config key": (_set_config("no_such_key", 1), "configuration is invalid: .*no_such_key"),
    "algorithm": (lambda c: setattr(c, "algorithm", "no_such_algorithm"), "unknown algorithm 'no_such_algorithm'"),
}


@pytest.mark.parametrize("case", sorted(CHANGES))
def test_invalid_contents_are_refused(case: str, tmp_path: Path, sac_policy_file: Path) -> None:
    change, message = CHANGES[case]
    path = rewritten(sac_policy_file, tmp_path / "changed.flowrl", change)
    with pytest.raises(flowrl.CheckpointError, match=message):
        MlpPolicy.load(path)


def test_an_agent_load_of_a_policy_file_says_so(sac_policy_file: Path, tmp_path: Path) -> None:
    with pytest.raises(flowrl.CheckpointError, match="is a policy file .* flowrl.policies.MlpPolicy.load"):
        flowrl.SAC.load(sac_policy_file)
    agent = trained(MODEL_LIST[1])
    agent.save(tmp_path / "agent.flowrl")
    with pytest.raises(flowrl.CheckpointError, match="agent checkpoint: load it with the algorithm's load"):
        MlpPolicy.load(tmp_path / "agent.flowrl")


def test_an_agent_load_of_a_damaged_checkpoint_stays_a_checkpoint_error(tmp_path: Path) -> None:
    """The check for a policy file behind an agent's load error survives what the core refuses
    (JSON nested beyond Python's recursion limit, found by the fuzz run)."""
    agent = trained(MODEL_LIST[1])
    for metadata in ("[" * 100_000, '{"a":' * 2000):
        checkpoint = _checkpoint.parse(agent.to_bytes(include_replay_buffer=False))
        checkpoint.metadata_json = metadata
        path = tmp_path / "deep.flowrl"
        path.write_bytes(_checkpoint.build(checkpoint))
        with pytest.raises(flowrl.CheckpointError):
            flowrl.SAC.load(path)


def test_load_arguments(sac_policy_file: Path) -> None:
    assert MlpPolicy.load(sac_policy_file, device="cpu").algorithm == "sac"
    with pytest.raises(flowrl.InvalidArgumentError, match="CPU"):
        MlpPolicy.load(sac_policy_file, device="cuda")
    with pytest.raises(flowrl.InvalidArgumentError, match="bytes"):
        MlpPolicy.from_bytes("not bytes")  # type: ignore[arg-type]
    with pytest.raises(flowrl.InvalidArgumentError, match="wraps a flowrl agent"):
        MlpPolicy(object())  # type: ignore[arg-type]
