"""Mode `checkpoint`: structure-aware mutations of valid checkpoints of every algorithm, with the
header and CRC-32 recomputed so that the library's deep checks (not the checksum) see them; then
load, act, observe, update, pretrain, save and reload, through the Python package or the raw C ABI."""

from __future__ import annotations

import ctypes
import json
import os
import tempfile
from typing import Any, Callable

import flowrl
import numpy as np
from common import INTERESTING_INTS, VARIANTS, Findings, Input, c_call, trained_agent, transitions
from flowrl import _lib

import checkpoint_format as fmt

SPECIAL_FLOATS = np.array([np.nan, np.inf, -np.inf, 3.4e38, -3.4e38, 1e30, -1e-30, 1e-45, 0.0, -1.0, 1e6], dtype=np.float32)


class State:
    def __init__(self) -> None:
        self.seeds: list[tuple[str, bytes]] = [(name, trained_agent(name).to_bytes(include_replay_buffer=True)) for name in VARIANTS]
        self.seeds += [(name + "/no-buffer", trained_agent(name, 1).to_bytes(include_replay_buffer=False)) for name in VARIANTS]
        self.directory = tempfile.mkdtemp(prefix="flowrl-fuzz-")


def setup() -> State:
    return State()


# ---------------------------------------------------------------- mutations of the parsed fields

def mutate_json(inp: Input, text: str) -> str:
    """Sets, deletes or adds a (possibly nested) key of a JSON object, or breaks the text."""
    if inp.chance(8):
        return inp.pick(["", "null", "[]", "{", '{"a":' * 2000, "[" * 100_000, text[: inp.int(0, len(text))], text + "x", '"\\ud800"'])
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return text
    container, keys = document, []
    while isinstance(container, dict) and container and inp.chance(2):
        key = inp.pick(sorted(container))
        keys.append(key)
        if not isinstance(container[key], dict):
            break
        container = container[key]
    if not isinstance(container, dict):
        return text
    if keys and keys[-1] in container and not isinstance(container[keys[-1]], dict):
        target = keys[-1]
    else:
        target = inp.pick(sorted(container) + ["unknown_key"]) if container else "unknown_key"
    if inp.chance(5):
        container.pop(target, None)
    else:
        container[target] = json_value(inp)
    return json.dumps(document, allow_nan=True)


def json_value(inp: Input) -> Any:
    """A JSON-representable value, including the non-standard NaN and Infinity that json.dumps writes."""
    value = inp.value()
    if isinstance(value, (list, tuple)):
        return [v if isinstance(v, (int, float, str, bool, type(None))) else str(v) for v in value]
    if isinstance(value, (int, float, str, bool, type(None))):
        return value
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def mutate(inp: Input, checkpoint: fmt.Checkpoint) -> str:
    """One field mutation; returns a description."""
    kind = inp.int(0, 10)
    if kind <= 2 and checkpoint.integers:  # training counters, optimiser steps, random state, buffer index
        index = inp.int(0, len(checkpoint.integers) - 1)
        name, _ = checkpoint.integers[index]
        value = inp.integer()
        checkpoint.integers[index] = (name, value)
        return f"integer {name} = {value}"
    if kind == 3:
        field = inp.pick(["observation_size", "action_size"])
        value = inp.pick(INTERESTING_INTS + [1_000_000, 4, 5])
        setattr(checkpoint, field, value)
        return f"{field} = {value}"
    if kind <= 5 and checkpoint.tensors:
        tensor = inp.pick(checkpoint.tensors)
        count = inp.int(1, 4)
        for _ in range(count):
            if len(tensor.values):
                tensor.values[inp.int(0, len(tensor.values) - 1)] = inp.pick(SPECIAL_FLOATS) if inp.chance(2) else np.float32(inp.float())
        if inp.chance(3):
            tensor.values[:] = inp.pick(SPECIAL_FLOATS)
            return f"tensor {tensor.name} all = {tensor.values[:1]}"
        return f"tensor {tensor.name}: {count} values special"
    if kind == 6 and checkpoint.tensors:
        tensor = inp.pick(checkpoint.tensors)
        choice = inp.int(0, 3)
        if choice == 0:  # a shape that disagrees with the data (a parse error unless the product matches)
            tensor.rows, tensor.cols = inp.integer(), inp.integer()
        elif choice == 1:  # the same data, rows and columns exchanged
            tensor.rows, tensor.cols = tensor.cols, tensor.rows
        else:  # a consistent shape with more or fewer rows
            rows = inp.pick([0, 1, tensor.rows + 1, tensor.rows - 1, tensor.rows * 2, 4096])
            if 0 <= rows <= 4096 and 0 <= tensor.cols <= 4096:
                tensor.values = np.resize(tensor.values, rows * tensor.cols).astype(np.float32)
                tensor.rows = rows
        return f"tensor {tensor.name} shape [{tensor.rows}, {tensor.cols}] ({len(tensor.values)} values)"
    if kind == 7:
        checkpoint.config_json = mutate_json(inp, checkpoint.config_json)
        return f"config {checkpoint.config_json[:300]}"
    if kind == 8:
        checkpoint.metadata_json = mutate_json(inp, checkpoint.metadata_json)
        return f"metadata {checkpoint.metadata_json[:300]}"
    if kind == 9:
        entries = checkpoint.tensors if inp.chance(2) else checkpoint.integers
        if entries:
            index = inp.int(0, len(entries) - 1)
            action = inp.int(0, 2)
            if action == 0:
                removed = entries.pop(index)
                return f"removed {removed if isinstance(removed, tuple) else removed.name}"
            if action == 1:
                entries.append(entries[index])
                return "duplicated an entry"
            name = inp.pick(["", "x", "actor.0.weight", "\u00e9", "a" * 300])
            entries[index] = (name, entries[index][1]) if isinstance(entries[index], tuple) else fmt.Tensor(
                name, entries[index].rows, entries[index].cols, entries[index].values)
            return f"renamed an entry to {name!r}"
    checkpoint.algorithm = inp.pick(["sac", "sac_flow", "swfp", "flow_bc", "", "SAC", "x" * 100, "flow_bc\x00"])
    return f"algorithm = {checkpoint.algorithm!r}"


