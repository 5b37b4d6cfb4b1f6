"""Issue 10, classes 1, 2, 3, 5 and 6 as seen from Python: CRC-valid but damaged checkpoints raise
CheckpointError naming the field, configurations the process cannot hold raise
InvalidArgumentError naming the keys (under an address-space limit, in a subprocess), and act
never returns a silent NaN.

Checkpoints are damaged structurally (decoded, changed, re-encoded with a fresh CRC-32) so the
checks behind the checksum are what reject them.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import textwrap
import zlib
from typing import Any

import flowrl
import numpy as np
import pytest
from flowrl.errors import CheckpointError, InvalidArgumentError, NumericalError

from conftest import ACTION_SPACE, OBSERVATION_SPACE, random_batch

SMALL_SAC = {"hidden_sizes": [16], "critic_hidden_sizes": [16], "batch_size": 8, "buffer_size": 64}
ALGORITHMS = {
    flowrl.FlowBC: {"hidden_sizes": [16], "batch_size": 8, "buffer_size": 64, "flow_steps": 2},
    flowrl.SWFP: {**SMALL_SAC, "flow_steps": 2},
    flowrl.SAC: SMALL_SAC,
    flowrl.SACFlow: {**SMALL_SAC, "sigma_hidden_sizes": [16], "flow_steps": 2},
    flowrl.RLDT: {**SMALL_SAC, "flow_steps": 2, "particles": 2, "actor_batch_size": 4},
}
LIMIT = 2**53


def decode(data: bytes) -> dict[str, Any]:
    """The fields of a checkpoint (the format is documented in Checkpoint.swift)."""
    offset = 20

    def take(count: int) -> bytes:
        nonlocal offset
        offset += count
        return data[offset - count:offset]

    def string() -> str:
        return take(struct.unpack("<I", take(4))[0]).decode()

    fields: dict[str, Any] = {"algorithm": string()}
    fields["observation_size"], fields["action_size"] = struct.unpack("<QQ", take(16))
    fields["config"], fields["metadata"] = string(), string()
    fields["integers"] = {string(): struct.unpack("<Q", take(8))[0] for _ in range(struct.unpack("<I", take(4))[0])}
    tensors = {}
    for _ in range(struct.unpack("<I", take(4))[0]):
        name = string()
        rows, cols = struct.unpack("<QQ", take(16))
        tensors[name] = np.frombuffer(take(4 * rows * cols), "<f4").reshape(rows, cols).copy()
    fields["tensors"] = tensors
    return fields


def encode(fields: dict[str, Any]) -> bytes:
    """The inverse of `decode`, with a fresh CRC-32."""
    def string(text: str) -> bytes:
        raw = text.encode()
        return struct.pack("<I", len(raw)) + raw

    payload = string(fields["algorithm"]) + struct.pack("<QQ", fields["observation_size"], fields["action_size"])
    payload += string(fields["config"]) + string(fields["metadata"])
    payload += struct.pack("<I", len(fields["integers"]))
    for name in sorted(fields["integers"]):
        payload += string(name) + struct.pack("<Q", fields["integers"][name])
    payload += struct.pack("<I", len(fields["tensors"]))
    for name in sorted(fields["tensors"]):
        tensor = np.asarray(fields["tensors"][name], "<f4")
        payload += string(name) + struct.pack("<QQ", *tensor.shape) + tensor.tobytes()
    body = b"FLOWRLCK" + struct.pack("<IQ", 1, len(payload)) + payload
    return body + struct.pack("<I", zlib.crc32(body))


@pytest.fixture(params=list(ALGORITHMS), ids=lambda cls: cls.__name__)
def checkpoint(request: pytest.FixtureRequest) -> tuple[type, dict[str, Any]]:
    """A trained agent's checkpoint fields, for each algorithm."""
    cls = request.param
    with cls(None, observation_space=OBSERVATION_SPACE, action_space=ACTION_SPACE, **ALGORITHMS[cls]) as agent:
        agent.observe(*random_batch(np.random.default_rng(0), 16).as_args())
        agent.update(2)
        data = agent.to_bytes(include_replay_buffer=True)
    fields = decode(data)
    assert encode(fields) == data
    return cls, fields


def refused(fields: dict[str, Any], name: str) -> None:
    with pytest.raises(CheckpointError, match=name.replace(".", r"\.")):
        flowrl.Agent.from_bytes(encode(fields))


def test_counters_above_the_limit_are_refused(checkpoint: tuple[type, dict[str, Any]]) -> None:
    _, fields = checkpoint
    for name in [key for key in fields["integers"] if key.startswith("counters.")]:
        for value in (2**63 - 1, LIMIT + 1):
            refused({**fields, "integers": {**fields["integers"], name: value}}, name)


