"""The OpenBLAS that flowrl loads: which library and kernels, who chose them, and the overrides.

Each case that changes how OpenBLAS is loaded runs in a fresh interpreter, since the library is
loaded once per process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, Optional

import flowrl
import numpy as np
import pytest

AVX2_CORES = {"haswell", "zen", "skylakex", "cooperlake", "sapphirerapids"}
AVX512_CORES = {"skylakex", "cooperlake", "sapphirerapids"}

#: Prints the runtime info and a seeded agent's deterministic actions, as JSON.
PROBE_SCRIPT = """
import json, flowrl, numpy as np
from gymnasium import spaces
agent = flowrl.SAC(None, observation_space=spaces.Box(-1, 1, (17,), np.float32),
                   action_space=spaces.Box(-1, 1, (6,), np.float32), seed=3, batch_size=64)
observations = np.random.default_rng(0).uniform(-1, 1, (300, 17)).astype(np.float32)
print(json.dumps({"info": flowrl.info(), "actions": agent.act(observations, deterministic=True).tolist()}))
"""


def run_probe(**environment: Optional[str]) -> dict[str, Any]:
    """Runs PROBE_SCRIPT in a fresh interpreter with `environment` applied (None removes a variable)."""
    env = {key: value for key, value in os.environ.items() if key not in ("OPENBLAS_CORETYPE", "FLOWRL_BLAS_FORCE_RESELECT")}
    for key, value in environment.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    result = subprocess.run([sys.executable, "-c", PROBE_SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    probe: dict[str, Any] = json.loads(result.stdout)
    return probe


def test_info_names_the_library_its_version_and_core() -> None:
    blas = flowrl.info()["blas"]
    assert blas["configuration"].startswith("OpenBLAS 0.3.")
    assert os.path.isfile(blas["path"])
    assert blas["core_source"] in ("detected", "user", "flowrl")
    assert blas["cpu_vector_level"] in ("avx512", "avx2", "avx", "sse", "other")
    assert blas["threads"] == 1  # flowrl's default


@pytest.mark.parametrize("make", [lambda space, action: flowrl.SAC(None, observation_space=space, action_space=action,
                                                                      seed=4, batch_size=256, learning_starts=0),
                                  lambda space, action: flowrl.SACFlow(None, observation_space=space, action_space=action,
                                                                       seed=4, batch_size=256, learning_starts=0, flow_steps=2),
                                  lambda space, action: flowrl.SWFP(None, observation_space=space, action_space=action,
                                                                    seed=4, batch_size=256, learning_starts=0, flow_steps=2),
                                  lambda space, action: flowrl.RLDT(None, observation_space=space, action_space=action,
                                                                    seed=4, batch_size=256, learning_starts=0, flow_steps=2)],
                         ids=["sac", "sac_flow", "swfp", "rldt"])
def test_two_threads_train_the_same_parameters_as_one(make: Any) -> None:
    """At a batch where OpenBLAS splits products over threads and the critics run concurrently."""
    from gymnasium import spaces

    space, action = spaces.Box(-1, 1, (11,), np.float32), spaces.Box(-1, 1, (3,), np.float32)
    rng = np.random.default_rng(1)
    data = (rng.normal(size=(400, 11)).astype(np.float32), rng.uniform(-1, 1, (400, 3)).astype(np.float32),
            rng.normal(size=400).astype(np.float32), rng.normal(size=(400, 11)).astype(np.float32), np.zeros(400, np.float32))
    parameters = []
    try:
        for threads in (1, 2):
            flowrl.set_threads(threads)
            assert flowrl.info()["threads"] == threads == flowrl.info()["blas"]["threads"]
            agent = make(space, action)
            agent.observe(*data)
            agent.update(3)
            parameters.append(agent.get_parameters())
    finally:
        flowrl.set_threads(1)
    assert parameters[0].keys() == parameters[1].keys()
    for name in parameters[0]:
        assert parameters[0][name].tobytes() == parameters[1][name].tobytes(), name


def test_a_forked_child_updates_with_two_threads() -> None:
    """The worker thread of the concurrent branches is not in a child made by fork(): the child's
    update runs its branches one after the other instead of waiting for it."""
    code = ("import os, flowrl, numpy as np\n"
            "from gymnasium import spaces\n"
            "flowrl.set_threads(2)\n"
            "agent = flowrl.SAC(None, observation_space=spaces.Box(-1, 1, (3,), np.float32),\n"
            "                   action_space=spaces.Box(-1, 1, (2,), np.float32), seed=0, batch_size=8, learning_starts=0)\n"
            "rng = np.random.default_rng(0)\n"
            "agent.observe(rng.normal(size=(16, 3)).astype(np.float32), rng.uniform(-1, 1, (16, 2)).astype(np.float32),\n"
            "              rng.normal(size=16).astype(np.float32), rng.normal(size=(16, 3)).astype(np.float32), np.zeros(16, np.float32))\n"
            "agent.update(2)\n"
            "child = os.fork()\n"
            "if child == 0:\n"
            "    agent.update(2); os._exit(0)\n"
            "print(os.waitpid(child, 0)[1])\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0"]


def test_set_blas_threads_leaves_the_concurrent_branches_as_they_are() -> None:
    try:
        flowrl.set_threads(2)
        flowrl.set_blas_threads(1)
        assert (flowrl.info()["threads"], flowrl.info()["blas"]["threads"]) == (2, 1)
    finally:
        flowrl.set_threads(1)
    assert (flowrl.info()["threads"], flowrl.info()["blas"]["threads"]) == (1, 1)


def test_product_flops_grow_by_an_update() -> None:
    from gymnasium import spaces

    agent = flowrl.SAC(None, observation_space=spaces.Box(-1, 1, (3,), np.float32),
                       action_space=spaces.Box(-1, 1, (2,), np.float32), seed=0, batch_size=8, learning_starts=0)
    rng = np.random.default_rng(0)
    agent.observe(rng.normal(size=(16, 3)).astype(np.float32), rng.uniform(-1, 1, (16, 2)).astype(np.float32),
                  rng.normal(size=16).astype(np.float32), rng.normal(size=(16, 3)).astype(np.float32), np.zeros(16, np.float32))
    before = flowrl.info()["product_flops"]
    agent.update(1)
    after = flowrl.info()["product_flops"]
    # at least the critic's first layer, forward: 2 · batch · (3 + 2) · 256 per network of the pair
    assert after - before >= 2 * 8 * 5 * 256 * 2


def test_core_is_not_a_generic_fallback_on_a_cpu_with_avx2_or_avx512() -> None:
    blas = run_probe()["info"]["blas"]
    assert blas["core_source"] in ("detected", "flowrl")
    if blas["cpu_vector_level"] == "avx512":
        assert blas["core"].lower() in AVX512_CORES
    elif blas["cpu_vector_level"] == "avx2":
        assert blas["core"].lower() in AVX2_CORES
    else:
        pytest.skip("this CPU has no AVX2: OpenBLAS's generic cores are the right ones")


def test_a_fallback_core_is_replaced_by_one_matching_the_cpu_with_the_same_results() -> None:
    # FLOWRL_BLAS_FORCE_RESELECT makes the loader treat the detected core as a fallback, which on
    # a CPU that OpenBLAS knows is the only way to exercise the second load.
    detected = run_probe()
    replaced = run_probe(FLOWRL_BLAS_FORCE_RESELECT="1")
    blas = replaced["info"]["blas"]
    level = blas["cpu_vector_level"]
    if level not in ("avx512", "avx2"):
        pytest.skip("this CPU has no AVX2: nothing to replace")
    assert blas["core_source"] == "flowrl"
    assert blas["core"].lower() == ("skylakex" if level == "avx512" else blas["core"].lower())
    assert blas["core"].lower() in (AVX512_CORES if level == "avx512" else AVX2_CORES)
    np.testing.assert_allclose(replaced["actions"], detected["actions"], rtol=0, atol=1e-5)


def test_a_core_chosen_by_the_user_is_never_overridden() -> None:
    blas = run_probe(OPENBLAS_CORETYPE="Haswell", FLOWRL_BLAS_FORCE_RESELECT="1")["info"]["blas"]
    assert blas["core"] == "Haswell"
    assert blas["core_source"] == "user"


def test_a_missing_library_is_a_clear_error_not_a_crash() -> None:
    code = ("import flowrl\n"
            "try:\n    flowrl.info()\nexcept flowrl.InvalidStateError as error:\n    print('error:', error)\n")
    env = dict(os.environ, FLOWRL_BLAS_LIBRARY="/nonexistent/libopenblas.so")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "error: cannot load OpenBLAS" in result.stdout
    assert "/nonexistent/libopenblas.so" in result.stdout


def test_loading_openblas_starts_no_threads_until_more_are_asked_for() -> None:
    code = ("import os, flowrl\n"
            "count = lambda: len(os.listdir('/proc/self/task'))\n"
            "before = count(); flowrl.info(); loaded = count()\n"
            "flowrl.set_blas_threads(2); print(before, loaded, count(), flowrl.info()['blas']['threads'])\n")
    env = {key: value for key, value in os.environ.items() if key not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "GOTO_NUM_THREADS")}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    before, loaded, two, threads = map(int, result.stdout.split())
    assert loaded == before  # no idle OpenBLAS threads spinning on the other cores
    assert threads == 2 and two > loaded
