"""Issue 10, classes 4, 7 and 8, for every algorithm: a rejected call is an InvalidArgumentError
naming the argument and leaves the agent byte-identical (what save() would write); pretraining
on whole transitions is all-or-nothing; save() refuses non-regular targets, writes through
symbolic links, keeps the file's permissions and removes the temporaries of killed saves."""

from __future__ import annotations

import ctypes
import os
import stat
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

import flowrl
import numpy as np
import pytest
from conftest import (
    ACTION_SPACE,
    ALGORITHM_PARAMS,
    OBSERVATION_SPACE,
    PROBE,
    FakeEnv,
    Model,
    assert_rejected,
    make_algorithm,
    random_batch,
    state_bytes,
)
from flowrl import _lib, _schema
from flowrl.errors import CheckpointError, InvalidArgumentError
from gymnasium import spaces

INVALID_ARGUMENT = 1


def dead_pid() -> int:
    """The id of a process that has exited."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                           check=True)
    return int(child.stdout)


# --------------------------------------------------------------------------- class 8: integers, booleans

NOT_AN_INTEGER = [
    pytest.param(float("nan"), id="nan"),
    pytest.param(None, id="None"),
    pytest.param(1.5, id="1.5"),
    pytest.param(np.float64(2.5), id="np2.5"),
    pytest.param("3", id="str"),
    pytest.param(True, id="bool"),
    pytest.param(1 + 0j, id="complex"),
    pytest.param([1], id="list"),
    pytest.param(float("inf"), id="inf"),
]


@pytest.mark.parametrize("value", NOT_AN_INTEGER)
def test_update_rejects_non_integer_gradient_steps(any_trained_agent: flowrl.Agent, value: Any) -> None:
    assert_rejected(any_trained_agent, lambda: any_trained_agent.update(value), "gradient_steps")


@pytest.mark.parametrize("value", NOT_AN_INTEGER)
def test_seed_rejects_non_integers(any_trained_agent: flowrl.Agent, value: Any) -> None:
    assert_rejected(any_trained_agent, lambda: any_trained_agent.seed(value), "seed")


@pytest.mark.parametrize("value", NOT_AN_INTEGER)
def test_pretrain_rejects_non_integer_steps(any_trained_agent: flowrl.Agent, value: Any) -> None:
    observations, actions = np.zeros((8, 3), np.float32), np.zeros((8, 2), np.float32)
    assert_rejected(any_trained_agent, lambda: any_trained_agent.pretrain(observations, actions, steps=value), "steps")


def test_integral_floats_are_accepted_as_counts(any_trained_agent: flowrl.Agent) -> None:
    """Only values that would lose something are refused: 2.0 (and 1e5 as total_timesteps) is an integer."""
    updates = any_trained_agent.info()["counters"]["updates"]
    any_trained_agent.update(2.0)
    assert any_trained_agent.info()["counters"]["updates"] == updates + 2
    any_trained_agent.seed(np.uint64(5))


@pytest.mark.parametrize("value", ["yes", None, 2, 0.5, float("nan")])
def test_boolean_arguments_reject_other_values(any_trained_agent: flowrl.Agent, value: Any) -> None:
    agent = any_trained_agent
    assert_rejected(agent, lambda: agent.act(PROBE, deterministic=value), "deterministic")
    assert_rejected(agent, lambda: agent.act(PROBE[0], deterministic=value), "deterministic")
    assert_rejected(agent, lambda: agent.to_bytes(include_replay_buffer=value), "include_replay_buffer")
    assert_rejected(agent, lambda: agent.save("unused.ckpt", include_replay_buffer=value), "include_replay_buffer")
    assert not Path("unused.ckpt").exists()


@pytest.mark.parametrize("argument, value", [
    ("total_timesteps", None), ("total_timesteps", 1.5), ("total_timesteps", "10"), ("total_timesteps", float("nan")),
    ("total_timesteps", -1), ("log_interval", 0.5), ("log_interval", "x"), ("progress_bar", "yes"),
    ("reset_num_timesteps", None),
])
def test_learn_rejects_bad_arguments(any_trained_agent: flowrl.Agent, argument: str, value: Any) -> None:
    agent = any_trained_agent
    agent.set_env(FakeEnv(OBSERVATION_SPACE, ACTION_SPACE))  # never stepped: the arguments are checked first
    arguments: dict[str, Any] = {"total_timesteps": 10, argument: value}
    assert_rejected(agent, lambda: agent.learn(**arguments), argument)


def test_learn_rejects_a_callback_of_another_kind(any_trained_agent: flowrl.Agent) -> None:
    agent = any_trained_agent
    agent.set_env(FakeEnv(OBSERVATION_SPACE, ACTION_SPACE))
    assert_rejected(agent, lambda: agent.learn(10, callback=42), "callback")


@pytest.mark.parametrize("env", [object(), FakeEnv(OBSERVATION_SPACE, None),
                                 FakeEnv(OBSERVATION_SPACE, spaces.Box(-1.0, 1.0, (3,), dtype=np.float32))])
def test_evaluate_rejects_an_env_without_matching_spaces(any_trained_agent: flowrl.Agent, env: Any) -> None:
    assert_rejected(any_trained_agent, lambda: any_trained_agent.evaluate(env, n_episodes=1), "env")


@pytest.mark.parametrize("argument, value", [
    ("n_episodes", 1.5), ("n_episodes", None), ("n_episodes", "3"), ("n_episodes", 0), ("seed", 1.5), ("seed", "1"),
    ("deterministic", "no"),
])
def test_evaluate_rejects_bad_arguments(any_trained_agent: flowrl.Agent, argument: str, value: Any) -> None:
    agent = any_trained_agent
    env = FakeEnv(OBSERVATION_SPACE, ACTION_SPACE)
    assert_rejected(agent, lambda: agent.evaluate(env, **{argument: value}), argument)


@pytest.mark.parametrize("setter", [flowrl.set_blas_threads, flowrl.set_threads])
@pytest.mark.parametrize("value", [None, 1.5, "2", True])
def test_thread_setters_reject_non_integers(setter: Callable[[int], None], value: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="count"):
        setter(value)
    setter(1)


# --------------------------------------------------------------------------- class 8: arrays

NOT_REAL_NUMBERS = [
    pytest.param(lambda shape: np.full(shape, "0.5"), id="strings"),
    pytest.param(lambda shape: np.full(shape, 0.5 + 0.5j), id="complex"),
    pytest.param(lambda shape: np.full(shape, 0.25 + 0j), id="complex-real-valued"),
    pytest.param(lambda shape: np.full(shape, None, dtype=object), id="objects"),
    pytest.param(lambda shape: np.full(shape, Decimal("0.5"), dtype=object), id="decimals"),
    pytest.param(lambda shape: None, id="None"),
    pytest.param(lambda shape: "0.5", id="str"),
]


@pytest.mark.filterwarnings("ignore::numpy.exceptions.ComplexWarning")
@pytest.mark.parametrize("make", NOT_REAL_NUMBERS)
def test_act_rejects_non_real_observations(any_trained_agent: flowrl.Agent, make: Callable[[Any], Any]) -> None:
    agent = any_trained_agent
    assert_rejected(agent, lambda: agent.act(make((3,))), "observations")
    assert_rejected(agent, lambda: agent.act(make((1, 3))), "observations")
    assert_rejected(agent, lambda: agent.act(make((4, 3)), deterministic=True), "observations")
    assert_rejected(agent, lambda: agent.predict(make((4, 3)))[0], "observations")


@pytest.mark.filterwarnings("ignore::numpy.exceptions.ComplexWarning")
@pytest.mark.parametrize("make", NOT_REAL_NUMBERS)
@pytest.mark.parametrize("field", ["observations", "actions", "rewards", "next_observations", "terminated"])
def test_observe_rejects_non_real_arrays(any_trained_agent: flowrl.Agent, make: Callable[[Any], Any], field: str) -> None:
    batch = random_batch(np.random.default_rng(3), 4)
    setattr(batch, field, make(getattr(batch, field).shape))
    assert_rejected(any_trained_agent, lambda: any_trained_agent.observe(*batch.as_args()), field)


@pytest.mark.filterwarnings("ignore::numpy.exceptions.ComplexWarning")
@pytest.mark.parametrize("make", NOT_REAL_NUMBERS)
@pytest.mark.parametrize("field", ["observations", "actions"])
def test_pretrain_rejects_non_real_arrays(any_trained_agent: flowrl.Agent, make: Callable[[Any], Any], field: str) -> None:
    arrays = {"observations": np.zeros((8, 3), np.float32), "actions": np.zeros((8, 2), np.float32)}
    arrays[field] = make(arrays[field].shape)
    assert_rejected(any_trained_agent, lambda: any_trained_agent.pretrain(arrays["observations"], arrays["actions"], steps=2),
                    field)


@pytest.mark.parametrize("observations", [[[0.1, 0.2, 0.3], [0.1, 0.2]], [[0.1, 0.2, None]]])
def test_ragged_or_incomplete_lists_are_rejected(any_trained_agent: flowrl.Agent, observations: Any) -> None:
    assert_rejected(any_trained_agent, lambda: any_trained_agent.act(observations), "observations")


# --------------------------------------------------------------------------- class 8: constructor and paths


@pytest.mark.parametrize("algorithm", ALGORITHM_PARAMS)
@pytest.mark.parametrize("key, value", [
    ("learning_rate", 1e-3 + 2j),
    ("learning_rate", object()),
    ("hidden_sizes", [32, Decimal(8)]),
    ("batch_size", {1, 2}),
    ("learning_rate", float("inf")),
    ("batch_size", 2**80),
])
def test_hyperparameters_that_are_not_json_name_the_key(algorithm: Model, key: str, value: Any) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        make_algorithm(algorithm, **{key: value})
    assert f"'{key}'" in str(caught.value)


@pytest.mark.parametrize("algorithm", ALGORITHM_PARAMS)
@pytest.mark.parametrize("argument, value", [
    ("seed", 1.5), ("seed", "1"), ("seed", True), ("seed", float("nan")),
    ("verbose", "x"), ("verbose", 0.5), ("verbose", -1), ("log_dir", 5), ("log_dir", "a\0b"),
])
def test_constructor_rejects_bad_arguments(algorithm: Model, argument: str, value: Any) -> None:
    with pytest.raises(InvalidArgumentError, match=argument):
        make_algorithm(algorithm, **{argument: value})
    # (seed=None is Stable-Baselines3's "unseeded": a seed is drawn; see test_sb3_dropin.py)


@pytest.mark.parametrize("path", [None, 5, "a\0b", b"x\0y", ""])
def test_save_and_load_reject_bad_paths(any_trained_agent: flowrl.Agent, path: Any, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert_rejected(any_trained_agent, lambda: any_trained_agent.save(path), "path")
    with pytest.raises(InvalidArgumentError, match="path"):
        flowrl.Agent.load(path)
    assert list(tmp_path.iterdir()) == []  # neither "a" nor "x" was written


@pytest.mark.parametrize("data", [None, "FLOWRLCK", 5, [1, 2]])
def test_from_bytes_rejects_non_bytes(data: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="data"):
        flowrl.Agent.from_bytes(data)


@pytest.mark.parametrize("env", [None, object(), FakeEnv(OBSERVATION_SPACE, None)])
def test_set_env_rejects_objects_without_spaces(any_trained_agent: flowrl.Agent, env: Any) -> None:
    assert_rejected(any_trained_agent, lambda: any_trained_agent.set_env(env), "env")


# --------------------------------------------------------------------------- class 4: pretrain all-or-nothing


def demonstrations(count: int = 40) -> dict[str, np.ndarray]:
    batch = random_batch(np.random.default_rng(11), count)
    return {"observations": batch.observations, "actions": batch.actions, "rewards": batch.rewards,
            "next_observations": batch.next_observations, "terminated": batch.terminated}


def nan_at_end(array: np.ndarray) -> np.ndarray:
    changed = array.astype(np.float64)
    changed.reshape(-1)[-1] = np.nan
    return changed


BAD_TRANSITIONS = [
    pytest.param("terminated", lambda a: nan_at_end(a), id="terminated-nan"),
    pytest.param("terminated", lambda a: np.where(a, "yes", "no"), id="terminated-strings"),
    pytest.param("terminated", lambda a: np.array([None] * len(a), dtype=object), id="terminated-objects"),
    pytest.param("terminated", lambda a: a[:-1], id="terminated-short"),
    pytest.param("rewards", lambda a: np.full(a.shape, 1e300), id="rewards-overflow-float32"),
    pytest.param("rewards", lambda a: nan_at_end(a), id="rewards-nan"),
    pytest.param("rewards", lambda a: a.astype(str), id="rewards-strings"),
    pytest.param("rewards", lambda a: a + 1j, id="rewards-complex"),
    pytest.param("rewards", lambda a: a[:-1], id="rewards-short"),
    pytest.param("next_observations", lambda a: nan_at_end(a), id="next-nan"),
    pytest.param("next_observations", lambda a: np.full(a.shape, 1e39), id="next-overflow-float32"),
    pytest.param("next_observations", lambda a: a[:, :2], id="next-wrong-shape"),
]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.filterwarnings("ignore::numpy.exceptions.ComplexWarning")
@pytest.mark.parametrize("field, corrupt", BAD_TRANSITIONS)
def test_pretrain_with_bad_transitions_changes_nothing(any_trained_agent: flowrl.Agent, field: str,
                                                       corrupt: Callable[[np.ndarray], Any]) -> None:
    arguments = demonstrations()
    arguments[field] = corrupt(arguments[field])
    observations, actions = arguments.pop("observations"), arguments.pop("actions")
    assert_rejected(any_trained_agent, lambda: any_trained_agent.pretrain(observations, actions, steps=3, **arguments), field)


@pytest.mark.parametrize("algorithm", ALGORITHM_PARAMS)
def test_pretrain_on_transitions_equals_pretrain_then_observe(algorithm: Model) -> None:
    """The all-or-nothing path trains and stores exactly as the two separate calls do (with the
    steps that follow storing turned off: no critic warm-up, α kept)."""
    arguments = demonstrations()
    names = _schema.schema(algorithm.cls.algorithm).names
    held = {key: value for key, value in {"critic_warmup_steps": 0, "alpha_after_pretraining": 1.0}.items() if key in names}
    with make_algorithm(algorithm, seed=3, **held) as together, make_algorithm(algorithm, seed=3, **held) as apart:
        together.pretrain(arguments["observations"], arguments["actions"], steps=4, rewards=arguments["rewards"],
                          next_observations=arguments["next_observations"], terminated=arguments["terminated"])
        apart.pretrain(arguments["observations"], arguments["actions"], steps=4)
        apart.observe(*arguments.values())
        assert together.info()["replay_size"] == 40
        assert state_bytes(together) == state_bytes(apart)


@pytest.mark.parametrize("algorithm", ALGORITHM_PARAMS)
def test_pretrain_transitions_through_ctypes_checks_before_training(algorithm: Model) -> None:
    """The core itself refuses bad transitions before training (flowrl_agent_pretrain_transitions)."""
    with make_algorithm(algorithm, seed=5) as agent:
        batch = random_batch(np.random.default_rng(4), 16)
        observations = np.ascontiguousarray(batch.observations)
        unit = agent._normalise_actions(batch.actions, 16)
        rewards = np.ascontiguousarray(batch.rewards)
        rewards[-1] = np.inf
        following = np.ascontiguousarray(batch.next_observations)
        flags = np.ascontiguousarray(batch.terminated, dtype=np.uint8)
        text = ctypes.c_char_p()
        before = state_bytes(agent)
        status = _lib.lib.flowrl_agent_pretrain_transitions(
            agent.handle, observations.ctypes.data, unit.ctypes.data, rewards.ctypes.data, following.ctypes.data,
            flags.ctypes.data, 16, 3, 2, 3, ctypes.byref(text))
        assert status == INVALID_ARGUMENT and "rewards" in _lib.last_error()
        assert state_bytes(agent) == before
        rewards[-1] = 0.0
        assert _lib.lib.flowrl_agent_pretrain_transitions(
            agent.handle, observations.ctypes.data, unit.ctypes.data, rewards.ctypes.data, following.ctypes.data,
            flags.ctypes.data, 16, 3, 2, 3, ctypes.byref(text)) == 0
        assert agent.info()["replay_size"] == 16 and agent.info()["counters"]["pretrain_steps"] == 3


# --------------------------------------------------------------------------- class 7: save targets


def test_save_refuses_a_fifo(any_trained_agent: flowrl.Agent, tmp_path: Path) -> None:
    fifo = tmp_path / "checkpoint.fifo"
    os.mkfifo(fifo)
    with pytest.raises(CheckpointError, match="regular file"):
        any_trained_agent.save(fifo)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(entry.name for entry in tmp_path.iterdir()) == ["checkpoint.fifo"]  # no temporary left


def test_save_refuses_a_character_device(any_trained_agent: flowrl.Agent, tmp_path: Path) -> None:
    """Like /dev/null, but a node of our own, so that a regression cannot replace the system's."""
    device = tmp_path / "null"
    try:
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (PermissionError, OSError) as error:
        pytest.skip(f"cannot create a device node here: {error}")
    with pytest.raises(CheckpointError, match="character device"):
        any_trained_agent.save(device)
    assert stat.S_ISCHR(os.lstat(device).st_mode)
    assert sorted(entry.name for entry in tmp_path.iterdir()) == ["null"]


