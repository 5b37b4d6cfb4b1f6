"""flowrl.experiments: grids, the serial and Ray backends, resumption after an exception and after
a hard kill (identical to an uninterrupted run), the report's statistics against a direct
computation, the command line, and the errors before any trial runs.

Every trial is tiny (a few hundred Pendulum steps, 32-unit layers), so the file runs in well under
a minute besides the Ray test's start-up.
"""

from __future__ import annotations

import builtins
import importlib
import importlib.util
import inspect
import json
import math
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import flowrl
import gymnasium
import numpy as np
import pytest
from flowrl import experiments
from flowrl.callbacks import BaseCallback
from flowrl.experiments import __main__ as cli
from flowrl.experiments import _trial

#: Small settings every algorithm here takes.
SMALL: dict[str, Any] = {"hidden_sizes": [[32, 32]], "batch_size": 32, "buffer_size": 2000, "learning_starts": 100}
#: A 2 × 2 grid: two learning rates × two seeds of SAC, 300 steps, evaluated every 100.
GRID: dict[str, Any] = {"algorithms": ["SAC"], "envs": ["Pendulum-v1"], "seeds": [0, 1], "timesteps": 300,
                        "hyperparameters": {**SMALL, "learning_rate": [3e-4, 1e-3]}, "eval_every": 100,
                        "eval_episodes": 2}


def evaluations(row: dict[str, Any]) -> list[dict[str, Any]]:
    return json.loads((Path(row["path"]) / "evaluations.json").read_text())


def parameters(row: dict[str, Any]) -> dict[str, np.ndarray]:
    agent = experiments.ALGORITHMS[row["algorithm"]].load(row["checkpoint"])
    try:
        return agent.get_parameters()
    finally:
        agent.close()


# ---------------------------------------------------------------------------------------- statistics


def test_iqm_is_the_mean_of_the_middle_half() -> None:
    """floor(n/4) values dropped at each end, for every n from 1 to 12 (scipy's trim_mean(x, 0.25))."""
    rng = np.random.default_rng(3)
    for n in range(1, 13):
        values = rng.normal(size=n)
        ordered = sorted(values)
        cut = n // 4
        middle = ordered[cut:n - cut]
        assert experiments.iqm(values) == pytest.approx(sum(middle) / len(middle), abs=1e-12)
    assert experiments.iqm([1.0, 2.0, 3.0]) == pytest.approx(2.0)                 # n < 4: the mean
    assert experiments.iqm([1.0, 2.0, 3.0, 100.0]) == pytest.approx(2.5)          # the middle two
    assert experiments.iqm([-50.0, 1.0, 2.0, 3.0, 100.0]) == pytest.approx(2.0)  # the middle three
    assert experiments.iqm(np.arange(8.0)) == pytest.approx(3.5)                  # values 2..5


def test_bootstrap_ci_against_a_direct_resampling() -> None:
    values = np.array([-150.0, -170.0, -210.0, -400.0, -160.0])
    low, high = experiments.bootstrap_ci(values, 0.95, resamples=2000, seed=7)
    rng = np.random.default_rng(7)
    indices = rng.integers(0, len(values), size=(2000, len(values)))
    means = sorted(sum(values[i] for i in row) / len(values) for row in indices)
    # numpy's linear interpolation of the 2.5% and 97.5% quantiles, written out
    def quantile(q: float) -> float:
        position = q * (len(means) - 1)
        below = math.floor(position)
        return means[below] + (position - below) * (means[min(below + 1, len(means) - 1)] - means[below])
    assert low == pytest.approx(quantile(0.025), abs=1e-9) and high == pytest.approx(quantile(0.975), abs=1e-9)
    assert low <= np.mean(values) <= high
    assert experiments.bootstrap_ci(values) == experiments.bootstrap_ci(values)  # seeded
    assert experiments.bootstrap_ci([5.0]) == (5.0, 5.0)
    with pytest.raises(ValueError):
        experiments.bootstrap_ci([1.0, math.nan])


def _fake_trial(storage: Path, algorithm: str, seed: int, learning_rate: float, curve: list[float] | dict[int, float],
                label: str | None = None, dataset: str | None = None) -> None:
    """A finished trial folder written by hand: its evaluations' mean returns are ``curve`` (a list:
    at steps 100, 200, ...; a dict: by step, step 0 for a pretrained trial)."""
    spec = experiments.TrialSpec(algorithm, "Pendulum-v1", seed, {"learning_rate": learning_rate}, timesteps=300,
                                 eval_every=100, eval_episodes=1, dataset=dataset,
                                 name=f"{label or algorithm}_lr{learning_rate}_seed{seed}", label=label)
    folder = storage / spec.name
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(spec.to_dict()))
    by_step = curve if isinstance(curve, dict) else {100 * (index + 1): value for index, value in enumerate(curve)}
    records = [{"step": step, "mean_return": value, "std_return": 0.0, "returns": [value], "lengths": [200]}
               for step, value in by_step.items()]
    (folder / "evaluations.json").write_text(json.dumps(records))
    (folder / "result.json").write_text(json.dumps({"final_return": records[-1]["mean_return"],
                                                    "best_return": max(by_step.values()), "steps": 300}))


def test_report_against_a_direct_computation(tmp_path: Path) -> None:
    finals = {0: -300.0, 1: -150.0, 2: -1000.0, 3: -200.0, 4: -180.0}
    for seed, final in finals.items():
        _fake_trial(tmp_path, "SAC", seed, 1e-3, [-1200.0, -600.0 + seed, final])
    _fake_trial(tmp_path, "SWFP", 0, 3e-4, [-900.0, -500.0, -400.0])
    table = experiments.report(tmp_path, resamples=4000, seed=1)
    assert [(row["algorithm"], row["seeds"]) for row in table.rows] == [("SAC", 5), ("SWFP", 1)]
    sac = table.rows[0]
    values = np.array([finals[seed] for seed in sorted(finals)])
    assert sac["finals"] == list(values)
    assert sac["final_mean"] == pytest.approx(values.mean())
    assert sac["final_iqm"] == pytest.approx(np.mean(sorted(values)[1:4]))  # n = 5: drop one at each end
    rng = np.random.default_rng(1)
    means = values[rng.integers(0, 5, size=(4000, 5))].mean(axis=1)
    assert (sac["final_ci_low"], sac["final_ci_high"]) == pytest.approx(tuple(np.quantile(means, [0.025, 0.975])))
    best = np.array([max(-600.0 + seed, finals[seed]) for seed in sorted(finals)])
    assert sac["best_mean"] == pytest.approx(best.mean()) and sac["best_iqm"] == pytest.approx(np.mean(sorted(best)[1:4]))
    swfp = table.rows[1]
    assert swfp["final_mean"] == swfp["final_ci_low"] == swfp["final_ci_high"] == swfp["final_iqm"] == -400.0
    assert "| SAC | Pendulum-v1 | learning_rate=0.001 | 5 | 300 |" in table.markdown
    assert (tmp_path / "report.md").read_text().strip() == table.markdown
    steps, mean, low, high = experiments._report.curve(
        [experiments._report._Trial(*_read(tmp_path / f"SAC_lr0.001_seed{seed}")) for seed in finals], band="minmax")
    assert list(steps) == [100, 200, 300] and mean[2] == pytest.approx(values.mean())
    assert (low[2], high[2]) == (-1000.0, -150.0)
    if table.plots:  # matplotlib present
        assert Path(table.plots[0]).name == "curves_Pendulum-v1.png" and Path(table.plots[0]).stat().st_size > 1000


def test_offline_to_online_metrics_on_fixed_curves() -> None:
    """start, worst (after step 0), dip = (worst - start) / |start|, final, final / start (start > 0
    only), AUC = the mean after step 0: the definitions of scripts/benchmark_offline_to_online.py."""
    metrics = experiments.offline_to_online_metrics({0: 300.0, 100: 150.0, 200: 330.0, 300: 420.0})
    assert metrics == pytest.approx({"start": 300.0, "worst": 150.0, "dip": -0.5, "final": 420.0, "final_ratio": 1.4,
                                     "auc": 300.0})
    unordered = experiments.offline_to_online_metrics({300: 420.0, 0: 300.0, 200: 330.0, 100: 150.0})
    assert unordered == metrics  # by step, not by the mapping's order
    negative = experiments.offline_to_online_metrics({0: -400.0, 100: -600.0, 200: -100.0})
    assert negative["dip"] == pytest.approx(-0.5)  # 50% worse than the start, measured on |start|
    assert math.isnan(negative["final_ratio"]) and negative["auc"] == pytest.approx(-350.0)
    kept = experiments.offline_to_online_metrics({0: 200.0, 100: 260.0})
    assert kept["worst"] == 260.0 and kept["dip"] == pytest.approx(0.3)  # never below the start: a positive dip
    untrained = experiments.offline_to_online_metrics({100: 5.0, 200: 7.0})  # no step 0: no start
    assert math.isnan(untrained["start"]) and math.isnan(untrained["dip"]) and math.isnan(untrained["final_ratio"])
    assert (untrained["worst"], untrained["final"], untrained["auc"]) == (5.0, 7.0, 6.0)
    only_start = experiments.offline_to_online_metrics({0: 10.0})
    assert (only_start["worst"], only_start["dip"], only_start["auc"], only_start["final_ratio"]) == (10.0, 0.0, 10.0, 1.0)
    assert experiments.offline_to_online_metrics({0: 0.0, 100: -1.0})["dip"] == pytest.approx(-1e8)  # |start| floored
    for bad in ({}, {0: math.nan}, {-1: 1.0}):
        with pytest.raises(ValueError):
            experiments.offline_to_online_metrics(bad)


