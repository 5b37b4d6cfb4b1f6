"""Where a sweep's trials run: in this process one after another (``"serial"``), or as Ray Tune
trials (``"ray"``) on a local Ray instance or a cluster.

Ray is optional (``pip install "flowrl[ray]"``) and imported only inside :func:`run_ray`.
Neither backend schedules anything itself: the serial one is a loop, and Ray Tune places the
trials on the cluster's CPUs, retries failed ones (``max_failures``) and runs each as a
function trainable calling :func:`~flowrl.experiments._trial.run_trial`, which resumes from the
trial folder's checkpoint.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

from .. import _lib
from ._grid import TrialSpec
from ._trial import run_trial

#: The message of the ImportError raised when ``backend="ray"`` is asked for without Ray.
RAY_MISSING = ('backend="ray" needs Ray Tune: pip install "flowrl[ray]" (the ray extra, ray[tune]); '
               'or run the same grid in this process with backend="serial"')


def import_tune() -> Any:
    """``ray.tune``, or an ImportError naming the extra."""
    try:
        import ray  # noqa: F401
        from ray import tune
    except ImportError as error:
        raise ImportError(RAY_MISSING) from error
    return tune


def run_serial(specs: Sequence[TrialSpec], storage: Path, verbose: int = 1) -> dict[str, str]:
    """Runs the trials one after another in this process.

    Returns
    -------
    dict of str to str
        The error of each trial that raised (by trial name); the others completed. An interrupt
        (KeyboardInterrupt) is not caught: the trials resume from their last checkpoint. The
        process's BLAS settings, which each trial sets, are restored afterwards.
    """
    errors: dict[str, str] = {}
    with _blas_settings_kept():
        _run_each(specs, storage, verbose, errors)
    return errors


@contextlib.contextmanager
def _blas_settings_kept() -> Iterator[None]:
    """Restores ``OPENBLAS_NUM_THREADS`` and flowrl's BLAS thread count after the trials set them
    in this process."""
    variable = os.environ.get("OPENBLAS_NUM_THREADS")
    threads = int(_lib.info()["blas"]["threads"])
    try:
        yield
    finally:
        if variable is None:
            os.environ.pop("OPENBLAS_NUM_THREADS", None)
        else:
            os.environ["OPENBLAS_NUM_THREADS"] = variable
        _lib.set_blas_threads(threads)


def _run_each(specs: Sequence[TrialSpec], storage: Path, verbose: int, errors: dict[str, str]) -> None:
    for index, spec in enumerate(specs):
        started = time.time()
        try:
            row = run_trial(spec, storage / spec.name)
        except Exception as error:  # one failed trial does not stop the others; its folder keeps the traceback
            errors[spec.name] = f"{type(error).__name__}: {error}"
            if verbose:
                print(f"[{index + 1}/{len(specs)}] {spec.name}: failed: {errors[spec.name]}", flush=True)
            continue
        if verbose:
            print(f"[{index + 1}/{len(specs)}] {spec.name}: final {row['final_return']:.2f}, best "
                  f"{row['best_return']:.2f} ({time.time() - started:.1f} s)", flush=True)


def _ray_trainable(config: dict[str, Any]) -> None:
    """The Tune function trainable: one trial, progress reported to Tune after each evaluation."""
    from ray import tune

    spec = TrialSpec.from_dict(config["trial"])
    row = run_trial(spec, Path(config["storage"]) / spec.name,
                    reporter=lambda progress: tune.report({**progress, "done": False}))
    tune.report({"step": row["steps"], "mean_return": row["final_return"], "best_return": row["best_return"],
                 "done": True})


def run_ray(specs: Sequence[TrialSpec], storage: Path, *, address: Optional[str] = None, cpus_per_trial: float = 1.0,
            max_failures: int = 2, max_concurrent_trials: Optional[int] = None,
            ray_init: Optional[dict[str, Any]] = None, verbose: int = 1) -> dict[str, str]:
    """Runs the trials as Ray Tune trials (``tune.Tuner`` over a grid of trial specs).

    Parameters
    ----------
    specs : sequence of TrialSpec
        The trials to run (the finished ones already left out).
    storage : pathlib.Path
        The sweep's folder: trial folders in it, Tune's own files in ``storage/_ray``. On a
        cluster it must be a folder every node sees at the same path (a shared file system).
    address : str, optional
        ``None`` starts a local Ray instance when none is running (``ray.init()``); ``"auto"``
        joins the cluster started with ``ray start``; ``"ray://host:10001"`` a remote one.
    cpus_per_trial : float
        Ray resources of each trial.
    max_failures : int
        Tune's retries of a failed trial (each resumes from the trial's last checkpoint).
    max_concurrent_trials : int, optional
        At most this many trials at once (default: as many as the CPUs allow).
    ray_init : dict, optional
        More keyword arguments for ``ray.init`` (``num_cpus``, ``runtime_env``, ...).
    verbose : int
        Tune's verbosity (0 silent, 1 a status table).

    Returns
    -------
    dict of str to str
        The error of each trial that failed after its retries, by trial name.

    Raises
    ------
    ImportError
        Without Ray, naming the ``ray`` extra.
    """
    tune = import_tune()
    import ray

    started_here = not ray.is_initialized()
    if started_here:
        options = {"include_dashboard": False, "log_to_driver": verbose > 0, **(ray_init or {})}
        ray.init(address=address, **options)
    try:
        trainable = tune.with_resources(_ray_trainable, {"cpu": cpus_per_trial})
        tuner = tune.Tuner(
            trainable,
            param_space={"storage": str(storage), "trial": tune.grid_search([spec.to_dict() for spec in specs])},
            tune_config=tune.TuneConfig(max_concurrent_trials=max_concurrent_trials,
                                        trial_name_creator=lambda trial: trial.config["trial"]["name"],
                                        trial_dirname_creator=lambda trial: trial.config["trial"]["name"]),
            run_config=tune.RunConfig(name=time.strftime("sweep-%Y%m%d-%H%M%S"), storage_path=str(storage / "_ray"),
                                      failure_config=tune.FailureConfig(max_failures=max_failures), verbose=verbose),
        )
        results = tuner.fit()
        errors: dict[str, str] = {}
        for result in results:
            if result.error is not None:
                errors[result.config["trial"]["name"]] = f"{type(result.error).__name__}: {result.error}"
        return errors
    finally:
        if started_here:
            ray.shutdown()
