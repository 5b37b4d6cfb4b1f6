"""Reads and writes flowrl's checkpoint format (Sources/FlowRL/Checkpoint/Checkpoint.swift) so the
fuzzer can change one field and still hand the library a file whose header and CRC-32 are right.

    "FLOWRLCK" · version u32 · payload length u64 · payload · CRC-32 (zlib's) of everything before it
    payload: algorithm str · observation size u64 · action size u64 · config JSON str · metadata JSON str
             · u32 count · (name str, value u64)… · u32 count · (name str, rows u64, cols u64, rows·cols f32)…
    str = u32 byte count + UTF-8; all little-endian.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

MAGIC = b"FLOWRLCK"
VERSION = 1


@dataclass
class Tensor:
    name: str
    rows: int
    cols: int
    values: np.ndarray  # float32, flat; may disagree with rows·cols after a mutation


@dataclass
class Checkpoint:
    algorithm: str
    observation_size: int
    action_size: int
    config_json: str
    metadata_json: str
    integers: list[tuple[str, int]] = field(default_factory=list)
    tensors: list[Tensor] = field(default_factory=list)
    version: int = VERSION


class _Reader:
    def __init__(self, data: bytes, offset: int) -> None:
        self.data, self.offset = data, offset

    def take(self, count: int) -> bytes:
        if count < 0 or self.offset + count > len(self.data):
            raise ValueError("truncated")
        chunk = self.data[self.offset:self.offset + count]
        self.offset += count
        return chunk

    def unpack(self, fmt: str) -> int:
        return struct.unpack("<" + fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        return self.take(self.unpack("I")).decode("utf-8")


def parse(data: bytes) -> Checkpoint:
    """The fields of a valid checkpoint (raises ValueError on a malformed one; the CRC is not checked)."""
    if data[:8] != MAGIC:
        raise ValueError("bad magic")
    reader = _Reader(data[:-4], 8)
    version = reader.unpack("I")
    reader.unpack("Q")
    checkpoint = Checkpoint(reader.string(), reader.unpack("Q"), reader.unpack("Q"), reader.string(), reader.string(),
                            version=version)
    for _ in range(reader.unpack("I")):
        checkpoint.integers.append((reader.string(), reader.unpack("Q")))
    for _ in range(reader.unpack("I")):
        name, rows, cols = reader.string(), reader.unpack("Q"), reader.unpack("Q")
        values = np.frombuffer(reader.take(4 * rows * cols), dtype="<f4").copy()
        checkpoint.tensors.append(Tensor(name, rows, cols, values))
    return checkpoint


def _string(value: str) -> bytes:
    encoded = value.encode("utf-8", "surrogatepass")
    return struct.pack("<I", len(encoded) & 0xFFFFFFFF) + encoded


def encode_payload(checkpoint: Checkpoint) -> bytes:
    """The payload; integers wrap to 64 bits as the format stores them (-1 becomes 2⁶⁴−1)."""
    mask = (1 << 64) - 1
    parts = [_string(checkpoint.algorithm), struct.pack("<QQ", checkpoint.observation_size & mask, checkpoint.action_size & mask),
             _string(checkpoint.config_json), _string(checkpoint.metadata_json), struct.pack("<I", len(checkpoint.integers))]
    parts += [_string(name) + struct.pack("<Q", value & mask) for name, value in checkpoint.integers]
    parts.append(struct.pack("<I", len(checkpoint.tensors)))
    for tensor in checkpoint.tensors:
        parts += [_string(tensor.name), struct.pack("<QQ", tensor.rows & mask, tensor.cols & mask),
                  tensor.values.astype("<f4").tobytes()]
    return b"".join(parts)


def frame(payload: bytes, version: int = VERSION, length: int | None = None) -> bytes:
    """Header, payload and a correct CRC-32 (``length`` overrides the header's payload length)."""
    body = MAGIC + struct.pack("<IQ", version & 0xFFFFFFFF, (len(payload) if length is None else length) & ((1 << 64) - 1)) + payload
    return body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF)


def encode(checkpoint: Checkpoint) -> bytes:
    return frame(encode_payload(checkpoint), checkpoint.version)