def test_save_writes_through_a_symlink(any_trained_agent: flowrl.Agent, tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    target = tmp_path / "store" / "real.ckpt"
    target.write_bytes(b"stale")
    link = tmp_path / "latest.ckpt"
    link.symlink_to(Path("store") / "real.ckpt")  # relative, resolved from the link's directory
    chain = tmp_path / "chain.ckpt"
    chain.symlink_to("latest.ckpt")               # a link to a link
    any_trained_agent.save(chain, include_replay_buffer=True)
    assert chain.is_symlink() and os.readlink(chain) == "latest.ckpt"
    assert link.is_symlink() and os.readlink(link) == os.path.join("store", "real.ckpt")
    assert target.read_bytes() == state_bytes(any_trained_agent)
    assert sorted(entry.name for entry in tmp_path.iterdir()) == ["chain.ckpt", "latest.ckpt", "store"]
    assert [entry.name for entry in (tmp_path / "store").iterdir()] == ["real.ckpt"]
    with flowrl.Agent.load(link) as loaded:
        assert loaded.info()["counters"] == any_trained_agent.info()["counters"]


def test_save_through_a_dangling_symlink_creates_its_target(any_trained_agent: flowrl.Agent, tmp_path: Path) -> None:
    link = tmp_path / "latest.ckpt"
    link.symlink_to("run-1.ckpt")
    any_trained_agent.save(link)
    assert link.is_symlink() and (tmp_path / "run-1.ckpt").is_file()


def test_save_refuses_a_symlink_loop(any_trained_agent: flowrl.Agent, tmp_path: Path) -> None:
    loop = tmp_path / "loop.ckpt"
    loop.symlink_to("loop.ckpt")
    with pytest.raises(CheckpointError):
        any_trained_agent.save(loop)
    assert loop.is_symlink()


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o444])
def test_save_keeps_the_file_mode(any_trained_agent: flowrl.Agent, tmp_path: Path, mode: int) -> None:
    path = tmp_path / "agent.ckpt"
    path.write_bytes(b"old")
    path.chmod(mode)
    any_trained_agent.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert path.read_bytes() == any_trained_agent.to_bytes(include_replay_buffer=False)


