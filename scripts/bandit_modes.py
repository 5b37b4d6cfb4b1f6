"""What the mode investigations share (scripts/investigate_rldt_modes.py, scripts/investigate_swfp_modes.py;
docs/rldt-modes.md, docs/swfp-modes.md): reading a learned critic out of a checkpoint, and the
share of samples near each mode.

Not a library module: the checkpoint layout is read directly (Sources/FlowRL/Checkpoint/Checkpoint.swift,
`encoded`), so a change of that layout breaks these scripts, not the package.
"""

from __future__ import annotations

import struct

import flowrl
import numpy as np


def shares(actions: np.ndarray, modes: np.ndarray, radius: float) -> np.ndarray:
    """The share of the samples within ``radius`` (Euclidean) of each mode; ``actions`` is
    ``(n, d)``, ``modes`` ``(k, d)``."""
    distances = np.linalg.norm(actions[:, None, :] - modes[None, :, :], axis=2)
    return (distances < radius).mean(axis=0)


def checkpoint_tensors(data: bytes) -> dict[str, np.ndarray]:
    """The named tensors of a checkpoint: magic (8), u32 version, u64 payload length, then the
    payload: algorithm, u64 sizes ×2, configuration and metadata strings (u32 length + UTF-8), u32
    count of (name, u64) integers, u32 count of (name, u64 rows, u64 cols, float32 values) tensors;
    a u32 CRC-32 at the end."""
    offset = 8 + 4 + 8

    def u32() -> int:
        nonlocal offset
        (value,) = struct.unpack_from("<I", data, offset)
        offset += 4
        return value

    def u64() -> int:
        nonlocal offset
        (value,) = struct.unpack_from("<Q", data, offset)
        offset += 8
        return value

    def string() -> str:
        nonlocal offset
        length = u32()
        offset += length
        return data[offset - length:offset].decode()

    string()
    u64(), u64()
    string(), string()
    for _ in range(u32()):
        string()
        u64()
    tensors = {}
    for _ in range(u32()):
        name, rows, cols = string(), u64(), u64()
        tensors[name] = np.frombuffer(data, np.float32, rows * cols, offset).reshape(rows, cols)
        offset += 4 * rows * cols
    return tensors


def critic_values(agent: flowrl.Agent, unit_actions: np.ndarray, state: float = 0.0) -> np.ndarray:
    """``½(Q₁ + Q₂)(s, a)`` of the online critic at a constant one-dimensional state (see
    ``critic_networks``)."""
    q1, q2 = critic_networks(agent, unit_actions, state)
    return 0.5 * (q1 + q2)


def critic_networks(agent: flowrl.Agent, unit_actions: np.ndarray, state: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """``(Q₁(s, a), Q₂(s, a))`` of the online critic at a constant one-dimensional state, evaluated
    from its checkpointed weights (ReLU MLPs, weights ``[out, in]``, parameters
    ``critic.<index>.<name>``: the first network's then the second's). ``unit_actions`` is
    ``(n, d)`` in the critic's own units: the action space mapped to [-1, 1]."""
    tensors = checkpoint_tensors(agent.to_bytes(include_replay_buffer=False))
    names = sorted((k for k in tensors if k.startswith("critic.")), key=lambda k: int(k.split(".")[1]))
    layers, pending = [], None
    for name in names:
        value = tensors[name]
        if pending is None:
            pending = value
        else:
            layers.append((pending, value))
            pending = None
    networks, current = [], []
    for weight, bias in layers:
        current.append((weight, bias))
        if weight.shape[0] == 1:
            networks.append(current)
            current = []
    unit_actions = unit_actions.reshape(len(unit_actions), -1).astype(np.float32)
    x0 = np.concatenate([np.full((len(unit_actions), 1), state, np.float32), unit_actions], axis=1)
    outputs = []
    for network in networks:
        x = x0
        for index, (weight, bias) in enumerate(network):
            x = x @ weight.T + bias
            if index < len(network) - 1:
                x = np.maximum(x, 0)
        outputs.append(x[:, 0])
    return outputs[0], outputs[1]
