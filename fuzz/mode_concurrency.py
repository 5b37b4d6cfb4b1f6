"""Mode `concurrency`: several threads call act, update, observe, save, to_bytes and info on one
agent, and change the process's thread setting (`flowrl.set_threads`), while another thread
closes it (or frees its handle through the C ABI, or both). Every call must succeed or raise a
FlowRLError (InvalidStateError once the agent is closed); a crash, another exception or a thread
that never finishes is a finding."""

from __future__ import annotations

import os
import tempfile
import threading
import time
from typing import Any, Callable

import flowrl
import numpy as np
from common import VARIANTS, Findings, Input, c_call, trained_agent, transitions

JOIN_SECONDS = 60.0


class State:
    def __init__(self) -> None:
        self.directory = tempfile.mkdtemp(prefix="flowrl-fuzz-")


def setup() -> State:
    return State()


def operations(agent: flowrl.Agent, path: str, rng: np.random.Generator) -> list[tuple[str, Callable[[], Any]]]:
    batch = transitions(rng, 4)
    observation = batch[0][0]
    return [
        ("act", lambda: agent.act(observation)),
        ("act batch", lambda: agent.act(batch[0], deterministic=True)),
        ("observe", lambda: agent.observe(*batch)),
        ("update", lambda: agent.update(1)),
        ("save", lambda: agent.save(path, include_replay_buffer=True)),
        ("to_bytes", lambda: agent.to_bytes()),
        ("info", agent.info),
        ("seed", lambda: agent.seed(3)),
        # the process-wide thread setting changed under running updates (ForkJoin's branches)
        ("threads", lambda: flowrl.set_threads(int(rng.integers(1, 3)))),
    ]


def run_case(inp: Input, state: State, findings: Findings) -> None:
    variant = inp.pick(list(VARIANTS))
    agent = trained_agent(variant, inp.int(0, 3))
    handle = agent.handle
    thread_count = inp.int(2, 8)
    plans = [[inp.int(0, 8) for _ in range(inp.int(1, 12))] for _ in range(thread_count)]
    closer = inp.pick(["close", "free", "close+free", "close twice"])
    delay = inp.pick([0.0, 0.0005, 0.002, 0.01, 0.05])
    findings.trail(f"{variant}: {thread_count} threads {plans}, {closer} after {delay} s")
    lock = threading.Lock()
    barrier = threading.Barrier(thread_count + 1)

    def worker(index: int, plan: list[int]) -> None:
        path = os.path.join(state.directory, f"thread{index}.ckpt")
        table = operations(agent, path, np.random.default_rng(index))
        barrier.wait()
        for choice in plan:
            name, call = table[choice]
            try:
                call()
            except flowrl.FlowRLError:
                pass
            except Exception as error:  # noqa: BLE001
                with lock:
                    findings.add(f"concurrency: {name}: {type(error).__name__}: {error}")

    threads = [threading.Thread(target=worker, args=(index, plan), daemon=True) for index, plan in enumerate(plans)]
    for thread in threads:
        thread.start()
    barrier.wait()
    time.sleep(delay)
    if closer in ("close", "close+free", "close twice"):
        findings.call("close", agent.close)
    if closer in ("free", "close+free"):
        status = c_call("flowrl_agent_free", handle)
        if closer == "close+free" and status != flowrl.InvalidStateError.status:
            findings.add(f"concurrency: freeing a freed handle gave status {status}, not INVALID_STATE")
    if closer == "close twice":
        findings.call("second close", agent.close)
    for thread in threads:
        thread.join(JOIN_SECONDS)
    if any(thread.is_alive() for thread in threads):
        findings.add(f"concurrency: a thread did not finish within {JOIN_SECONDS:.0f} s (deadlock?)")
    findings.call("act after close", lambda: agent.act(np.zeros(3, np.float32)))
    findings.call("threads back to 1", lambda: flowrl.set_threads(1))
