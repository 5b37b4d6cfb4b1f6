"""Mode `arrays`: act, sample_chain, observe, update, pretrain and seed with random dtypes, shapes,
NaN/Inf/huge values, non-contiguous and object arrays, lists and scalars; and the raw C ABI with
sizes, counts and handles it must refuse. A call that raises a FlowRLError must leave the agent
byte-identical; a call that succeeds must return finite actions within the bounds."""

from __future__ import annotations

import ctypes
from typing import Any, Callable

import flowrl
import numpy as np
from common import VARIANTS, Findings, Input, c_call, trained_agent

DTYPES = [np.float32, np.float64, np.float16, np.int32, np.int64, np.uint8, np.bool_, np.complex64, object, "U3", np.longdouble]
SPECIALS = [np.nan, np.inf, -np.inf, 1e30, -1e30, 1e300, 3.5e38, -0.0, 1e-45, 2.0, 1e6]
STEP_VALUES: list[Any] = [1, 2, 0, -1, 1.5, float("nan"), None, "1", 2**31, 2**63, -2**63, True, np.int64(2), np.float32(1.0), [1], 1 + 0j]


class State:
    def __init__(self) -> None:
        self.agents: dict[str, flowrl.Agent] = {}
        self.uses = 0


def setup() -> State:
    return State()


def agent_for(inp: Input, state: State) -> flowrl.Agent:
    """A trained agent per algorithm, replaced now and then so that state does not pile up."""
    state.uses += 1
    if state.uses % 300 == 0:
        for agent in state.agents.values():
            agent.close()
        state.agents.clear()
    name = inp.pick(list(VARIANTS))
    if name not in state.agents:
        state.agents[name] = trained_agent(name)
    return state.agents[name]


def array(inp: Input, rows: int, columns: int = 0, scale: float = 1.0) -> Any:
    """Mostly the right shape, ``(rows, columns)`` or ``(rows,)`` when ``columns`` is 0, with a random
    dtype, layout and special values; sometimes something else entirely."""
    right = (rows, columns) if columns else (rows,)
    shape = inp.pick([right, right, right[1:] or (1,), (*right, 1), (rows + 1, *right[1:]), (*right[:-1], right[-1] + 1),
                      (0, *right[1:]), (), right[::-1], (1, 1, *right[1:])])
    values = np.random.default_rng(inp.int(0, 2**16)).uniform(-scale, scale, shape)
    for _ in range(inp.int(0, 3)):
        if values.size:
            values.flat[inp.int(0, values.size - 1)] = inp.pick(SPECIALS)
    layout = inp.int(0, 7)
    if layout == 0:
        values = np.asfortranarray(values)
    elif layout == 1 and values.ndim:
        values = np.repeat(values, 2, axis=0)[::2]  # a strided view
    dtype = inp.pick(DTYPES) if inp.chance(3) else np.float32
    with np.errstate(all="ignore"):
        result: Any = values.astype(dtype)
    if inp.chance(10):
        result = result.tolist()
    if inp.chance(20):
        result = inp.pick([None, "abc", 1.0, [[1, "a"]], [[]], np.array([None, 1.0], dtype=object)])
    return result


def python_step(inp: Input, agent: flowrl.Agent, findings: Findings) -> None:
    rows = inp.pick([1, 1, 2, 5, 0, 64])
    operation = inp.int(0, 6)
    name, call = "act", None
    if operation <= 1:
        observations = array(inp, rows, 3)
        name, call = "act", lambda: agent.act(observations, deterministic=inp.pick([True, False, 1, None, "yes"]))
    elif operation == 2:
        observations = array(inp, rows, 3)
        name, call = "sample_chain", lambda: agent.sample_chain(observations)
    elif operation == 3:
        arguments = (array(inp, rows, 3), array(inp, rows, 2, 2.0), array(inp, rows),
                     array(inp, rows, 3), array(inp, rows) if inp.chance(2) else inp.pick([[True] * rows, None, "x", [np.nan] * rows]))
        name, call = "observe", lambda: agent.observe(*arguments)
    elif operation == 4:
        steps = inp.pick(STEP_VALUES)
        name, call = f"update({steps!r})", lambda: agent.update(steps)
    elif operation == 5:
        transitions = {} if inp.chance(2) else {"rewards": array(inp, rows), "next_observations": array(inp, rows, 3),
                                                 "terminated": inp.pick([np.zeros(rows, bool), np.full(rows, np.nan), ["x"] * rows, np.ones(rows)])}
        observations, actions, steps = array(inp, rows, 3), array(inp, rows, 2, 2.0), inp.pick(STEP_VALUES)
        name, call = f"pretrain(steps={steps!r}, {sorted(transitions)})", lambda: agent.pretrain(observations, actions, steps, **transitions)
    else:
        seed = inp.pick([0, 1, -1, 2**64, 2**64 - 1, None, 1.5, "3", float("nan")])
        name, call = f"seed({seed!r})", lambda: agent.seed(seed)
    ok, result = findings.unchanged_on_error(agent, name, call)
    if ok and name in ("act", "sample_chain"):
        findings.check_actions(name, result)
    if ok and inp.data and refused(call):
        findings.add(f"{name.split('(')[0]}: accepted complex input or a fractional count instead of raising")