def test_a_counter_at_the_limit_refuses_the_call_that_would_pass_it(checkpoint: tuple[type, dict[str, Any]]) -> None:
    _, fields = checkpoint
    integers = {key: (LIMIT if key.startswith("counters.") else value) for key, value in fields["integers"].items()}
    with flowrl.Agent.from_bytes(encode({**fields, "integers": integers})) as agent:
        before = agent.to_bytes()
        with pytest.raises(flowrl.InvalidStateError, match="updates"):
            agent.update(1)
        with pytest.raises(flowrl.InvalidStateError, match="transitions_seen"):
            agent.observe(*random_batch(np.random.default_rng(1), 1).as_args())
        assert agent.to_bytes() == before


def test_optimizer_steps_written_after_updates_read_back(checkpoint: tuple[type, dict[str, Any]]) -> None:
    _, fields = checkpoint
    steps = [key for key in fields["integers"] if key.endswith(".step")]
    for value in (2**31 - 1, LIMIT):
        with flowrl.Agent.from_bytes(encode({**fields, "integers": {**fields["integers"], **{key: value for key in steps}}})) as agent:
            agent.update(2)
            flowrl.Agent.from_bytes(agent.to_bytes()).close()
    refused({**fields, "integers": {**fields["integers"], steps[0]: LIMIT + 1}}, steps[0])


def test_bad_moments_and_weights_are_refused_naming_the_tensor(checkpoint: tuple[type, dict[str, Any]]) -> None:
    _, fields = checkpoint
    for name, tensor in fields["tensors"].items():
        if name.startswith("replay."):
            continue
        for bad in ([-1.0, np.nan] if "_optimizer.v." in name else [np.nan, np.inf]):
            damaged = tensor.copy()
            damaged.flat[0] = bad
            refused({**fields, "tensors": {**fields["tensors"], name: damaged}}, name)


def test_what_an_update_leaves_reads_back_or_the_update_is_refused(checkpoint: tuple[type, dict[str, Any]]) -> None:
    # An extreme but finite first moment makes a step that overflows other optimisers' second
    # moments while every parameter stays finite (found by fuzz/run.py): the update must then be
    # refused, whole, rather than leave a state that loading refuses.
    _, fields = checkpoint
    for name in [name for name in fields["tensors"] if "_optimizer.m." in name]:
        extreme = {**fields["tensors"], name: np.full_like(fields["tensors"][name], -3.4e38)}
        with flowrl.Agent.from_bytes(encode({**fields, "tensors": extreme})) as agent:
            for _ in range(2):
                before = agent.to_bytes()
                try:
                    agent.update(1)
                except flowrl.NumericalError:
                    assert agent.to_bytes() == before
                flowrl.Agent.from_bytes(agent.to_bytes()).close()


def test_malformed_training_metadata_is_a_checkpoint_error(checkpoint: tuple[type, dict[str, Any]]) -> None:
    _, fields = checkpoint
    metadata = json.loads(fields["metadata"])
    for key, value in [("log_dir", 12), ("log_dir", ["a"]), ("num_timesteps", "12"), ("num_timesteps", -1),
                       ("episode_num", 2.5), ("verbose", [1]), ("action_rng", 7)]:
        damaged = {**metadata, "training": {**metadata["training"], key: value}}
        with pytest.raises(CheckpointError, match=f"training.{key}"):
            flowrl.Agent.from_bytes(encode({**fields, "metadata": json.dumps(damaged)}))
    with pytest.raises(CheckpointError, match="training must be an object"):
        flowrl.Agent.from_bytes(encode({**fields, "metadata": json.dumps({**metadata, "training": [1]})}))


def test_a_small_file_claiming_a_huge_agent_is_refused(checkpoint: tuple[type, dict[str, Any]]) -> None:
    _, fields = checkpoint
    refused({**fields, "observation_size": 1_000_000}, "floats")
    refused({**fields, "action_size": 10_000}, "floats")


def test_an_infinite_action_bound_in_the_metadata_is_refused(checkpoint: tuple[type, dict[str, Any]]) -> None:
    _, fields = checkpoint
    metadata = json.loads(fields["metadata"])
    metadata["action_high"] = ["inf", 2.0]
    with pytest.raises(CheckpointError, match="finite bounds"):
        flowrl.Agent.from_bytes(encode({**fields, "metadata": json.dumps(metadata)}))