def mutated_bytes(inp: Input, seed: bytes, notes: list[str]) -> bytes:
    checkpoint = fmt.parse(seed)
    for _ in range(inp.int(1, 4)):
        notes.append(mutate(inp, checkpoint))
    payload = fmt.encode_payload(checkpoint)
    framing = inp.int(0, 15)
    if framing == 0:
        cut = inp.int(0, len(payload))
        notes.append(f"payload truncated to {cut} bytes (header and CRC fixed)")
        return fmt.frame(payload[:cut])
    if framing == 1:
        notes.append("extra payload bytes (header and CRC fixed)")
        return fmt.frame(payload + bytes(inp.int(1, 64)))
    if framing == 2:
        length = inp.integer()
        notes.append(f"header payload length {length}")
        return fmt.frame(payload, length=length)
    if framing == 3:
        version = inp.pick([0, 2, 2**32 - 1])
        notes.append(f"format version {version}")
        return fmt.frame(payload, version=version)
    data = fmt.encode(checkpoint)
    if framing == 4:
        position = inp.int(0, len(data) - 1)
        notes.append(f"byte {position} flipped, CRC not fixed")
        return data[:position] + bytes([data[position] ^ 0xFF]) + data[position + 1:]
    if framing == 5:
        cut = inp.int(0, len(data))
        notes.append(f"file truncated to {cut} bytes")
        return data[:cut]
    return data


# ---------------------------------------------------------------- exercising a loaded agent

def exercise_python(findings: Findings, data: bytes, state: State, inp: Input) -> None:
    if inp.chance(2):
        path = os.path.join(state.directory, "mutated.ckpt")
        with open(path, "wb") as file:
            file.write(data)
        agent = findings.call("load", lambda: flowrl.Agent.load(path))
    else:
        agent = findings.call("from_bytes", lambda: flowrl.Agent.from_bytes(data))
    if agent is None:
        return
    try:
        rng = np.random.default_rng(inp.int(0, 1000))
        observation = rng.uniform(-1, 1, (3,)).astype(np.float32)
        for deterministic in (True, False):
            ok, actions = findings.unchanged_on_error(agent, f"act(deterministic={deterministic})", lambda: agent.act(observation, deterministic))
            findings.check_actions("act after load", actions, agent._low.min(), (agent._low + agent._range).max())
        findings.unchanged_on_error(agent, "observe", lambda: agent.observe(*transitions(rng, 4)))
        findings.unchanged_on_error(agent, "update", lambda: agent.update(inp.int(1, 2)))
        findings.unchanged_on_error(agent, "pretrain", lambda: agent.pretrain(*transitions(rng, 4)[:2], steps=2))
        path = os.path.join(state.directory, "saved.ckpt")
        saved = findings.call("save", lambda: agent.save(path, include_replay_buffer=inp.chance(2)) or True)
        if saved:
            try:
                flowrl.Agent.load(path).close()
            except flowrl.FlowRLError as error:
                findings.add(f"reload of the library's own checkpoint failed: {type(error).__name__}: {error}")
            except Exception as error:  # noqa: BLE001
                findings.add(f"reload of the library's own checkpoint: {type(error).__name__}: {error}")
    finally:
        findings.call("close", agent.close)


