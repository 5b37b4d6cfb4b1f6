"""Timing helpers the benchmark scripts share: an environment wrapper that adds up its seconds,
a method wrapper that does the same for an agent's act and update, and the analytic FLOP count of
one SAC update."""

from __future__ import annotations

import platform
import time
from pathlib import Path

import gymnasium as gym


class TimedEnv(gym.Wrapper):
    """Adds up the seconds spent in the environment's ``step`` and ``reset``."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.seconds = 0.0

    def step(self, action):
        start = time.perf_counter()
        try:
            return self.env.step(action)
        finally:
            self.seconds += time.perf_counter() - start

    def reset(self, **kwargs):
        start = time.perf_counter()
        try:
            return self.env.reset(**kwargs)
        finally:
            self.seconds += time.perf_counter() - start


def timed(owner, name: str, totals: dict) -> None:
    """Shadows ``owner.name`` with a wrapper that adds its seconds and calls to ``totals[name]``."""
    method = getattr(owner, name)
    totals[name] = {"seconds": 0.0, "calls": 0}

    def wrapper(*arguments, **keywords):
        start = time.perf_counter()
        try:
            return method(*arguments, **keywords)
        finally:
            totals[name]["seconds"] += time.perf_counter() - start
            totals[name]["calls"] += 1

    setattr(owner, name, wrapper)  # an instance attribute shadows the method the library's learn calls


def sac_update_flops(observation_size: int, action_size: int, hidden: list[int], critic_hidden: list[int], batch: int) -> float:
    """FLOPs of the matrix products in one SAC update (2·m·n·k each; a backward pass through weights
    and inputs counted as twice the forward, through inputs only as once); flowrl's SAC and SB3's
    do the same products, so one count serves both."""
    def forward(sizes: list[int]) -> float:
        return sum(2.0 * batch * a * b for a, b in zip(sizes, sizes[1:]))

    actor = forward([observation_size] + hidden) + 2 * forward([hidden[-1], action_size])
    critic = 2 * forward([observation_size + action_size] + critic_hidden + [1])   # the twin pair
    # actor: forward at s and at s', backward once; critic: target forward, forward + full backward,
    # forward at (s, a_π) + backward through the inputs only.
    return 4 * actor + critic * (1 + 3 + 2)


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (else what ``platform`` knows), for result files."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
