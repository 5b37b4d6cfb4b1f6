"""Concurrency (one agent from four threads, two agents from two threads, close during a call,
thread-private error messages) and memory (create/free cycles, checkpoint cycles, finalizers)."""

from __future__ import annotations

import ctypes
import gc
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import flowrl
import numpy as np
import pytest
from conftest import ACTION_SPACE, OBSERVATION_SPACE, PROBE, make_agent, random_batch
from flowrl import _lib
from flowrl.errors import InvalidArgumentError, InvalidStateError

JOIN_TIMEOUT = 120.0


def run_threads(targets: list[Callable[[], None]]) -> list[BaseException]:
    """Runs each target in its own thread, all released together; returns the exceptions raised."""
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(targets))

    def wrap(target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                barrier.wait()
                target()
            except BaseException as error:  # noqa: BLE001 - reported to the test
                with lock:
                    errors.append(error)
        return run

    threads = [threading.Thread(target=wrap(target), daemon=True) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a thread hung (deadlock?)"
    return errors


def assert_valid_actions(actions: np.ndarray, shape: tuple[int, ...]) -> None:
    assert actions.shape == shape
    assert np.all(np.isfinite(actions))
    assert np.all(actions >= ACTION_SPACE.low) and np.all(actions <= ACTION_SPACE.high)


@dataclass
class Tally:
    gradient_steps: int = 0
    transitions: int = 0
    actions: int = 0
    losses: list[float] = field(default_factory=list)


def test_four_threads_hammer_one_agent() -> None:
    agent = make_agent(seed=1)
    agent.observe(*random_batch(np.random.default_rng(0), 64).as_args())
    iterations = 400
    tallies = [Tally() for _ in range(4)]

    def worker(index: int) -> Callable[[], None]:
        def run() -> None:
            rng = np.random.default_rng(100 + index)
            tally = tallies[index]
            for i in range(iterations):
                operation = (i + index) % 4
                if operation == 0:
                    assert_valid_actions(agent.act(rng.uniform(-1, 1, 3), deterministic=bool(i % 2)), (2,))
                    tally.actions += 1
                elif operation == 1:
                    assert_valid_actions(agent.act(rng.uniform(-1, 1, (8, 3)), deterministic=bool(i % 3 == 0)), (8, 2))
                    tally.actions += 8
                elif operation == 2:
                    agent.observe(*random_batch(rng, 2).as_args())
                    tally.transitions += 2
                else:
                    steps = 1 + i % 3
                    metrics = agent.update(steps)
                    assert set(metrics) == {"train/bc_loss"}
                    tally.losses.append(metrics["train/bc_loss"])
                    tally.gradient_steps += steps
                if i % 75 == 0:
                    info = agent.info()
                    assert info["replay_size"] >= 64
                    assert agent.to_bytes(include_replay_buffer=False)[:8] == b"FLOWRLCK"
        return run

    started = time.perf_counter()
    errors = run_threads([worker(index) for index in range(4)])
    elapsed = time.perf_counter() - started
    assert not errors, errors
    info = agent.info()
    requested = sum(tally.gradient_steps for tally in tallies)
    observed = sum(tally.transitions for tally in tallies)
    assert requested > 0 and observed > 0
    assert info["counters"]["updates"] == requested
    assert info["counters"]["transitions_seen"] == 64 + observed
    assert info["replay_size"] == min(64 + observed, 1000)
    assert info["counters"]["pretrain_steps"] == 0
    assert all(np.isfinite(loss) for tally in tallies for loss in tally.losses)
    assert elapsed < 60, f"the hammer took {elapsed:.1f} s"
    agent.close()


def test_two_agents_in_two_threads_match_a_serial_run() -> None:
    """Agents on different threads run in parallel without disturbing each other: each gives
    bit-for-bit the results of the same sequence run alone."""
    data = random_batch(np.random.default_rng(4), 100)

    def script() -> list[Any]:
        created = make_agent(seed=3)
        outputs: list[Any] = []
        try:
            created.observe(*data.as_args())
            for i in range(60):
                outputs.append(created.update(2))
                outputs.append(created.act(PROBE, deterministic=i % 2 == 0).tobytes())
            outputs.append(created.to_bytes())
        finally:
            created.close()
        return outputs

    reference = script()
    results: list[list[Any]] = [[], []]

    def worker(index: int) -> Callable[[], None]:
        def run() -> None:
            results[index] = script()
        return run

    errors = run_threads([worker(0), worker(1)])
    assert not errors, errors
    assert results[0] == reference
    assert results[1] == reference


def test_error_messages_are_private_to_each_thread(trained_agent: flowrl.FlowBC) -> None:
    empty = make_agent(seed=2)
    stale = make_agent(seed=3)
    stale_handle = stale.handle
    stale.close()
    observation = np.ascontiguousarray(PROBE[:1])
    out = np.zeros(2, np.float32)

    def expect(call: Callable[[], Any], error: type[Exception], fragment: str) -> Callable[[], None]:
        def run() -> None:
            for i in range(300):
                with pytest.raises(error) as caught:
                    call()
                assert fragment in str(caught.value), str(caught.value)
                if i % 10 == 0:
                    trained_agent.act(PROBE[0])  # a successful call in between clears the message
                    assert _lib.last_error() == ""
        return run

    errors = run_threads([
        expect(lambda: empty.update(1), InvalidStateError, "replay buffer is empty"),
        expect(lambda: trained_agent.act(np.array([np.nan, 0, 0])), InvalidArgumentError, "NaN or Inf"),
        expect(lambda: _lib.call(_lib.lib.flowrl_agent_act, trained_agent.handle, observation.ctypes.data, 1, 4, 1,
                                 out.ctypes.data, 2), InvalidArgumentError, "observation_size is 4"),
        expect(lambda: _lib.call(_lib.lib.flowrl_agent_seed, stale_handle, 1), InvalidStateError, "not valid"),
    ])
    assert not errors, errors
    empty.close()


def test_to_bytes_while_another_thread_observes() -> None:
    """Every call may come from any thread, so serialising (and so pickling) an agent while
    another thread fills its replay buffer must work.

    BUG (agent.py, Agent.to_bytes): it asks flowrl_agent_save_bytes for the size, allocates, then
    calls it again; an observe() from another thread in between grows the checkpoint, and the
    second call fails with InvalidArgumentError("buffer capacity N is smaller than the M bytes
    needed"). It should retry with the size the failed call reports (or hold a larger buffer).
    """
    agent = make_agent(seed=2, buffer_size=100_000)
    agent.observe(*random_batch(np.random.default_rng(0), 10).as_args())
    stop = threading.Event()
    observed = [0]

    def fill() -> None:
        batch = random_batch(np.random.default_rng(1), 1)
        while not stop.is_set():
            agent.observe(*batch.as_args())
            observed[0] += 1

    def serialise() -> None:
        try:
            for _ in range(200):
                data = agent.to_bytes(include_replay_buffer=True)
                assert data[:8] == b"FLOWRLCK"
        finally:
            stop.set()

    errors = run_threads([fill, serialise])
    assert observed[0] > 0
    assert not errors, f"{len(errors)} error(s), the first: {errors[0]!r}"
    agent.close()


def test_close_waits_for_a_call_in_progress() -> None:
    agent = make_agent(seed=6)
    agent.observe(*random_batch(np.random.default_rng(6), 64).as_args())
    entered = threading.Event()
    outcome: dict[str, Any] = {}

    def train() -> None:
        entered.set()
        try:
            outcome["result"] = agent.update(3000)
        except InvalidStateError as error:  # only if close() won the race before the call began
            outcome["result"] = error
        outcome["finished"] = time.perf_counter()

    thread = threading.Thread(target=train, daemon=True)
    thread.start()
    entered.wait(10)
    time.sleep(0.05)
    agent.close()
    closed_at = time.perf_counter()
    thread.join(JOIN_TIMEOUT)
    assert not thread.is_alive()
    assert agent.closed
    result = outcome["result"]
    if isinstance(result, dict):
        assert np.isfinite(result["train/bc_loss"])
        assert outcome["finished"] <= closed_at + 0.05  # free() returned only after the update ended
    else:
        assert isinstance(result, InvalidStateError)
    with pytest.raises(InvalidStateError):
        agent.act(PROBE[0])


# --------------------------------------------------------------------------- memory


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def create_and_free(count: int) -> None:
    observation = PROBE[0]
    for index in range(count):
        created = flowrl.FlowBC(None, observation_space=OBSERVATION_SPACE, action_space=ACTION_SPACE, seed=index,
                                hidden_sizes=[16], batch_size=4, flow_steps=2, buffer_size=16)
        created.act(observation)
        created.close()


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc/self/statm")
def test_create_free_cycles_do_not_leak() -> None:
    started = time.perf_counter()
    create_and_free(1_000)
    gc.collect()
    after_warmup = rss_bytes()
    create_and_free(9_000)
    gc.collect()
    after_all = rss_bytes()
    elapsed = time.perf_counter() - started
    growth = after_all - after_warmup
    assert growth < 5 * 2**20, f"RSS grew by {growth / 2**20:.1f} MB over 9,000 create/free cycles"
    assert elapsed < 60, f"10,000 create/free cycles took {elapsed:.1f} s"


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc/self/statm")
def test_checkpoint_and_error_cycles_do_not_leak(trained_agent: flowrl.FlowBC) -> None:
    data = trained_agent.to_bytes()
    bad = np.array([np.nan, 0.0, 0.0])

    def cycles(count: int) -> None:
        for _ in range(count):
            restored = flowrl.Agent.from_bytes(data)
            restored.info()
            restored.close()
            with pytest.raises(InvalidArgumentError):
                trained_agent.act(bad)
            with pytest.raises(flowrl.CheckpointError):
                flowrl.Agent.from_bytes(data[:-1])

    cycles(300)
    gc.collect()
    before = rss_bytes()
    cycles(1_500)
    gc.collect()
    growth = rss_bytes() - before
    assert growth < 5 * 2**20, f"RSS grew by {growth / 2**20:.1f} MB over 1,500 checkpoint cycles"


def test_dropped_agent_is_freed_by_its_finalizer() -> None:
    created = make_agent()
    handle = created.handle
    text = ctypes.c_char_p()
    assert _lib.lib.flowrl_agent_info(handle, ctypes.byref(text)) == 0
    del created
    gc.collect()
    assert _lib.lib.flowrl_agent_info(handle, ctypes.byref(text)) == 2  # already freed: a stale handle


def test_failed_construction_frees_its_handle(monkeypatch: pytest.MonkeyPatch) -> None:
    """If setting the metadata fails after the handle was created, the handle is still released."""
    created_handles: list[int] = []
    original_adopt = flowrl.Agent._adopt

    def recording_adopt(self: flowrl.Agent, handle: int | None) -> None:
        created_handles.append(handle or 0)
        original_adopt(self, handle)

    monkeypatch.setattr(flowrl.Agent, "_adopt", recording_adopt)
    monkeypatch.setattr(flowrl.Agent, "_metadata", lambda self: [1, 2])  # not a JSON object: rejected
    with pytest.raises(InvalidArgumentError):
        make_agent()
    gc.collect()
    assert len(created_handles) == 1 and created_handles[0]
    text = ctypes.c_char_p()
    assert _lib.lib.flowrl_agent_info(created_handles[0], ctypes.byref(text)) == 2