def test_report_offline_to_online_metrics_against_a_direct_computation(tmp_path: Path) -> None:
    """Four pretrained seeds (evaluated at step 0) and two seeds without a dataset, with labels."""
    curves = {0: {0: 300.0, 100: 150.0, 200: 330.0, 300: 420.0},
              1: {0: 200.0, 100: 220.0, 200: 180.0, 300: 260.0},
              2: {0: 250.0, 100: 50.0, 200: 100.0, 300: 200.0},
              3: {0: 280.0, 100: 280.0, 200: 290.0, 300: 300.0}}
    for seed, curve in curves.items():
        _fake_trial(tmp_path, "SAC", seed, 1e-3, curve, label="sac-bc", dataset="/data/demos.npz")
    for seed, curve in {0: [10.0, 30.0, 50.0], 1: [20.0, 10.0, 60.0]}.items():
        _fake_trial(tmp_path, "SAC", seed, 1e-3, curve, label="sac-scratch")
    table = experiments.report(tmp_path, resamples=3000, seed=2, plot=False)
    assert [(row["label"], row["algorithm"], row["seeds"]) for row in table.rows] == [("sac-bc", "SAC", 4),
                                                                                       ("sac-scratch", "SAC", 2)]
    bc, scratch = table.rows
    # the values per seed, written out from the curves above
    expected = {"start": [300.0, 200.0, 250.0, 280.0], "worst": [150.0, 180.0, 50.0, 280.0],
                "dip": [-0.5, -0.1, -0.8, 0.0], "final_ratio": [1.4, 1.3, 0.8, 300.0 / 280.0],
                "auc": [300.0, 220.0, 350.0 / 3.0, 290.0], "final": [420.0, 260.0, 200.0, 300.0]}
    rng = np.random.default_rng(2)
    indices = rng.integers(0, 4, size=(3000, 4))
    for name, values in expected.items():
        array = np.array(values)
        assert bc[f"{name}s"] == pytest.approx(values)
        assert bc[f"{name}_mean"] == pytest.approx(array.mean())
        assert bc[f"{name}_iqm"] == pytest.approx(np.mean(sorted(values)[1:3]))  # n = 4: the middle two
        means = array[indices].mean(axis=1)
        assert (bc[f"{name}_ci_low"], bc[f"{name}_ci_high"]) == pytest.approx(tuple(np.quantile(means, [0.025, 0.975])))
    assert scratch["worsts"] == [10.0, 10.0] and scratch["aucs"] == [30.0, 30.0] and scratch["auc_mean"] == 30.0
    assert all(math.isnan(scratch[f"{name}_{statistic}"]) for name in ("start", "dip", "final_ratio")
               for statistic in ("mean", "ci_low", "ci_high", "iqm"))
    assert bc["dataset"] == "/data/demos.npz" and scratch["dataset"] is None
    assert "| sac-bc (SAC) | Pendulum-v1 | learning_rate=0.001 | 4 |" in table.markdown
    offline_table = table.markdown.split("Offline-to-online")[1]
    assert f"| sac-bc (SAC) | Pendulum-v1 | learning_rate=0.001 | 4 | {np.mean(expected['start']):.1f} [" in offline_table
    assert "| sac-scratch (SAC) | Pendulum-v1 | learning_rate=0.001 | 2 | – |" in offline_table
    negative_start = tmp_path / "negative"
    _fake_trial(negative_start, "SAC", 0, 1e-3, {0: -300.0, 100: -200.0}, dataset="/data/demos.npz")
    _fake_trial(negative_start, "SAC", 1, 1e-3, {0: 100.0, 100: 200.0}, dataset="/data/demos.npz")
    row = experiments.report(negative_start, plot=False).rows[0]
    assert math.isnan(row["final_ratio_mean"]) and row["dip_mean"] == pytest.approx((1 / 3 + 1) / 2)  # no ratio over a part of the seeds


def _read(folder: Path) -> tuple[Any, Any, Any]:
    config = json.loads((folder / "config.json").read_text())
    return (experiments.TrialSpec.from_dict(config), json.loads((folder / "result.json").read_text()),
            json.loads((folder / "evaluations.json").read_text()))


# ---------------------------------------------------------------------------------------- checks


def test_errors_name_the_bad_input_before_any_trial_runs(tmp_path: Path) -> None:
    storage = tmp_path / "sweep"
    base = {**GRID, "storage": storage, "backend": "serial", "verbose": 0}
    with pytest.raises(flowrl.InvalidArgumentError, match="'PPO'"):
        experiments.sweep(**{**base, "algorithms": ["SAC", "PPO"]})
    with pytest.raises(flowrl.InvalidArgumentError, match="NoSuchEnv-v0"):
        experiments.sweep(**{**base, "envs": ["NoSuchEnv-v0"]})
    with pytest.raises(flowrl.InvalidArgumentError, match="learning_rat"):
        experiments.sweep(**{**base, "hyperparameters": {"learning_rat": [1e-3]}})
    with pytest.raises(flowrl.InvalidArgumentError, match="flow_steps"):  # SWFP's key, not SAC's
        experiments.sweep(**{**base, "algorithms": ["SWFP", "SAC"], "hyperparameters": {"flow_steps": [4]}})
    with pytest.raises(flowrl.InvalidArgumentError, match="batch_size"):
        experiments.sweep(**{**base, "hyperparameters": {"batch_size": [0]}})
    with pytest.raises(flowrl.InvalidArgumentError, match="backend"):
        experiments.sweep(**{**base, "backend": "slurm"})
    with pytest.raises(flowrl.InvalidArgumentError, match="seeds"):
        experiments.sweep(**{**base, "seeds": [1, 1]})
    with pytest.raises(flowrl.InvalidArgumentError, match="seed"):
        experiments.sweep(**{**base, "hyperparameters": {"seed": [1, 2]}})
    assert not storage.exists()


def test_the_grid_expands_in_order() -> None:
    specs = experiments.expand(["swfp", flowrl.SAC], ["Pendulum-v1"], [0, 1], 1000,
                               {"learning_rate": [3e-4, 1e-3], "hidden_sizes": [[64, 64]]})
    assert [(spec.algorithm, spec.hyperparameters["learning_rate"], spec.seed) for spec in specs] == [
        ("SWFP", 3e-4, 0), ("SWFP", 3e-4, 1), ("SWFP", 1e-3, 0), ("SWFP", 1e-3, 1),
        ("SAC", 3e-4, 0), ("SAC", 3e-4, 1), ("SAC", 1e-3, 0), ("SAC", 1e-3, 1)]
    assert specs[0].eval_every == 100 and specs[0].hyperparameters["hidden_sizes"] == [64, 64]
    assert specs[0].name == "SWFP_Pendulum-v1_hidden_sizes=64x64_learning_rate=0.0003_seed0"
    explicit = experiments.hyperparameter_grid([{"learning_rate": 1e-3}, {"learning_rate": 3e-4, "batch_size": 64}])
    assert explicit == [{"learning_rate": 1e-3}, {"learning_rate": 3e-4, "batch_size": 64}]


#: Benchmark rows as sweep entries: fixed settings per algorithm, labels, one row without the dataset.
ENTRIES: list[Any] = [
    "SWFP",
    {"algorithm": "SACFlow", "label": "sac-flow-gated", "hyperparameters": {"velocity": "gated"}},
    {"algorithm": "sac", "label": "sac-bc"},
    {"algorithm": flowrl.SAC, "label": "sac-scratch", "dataset": None, "hyperparameters": {"learning_rate": [1e-3, 3e-4]}},
]