def test_act_raises_instead_of_returning_nan(checkpoint: tuple[type, dict[str, Any]]) -> None:
    cls, fields = checkpoint
    huge = {name: (np.where(tensor >= 0, 1e30, -1e30).astype(np.float32)
                   if not name.startswith("replay.") and "_optimizer." not in name and name != "temperature.log_alpha" else tensor)
            for name, tensor in fields["tensors"].items()}
    cases = [(flowrl.Agent.from_bytes(encode(fields)), 1e38), (flowrl.Agent.from_bytes(encode({**fields, "tensors": huge})), 1.0)]
    refusals = 0
    for agent, value in cases:
        with agent:
            observations = np.full((3, 3), value, np.float32)
            for deterministic in (True, False):
                before = agent.to_bytes()
                try:
                    actions = agent.act(observations, deterministic=deterministic)
                except NumericalError as error:
                    refusals += 1
                    assert "act" in str(error)
                    assert agent.to_bytes() == before
                else:
                    assert np.all(np.isfinite(actions)), f"{cls.__name__} returned NaN actions without an error"
    if cls in (flowrl.FlowBC, flowrl.SACFlow):  # the cases the fuzzing campaign reported
        assert refusals > 0


def run_limited(code: str, address_space: int = 4 << 30, **environment: str) -> subprocess.CompletedProcess[str]:
    """Runs `code` in a fresh interpreter under an RLIMIT_AS (as the fuzzing campaign did)."""
    prelude = f"import resource\nresource.setrlimit(resource.RLIMIT_AS, ({address_space}, {address_space}))\n"
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **environment}, cwd=os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("algorithm, hyperparameters, keys", [
    ("SAC", {"critic_hidden_sizes": [10000, 10000]}, ["critic_hidden_sizes"]),
    ("FlowBC", {"batch_size": 1_000_000, "hidden_sizes": [4096]}, ["batch_size", "hidden_sizes"]),
    ("SACFlow", {"velocity": "decoder", "decoder_width": 4096, "decoder_layers": 64}, ["decoder_width"]),
    ("SWFP", {"hidden_sizes": [4096, 4096], "batch_size": 100_000}, ["batch_size", "hidden_sizes"]),
])
def test_configurations_beyond_the_address_space_limit_are_refused(algorithm: str, hyperparameters: dict[str, Any],
                                                                  keys: list[str]) -> None:
    result = run_limited(f"""
        import flowrl
        from conftest import ACTION_SPACE, OBSERVATION_SPACE
        try:
            flowrl.{algorithm}(None, observation_space=OBSERVATION_SPACE, action_space=ACTION_SPACE, **{hyperparameters!r})
        except flowrl.InvalidArgumentError as error:
            print("REFUSED", error)
    """)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "REFUSED" in result.stdout and "RLIMIT_AS" in result.stdout
    for key in keys:
        assert key in result.stdout


def test_a_replay_buffer_the_address_space_cannot_hold_is_an_error() -> None:
    # The estimate is overridden, so the allocation itself must fail cleanly (5.2 GB > 4 GiB).
    result = run_limited("""
        import flowrl, numpy as np
        from gymnasium import spaces
        box = spaces.Box(-1.0, 1.0, (5,), dtype=np.float32)
        try:
            flowrl.FlowBC(None, observation_space=box, action_space=spaces.Box(-1.0, 1.0, (1,)), buffer_size=100_000_000)
        except flowrl.InvalidArgumentError as error:
            print("REFUSED", error)
    """, FLOWRL_MEMORY_LIMIT=str(1 << 40))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "REFUSED" in result.stdout and "buffer_size" in result.stdout


def test_saving_or_loading_what_the_process_cannot_hold_is_an_error_not_an_abort(
        checkpoint: tuple[type, dict[str, Any]], tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Found by the long fuzz run: an agent that fits, near the address-space limit, aborted the
    # process while its checkpoint was encoded or decoded. Both are now checked against the budget.
    _, fields = checkpoint
    data = encode(fields)
    with flowrl.Agent.from_bytes(data) as agent:
        before = agent.to_bytes()
        agent.save(tmp_path / "kept.flowrl")
        monkeypatch.setenv("FLOWRL_MEMORY_LIMIT", "4096")
        with pytest.raises(CheckpointError, match="encoding the checkpoint needs"):
            agent.to_bytes()
        with pytest.raises(CheckpointError, match="encoding the checkpoint needs"):
            agent.save(tmp_path / "new.flowrl")
        with pytest.raises(CheckpointError, match="decoding the checkpoint needs"):
            flowrl.Agent.from_bytes(data)
        with pytest.raises(CheckpointError, match="reading checkpoint"):
            flowrl.Agent.load(tmp_path / "kept.flowrl")
        assert not (tmp_path / "new.flowrl").exists()
        monkeypatch.delenv("FLOWRL_MEMORY_LIMIT")
        assert agent.to_bytes() == before
