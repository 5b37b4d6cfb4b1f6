"""Reading and writing the checkpoint format of docs/architecture.md ("Checkpoints") in Python.

The C ABI has no call to read or replace one tensor of an agent, so
:meth:`flowrl.Agent.get_parameters`, :meth:`~flowrl.Agent.set_parameters` and the replay-buffer
calls go through the agent's checkpoint bytes (``to_bytes`` / ``from_bytes``): :func:`parse`
reads the fields, :func:`build` writes them back with a new CRC-32. The core checks whatever it
loads again (names, shapes, finiteness, positions), so a rebuilt checkpoint it refuses creates no
agent and the caller's agent stays as it was.

Imports only numpy and :mod:`flowrl.errors`.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

from .errors import CheckpointError

MAGIC = b"FLOWRLCK"
#: The format version this module reads and writes.
VERSION = 1
#: magic, version, payload length.
_HEADER = struct.Struct("<8sIQ")


@dataclass
class Checkpoint:
    """The fields of a checkpoint.

    Attributes
    ----------
    algorithm : str
    observation_size, action_size : int
    config_json, metadata_json : str
    integers : dict of str to int
        Counters, optimiser steps, random state, replay write position.
    tensors : dict of str to numpy.ndarray
        ``(rows, cols)`` float32 arrays, by name.
    """

    algorithm: str
    observation_size: int
    action_size: int
    config_json: str
    metadata_json: str
    integers: dict[str, int] = field(default_factory=dict)
    tensors: dict[str, np.ndarray] = field(default_factory=dict)


class _Reader:
    def __init__(self, data: bytes, offset: int, end: int) -> None:
        self.data, self.offset, self.end = data, offset, end

    def take(self, size: int) -> bytes:
        if size < 0 or self.offset + size > self.end:
            raise CheckpointError("the checkpoint is truncated")
        chunk = self.data[self.offset:self.offset + size]
        self.offset += size
        return chunk

    def unpack(self, fmt: str) -> tuple[int, ...]:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))

    def string(self) -> str:
        (length,) = self.unpack("<I")
        try:
            return self.take(length).decode("utf-8")
        except UnicodeDecodeError:
            raise CheckpointError("the checkpoint holds a string that is not UTF-8") from None


def parse(data: bytes) -> Checkpoint:
    """The fields of checkpoint ``data`` (the bytes of ``to_bytes`` or a checkpoint file).

    Raises
    ------
    CheckpointError
        For a wrong magic or version, a length or checksum mismatch, or a truncated field.
    """
    data = bytes(data)
    if len(data) < _HEADER.size + 4:
        raise CheckpointError("the checkpoint is shorter than its header")
    magic, version, payload = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise CheckpointError("not a flowrl checkpoint (wrong magic)")
    if version != VERSION:
        raise CheckpointError(f"checkpoint format version {version}; this package reads version {VERSION}")
    end = len(data) - 4
    if _HEADER.size + payload != end:
        raise CheckpointError("the checkpoint's payload length does not match its size")
    (crc,) = struct.unpack_from("<I", data, end)
    if zlib.crc32(data[:end]) & 0xFFFFFFFF != crc:
        raise CheckpointError("the checkpoint's CRC-32 does not match (corrupted)")
    reader = _Reader(data, _HEADER.size, end)
    algorithm = reader.string()
    observation_size, action_size = reader.unpack("<QQ")
    config_json, metadata_json = reader.string(), reader.string()
    result = Checkpoint(algorithm, observation_size, action_size, config_json, metadata_json)
    (count,) = reader.unpack("<I")
    for _ in range(count):
        name = reader.string()
        (result.integers[name],) = reader.unpack("<Q")
    (count,) = reader.unpack("<I")
    for _ in range(count):
        name = reader.string()
        rows, cols = reader.unpack("<QQ")
        if rows * cols > (end - reader.offset) // 4:
            raise CheckpointError(f"the checkpoint's tensor {name!r} runs past its end")
        values = np.frombuffer(reader.take(4 * rows * cols), dtype="<f4").reshape(rows, cols)
        result.tensors[name] = values.astype(np.float32)
    if reader.offset != end:
        raise CheckpointError("the checkpoint has bytes after its last tensor")
    return result


def _string(text: str) -> bytes:
    encoded = text.encode("utf-8")
    return struct.pack("<I", len(encoded)) + encoded


def build(checkpoint: Checkpoint) -> bytes:
    """The bytes of ``checkpoint`` (names written sorted, as the core writes them)."""
    parts = [_string(checkpoint.algorithm), struct.pack("<QQ", checkpoint.observation_size, checkpoint.action_size),
             _string(checkpoint.config_json), _string(checkpoint.metadata_json),
             struct.pack("<I", len(checkpoint.integers))]
    for name in sorted(checkpoint.integers):
        parts += [_string(name), struct.pack("<Q", checkpoint.integers[name])]
    parts.append(struct.pack("<I", len(checkpoint.tensors)))
    for name in sorted(checkpoint.tensors):
        array = np.ascontiguousarray(checkpoint.tensors[name], dtype="<f4")
        rows, cols = array.shape
        parts += [_string(name), struct.pack("<QQ", rows, cols), array.tobytes()]
    payload = b"".join(parts)
    head = _HEADER.pack(MAGIC, VERSION, len(payload)) + payload
    return head + struct.pack("<I", zlib.crc32(head) & 0xFFFFFFFF)


def is_parameter(name: str) -> bool:
    """True for a network parameter or the temperature (not an optimiser moment, not replay)."""
    parts = name.split(".")
    if parts[0] == "replay":
        return False
    return not (len(parts) == 3 and parts[1] in ("m", "v") and parts[2].isdigit())


def is_replay(name: str) -> bool:
    """True for a replay-buffer entry (tensor or integer)."""
    return name.startswith("replay.")


#: ``metadata["kind"]`` of a policy file (:mod:`flowrl.policies`): a checkpoint holding only what acting needs.
POLICY_FILE_KIND = "flowrl-policy"

#: The networks an algorithm acts with, by checkpoint prefix (the ``policy:`` of each algorithm's
#: ``OffPolicyCore``: SAC's and SAC Flow's ``actor``, the flow policy ``policy`` of SWFP, RLDT and
#: flow BC); SWFP with ``act_with="prior"`` also samples from its ``prior``. Not the critics,
#: the temperature, RLDT's reference or reward scale, nor SWFP's remembered chains.
_ACTING_NETWORKS = ("actor", "policy")


def is_acting(name: str, config: dict[str, object]) -> bool:
    """True for a parameter of a network the agent acts with (``config`` is its configuration).

    tests/test_policy_file.py checks, for every algorithm and variant, that a policy file holding
    these tensors acts exactly as the agent does.
    """
    prefix = name.split(".")[0]
    acting = prefix in _ACTING_NETWORKS or (prefix == "prior" and config.get("act_with") == "prior")
    return acting and is_parameter(name)


def is_random_state(name: str) -> bool:
    """True for an integer of the agent's random generator (``generator.0`` ...)."""
    return name.startswith("generator.")