def test_entries_expand_with_their_own_settings() -> None:
    specs = experiments.expand(ENTRIES, ["Pendulum-v1"], [0, 1], 1000, {"batch_size": 64}, dataset="pendulum/demo-v0",
                               pretrain_steps=50)
    assert [(spec.algorithm, spec.label, spec.hyperparameters, spec.dataset, spec.seed) for spec in specs] == [
        ("SWFP", None, {"batch_size": 64}, "pendulum/demo-v0", 0),
        ("SWFP", None, {"batch_size": 64}, "pendulum/demo-v0", 1),
        ("SACFlow", "sac-flow-gated", {"batch_size": 64, "velocity": "gated"}, "pendulum/demo-v0", 0),
        ("SACFlow", "sac-flow-gated", {"batch_size": 64, "velocity": "gated"}, "pendulum/demo-v0", 1),
        ("SAC", "sac-bc", {"batch_size": 64}, "pendulum/demo-v0", 0),
        ("SAC", "sac-bc", {"batch_size": 64}, "pendulum/demo-v0", 1),
        ("SAC", "sac-scratch", {"batch_size": 64, "learning_rate": 1e-3}, None, 0),
        ("SAC", "sac-scratch", {"batch_size": 64, "learning_rate": 1e-3}, None, 1),
        ("SAC", "sac-scratch", {"batch_size": 64, "learning_rate": 3e-4}, None, 0),
        ("SAC", "sac-scratch", {"batch_size": 64, "learning_rate": 3e-4}, None, 1)]
    # an unlabelled entry keeps the folder name of a plain algorithm; a label replaces the algorithm's name
    assert specs[0].name == "SWFP_Pendulum-v1_batch_size=64_seed0"
    assert specs[4].name == "sac-bc_Pendulum-v1_batch_size=64_seed0"
    assert specs[8].name == "sac-scratch_Pendulum-v1_batch_size=64_learning_rate=0.0003_seed0"
    assert {spec.pretrain_steps for spec in specs} == {50}
    assert experiments.expand([{"algorithm": "SAC", "pretrain_steps": 7}], ["Pendulum-v1"], [0], 10)[0].pretrain_steps == 7
    assert experiments.TrialSpec.from_dict(specs[2].to_dict()) == specs[2]


def test_entry_errors_name_the_entry(tmp_path: Path) -> None:
    def expand(algorithms: list[Any], hyperparameters: Any = None) -> None:
        experiments.expand(algorithms, ["Pendulum-v1"], [0], 100, hyperparameters)

    with pytest.raises(flowrl.InvalidArgumentError, match=r"algorithms\[1\]: unknown keys \['velocity'\]"):
        expand(["SAC", {"algorithm": "SACFlow", "velocity": "gated"}])  # settings go under hyperparameters
    with pytest.raises(flowrl.InvalidArgumentError, match=r"algorithms\[0\] names no algorithm"):
        expand([{"label": "x"}])
    with pytest.raises(flowrl.InvalidArgumentError, match="'PPO'"):
        expand([{"algorithm": "PPO"}])
    with pytest.raises(flowrl.InvalidArgumentError, match="label must be a non-empty string"):
        expand([{"algorithm": "SAC", "label": " "}])
    with pytest.raises(flowrl.InvalidArgumentError, match=r"algorithms\[0\] sets \['learning_rate'\], which the sweep"):
        expand([{"algorithm": "SAC", "hyperparameters": {"learning_rate": 1e-3}}], {"learning_rate": [3e-4]})
    with pytest.raises(flowrl.InvalidArgumentError, match=r"algorithms\[0\] and algorithms\[1\] both run SAC"):
        expand(["SAC", {"algorithm": "SAC", "label": "again"}])  # the same trials under two names
    with pytest.raises(flowrl.InvalidArgumentError, match=r"algorithms\[0\] and algorithms\[1\] both run SAC"):
        expand(["SAC", "sac"])
    with pytest.raises(flowrl.InvalidArgumentError, match="share the folder"):
        expand([{"algorithm": "SAC", "label": "a b"}, {"algorithm": "SAC", "label": "a/b", "pretrain_steps": 5}])
    with pytest.raises(flowrl.InvalidArgumentError, match=r"algorithms\[0\]: hyperparameters: \['seed'\]"):
        expand([{"algorithm": "SAC", "hyperparameters": {"seed": 3}}])
    # a key of one algorithm in another's entry: the core's message, with the algorithm and label
    storage = tmp_path / "sweep"
    with pytest.raises(flowrl.InvalidArgumentError, match=r"SWFP \(swfp-gated\) on Pendulum-v1 .*velocity"):
        experiments.sweep([{"algorithm": "SWFP", "label": "swfp-gated", "hyperparameters": {"velocity": "gated"}}],
                          ["Pendulum-v1"], [0], 100, storage=storage, backend="serial", verbose=0)
    assert not storage.exists()


