"""Mode `config`: random keyword configurations for every algorithm (sizes, batch sizes, learning
rates, strings, nested lists, huge integers, floats, None, values JSON cannot hold, unknown keys,
large spaces). Each case runs in a forked child under RLIMIT_AS = 4 GiB, so that an allocator
abort kills only the child; the child creates the agent and, if that succeeds, acts, observes,
updates, pretrains and round-trips a checkpoint. Outcomes other than success or a FlowRLError
(a signal, another exception, NaN actions) are findings."""

from __future__ import annotations

import os
import resource
import signal
import time
from typing import Any

import flowrl
import numpy as np
from common import SMALL, VARIANTS, Findings, Input, make_agent, transitions
from gymnasium import spaces

CHILD_SECONDS = 120.0  # a configuration that is merely slow is not a finding; it is logged
ADDRESS_SPACE = 4 << 30
MEMORY_INTS = [0, -1, 1, 2, 64, 256, 4096, 10_000, 65_536, 1_000_000, 10**7, 10**9, 2**31 - 1, 2**31, 2**32, 2**53, 2**63 - 1, 2**64, 10**30]


class State:
    def __init__(self) -> None:
        # Each algorithm's keys and default values, as its agents report them.
        self.defaults: dict[str, dict[str, Any]] = {name: make_agent(name).config for name in VARIANTS}


def setup() -> State:
    return State()


def value_for(inp: Input, default: Any) -> Any:
    """A value shaped like ``default`` but stressing memory and ranges, or anything at all."""
    if inp.chance(3):
        return inp.value()
    if isinstance(default, list):
        return inp.sizes()
    if isinstance(default, bool) or default is None:
        return inp.value()
    if isinstance(default, int):
        return inp.pick(MEMORY_INTS)
    if isinstance(default, float):
        return inp.float()
    return inp.pick(["auto", "gated", "decoder", "mlp", "", "none", "exact", "logdet", "separate", "parallel", "terminal"]) if inp.chance(2) else inp.value()


def configuration(inp: Input, state: State) -> tuple[str, int, int, dict[str, Any]]:
    variant = inp.pick(list(VARIANTS))
    defaults = state.defaults[variant]
    keywords = {key: value for key, value in {**SMALL, **VARIANTS[variant][1]}.items() if key in defaults}
    for _ in range(inp.int(1, 4)):
        key = inp.pick(sorted(defaults) + ["unknown_key", "verbose", "log_dir"])
        keywords[key] = value_for(inp, defaults.get(key))
    observation_size = inp.pick([3, 3, 3, 1, 1000, 100_000, 1_000_000])
    action_size = inp.pick([2, 2, 1, 64, 1000])
    return variant, observation_size, action_size, keywords


def child(variant: str, observation_size: int, action_size: int, keywords: dict[str, Any], report: int) -> int:
    """Runs in the forked process; writes its steps and findings to ``report``; returns the exit status."""
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    for number in (signal.SIGILL, signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS, signal.SIGFPE, signal.SIGTRAP):
        signal.signal(number, signal.SIG_DFL)  # die of the signal, so the parent sees it (not libFuzzer's handler)
    findings = Findings(lambda step: os.write(report, f"step {step}\n".encode()))
    box = spaces.Box(-1.0, 1.0, (observation_size,), dtype=np.float32)
    actions = spaces.Box(-1.0, 1.0, (action_size,), dtype=np.float32)
    cls = VARIANTS[variant][0]
    agent = findings.call("create", lambda: cls(observation_space=box, action_space=actions, **keywords))
    if agent is not None:
        rng = np.random.default_rng(0)
        observations = rng.uniform(-1, 1, (4, observation_size)).astype(np.float32)
        unit = rng.uniform(-1, 1, (4, action_size)).astype(np.float32)
        _, rewards, _, terminated = transitions(rng, 4)[1:]
        steps = [
            ("act", lambda: findings.check_actions("act", agent.act(observations[0]), -1.0, 1.0)),
            ("observe", lambda: agent.observe(observations, unit, rewards, observations, terminated)),
            ("update", lambda: agent.update(1)),
            ("pretrain", lambda: agent.pretrain(observations, unit, steps=1)),
            ("checkpoint round trip", lambda: flowrl.Agent.from_bytes(agent.to_bytes()).close()),
        ]
        for step, function in steps:
            findings.call(step, lambda function=function: function() or True)
    for text in findings.items:
        os.write(report, f"finding {text}".replace("\n", " ").encode() + b"\n")
    return 3 if findings.items else 0


def run_case(inp: Input, state: State, findings: Findings) -> None:
    variant, observation_size, action_size, keywords = configuration(inp, state)
    description = f"{variant} observation_size={observation_size} action_size={action_size} {keywords!r}"[:3000]
    findings.trail(description)
    reading, writing = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(reading)
        status = 1
        try:
            status = child(variant, observation_size, action_size, keywords, writing)
        finally:
            os._exit(status)
    os.close(writing)
    deadline = time.monotonic() + CHILD_SECONDS
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            status = -1
            break
        time.sleep(0.002)
    with os.fdopen(reading, "rb") as stream:
        lines = stream.read().decode("utf-8", "replace").splitlines()
    steps = [line[5:] for line in lines if line.startswith("step ")]
    last = steps[-1] if steps else "(start)"
    for line in lines:
        if line.startswith("finding "):
            findings.add(f"config: {line[8:]}\n{description}")
    if status == -1:
        print(f"config: slow case (> {CHILD_SECONDS:.0f} s, not a finding) during {last}: {description}", flush=True)
    elif os.WIFSIGNALED(status):
        findings.add(f"config: child killed by {signal.Signals(os.WTERMSIG(status)).name} during {last}\n{description}")
    elif os.WEXITSTATUS(status) not in (0, 3):
        findings.add(f"config: child exited with status {os.WEXITSTATUS(status)} during {last}\n{description}")
