"""What every fuzz mode shares: decoding a case from bytes, interesting values, tiny agents, and
the checks that turn an outcome into a finding.

A case is a function of its input bytes only (``Input``), so the file saved for a finding
reproduces it exactly, with atheris or with the plain random loop.
"""

from __future__ import annotations

import ctypes
import math
import re
import struct
import traceback
from typing import Any, Callable, Optional, Sequence, TypeVar

import flowrl
import numpy as np
from flowrl import _lib
from gymnasium import spaces

T = TypeVar("T")

OBSERVATION_SPACE = spaces.Box(-1.0, 1.0, (3,), dtype=np.float32)
ACTION_SPACE = spaces.Box(-2.0, 2.0, (2,), dtype=np.float32)

#: Name -> (class, keyword arguments): every algorithm, with networks small enough for thousands of cases.
VARIANTS: dict[str, tuple[type[flowrl.Agent], dict[str, Any]]] = {
    "sac": (flowrl.SAC, {"critic_hidden_sizes": [8]}),
    "sac_flow_gated": (flowrl.SACFlow, {"velocity": "gated", "critic_hidden_sizes": [8], "sigma_hidden_sizes": [8], "flow_steps": 2, "time_embedding_size": 4}),
    "sac_flow_mlp": (flowrl.SACFlow, {"velocity": "mlp", "critic_hidden_sizes": [8], "sigma_hidden_sizes": [8], "flow_steps": 2, "time_embedding_size": 4}),
    "sac_flow_decoder": (flowrl.SACFlow, {"velocity": "decoder", "critic_hidden_sizes": [8], "sigma_hidden_sizes": [8], "flow_steps": 2,
                                          "decoder_width": 8, "decoder_heads": 2, "decoder_layers": 1, "time_embedding_size": 4}),
    "swfp": (flowrl.SWFP, {"critic_hidden_sizes": [8], "flow_steps": 2, "time_embedding_size": 4}),
    "flow_bc": (flowrl.FlowBC, {"flow_steps": 2, "time_embedding_size": 4}),
    "rldt": (flowrl.RLDT, {"critic_hidden_sizes": [8], "flow_steps": 2, "time_embedding_size": 4, "particles": 2, "actor_batch_size": 2}),
}
SMALL: dict[str, Any] = {"hidden_sizes": [8], "batch_size": 4, "buffer_size": 64}

INTERESTING_INTS = [0, 1, -1, 2, 3, 7, 255, 256, 65535, 2**31 - 1, 2**31, -2**31, 2**32, 2**40, 2**53, 2**62,
                    2**63 - 1, 2**63, -2**63, 2**64 - 1, 2**64, 10**6, 10**9, 10**12, 10**30]
INTERESTING_FLOATS = [0.0, -0.0, 1.0, -1.0, 0.5, 1e-45, 1e-38, 3.4e38, 3.5e38, 1e300, -1e300, 1e-300,
                      math.nan, math.inf, -math.inf, 5e-324]
STRINGS = ["", "auto", "gated", "decoder", "mlp", "silu", "relu", "tanh", "gelu", "block", "terminal", "shared",
           "separate", "sampled", "parallel", "exact", "hutchinson", "logdet", "nan", "inf", "1e400", "\x00", "é\u2028",
           "\ud800", "x" * 5000, '{"a": 1}', "[[[[[[[[", "-1"]


class Input:
    """Draws decisions from a byte string; past its end every draw is 0 (so any prefix is a case)."""

    def __init__(self, data: bytes) -> None:
        self.data, self.position = data, 0

    def bits(self, count: int) -> int:
        size = (count + 7) // 8
        chunk = self.data[self.position:self.position + size]
        self.position += size
        return int.from_bytes(chunk.ljust(size, b"\0"), "little") & ((1 << count) - 1)

    def int(self, low: int, high: int) -> int:
        """An integer in [low, high]."""
        span = high - low + 1
        return low + self.bits(span.bit_length() + 8) % span

    def chance(self, one_in: int) -> bool:
        return self.int(0, one_in - 1) == 0

    def pick(self, options: Sequence[T]) -> T:
        return options[self.int(0, len(options) - 1)]

    def float(self) -> float:
        """An interesting float, or any double (NaNs and infinities included)."""
        if self.chance(2):
            return self.pick(INTERESTING_FLOATS)
        return struct.unpack("<d", self.bits(64).to_bytes(8, "little"))[0]

    def integer(self) -> int:
        return self.pick(INTERESTING_INTS) if self.chance(2) else self.int(-2**64, 2**64)

    def value(self, depth: int = 0) -> Any:
        """Any keyword-argument value: numbers, strings, None, lists (nested), dicts, numpy scalars, odd objects."""
        kind = self.int(0, 11 if depth < 3 else 6)
        if kind == 0:
            return self.integer()
        if kind == 1:
            return self.float()
        if kind == 2:
            return self.int(0, 64)
        if kind == 3:
            return self.pick([True, False, None])
        if kind == 4:
            return self.pick(STRINGS)
        if kind == 5:
            return self.pick([np.float32(self.float()), np.int64(self.int(-2**63, 2**63 - 1)), np.uint64(self.int(0, 2**64 - 1))])
        if kind == 6:
            return self.pick([b"16", 1 + 2j, {1, 2}, object(), np.zeros(2), Ellipsis])
        if kind in (7, 8):
            return [self.sizes() if self.chance(2) else self.value(depth + 1) for _ in range(self.int(0, 4))] or self.sizes()
        if kind == 9:
            return self.sizes()
        if kind == 10:
            return tuple(self.value(depth + 1) for _ in range(self.int(0, 3)))
        return {self.pick(STRINGS[:6]): self.value(depth + 1) for _ in range(self.int(0, 3))}

    def sizes(self) -> list[int]:
        """A list of layer sizes, biased to the ones that stress memory."""
        return [self.pick([1, 2, 8, 64, 1024, 4096, 10000, 16384, 16385, 100_000, 0, -1, 2**31, 2**63 - 1])
                for _ in range(self.int(1, 4))]