def exercise_abi(findings: Findings, data: bytes, inp: Input) -> None:
    """The same through the C ABI alone (no Python-side metadata checks in the way)."""
    raw = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
    handle = ctypes.c_void_p()
    findings.trail("flowrl_agent_load_bytes")
    if c_call("flowrl_agent_load_bytes", raw, len(data), ctypes.byref(handle)) != 0:
        return
    agent = handle.value
    try:
        out = ctypes.c_char_p()
        findings.trail("flowrl_agent_info")
        if c_call("flowrl_agent_info", agent, ctypes.byref(out)) != 0:
            findings.add(f"info failed on a loaded agent: {_lib.last_error()}")
            return
        info = json.loads(out.value)
        observation_size, action_size = int(info["observation_size"]), int(info["action_size"])
        if observation_size * action_size > 1_000_000:
            return
        rng = np.random.default_rng(inp.int(0, 1000))
        observations = np.ascontiguousarray(rng.uniform(-1, 1, (2, observation_size)) * inp.pick([1.0, 1e6, 1e30]), dtype=np.float32)
        actions = np.zeros((2, action_size), np.float32)
        findings.trail("flowrl_agent_act")
        if c_call("flowrl_agent_act", agent, observations.ctypes.data, 2, observation_size, inp.int(0, 1), actions.ctypes.data, actions.size) == 0:
            if not np.all(np.isfinite(actions)):
                findings.add("flowrl_agent_act returned non-finite actions without an error")
        unit = np.ascontiguousarray(rng.uniform(-1, 1, (2, action_size)), dtype=np.float32)
        rewards = np.ones(2, np.float32)
        flags = np.zeros(2, np.uint8)
        findings.trail("flowrl_agent_observe")
        c_call("flowrl_agent_observe", agent, observations.ctypes.data, unit.ctypes.data, rewards.ctypes.data,
               observations.ctypes.data, flags.ctypes.data, 2, observation_size, action_size)
        findings.trail("flowrl_agent_update")
        c_call("flowrl_agent_update", agent, inp.int(1, 2), ctypes.byref(out))
        findings.trail("flowrl_agent_pretrain")
        c_call("flowrl_agent_pretrain", agent, observations.ctypes.data, unit.ctypes.data, 2, observation_size, action_size, 1,
               ctypes.byref(out))
        size = ctypes.c_int64()
        findings.trail("flowrl_agent_save_bytes")
        if c_call("flowrl_agent_save_bytes", agent, 1, None, 0, ctypes.byref(size)) == 0:
            buffer = (ctypes.c_uint8 * size.value)()
            if c_call("flowrl_agent_save_bytes", agent, 1, buffer, size.value, ctypes.byref(size)) == 0:
                again = ctypes.c_void_p()
                findings.trail("flowrl_agent_load_bytes (own bytes)")
                if c_call("flowrl_agent_load_bytes", buffer, size.value, ctypes.byref(again)) != 0:
                    findings.add(f"the library cannot read its own checkpoint: {_lib.last_error()}")
                else:
                    c_call("flowrl_agent_free", again.value)
    finally:
        findings.trail("flowrl_agent_free")
        c_call("flowrl_agent_free", agent)


def run_case(inp: Input, state: State, findings: Findings) -> None:
    name, seed = inp.pick(state.seeds)
    notes = [name]
    data = mutated_bytes(inp, seed, notes)
    findings.trail("mutations: " + "; ".join(notes))
    exercise: Callable[[], None] = (lambda: exercise_abi(findings, data, inp)) if inp.chance(3) else (
        lambda: exercise_python(findings, data, state, inp))
    exercise()