def test_a_new_file_gets_the_umask_mode(any_trained_agent: flowrl.Agent, tmp_path: Path) -> None:
    previous = os.umask(0o027)
    try:
        any_trained_agent.save(tmp_path / "new.ckpt")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "new.ckpt").stat().st_mode) == 0o640


def test_save_removes_the_temporaries_of_killed_saves_only(any_trained_agent: flowrl.Agent, tmp_path: Path) -> None:
    pid = dead_pid()
    stale = [f".agent.ckpt.flowrl-tmp-{pid}-0badcafe", f"agent.ckpt.tmp-{pid}-123456789"]  # this and the older pattern
    unrelated = [
        f".agent.ckpt.flowrl-tmp-{os.getpid()}-0badcafe",  # a live process: maybe saving right now
        f".agent.ckpt.flowrl-tmp-{pid}-0badcafe.bak",       # not the pattern
        f".agent.ckpt.flowrl-tmp-{pid}-0BADCAFE",           # not the pattern
        f".other.ckpt.flowrl-tmp-{pid}-0badcafe",           # another checkpoint's
        f"agent.ckpt.tmp-{pid}-notes",
        "agent.ckpt.tmp",
        "notes.txt",
    ]
    for name in stale + unrelated:
        (tmp_path / name).write_bytes(b"partial")
    any_trained_agent.save(tmp_path / "agent.ckpt")
    assert sorted(entry.name for entry in tmp_path.iterdir()) == sorted(unrelated + ["agent.ckpt"])


def test_a_save_killed_midway_is_cleaned_up_by_the_next(any_trained_agent: flowrl.Agent, tmp_path: Path) -> None:
    """A process that dies while writing (simulated: it creates its temporary and exits) leaves a
    file that the next save removes, while the previous checkpoint stays intact throughout."""
    path = tmp_path / "agent.ckpt"
    any_trained_agent.save(path)
    first = path.read_bytes()
    script = ("import os, sys; name = os.path.join(sys.argv[1], f'.agent.ckpt.flowrl-tmp-{os.getpid()}-00c0ffee'); "
              "open(name, 'wb').write(b'half a checkpoint'); os._exit(9)")
    assert subprocess.run([sys.executable, "-c", script, str(tmp_path)]).returncode == 9
    assert len(list(tmp_path.iterdir())) == 2 and path.read_bytes() == first
    any_trained_agent.update(1)
    any_trained_agent.save(path)
    assert [entry.name for entry in tmp_path.iterdir()] == ["agent.ckpt"]
    assert path.read_bytes() != first