def make_agent(variant: str, seed: int = 0, **overrides: Any) -> flowrl.Agent:
    cls, extra = VARIANTS[variant]
    return cls(observation_space=OBSERVATION_SPACE, action_space=ACTION_SPACE, seed=seed, **{**SMALL, **extra, **overrides})


def transitions(rng: np.random.Generator, count: int) -> tuple[np.ndarray, ...]:
    """``count`` valid transitions in the environment's units."""
    return (rng.uniform(-1, 1, (count, 3)).astype(np.float32), rng.uniform(-2, 2, (count, 2)).astype(np.float32),
            rng.normal(size=count).astype(np.float32), rng.uniform(-1, 1, (count, 3)).astype(np.float32), rng.random(count) < 0.1)


def trained_agent(variant: str, seed: int = 0) -> flowrl.Agent:
    """A small agent with a partly filled replay buffer, after a few updates (non-zero moments and counters)."""
    agent = make_agent(variant, seed)
    agent.observe(*transitions(np.random.default_rng(seed), 16))
    agent.update(2)
    return agent


def signature(text: str) -> str:
    """A finding's class: its first line with numbers, addresses and paths blurred, cut short."""
    text = (text.splitlines() or [""])[0]
    text = re.sub(r"\((?:[^()]|\([^()]*\))*\)", "()", text)  # arguments, one level of nesting
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", text)
    text = re.sub(r"/[\w./+-]+", "<path>", text)
    text = re.sub(r"0x[0-9a-fA-F]+|-?\d[\d_.e+-]*", "N", text)
    return " ".join(text.split())[:160]


class Findings:
    """Collects the findings of one case; the runner saves a reproducer for each."""

    def __init__(self, trail: Callable[[str], None] = lambda step: None) -> None:
        self.items: list[str] = []
        self.trail = trail

    def add(self, text: str) -> None:
        self.items.append(text)

    def call(self, step: str, function: Callable[[], T]) -> Optional[T]:
        """Runs one step: a FlowRLError is an accepted outcome (None), any other exception a finding."""
        self.trail(step)
        try:
            return function()
        except flowrl.FlowRLError:
            return None
        except Exception as error:  # noqa: BLE001 - every other exception is what we look for
            where = traceback.extract_tb(error.__traceback__)[-1]
            self.add(f"{step}: {type(error).__name__} at {where.name}:{where.lineno}: {str(error)[:300]}")
            return None

    def unchanged_on_error(self, agent: flowrl.Agent, step: str, function: Callable[[], T]) -> tuple[bool, Optional[T]]:
        """Runs a step on ``agent``; if it raises a FlowRLError, the agent's checkpoint bytes must not change.
        Returns (succeeded, result)."""
        before = self.call(f"{step} (state before)", lambda: agent.to_bytes(include_replay_buffer=True))
        self.trail(step)
        try:
            return True, function()
        except flowrl.FlowRLError as error:
            after = self.call(f"{step} (state after)", lambda: agent.to_bytes(include_replay_buffer=True))
            if before is not None and after is not None and before != after:
                self.add(f"{step}: raised {type(error).__name__} but changed the agent ({str(error)[:200]})")
            return False, None
        except Exception as error:  # noqa: BLE001
            where = traceback.extract_tb(error.__traceback__)[-1]
            self.add(f"{step}: {type(error).__name__} at {where.name}:{where.lineno}: {str(error)[:300]}")
            return False, None

    def check_actions(self, step: str, actions: Any, low: float = -2.0, high: float = 2.0) -> None:
        """Actions returned without an error must be finite and within the bounds."""
        if actions is None:
            return
        array = np.asarray(actions, dtype=np.float64)
        if not np.all(np.isfinite(array)):
            self.add(f"{step}: returned non-finite actions without an error")
        elif np.any(array < low - 1e-4) or np.any(array > high + 1e-4):
            self.add(f"{step}: returned actions outside the bounds [{low}, {high}]")


def c_call(name: str, *arguments: Any) -> int:
    """A raw C ABI call (declared by the package's _lib); returns the status."""
    return int(getattr(_lib.lib, name)(*arguments))


def float_buffer(values: np.ndarray) -> tuple[np.ndarray, int]:
    array = np.ascontiguousarray(values, dtype=np.float32)
    return array, array.ctypes.data


def c_string_out() -> ctypes.c_char_p:
    return ctypes.c_char_p()
