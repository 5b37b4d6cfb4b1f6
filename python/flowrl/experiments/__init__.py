"""Multi-seed sweeps: a grid of algorithms × envs × hyperparameters × seeds run as resumable
trials (on Ray Tune, or serially in this process), and a report with honest statistics over seeds.

>>> from flowrl.experiments import sweep, report
>>> rows = sweep(algorithms=["SWFP", "SAC"], envs=["Pendulum-v1"], seeds=[0, 1, 2],
...              timesteps=20_000, hyperparameters={"learning_rate": [3e-4, 1e-3]},
...              eval_every=5_000, eval_episodes=10, storage="runs/sweep")   # doctest: +SKIP
>>> table = report("runs/sweep")                                          # doctest: +SKIP
>>> print(table.markdown)                                                 # doctest: +SKIP

An entry of ``algorithms`` may carry settings of its own and a label, so that a benchmark's rows
go into one call: ``{"algorithm": "SACFlow", "label": "sac-flow-gated", "hyperparameters":
{"velocity": "gated"}}``, ``{"algorithm": "SAC", "label": "sac-scratch", "dataset": None}``.
Another library's class with Stable-Baselines3's interface runs beside flowrl's, on the same
evaluation protocol: ``{"algorithm": "stable_baselines3:SAC", "label": "sb3-sac"}`` (imported when
the sweep checks its trials and in each trial, never by flowrl); such a trial cannot resume from
a checkpoint, and starts again from step 0 when interrupted.

The same call over the same storage resumes: finished trials (``result.json`` in their folder)
are read, not run again; interrupted ones continue from their last checkpoint and end exactly as
an uninterrupted run would. The command line is ``python -m flowrl.experiments run grid.yaml``
(``check grid.yaml`` validates only) and ``python -m flowrl.experiments report DIR``; the
repository's benchmarks are grid files in ``benchmarks/grids/``. See docs/experiments.md.

Ray is optional (``pip install "flowrl[ray]"``) and only imported when ``backend="ray"`` runs.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Any, Optional, Sequence

from .. import _checks
from ..errors import InvalidArgumentError
from ._backends import RAY_MISSING, import_tune, run_ray, run_serial
from ._grid import ALGORITHMS, ENTRY_KEYS, Hyperparameters, TrialSpec, expand, hyperparameter_grid, validate
from ._metrics import OFFLINE_TO_ONLINE_METRICS, offline_to_online_metrics
from ._report import SweepReport, markdown_table, report
from ._stats import bootstrap_ci, iqm, mean
from ._trial import RESULT_FILE, check_config, derived_seed, read_json, run_trial, unfinished_row

__all__ = [
    "ALGORITHMS",
    "ENTRY_KEYS",
    "OFFLINE_TO_ONLINE_METRICS",
    "RAY_MISSING",
    "SweepReport",
    "TrialSpec",
    "bootstrap_ci",
    "derived_seed",
    "expand",
    "hyperparameter_grid",
    "iqm",
    "markdown_table",
    "mean",
    "offline_to_online_metrics",
    "report",
    "run_trial",
    "sweep",
]

BACKENDS = ("ray", "serial")


def sweep(algorithms: Sequence[Any], envs: Sequence[str], seeds: Sequence[int], timesteps: int,
          hyperparameters: Hyperparameters = None, *, eval_every: Optional[int] = None, eval_episodes: int = 10,
          dataset: Any = None, pretrain_steps: int = 10_000, storage: os.PathLike[str] | str = "runs/sweep",
          backend: str = "ray", address: Optional[str] = None, cpus_per_trial: float = 1.0, blas_threads: int = 1,
          max_failures: int = 2, max_concurrent_trials: Optional[int] = None,
          ray_init: Optional[dict[str, Any]] = None, verbose: int = 1, dry_run: bool = False) -> list[dict[str, Any]]:
    """Runs every trial of a grid (or resumes it) and returns one row per trial.

    Each trial learns online for ``timesteps`` steps in chunks of ``eval_every``, evaluates the
    deterministic policy on ``eval_episodes`` episodes after each chunk, and then checkpoints the
    agent with its replay buffer into its folder ``storage/<trial>``. Everything is checked (and
    each trial's agent created once, untrained) before any trial runs.

    Parameters
    ----------
    algorithms : sequence of str, class or dict
        Algorithm class names: ``"SAC"``, ``"SWFP"``, ``"SACFlow"``, ``"RLDT"``, ``"FlowBC"``
        (case-insensitive; the classes themselves work too), each run with ``hyperparameters``. Or
        an entry with settings of its own, a dict with the keys ``algorithm`` (required),
        ``label`` (the name of its rows in :func:`report` and the prefix of its trial folders),
        ``hyperparameters`` (a grid of its own, crossed with the sweep's; a key may be set in one
        of the two only), ``dataset`` and ``pretrain_steps`` (instead of the sweep's; ``"dataset":
        None`` runs the entry without pretraining), ``policy`` (an external class's)::

            [{"algorithm": "SWFP", "label": "swfp-w2x100", "hyperparameters": {"w2_scale": 40}},
             {"algorithm": "SACFlow", "label": "sac-flow-gated", "hyperparameters": {"velocity": "gated"}},
             {"algorithm": "SAC", "label": "sac-scratch", "dataset": None},
             {"algorithm": "stable_baselines3:SAC", "label": "sb3-sac", "policy": "MlpPolicy"}]

        An *external* algorithm is any other class with Stable-Baselines3's interface
        (``Cls(policy, env, seed=..., **hyperparameters)``, ``learn(total_timesteps,
        reset_num_timesteps=False)``, ``predict(observation, deterministic=True)``,
        ``set_env(env)``, ``save(path)``, ``Cls.load(path, env=...)``, ``num_timesteps``), given
        as the class (defined at the top level of an importable module) or as ``"module:Class"``,
        which is imported when the sweep checks its trials and in each trial's process. It is
        created with ``policy`` (default ``"MlpPolicy"``), learns and is evaluated as flowrl's
        algorithms are, and saved with its own ``save``; it cannot be pretrained on a dataset, and
        an interrupted trial of it starts again from step 0 (its row has ``resumable: False``).
    envs : sequence of str
        Gymnasium environment ids.
    seeds : sequence of int
        One trial per seed for each configuration.
    timesteps : int
        Online environment steps per trial.
    hyperparameters : dict, list of dict or None
        A grid ``{"learning_rate": [3e-4, 1e-3], "batch_size": 128}``: each list is an axis of
        candidates, each other value fixed; a list-valued hyperparameter is given as a list of
        lists (``{"hidden_sizes": [[64, 64], [256, 256]]}``). Or a list of explicit configurations.
        Every key must be a keyword of every algorithm in the sweep (Stable-Baselines3's names
        included; an external class's constructor signature is read with :func:`inspect.signature`),
        or the sweep stops before running, naming it; a key for some algorithms only goes into
        their entries' own ``hyperparameters``.
    eval_every : int, optional
        Steps between evaluations and checkpoints (default: a tenth of ``timesteps``).
    eval_episodes : int
    dataset : str or os.PathLike, optional
        A :func:`flowrl.datasets.load` id or path: each trial's agent is first pretrained on it
        (``agent.pretrain(dataset, steps=pretrain_steps)``), evaluated at step 0, then fine-tuned.
    pretrain_steps : int
    storage : str or os.PathLike
        The sweep's folder, one sub-folder per trial (``config.json``, ``progress.csv``,
        ``evaluations.json`` / ``.csv``, the latest ``checkpoint-N.flowrl``, ``state.json``,
        ``result.json`` when done). On a multi-node Ray cluster, a folder every node sees at the
        same path.
    backend : {"ray", "serial"}
        ``"ray"`` runs the trials as Ray Tune trials (``pip install "flowrl[ray]"``); ``"serial"``
        one after another in this process.
    address : str, optional
        Ray only: ``None`` starts a local Ray when none is running (``ray.init()``), ``"auto"``
        joins the cluster of ``ray start``.
    cpus_per_trial : float
        Ray resources per trial (one CPU: a 2-core machine runs two trials at once).
    blas_threads : int
        OpenBLAS threads per trial's agent (``OPENBLAS_NUM_THREADS`` and
        :func:`flowrl.set_blas_threads`; the count is recorded in each row), and PyTorch's
        (``torch.set_num_threads``) in an external class's trial when its library imported torch
        (restored after the trial).
    max_failures : int
        Ray only: retries of a failed trial, each resuming from its last checkpoint.
    max_concurrent_trials : int, optional
        Ray only: at most this many trials at once.
    ray_init : dict, optional
        Ray only: more keyword arguments of ``ray.init`` when this call starts Ray (``num_cpus``).
        A Ray started here is shut down at the end; one already running is left as it is.
    verbose : int
        0 silent; 1 a line per trial (serial) or Tune's status table (Ray).
    dry_run : bool
        Only check (everything above, ``storage`` included) and return the rows as they stand:
        finished trials' rows, the others' with status ``"pending"`` (or ``"failed"``). Nothing
        runs and nothing is written.

    Returns
    -------
    list of dict
        One row per trial, in grid order (entry of ``algorithms``, env, configuration, seed):
        ``trial`` (folder name), ``algorithm`` (the name, or an external class's
        ``"module:Class"``), ``label`` (None outside labelled entries), ``policy`` (an external
        class's, else None), ``env``, ``seed``, ``hyperparameters``, ``dataset``, ``status``
        (``"done"``, ``"stopped"`` by a callback, ``"failed"``), ``resumable`` (False for an
        external class), ``final_return`` (the last evaluation's mean return), ``best_return`` and
        ``best_step``, ``steps``, ``wall_time`` and ``cpu_time`` (s, the trial process's, summed
        over resumptions), ``evaluations``, ``blas_threads`` (and ``torch_threads`` for an
        external class: None without torch), ``path``, ``checkpoint`` (the model file of an
        external class); a failed trial's row has ``error`` and its progress so far.

    Raises
    ------
    InvalidArgumentError
        Before any trial runs: an unknown algorithm, entry key, env or hyperparameter (named, with
        the algorithm and label it was given to), a bad value, an external class that does not
        import or lacks a method of the interface (named), a dataset that does not fit an env or is
        given to an external class,
        a trial folder in ``storage`` holding another setting of the same trial, or one whose
        stored hyperparameters no longer resolve to the same agent configuration (a key renamed,
        such as SWFP's ``tau``, now ``jko_step``, or a default changed since).
    ImportError
        ``backend="ray"`` without Ray, naming the ``ray`` extra.

    Warns
    -----
    RuntimeWarning
        When trials failed (their rows say why; the next call resumes them).
    """
    if backend not in BACKENDS:
        raise InvalidArgumentError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "serial" and address is not None:
        raise InvalidArgumentError('address= is for backend="ray"')
    cpus_per_trial = float(cpus_per_trial)
    if not (math.isfinite(cpus_per_trial) and cpus_per_trial > 0):
        raise InvalidArgumentError(f"cpus_per_trial must be > 0, got {cpus_per_trial}")
    max_failures = _checks.integer(max_failures, "max_failures", -1, 2**31)
    verbose = _checks.integer(verbose, "verbose", 0, 3)
    specs = expand(algorithms, envs, seeds, timesteps, hyperparameters, eval_every=eval_every,
                   eval_episodes=eval_episodes, dataset=dataset, pretrain_steps=pretrain_steps,
                   blas_threads=blas_threads)
    if backend == "ray":
        import_tune()
    folder = Path(os.fspath(storage)).absolute()
    configurations = validate(specs)
    for spec in specs:
        check_config(folder / spec.name, spec, configurations[spec.name])
    if dry_run:
        return [_stored_row(spec, folder) for spec in specs]
    folder.mkdir(parents=True, exist_ok=True)
    pending = [spec for spec in specs if not (folder / spec.name / RESULT_FILE).exists()]
    if verbose and len(pending) < len(specs):
        print(f"{len(specs) - len(pending)} of {len(specs)} trials already finished in {folder}", flush=True)
    errors: dict[str, str] = {}
    if pending and backend == "serial":
        errors = run_serial(pending, folder, verbose)
    elif pending:
        errors = run_ray(pending, folder, address=address, cpus_per_trial=cpus_per_trial, max_failures=max_failures,
                         max_concurrent_trials=max_concurrent_trials, ray_init=ray_init, verbose=verbose)
    rows = [_stored_row(spec, folder, errors.get(spec.name)) for spec in specs]
    unfinished = [row["trial"] for row in rows if row["status"] not in ("done", "stopped")]
    if unfinished:
        warnings.warn(f"{len(unfinished)} of {len(rows)} trials did not finish ({', '.join(unfinished[:5])}"
                      f"{', ...' if len(unfinished) > 5 else ''}); their folders keep the error and the last "
                      "checkpoint, and the same sweep call resumes them", RuntimeWarning, stacklevel=2)
    return rows


def _stored_row(spec: TrialSpec, storage: Path, error: Optional[str] = None) -> dict[str, Any]:
    """The row of a finished trial (its ``result.json``), or of an unfinished one as it stands."""
    result = read_json(storage / spec.name / RESULT_FILE)
    return result if result is not None else unfinished_row(spec, storage / spec.name, error)