def refused(call: Callable[[], Any]) -> bool:
    """True if the call's arguments include complex numbers or a non-integral count (both must raise)."""
    values = [cell.cell_contents for cell in call.__closure__ or ()]
    values += [item for value in values if isinstance(value, (tuple, dict)) for item in (value.values() if isinstance(value, dict) else value)]
    return any((isinstance(value, np.ndarray) and value.dtype.kind == "c") or isinstance(value, complex)
               or (isinstance(value, (float, np.floating)) and np.isfinite(value) and value != int(value)) for value in values)


def abi_step(inp: Input, agent: flowrl.Agent, findings: Findings) -> None:
    """C calls whose arguments the library can check: sizes, counts, capacities, NULLs, handles."""
    handle = inp.pick([agent.handle, agent.handle, None, 1, 2**63, 2**64 - 1, 0xDEADBEEF])
    count = inp.pick([1, 2, 0, -1, 2**31, 2**62, -2**63, 2**63 - 1])
    observation_size, action_size = inp.pick([3, 3, 0, -3, 4, 2**62]), inp.pick([2, 2, 0, 1, -2, 2**62])
    # Buffers hold what the declared sizes ask for when that is small; otherwise the library must refuse before reading.
    rows = count if 0 <= count <= 8 else 1
    floats = np.zeros(rows * 8, np.float32)
    flags = np.zeros(rows, np.uint8)
    capacity = inp.pick([floats.size, 0, -1, 1, 2**62])
    capacity = min(capacity, floats.size) if capacity >= 0 else capacity
    out = ctypes.c_char_p()
    size = ctypes.c_int64()
    pointer = floats.ctypes.data if inp.int(0, 5) else None
    calls: list[tuple[str, Callable[[], int]]] = [
        ("act", lambda: c_call("flowrl_agent_act", handle, pointer, count, observation_size, 0, floats.ctypes.data, capacity)),
        ("particle_chain", lambda: c_call("flowrl_agent_particle_chain", handle, pointer, count, observation_size, 1,
                                          inp.pick([None, floats.ctypes.data]), capacity, ctypes.byref(size))),
        ("observe", lambda: c_call("flowrl_agent_observe", handle, pointer, pointer, pointer, pointer, flags.ctypes.data,
                                   count, observation_size, action_size)),
        ("update", lambda: c_call("flowrl_agent_update", handle, inp.pick([0, -1, -2**31, 1]), ctypes.byref(out))),
        ("pretrain", lambda: c_call("flowrl_agent_pretrain", handle, pointer, pointer, count, observation_size, action_size,
                                    inp.pick([0, -1, 1, -2**63]), ctypes.byref(out))),
        ("set_metadata", lambda: c_call("flowrl_agent_set_metadata", handle, inp.pick([None, b"", b"[]", b"{", b"\xff\xfe", b"[" * 100_000,
                                                                                        b'{"a":' * 50_000, b"{}" + b" " * 10]))),
        ("set_config", lambda: c_call("flowrl_agent_set_config", handle, inp.pick([
            None, b"", b"{}", b"[]", b"{", b"\xff\xfe", b'{"learning_rate": 1e400}', b'{"learning_rate": -0.0}', b'{"learning_rate": 1}',
            b'{"critic_learning_rate": 1e-30}', b'{"learning_rate": "auto"}', b'{"batch_size": 1}', b'{"learning_rate": ' + b"[" * 100_000,
            b'{"learning_rate": 0.001, "learning_rate": 2}']))),
        ("info", lambda: c_call("flowrl_agent_info", handle, ctypes.byref(out))),
        ("save_bytes", lambda: c_call("flowrl_agent_save_bytes", handle, 1, ctypes.cast(floats.ctypes.data, ctypes.POINTER(ctypes.c_uint8)),
                                      min(capacity, floats.nbytes), ctypes.byref(size))),
        ("load_bytes", lambda: c_call("flowrl_agent_load_bytes", None, inp.pick([0, 5, -1]), ctypes.byref(ctypes.c_void_p()))),
        ("create", lambda: c_call("flowrl_agent_create", inp.pick([b"sac", b"flow_bc", b"", None, b"\xff"]),
                                  inp.pick([None, b"", b"{", b"[1]", b'{"hidden_sizes": [' + b"[" * 100_000 + b"]}", b'{"batch_size": 1e400}']),
                                  observation_size, action_size, ctypes.byref(ctypes.c_void_p()))),
        ("seed", lambda: c_call("flowrl_agent_seed", handle, inp.int(0, 2**64 - 1))),
        ("schema", lambda: c_call("flowrl_algorithm_schema", inp.pick([b"sac", b"swfp", b"", None, b"\xff", b"sac\x00x", b"x" * 100_000]),
                                  inp.pick([ctypes.byref(out), None]))),
    ]
    name, call = inp.pick(calls)
    if handle not in (agent.handle, None) and name not in ("load_bytes", "create", "schema"):
        name += " (foreign handle)"
    findings.call(f"C {name}", call)


def run_case(inp: Input, state: State, findings: Findings) -> None:
    agent = agent_for(inp, state)
    for _ in range(inp.int(1, 3)):
        (abi_step if inp.chance(4) else python_step)(inp, agent, findings)