def test_ray_missing_raises_an_import_error_naming_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_ray(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "ray" or name.startswith("ray."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(ImportError, match=r'pip install "flowrl\[ray\]"'):
        experiments.sweep(**GRID, storage=tmp_path / "sweep", backend="ray")
    assert not (tmp_path / "sweep").exists()


def test_importing_flowrl_imports_no_ray() -> None:
    """Nor Stable-Baselines3 or torch, even when a grid names SB3's class (it is imported when the
    sweep checks its trials)."""
    code = ("import sys, flowrl, flowrl.experiments\n"
            "flowrl.experiments.expand(['SAC', 'stable_baselines3:SAC'], ['Pendulum-v1'], [0], 100)\n"
            "assert not {m.split('.')[0] for m in sys.modules} & {'ray', 'stable_baselines3', 'torch'}")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------------------- running


@pytest.fixture(autouse=True)
def _keep_blas_settings() -> Any:
    """run_trial sets the process's BLAS threads and OPENBLAS_NUM_THREADS; later tests see them restored."""
    with experiments._backends._blas_settings_kept():
        yield


@pytest.fixture(scope="module")
def serial_rows(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The 2 × 2 grid, run serially once for the tests that compare with it."""
    return experiments.sweep(**GRID, storage=tmp_path_factory.mktemp("serial") / "sweep", backend="serial", verbose=0)


def test_serial_sweep_rows_and_folders(serial_rows: list[dict[str, Any]]) -> None:
    assert len(serial_rows) == 4
    assert [(row["hyperparameters"]["learning_rate"], row["seed"]) for row in serial_rows] == [
        (3e-4, 0), (3e-4, 1), (1e-3, 0), (1e-3, 1)]
    for row in serial_rows:
        assert row["status"] == "done" and row["steps"] == 300 and row["evaluations"] == 3
        assert row["algorithm"] == "SAC" and row["env"] == "Pendulum-v1" and row["blas_threads"] == 1
        assert row["best_return"] >= row["final_return"] and row["wall_time"] > 0
        folder = Path(row["path"])
        names = {path.name for path in folder.iterdir()}
        assert {"config.json", "progress.csv", "evaluations.json", "evaluations.csv", "state.json", "result.json",
                "checkpoint-300.flowrl"} <= names and "error.txt" not in names
        assert [record["step"] for record in evaluations(row)] == [100, 200, 300]
        assert evaluations(row)[-1]["mean_return"] == row["final_return"]
    assert serial_rows[0]["final_return"] != serial_rows[1]["final_return"]  # seeds differ


def test_a_finished_sweep_is_read_not_run_again(serial_rows: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a finished trial ran again")

    monkeypatch.setattr(experiments._backends, "run_trial", fail)
    storage = Path(serial_rows[0]["path"]).parent
    again = experiments.sweep(**GRID, storage=storage, backend="serial", verbose=0)
    assert again == serial_rows
    with pytest.raises(flowrl.InvalidArgumentError, match="timesteps"):
        experiments.sweep(**{**GRID, "timesteps": 400}, storage=storage, backend="serial", verbose=0)


def test_a_failed_trial_is_reported_and_the_others_finish(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_run_trial = experiments._backends.run_trial

    def run_trial(spec: experiments.TrialSpec, folder: Path, **kwargs: Any) -> dict[str, Any]:
        if spec.seed == 1:
            raise flowrl.NumericalError("simulated NaN")
        return real_run_trial(spec, folder, **kwargs)

    monkeypatch.setattr(experiments._backends, "run_trial", run_trial)
    grid = {**GRID, "hyperparameters": {**SMALL, "learning_rate": 1e-3}, "timesteps": 100}
    with pytest.warns(RuntimeWarning, match="1 of 2 trials did not finish"):
        rows = experiments.sweep(**grid, storage=tmp_path / "sweep", backend="serial", verbose=0)
    assert [row["status"] for row in rows] == ["done", "failed"]
    assert rows[1]["error"] == "NumericalError: simulated NaN" and rows[1]["steps"] == 0
    monkeypatch.setattr(experiments._backends, "run_trial", real_run_trial)
    rows = experiments.sweep(**grid, storage=tmp_path / "sweep", backend="serial", verbose=0)  # the retry
    assert [row["status"] for row in rows] == ["done", "done"]


class StopAt(BaseCallback):
    """Raises (a crash) once the trial reaches ``step``."""

    def __init__(self, step: int) -> None:
        super().__init__()
        self.step = step

    def _on_step(self) -> bool:
        if self.num_timesteps >= self.step:
            raise RuntimeError(f"simulated crash at step {self.num_timesteps}")
        return True


def test_a_trial_resumed_after_an_exception_ends_as_an_uninterrupted_one(
        serial_rows: list[dict[str, Any]], tmp_path: Path) -> None:
    storage = tmp_path / "sweep"
    spec = experiments.expand(**GRID)[1]  # learning rate 3e-4, seed 1
    with pytest.raises(RuntimeError, match="simulated crash"):
        experiments.run_trial(spec, storage / spec.name, callback=StopAt(250))
    folder = storage / spec.name
    assert json.loads((folder / "state.json").read_text())["step"] == 200  # the checkpoint after the 2nd evaluation
    assert "simulated crash" in (folder / "error.txt").read_text() and not (folder / "result.json").exists()
    rows = experiments.sweep(**GRID, storage=storage, backend="serial", verbose=0)
    resumed = rows[1]
    uninterrupted = serial_rows[1]
    assert resumed["trial"] == uninterrupted["trial"] and resumed["status"] == "done"
    assert evaluations(resumed) == evaluations(uninterrupted)
    assert resumed["final_return"] == uninterrupted["final_return"]
    assert not (folder / "error.txt").exists()
    final, reference = parameters(resumed), parameters(uninterrupted)
    assert all(np.array_equal(final[name], reference[name]) for name in reference)


def test_resuming_drops_the_log_rows_past_the_checkpoint(tmp_path: Path) -> None:
    """Rows a crashed run logged after its last checkpoint are dropped, so the resumed run's rows
    follow on without duplicates."""
    path = tmp_path / "progress.csv"
    path.write_text("rollout/ep_rew_mean,time/total_timesteps\n-1200.5,800\n-1100.0,1600\n-900.0,2400\n")
    _trial._truncate_progress(path, 2000)
    assert path.read_text().splitlines() == ["rollout/ep_rew_mean,time/total_timesteps", "-1200.5,800", "-1100.0,1600"]


def test_a_killed_trial_resumes_to_the_same_end(serial_rows: list[dict[str, Any]], tmp_path: Path) -> None:
    """SIGKILL in the middle of learning (no cleanup at all), then the sweep call again."""
    storage = tmp_path / "sweep"
    script = textwrap.dedent(f"""
        import os, signal
        from flowrl import experiments
        from flowrl.callbacks import BaseCallback

        class Kill(BaseCallback):
            def _on_step(self):
                if self.num_timesteps >= 170:
                    os.kill(os.getpid(), signal.SIGKILL)
                return True

        grid = {GRID!r}
        spec = experiments.expand(**grid)[2]
        experiments.run_trial(spec, {str(storage)!r} + "/" + spec.name, callback=Kill())
    """)
    process = subprocess.run([sys.executable, "-c", script])
    assert process.returncode == -signal.SIGKILL
    spec = experiments.expand(**GRID)[2]
    assert json.loads((storage / spec.name / "state.json").read_text())["step"] == 100
    rows = experiments.sweep(**GRID, storage=storage, backend="serial", verbose=0)
    assert evaluations(rows[2]) == evaluations(serial_rows[2])
    assert [row["status"] for row in rows] == ["done"] * 4


def test_pretraining_on_a_dataset_first(tmp_path: Path) -> None:
    import gymnasium as gym

    env = gym.make("Pendulum-v1")
    path = tmp_path / "demos.npz"
    flowrl.datasets.collect(env, lambda observation: env.action_space.sample(), 400, path=path, seed=0)
    rows = experiments.sweep(["SWFP"], ["Pendulum-v1"], [0], 200, {**SMALL, "flow_steps": 2}, eval_every=100,
                             eval_episodes=1, dataset=path, pretrain_steps=20, storage=tmp_path / "sweep",
                             backend="serial", verbose=0)
    assert rows[0]["status"] == "done" and rows[0]["dataset"] == str(path)
    assert [record["step"] for record in evaluations(rows[0])] == [0, 100, 200]  # step 0: the pretrained policy
    agent = flowrl.SWFP.load(rows[0]["checkpoint"])
    assert agent.info()["counters"]["pretrain_steps"] == 20 and agent.replay_buffer.size() == 600
    agent.close()
    with pytest.raises(flowrl.InvalidArgumentError):
        experiments.sweep(["SAC"], ["Pendulum-v1"], [0], 100, dataset=tmp_path / "missing.npz",
                          storage=tmp_path / "other", backend="serial", verbose=0)


def _demos(tmp_path: Path, steps: int = 400) -> Path:
    """A small Pendulum dataset of random actions, as an .npz file."""
    import gymnasium as gym

    env = gym.make("Pendulum-v1")
    path = tmp_path / "demos.npz"
    flowrl.datasets.collect(env, lambda observation: env.action_space.sample(), steps, path=path, seed=0)
    return path


def test_benchmark_rows_in_one_sweep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SWFP and SAC pretrained on a dataset and SAC from scratch, one sweep: each row's own
    settings, a step-0 evaluation for the pretrained rows only, the report by label with the
    offline-to-online metrics, and the same call read back without running anything."""
    algorithms = [{"algorithm": "SWFP", "label": "swfp", "hyperparameters": {**SMALL, "flow_steps": 2}},
                  {"algorithm": "SAC", "label": "sac-bc", "hyperparameters": SMALL},
                  {"algorithm": "SAC", "label": "sac-scratch", "hyperparameters": SMALL, "dataset": None}]
    arguments = {"algorithms": algorithms, "envs": ["Pendulum-v1"], "seeds": [0], "timesteps": 200, "eval_every": 100,
                 "eval_episodes": 1, "dataset": _demos(tmp_path), "pretrain_steps": 20, "storage": tmp_path / "sweep",
                 "backend": "serial", "verbose": 0}
    pending = experiments.sweep(**arguments, dry_run=True)
    assert [row["status"] for row in pending] == ["pending"] * 3 and not (tmp_path / "sweep").exists()
    rows = experiments.sweep(**arguments)
    assert [(row["trial"], row["label"], row["status"]) for row in rows] == [
        ("swfp_Pendulum-v1_batch_size=32_buffer_size=2000_flow_steps=2_hidden_sizes=32x32_learning_starts=100_seed0",
         "swfp", "done"),
        ("sac-bc_Pendulum-v1_batch_size=32_buffer_size=2000_hidden_sizes=32x32_learning_starts=100_seed0", "sac-bc", "done"),
        ("sac-scratch_Pendulum-v1_batch_size=32_buffer_size=2000_hidden_sizes=32x32_learning_starts=100_seed0",
         "sac-scratch", "done")]
    assert [[record["step"] for record in evaluations(row)] for row in rows] == [[0, 100, 200], [0, 100, 200], [100, 200]]
    assert rows[2]["dataset"] is None and rows[1]["dataset"] == str(tmp_path / "demos.npz")
    bc = flowrl.SAC.load(rows[1]["checkpoint"])
    assert bc.replay_buffer.size() == 600 and bc.info()["counters"]["pretrain_steps"] == 20
    bc.close()
    table = experiments.report(tmp_path / "sweep", plot=False)
    assert [row["label"] for row in table.rows] == ["sac-bc", "sac-scratch", "swfp"]
    for row, trial in zip(table.rows, [rows[1], rows[2], rows[0]]):
        curve = {record["step"]: record["mean_return"] for record in evaluations(trial)}
        assert row["worsts"] == [min(value for step, value in curve.items() if step > 0)]
        assert row["starts"][0] == curve[0] if 0 in curve else math.isnan(row["starts"][0])
    assert "| sac-scratch (SAC) | Pendulum-v1 |" in table.markdown.split("Offline-to-online")[1]

    def fail(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a finished trial ran again")

    monkeypatch.setattr(experiments._backends, "run_trial", fail)
    assert experiments.sweep(**arguments) == rows
    assert [row["status"] for row in experiments.sweep(**arguments, dry_run=True)] == ["done"] * 3


def _old_trial(storage: Path, spec: experiments.TrialSpec) -> Path:
    """A trial folder as a flowrl of before this change wrote it: config.json without a label or
    the agent configuration, one evaluation and no checkpoint yet."""
    folder = storage / spec.name
    folder.mkdir(parents=True)
    config = {key: value for key, value in spec.to_dict().items() if key != "label"}
    (folder / "config.json").write_text(json.dumps({**config, "flowrl_version": "0.1.0"}, indent=1))
    (folder / "evaluations.json").write_text(json.dumps([{"step": 0, "mean_return": -1000.0, "std_return": 0.0,
                                                          "returns": [-1000.0], "lengths": [200]}]))
    return folder


def _files(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def test_a_trial_stored_with_a_renamed_key_is_not_resumed(tmp_path: Path) -> None:
    """SWFP's tau was its JKO step before it was renamed jko_step; it is the critic's Polyak rate
    now. An old trial folder with tau cannot say which it meant: resuming it is refused, naming
    the key, and the folder is left as it was."""
    storage = tmp_path / "sweep"
    grid = {"algorithms": ["SWFP"], "envs": ["Pendulum-v1"], "seeds": [0], "timesteps": 200, "eval_every": 100,
            "eval_episodes": 1, "hyperparameters": {**SMALL, "flow_steps": 2, "tau": 0.05}}
    spec = experiments.expand(**grid)[0]
    folder = _old_trial(storage, spec)
    before = _files(storage)
    with pytest.warns(FutureWarning, match="tau"):  # what tau means for SWFP today
        with pytest.raises(flowrl.InvalidArgumentError, match=r"sets tau=0\.05, which SWFP has since renamed \(tau to jko_step\)"):
            experiments.sweep(**grid, storage=storage, backend="serial", verbose=0)
        with pytest.raises(flowrl.InvalidArgumentError, match=r"renamed \(tau to jko_step\)"):
            experiments.run_trial(spec, folder)
    assert _files(storage) == before
    # an old folder without a renamed key resumes as before (and keeps its config.json)
    sac = experiments.expand(**GRID)[0]
    old = _old_trial(tmp_path / "old", sac)
    config = (old / "config.json").read_bytes()
    row = experiments.run_trial(sac, old)
    assert row["status"] == "done" and (old / "config.json").read_bytes() == config


def test_a_trial_whose_settings_resolve_otherwise_now_is_not_resumed(tmp_path: Path) -> None:
    """config.json records what the hyperparameters resolved to; a folder whose record differs from
    what they resolve to now (here: written when tau was SWFP's JKO step, by a flowrl that kept the
    record) is refused, naming the keys whose values changed."""
    grid = {"algorithms": ["SWFP"], "envs": ["Pendulum-v1"], "seeds": [0], "timesteps": 200, "eval_every": 100,
            "eval_episodes": 1, "hyperparameters": {**SMALL, "flow_steps": 2, "tau": 0.05}}
    storage = tmp_path / "sweep"
    spec = experiments.expand(**grid)[0]
    folder = _old_trial(storage, spec)
    meant = {key: value for key, value in spec.hyperparameters.items() if key != "tau"} | {"jko_step": 0.05}
    then = experiments._grid.agent_configuration(experiments.TrialSpec(**{**spec.to_dict(), "hyperparameters": meant}))
    (folder / "config.json").write_text(json.dumps({**spec.to_dict(), "agent_configuration": then, "flowrl_version": "0.1.0"}))
    before = _files(storage)
    with pytest.warns(FutureWarning), pytest.raises(flowrl.InvalidArgumentError) as error:
        experiments.sweep(**grid, storage=storage, backend="serial", verbose=0)
    assert "core key critic_tau: 0.005 then, 0.05 now" in str(error.value)
    assert "core key jko_step: 0.05 then, 0.1 now" in str(error.value)
    assert _files(storage) == before
    # and the record is what a new trial writes: its own resolution, so it resumes
    fresh = experiments.expand(**GRID)[0]
    with pytest.raises(RuntimeError, match="simulated crash"):
        experiments.run_trial(fresh, tmp_path / "fresh" / fresh.name, callback=StopAt(150))
    stored = json.loads((tmp_path / "fresh" / fresh.name / "config.json").read_text())
    assert stored["agent_configuration"] == experiments._grid.agent_configuration(fresh)
    assert stored["agent_configuration"]["core"]["learning_rate"] == 3e-4
    assert experiments.run_trial(fresh, tmp_path / "fresh" / fresh.name)["status"] == "done"


def test_a_trial_stored_before_a_key_was_added_resumes(tmp_path: Path) -> None:
    """A core key added since a trial was stored counts at its legacy value, the old behaviour
    (critic_layer_norm: false, today's default too), so the record without it still matches; a key
    of the record whose value has changed is still refused."""
    spec = experiments.expand(**GRID)[0]
    folder = tmp_path / spec.name
    with pytest.raises(RuntimeError, match="simulated crash"):
        experiments.run_trial(spec, folder, callback=StopAt(150))
    stored = json.loads((folder / "config.json").read_text())
    assert stored["agent_configuration"]["core"].pop("critic_layer_norm") is False
    (folder / "config.json").write_text(json.dumps(stored))
    assert experiments.run_trial(spec, folder)["status"] == "done"
    stored["agent_configuration"]["core"]["critic_layer_norm"] = True
    (folder / "config.json").write_text(json.dumps(stored))
    with pytest.raises(flowrl.InvalidArgumentError, match="core key critic_layer_norm: True then, False now"):
        experiments.run_trial(spec, folder)


def test_a_key_added_since_a_record_counts_at_its_legacy_value_not_its_default() -> None:
    """The resume check reads a record as the core reads a checkpoint written then: a core key
    missing from it meant its legacy value, so after a change of default the same hyperparameters
    are a difference (they would run another algorithm), and the legacy value is none."""
    from flowrl import _schema
    from flowrl.experiments import _trial

    schema = _schema.Schema("toy", "A toy.", (
        _schema.Key("steps", "algorithm", "integer", 3, "In every record."),
        _schema.Key("window", "algorithm", "integer", 5, "Added later; its default moved.", legacy_value=2)), {})
    then = {"core": {"steps": 3}, "python": {}}
    assert _trial._differences(then, {"core": {"steps": 3, "window": 5}, "python": {}}, schema) == [
        "core key window: 2 then, 5 now"]
    assert _trial._differences(then, {"core": {"steps": 3, "window": 2}, "python": {}}, schema) == []


def test_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    grid = {**GRID, "seeds": [0], "hyperparameters": {**SMALL, "learning_rate": 1e-3}, "timesteps": 200,
            "storage": str(tmp_path / "sweep"), "backend": "serial", "verbose": 0}
    path = tmp_path / "grid.json"
    path.write_text(json.dumps(grid))
    assert cli.main(["check", str(path)]) == 0
    assert f"{path}: 1 trials, 0 finished, 1 to run" in capsys.readouterr().out and not (tmp_path / "sweep").exists()
    assert cli.main(["run", str(path), "--no-report"]) == 0
    assert "SAC_Pendulum-v1" in capsys.readouterr().out
    assert cli.main(["report", str(tmp_path / "sweep"), "--no-plot"]) == 0
    assert "| SAC | Pendulum-v1 |" in capsys.readouterr().out
    assert cli.main(["check", str(path)]) == 0
    assert "1 trials, 1 finished, 0 to run" in capsys.readouterr().out
    yaml = pytest.importorskip("yaml")
    (tmp_path / "grid.yaml").write_text(yaml.safe_dump({**grid, "algorithms": ["PPO"]}))
    assert cli.main(["run", str(tmp_path / "grid.yaml")]) == 2
    assert "'PPO'" in capsys.readouterr().err
    assert cli.main(["report", str(tmp_path / "nothing")]) == 2


#: The grid files of the repository's benchmarks.
GRIDS = sorted((Path(__file__).resolve().parents[2] / "benchmarks" / "grids").glob("*.yaml"))
#: Spaces of envs the test environment may lack the dependencies of (MuJoCo).
SPACES = {"Hopper-v5": (gymnasium.spaces.Box(-np.inf, np.inf, (11,), np.float64), gymnasium.spaces.Box(-1.0, 1.0, (3,), np.float32))}


class _SpacesOnly(gymnasium.Env):  # type: ignore[misc]
    """An env with a MuJoCo task's spaces, where MuJoCo is not installed: enough to create agents."""

    def __init__(self, env_id: str) -> None:
        self.observation_space, self.action_space = SPACES[env_id]


def _absent(entry: Any) -> bool:
    """Whether an entry of ``algorithms`` is another library's class that this environment lacks
    (``"stable_baselines3:SAC"`` without SB3)."""
    algorithm = entry["algorithm"] if isinstance(entry, dict) else entry
    return (isinstance(algorithm, str) and ":" in algorithm
            and importlib.util.find_spec(algorithm.partition(":")[0].split(".")[0]) is None)


@pytest.mark.parametrize("path", GRIDS, ids=[path.name for path in GRIDS])
def test_the_benchmark_grid_files_parse_and_validate(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each grid file's trials are checked as `run` would (every agent created), running nothing:
    envs that need MuJoCo get their spaces here when it is missing, and the datasets (made by
    scripts/make_datasets.py, not here) are only named. Another library's class that is not
    installed here (Stable-Baselines3) fails its import with an error naming it, after the entries
    were checked; the other entries are then validated without it."""
    pytest.importorskip("yaml")
    real_make = gymnasium.make

    def make(env_id: str, **kwargs: Any) -> Any:
        try:
            return real_make(env_id, **kwargs)
        except gymnasium.error.DependencyNotInstalled:
            return _SpacesOnly(env_id)

    named: list[str] = []
    monkeypatch.setattr(gymnasium, "make", make)
    monkeypatch.setattr(flowrl.datasets, "as_transitions", lambda dataset, *spaces: named.append(dataset))
    grid = cli.read_grid(path)
    assert Path(grid["storage"]).parts[0] == "runs"  # git-ignored
    arguments = {**grid, "storage": tmp_path / "sweep", "backend": "serial"}
    absent = [entry for entry in grid["algorithms"] if _absent(entry)]
    if absent:
        with pytest.raises(flowrl.InvalidArgumentError, match=re.escape(f"cannot import {absent[0]['algorithm']!r}: "
                                                                        "ModuleNotFoundError")):
            experiments.sweep(**arguments, dry_run=True)
        arguments["algorithms"] = [entry for entry in grid["algorithms"] if entry not in absent]
    rows = experiments.sweep(**arguments, dry_run=True)
    assert rows and all(row["status"] == "pending" for row in rows) and not (tmp_path / "sweep").exists()
    assert named == ([grid["dataset"]] if grid.get("dataset") else [])  # a dataset is loaded once, before any trial


def test_the_offline_to_online_benchmark_holds_the_actor_for_the_steps_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """--hold-actor-steps: the online run's learn calls add up to its steps, evaluate at every
    interval, and hold the actor for exactly the first steps asked, however they fall."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "scripts"))
    segments = importlib.import_module("benchmark_offline_to_online").segments
    assert segments(15_000, 5_000) == [(5_000, True, 5_000), (5_000, True, 10_000), (5_000, True, 15_000)]
    assert segments(15_000, 5_000, 7_500) == [(5_000, False, 5_000), (2_500, False, None), (2_500, True, 10_000),
                                              (5_000, True, 15_000)]
    for hold in (0, 1, 4_999, 5_000, 12_345, 15_000, 20_000):
        calls = segments(15_000, 5_000, hold)
        assert sum(steps for steps, _, _ in calls) == 15_000
        assert [step for _, _, step in calls if step is not None] == [5_000, 10_000, 15_000]
        assert sum(steps for steps, learns, _ in calls if not learns) == min(hold, 15_000)
        assert all(learns for _, learns, _ in calls[next((i for i, c in enumerate(calls) if c[1]), len(calls)):])


def test_the_offline_to_online_summary_keeps_each_rows_settings_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    """A row run with other --config settings is its own line of the table and its own curve of the
    figure, never averaged into the row's defaults."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "scripts"))
    benchmark = importlib.import_module("benchmark_offline_to_online")

    def result(row: str, seed: int, settings: str, curve: list[float]) -> dict[str, Any]:
        return {"dataset": "d", "row": row, "seed": seed, "online_steps": 10_000, "settings": settings,
                "pretrained": True, "curve": {str(5_000 * i): value for i, value in enumerate(curve)}}

    anchored = '{"reference": "pretrained"}'
    results = [result("rldt", 0, "{}", [100.0, 10.0, 50.0]), result("rldt", 0, anchored, [100.0, 95.0, 130.0]),
               result("rldt", 1, anchored, [100.0, 90.0, 120.0]), result("swfp", 0, "{}", [100.0, 80.0, 90.0])]
    table = benchmark.summary(results).splitlines()[2:]
    assert len(table) == 3
    defaults, = [line for line in table if "| rldt |" in line]
    assert "| 1 |" in defaults and "10.0 (-90%)" in defaults
    with_anchor, = [line for line in table if anchored in line]
    assert "| 2 |" in with_anchor and "92.5 ± 3.5 (-8 ± 4%)" in with_anchor
    assert benchmark.curve_groups(results, "d") == [("swfp", "{}"), ("rldt", "{}"), ("rldt", anchored)]


def test_the_evaluation_noise_script_starts_at_the_benchmarks_own_episodes(monkeypatch: pytest.MonkeyPatch) -> None:
    """scripts/measure_evaluation_noise.py: set 0 is the benchmark's evaluation (same seeds, same
    episodes, deterministic), and the other sets are disjoint blocks of seeds after it."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "scripts"))
    noise = importlib.import_module("measure_evaluation_noise")
    benchmark = importlib.import_module("benchmark_offline_to_online")
    calls: list[tuple[int, bool, int]] = []

    class Recorder:
        def evaluate(self, env: Any, n_episodes: int, deterministic: bool, seed: int) -> tuple[float, float]:
            calls.append((n_episodes, deterministic, seed))
            return float(seed), 0.0

    means = noise.set_means(Recorder(), "Pendulum-v1", sets=3, episodes=10)  # type: ignore[arg-type]
    assert calls == [(10, True, benchmark.EVAL_SEED), (10, True, benchmark.EVAL_SEED + 10), (10, True, benchmark.EVAL_SEED + 20)]
    assert means == [float(seed) for _, _, seed in calls]
    calls.clear()
    assert benchmark.evaluate(Recorder(), "Pendulum-v1", 10) == means[0]  # type: ignore[arg-type]
    assert calls == [(10, True, benchmark.EVAL_SEED)]


def test_the_hopper_grid_is_the_offline_to_online_benchmark(monkeypatch: pytest.MonkeyPatch) -> None:
    """benchmarks/grids/offline-to-online-hopper.yaml has the rows of
    scripts/benchmark_offline_to_online.py (each entry builds the agent configuration of the
    script's row, and is pretrained when the row is) and its protocol (the script's defaults)."""
    pytest.importorskip("yaml")
    scripts = Path(__file__).resolve().parents[2] / "scripts"
    monkeypatch.syspath_prepend(str(scripts))
    benchmark = importlib.import_module("benchmark_offline_to_online")
    grid = cli.read_grid(scripts.parent / "benchmarks" / "grids" / "offline-to-online-hopper.yaml")
    defaults = benchmark.arguments_parser().parse_args([])
    assert (grid["dataset"], grid["seeds"], grid["pretrain_steps"], grid["timesteps"], grid["eval_every"],
            grid["eval_episodes"]) == (defaults.dataset[0], defaults.seeds, defaults.pretrain_steps, defaults.online_steps,
                                       defaults.eval_every, defaults.eval_episodes)
    specs = experiments.expand(grid["algorithms"], ["Pendulum-v1"], [0], 1, dataset=grid["dataset"],
                               pretrain_steps=grid["pretrain_steps"])
    assert [spec.label for spec in specs] == list(benchmark.ROWS)
    env = gymnasium.make("Pendulum-v1")  # the spaces do not change a configuration
    for spec in specs:
        make, pretrained = benchmark.ROWS[spec.label]
        agent = make(env, 0)
        assert experiments._grid.agent_configuration(spec, env.observation_space, env.action_space)["core"] == \
            agent.info()["config"], spec.label
        assert (spec.dataset is not None) == pretrained, spec.label
        agent.close()


def test_the_sb3_grid_is_the_sac_comparison(monkeypatch: pytest.MonkeyPatch) -> None:
    """benchmarks/grids/sac-vs-sb3-pendulum.yaml is the Pendulum part of
    scripts/benchmark_sac_vs_sb3.py's PLAN (seeds, budget, every checkpoint evaluated, its
    episodes per evaluation), with identical hyperparameters for both libraries, the flowrl entry
    building the script's flowrl-sac agent."""
    pytest.importorskip("yaml")
    scripts = Path(__file__).resolve().parents[2] / "scripts"
    monkeypatch.syspath_prepend(str(scripts))
    benchmark = importlib.import_module("benchmark_sac_vs_sb3")
    grid = cli.read_grid(scripts.parent / "benchmarks" / "grids" / "sac-vs-sb3-pendulum.yaml")
    (env_id, seeds, checkpoints), = [plan for plan in benchmark.PLAN if plan[0] == "Pendulum-v1"]
    assert (grid["envs"], grid["seeds"], grid["timesteps"]) == ([env_id], seeds, checkpoints[-1])
    assert all(checkpoint % grid["eval_every"] == 0 for checkpoint in checkpoints)
    evaluate = importlib.import_module("benchmark_pendulum").evaluate
    assert grid["eval_episodes"] == inspect.signature(evaluate).parameters["episodes"].default
    specs = experiments.expand(grid["algorithms"], grid["envs"], [0], grid["timesteps"], grid["hyperparameters"])
    assert [(spec.label, spec.algorithm, spec.policy, spec.dataset) for spec in specs] == [
        ("flowrl-sac", "SAC", None, None), ("sb3-sac", "stable_baselines3:SAC", "MlpPolicy", None)]
    assert specs[0].hyperparameters == specs[1].hyperparameters
    env = gymnasium.make(env_id)
    script_sac = flowrl.SAC(env, seed=0, hidden_sizes=[256, 256], critic_hidden_sizes=[256, 256])  # benchmark_pendulum.run's
    assert experiments._grid.agent_configuration(specs[0])["core"] == script_sac.info()["config"]
    script_sac.close()


def test_the_command_line_without_pyyaml_reads_json_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "yaml", None)  # import yaml raises ImportError
    path = tmp_path / "grid.yaml"
    path.write_text("algorithms: [SAC]\n")
    with pytest.raises(flowrl.InvalidArgumentError, match="pip install pyyaml"):
        cli.read_grid(path)
    path.write_text('{"algorithms": ["SAC"]}')
    assert cli.read_grid(path) == {"algorithms": ["SAC"]}


def test_ray_grid_matches_the_serial_one(serial_rows: list[dict[str, Any]], tmp_path: Path) -> None:
    """The 2 × 2 grid as Ray Tune trials on a local Ray of 2 CPUs (two trials at once): the same
    evaluations as in-process, bit for bit (one BLAS thread per trial), and Ray shut down after."""
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.tune")
    assert not ray.is_initialized()
    try:
        rows = experiments.sweep(**GRID, storage=tmp_path / "sweep", backend="ray", ray_init={"num_cpus": 2},
                                 verbose=0)
    finally:
        if ray.is_initialized():
            ray.shutdown()
    assert not ray.is_initialized()  # the sweep shuts down the Ray it started
    assert [row["status"] for row in rows] == ["done"] * 4
    assert [row["blas_threads"] for row in rows] == [1] * 4
    for row, reference in zip(rows, serial_rows):
        assert row["trial"] == reference["trial"]
        assert evaluations(row) == evaluations(reference)
    assert (tmp_path / "sweep" / "_ray").is_dir()


def test_trial_sets_one_blas_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")  # restored after the test
    threads = flowrl.info()["blas"]["threads"]
    _trial.limit_blas_threads(2)
    assert flowrl.info()["blas"]["threads"] == 2
    assert _trial.limit_blas_threads(1) == 1 and os.environ["OPENBLAS_NUM_THREADS"] == "1"
    assert flowrl.info()["blas"]["threads"] == 1
    flowrl.set_blas_threads(threads)


def test_the_serial_backend_restores_the_blas_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    threads = flowrl.info()["blas"]["threads"]
    rows = experiments.sweep(**{**GRID, "seeds": [0], "hyperparameters": SMALL, "timesteps": 50}, storage=tmp_path,
                             backend="serial", blas_threads=2, verbose=0)
    assert rows[0]["blas_threads"] == 2
    assert "OPENBLAS_NUM_THREADS" not in os.environ and flowrl.info()["blas"]["threads"] == threads


# ---------------------------------------------------------------------------------------- external classes


class TinyModel:
    """A Stable-Baselines3-like algorithm without SB3 (or torch): ``learn`` tries seeded random
    actions and keeps the one with the best reward seen; ``predict`` acts with it (``learning_rate``
    is taken, not used, so that a sweep's shared key fits it). It counts its constructions and
    loads, may crash at a step, and records torch's thread count while learning."""

    crash_at: int | None = None  # learn raises once num_timesteps reaches it
    created = loaded = 0
    torch_threads: list[int] = []  # torch's thread count at each learn, when torch is imported

    def __init__(self, policy: str, env: Any, learning_rate: float = 1.0, policy_kwargs: dict[str, Any] | None = None,
                 seed: int | None = None, verbose: int = 0) -> None:
        assert policy == "MlpPolicy"
        if policy_kwargs is not None:
            policy_kwargs.setdefault("use_sde", False)  # as Stable-Baselines3's SAC adds to the dict it is given
        self.env, self.learning_rate, self.first_reset_seed = env, learning_rate, seed
        self.rng = np.random.default_rng(seed)
        self.action, self.best, self.num_timesteps = np.zeros(env.action_space.shape, np.float32), -math.inf, 0
        self.observation: Any = None
        TinyModel.created += 1

    def set_env(self, env: Any) -> None:
        self.env, self.observation = env, None  # as SB3: the next learn starts a new episode

    def learn(self, total_timesteps: int, callback: Any = None, reset_num_timesteps: bool = True) -> "TinyModel":
        if "torch" in sys.modules:
            TinyModel.torch_threads.append(sys.modules["torch"].get_num_threads())
        self.num_timesteps = 0 if reset_num_timesteps else self.num_timesteps
        for _ in range(total_timesteps):
            if self.observation is None:
                self.observation, _ = self.env.reset(seed=self.first_reset_seed)
                self.first_reset_seed = None
            action = self.rng.uniform(self.env.action_space.low, self.env.action_space.high).astype(np.float32)
            self.observation, reward, terminated, truncated, _ = self.env.step(action)
            if reward > self.best:
                self.best, self.action = float(reward), action
            self.observation = None if terminated or truncated else self.observation
            self.num_timesteps += 1
            if self.crash_at is not None and self.num_timesteps >= self.crash_at:
                raise RuntimeError(f"simulated crash at step {self.num_timesteps}")
        return self

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = False) -> tuple[np.ndarray, None]:
        batch = np.asarray(observation).ndim > len(self.env.observation_space.shape)
        return (np.tile(self.action, (len(observation), 1)) if batch else self.action.copy()), None

    def save(self, path: str | Path) -> None:
        path = Path(path)  # as SB3 adds .zip, a suffix when there is none
        path.with_suffix(path.suffix or ".json").write_text(json.dumps({"action": self.action.tolist(), "best": self.best,
                                                                        "num_timesteps": self.num_timesteps}))

    @classmethod
    def load(cls, path: str | Path, env: Any = None) -> "TinyModel":
        TinyModel.loaded += 1
        stored = json.loads(Path(path).read_text())
        model = cls.__new__(cls)
        model.env, model.observation = env or gymnasium.make("Pendulum-v1"), None
        model.action, model.best, model.num_timesteps = np.array(stored["action"], np.float32), stored["best"], stored["num_timesteps"]
        return model


class NoSave:
    """Has Stable-Baselines3's constructor, learn and predict, not save, set_env or load."""

    def __init__(self, policy: str, env: Any, seed: int | None = None) -> None:
        self.env = env

    def learn(self, total_timesteps: int, reset_num_timesteps: bool = True) -> None: ...

    def predict(self, observation: Any, deterministic: bool = False) -> tuple[Any, None]: ...


class OldLearn(TinyModel):
    """learn without reset_num_timesteps."""

    def learn(self, total_timesteps: int) -> "OldLearn":  # type: ignore[override]
        return self


#: TinyModel's reference, as rows and folders name it.
TINY = f"{TinyModel.__module__}:TinyModel"
#: flowrl's SAC and TinyModel in one sweep, a shared hyperparameter both take.
BESIDE: dict[str, Any] = {"algorithms": [{"algorithm": "SAC", "label": "flowrl-sac", "hyperparameters": SMALL},
                                         {"algorithm": TinyModel, "label": "tiny",
                                          "hyperparameters": {"policy_kwargs": {"net_arch": [8]}}}],
                          "envs": ["Pendulum-v1"], "seeds": [0, 1], "timesteps": 300, "hyperparameters": {"learning_rate": 1e-3},
                          "eval_every": 100, "eval_episodes": 2, "backend": "serial", "verbose": 0}


def test_an_external_class_runs_beside_flowrl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """flowrl's SAC and an SB3-like class in one sweep: the external rows (policy, not resumable),
    their evaluations on the flowrl trials' protocol (the episode seeds derived from seed and
    step), the model each row names, the report by label, and the sweep read back without running."""
    storage = tmp_path / "sweep"
    created = TinyModel.created
    pending = experiments.sweep(**BESIDE, storage=storage, dry_run=True)
    assert [row["status"] for row in pending] == ["pending"] * 4 and TinyModel.created == created  # checked, not created
    rows = experiments.sweep(**BESIDE, storage=storage)
    assert TinyModel.created == created + 2
    flowrl_rows, tiny_rows = rows[:2], rows[2:]
    assert [(row["algorithm"], row["label"], row["policy"], row["resumable"]) for row in rows] == [
        ("SAC", "flowrl-sac", None, True)] * 2 + [(TINY, "tiny", "MlpPolicy", False)] * 2
    assert [row["trial"] for row in tiny_rows] == [f"tiny_Pendulum-v1_learning_rate=0.001_policy_kwargs=-net_arch-8-_seed{seed}"
                                                   for seed in (0, 1)]
    assert all(row["hyperparameters"] == {"learning_rate": 1e-3, "policy_kwargs": {"net_arch": [8]}} for row in tiny_rows)
    assert "torch" in sys.modules or all(row["torch_threads"] is None for row in tiny_rows)
    assert all("torch_threads" not in row for row in flowrl_rows)
    for row in rows:
        assert row["status"] == "done" and row["steps"] == 300 and row["evaluations"] == 3
        assert [(record["step"], len(record["returns"])) for record in evaluations(row)] == [(100, 2), (200, 2), (300, 2)]
    for row in tiny_rows:
        assert Path(row["checkpoint"]).name == "model-300.json" and not (Path(row["path"]) / "progress.csv").exists()
        assert sorted(path.name for path in Path(row["path"]).glob("model-*")) == ["model-300.json"]
        model = TinyModel.load(row["checkpoint"])
        returns, _ = flowrl.evaluation.evaluate_episodes(model, gymnasium.make("Pendulum-v1"), 2, deterministic=True,
                                                         seed=experiments.derived_seed(row["seed"], 300, 1))
        assert returns == evaluations(row)[-1]["returns"] and row["final_return"] == np.mean(returns)
    assert tiny_rows[0]["final_return"] != tiny_rows[1]["final_return"]  # seeded
    table = experiments.report(storage, plot=False)
    assert [(row["label"], row["algorithm"], row["seeds"]) for row in table.rows] == [("flowrl-sac", "SAC", 2),
                                                                                       ("tiny", TINY, 2)]
    assert table.rows[1]["finals"] == [row["final_return"] for row in tiny_rows]
    assert f'| tiny ({TINY}) | Pendulum-v1 | learning_rate=0.001, policy_kwargs={{"net_arch": [8]}} | 2 | 300 |' in table.markdown

    def fail(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a finished trial ran again")

    monkeypatch.setattr(experiments._backends, "run_trial", fail)
    assert experiments.sweep(**BESIDE, storage=storage) == rows
    assert experiments.run_trial(experiments.expand(**{key: value for key, value in BESIDE.items()
                                                       if key not in ("backend", "verbose")})[2],
                                 storage / tiny_rows[0]["trial"]) == tiny_rows[0]  # read back, not run
    assert TinyModel.created == created + 2


def test_an_interrupted_external_trial_starts_again_from_zero(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An external class's trial cannot resume: after a crash at step 250 (committed at 200) the
    next attempt starts from step 0 with a new model (it loads none) after removing the first
    one's state, evaluations and model (a crash at step 50 shows nothing of them is left), and the
    attempt after it ends as an uninterrupted run does."""
    grid = {**BESIDE, "algorithms": [TinyModel], "hyperparameters": None, "seeds": [0]}
    monkeypatch.setattr(TinyModel, "crash_at", 250)
    with pytest.warns(RuntimeWarning, match="1 of 1 trials did not finish"):
        failed, = experiments.sweep(**grid, storage=tmp_path / "sweep")
    folder = Path(failed["path"])
    assert failed["status"] == "failed" and failed["error"] == "RuntimeError: simulated crash at step 250"
    assert (failed["steps"], failed["evaluations"], failed["resumable"]) == (200, 2, False)
    assert failed["checkpoint"] == str(folder / "model-200.json")
    assert experiments.sweep(**grid, storage=tmp_path / "sweep", dry_run=True)[0]["status"] == "failed"
    partial = evaluations(failed)
    created, loaded = TinyModel.created, TinyModel.loaded
    monkeypatch.setattr(TinyModel, "crash_at", 50)
    with pytest.warns(RuntimeWarning):
        again, = experiments.sweep(**grid, storage=tmp_path / "sweep")
    assert (again["steps"], again["evaluations"], again["checkpoint"]) == (0, 0, None)
    assert sorted(path.name for path in folder.iterdir()) == ["config.json", "error.txt"]
    monkeypatch.setattr(TinyModel, "crash_at", None)
    restarted, = experiments.sweep(**grid, storage=tmp_path / "sweep")
    assert (TinyModel.created, TinyModel.loaded) == (created + 2, loaded)  # new models from step 0, nothing loaded
    uninterrupted, = experiments.sweep(**grid, storage=tmp_path / "reference")
    assert restarted["status"] == "done" and restarted["steps"] == 300 and not (folder / "error.txt").exists()
    assert evaluations(restarted) == evaluations(uninterrupted) and evaluations(restarted)[:2] == partial
    assert sorted(path.name for path in folder.glob("model-*")) == ["model-300.json"]
    assert json.loads((folder / "model-300.json").read_text())["num_timesteps"] == 300
    assert {key: value for key, value in restarted.items() if key not in ("wall_time", "cpu_time", "path", "checkpoint")} == \
        {key: value for key, value in uninterrupted.items() if key not in ("wall_time", "cpu_time", "path", "checkpoint")}


def test_an_external_class_s_torch_gets_the_trial_s_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With torch imported (here a stand-in module: the tests need no torch), an external trial
    learns with torch.set_num_threads(blas_threads), and the count is restored after the trial."""
    class Torch:
        threads = 8

        def get_num_threads(self) -> int:
            return self.threads

        def set_num_threads(self, threads: int) -> None:
            self.threads = threads

    torch = Torch()
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setattr(TinyModel, "torch_threads", [])
    row, = experiments.sweep(**{**BESIDE, "algorithms": [TinyModel], "seeds": [0], "timesteps": 200}, storage=tmp_path)
    assert row["torch_threads"] == 1 and TinyModel.torch_threads == [1, 1] and torch.threads == 8


def test_external_class_errors_name_the_problem_before_any_trial_runs(tmp_path: Path) -> None:
    storage = tmp_path / "sweep"

    def sweep(algorithms: list[Any], **arguments: Any) -> None:
        experiments.sweep(**{**BESIDE, "algorithms": algorithms, "hyperparameters": None, **arguments}, storage=storage)

    class Local(TinyModel):
        pass

    interface = r"needs Stable-Baselines3's interface: Cls\(policy, env, seed=\.\.\., \*\*hyperparameters\), learn"
    cases: list[tuple[list[Any], dict[str, Any], str]] = [
        ([NoSave], {}, rf"NoSave lacks \['set_env', 'save', 'load'\]; an external algorithm {interface}"),
        ([{"algorithm": TinyModel, "hyperparameters": {"learning_rat": 1e-3}}], {},
         rf"{re.escape(TINY)} on Pendulum-v1 with .*: unknown hyperparameters \['learning_rat'\] for {re.escape(TINY)}; its "
         r"constructor takes \['learning_rate', 'policy_kwargs', 'verbose'\]"),
        ([TinyModel, "SAC"], {"hyperparameters": {"batch_size": 64}}, r"unknown hyperparameters \['batch_size'\]"),
        ([OldLearn], {}, r"OldLearn\.learn cannot be called as learn\(total_timesteps, reset_num_timesteps=False\): "
                         r".*reset_num_timesteps"),
        (["no_such_library_xyz:SAC"], {}, r"cannot import 'no_such_library_xyz:SAC': ModuleNotFoundError"),
        (["flowrl.experiments:NoSuchClass"], {}, r"module 'flowrl.experiments' has no 'NoSuchClass'"),
        (["flowrl.experiments:sweep"], {}, r"unknown algorithm <function sweep"),
        (["json:dumps"], {}, r"json:dumps is not a class \(function\)"),
        ([Local], {}, r"Local cannot be imported by its name in a trial's process; define it at the top level"),
        ([{"algorithm": TinyModel, "policy": ""}], {}, r"algorithms\[0\]: policy must be a non-empty string"),
        ([{"algorithm": "SAC", "policy": "MlpPolicy"}], {}, r"algorithms\[0\]: 'policy' is an external class's first"),
        ([TinyModel], {"dataset": "pendulum/demo-v0"}, rf"algorithms\[0\]: {re.escape(TINY)} is another library's class, which the "
                                                       r"sweep cannot pretrain on the dataset 'pendulum/demo-v0'"),
        ([TinyModel], {"hyperparameters": {"policy": "MlpPolicy"}}, r"\['policy'\] cannot be swept this way"),
    ]
    for algorithms, arguments, message in cases:
        with pytest.raises(flowrl.InvalidArgumentError, match=message):
            sweep(algorithms, **arguments)
    assert not storage.exists()
    spec = experiments.expand([TinyModel], ["Pendulum-v1"], [0], 100)[0]
    with pytest.raises(flowrl.InvalidArgumentError, match="callback= is a flowrl callback"):
        experiments.run_trial(spec, storage / spec.name, callback=StopAt(50))
    assert not storage.exists()
    # flowrl's own classes by reference are flowrl's algorithms, resumable
    assert [experiments.expand([name], ["Pendulum-v1"], [0], 100)[0].algorithm for name in ("flowrl:SAC", "flowrl.sac:SAC")] \
        == ["SAC", "SAC"]
