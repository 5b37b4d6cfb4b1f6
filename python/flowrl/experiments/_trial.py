"""One trial: learn in chunks of ``eval_every`` steps, evaluate and checkpoint after each, resume
from the last checkpoint, and mark the trial done with ``result.json``.

Why a resumed trial ends exactly where an uninterrupted one does: the checkpoint holds everything
of the agent (weights, optimisers, the core's random state, counters, the replay buffer, the
random-action generator), and a checkpoint is only written right after an evaluation, at a chunk
boundary. What a checkpoint cannot hold is the env's state, so no chunk ever uses it: each chunk
after the first starts a new episode from an env reset whose seed is derived from
``(seed, step)``, in the uninterrupted run as in a resumed one. The evaluation env is reset with
a seed derived the same way. So the state at every boundary is a function of the checkpoint alone.

The folder of a trial::

    config.json          the spec (what decides the result), what its hyperparameters resolved to
                         (agent_configuration) and the flowrl version
    progress.csv         the agent's training log (rows past the last checkpoint dropped on resume)
    evaluations.json     one record per evaluation: step, mean_return, std_return, returns, lengths
    evaluations.csv      the same, without the per-episode lists
    checkpoint-N.flowrl  the agent after N steps, with its replay buffer (only the latest is kept)
    state.json           the commit point: step, checkpoint file, evaluations so far, wall time
    result.json          written last: the trial's row; its presence marks the trial done
    error.txt            the traceback of the last failure (removed when the trial completes)

An external class's trial (another library's, :mod:`~flowrl.experiments._external`) learns,
evaluates and commits the same way, with the model its own ``save`` writes (``model-N``, plus the
suffix the class adds, such as SB3's ``.zip``) in place of the checkpoint and no
``progress.csv``. That model has no replay buffer or random state, so such a trial cannot resume:
an interrupted one starts again from step 0, its state, evaluations and models replaced, and its
row says ``resumable: False``. A finished one is read back like any other.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import json
import math
import os
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Optional

import gymnasium as gym
import numpy as np

from .. import _lib, _schema
from ..agent import Agent
from ..callbacks import MaybeCallback
from ..errors import InvalidArgumentError
from ..evaluation import evaluate_episodes
from ..protocols import Predictor
from . import _external
from ._grid import ALGORITHMS, TrialSpec, agent_configuration

CONFIG_FILE = "config.json"
#: The entries of ``config.json`` besides the spec's fields.
AGENT_CONFIGURATION, VERSION = "agent_configuration", "flowrl_version"
STATE_FILE = "state.json"
RESULT_FILE = "result.json"
EVALUATIONS_FILE = "evaluations.json"
EVALUATIONS_CSV = "evaluations.csv"
ERROR_FILE = "error.txt"
PROGRESS_FILE = "progress.csv"
#: The latest agent after N steps: flowrl's checkpoint (``.format(step=N)``), and the stem an
#: external class's ``save`` is given; each with the pattern of its older files, removed after a commit.
CHECKPOINT, CHECKPOINTS = "checkpoint-{step}.flowrl", "checkpoint-*.flowrl"
MODEL, MODELS = "model-{step}", "model-*"

#: What a derived seed is for (the third entry of the seed sequence).
_TRAINING_ENV, _EVALUATION_ENV = 0, 1

#: Called after each evaluation with the trial's progress (the Ray backend reports it to Tune).
Reporter = Callable[[dict[str, Any]], None]


def derived_seed(seed: int, step: int, purpose: int) -> int:
    """A 32-bit seed for the env reset at ``step`` of the trial seeded ``seed``:
    ``numpy.random.SeedSequence([seed, step, purpose])``'s first word (``purpose`` 0: training env,
    1: evaluation env)."""
    return int(np.random.SeedSequence([seed, step, purpose]).generate_state(1, np.uint32)[0])


def limit_blas_threads(threads: int) -> int:
    """Sets OpenBLAS to ``threads`` threads in this process (before flowrl first loads OpenBLAS,
    through ``OPENBLAS_NUM_THREADS`` as well) and returns the count :func:`flowrl.info` reports."""
    os.environ["OPENBLAS_NUM_THREADS"] = str(threads)
    _lib.set_blas_threads(threads)
    return int(_lib.info()["blas"]["threads"])


def run_trial(spec: TrialSpec, folder: os.PathLike[str] | str, callback: MaybeCallback = None,
              reporter: Optional[Reporter] = None) -> dict[str, Any]:
    """Runs (or resumes, or only reads) one trial in ``folder``.

    Parameters
    ----------
    spec : TrialSpec
    folder : str or os.PathLike
        The trial's folder; created if missing. A folder with ``result.json`` is a finished trial:
        its row is returned and nothing runs. A folder with ``state.json`` continues from its
        checkpoint.
    callback : flowrl callback, optional
        Passed to every ``learn`` chunk (it sees ``num_timesteps`` of the whole trial); not for
        an external class's trial.
    reporter : callable, optional
        Called with ``{"step", "mean_return", "best_return"}`` after each evaluation.

    Returns
    -------
    dict
        The trial's row (see :func:`flowrl.experiments.sweep`).

    Raises
    ------
    InvalidArgumentError
        If the folder holds a trial of another spec (``config.json`` differs), or one whose
        hyperparameters resolved to another agent configuration (see :func:`check_config`); a
        ``callback`` for an external class's trial.
    Exception
        Whatever the trial raised; the traceback is also written to ``error.txt`` and the last
        checkpoint is kept, so the next call resumes from it (an external class's trial starts
        again from step 0).
    """
    folder = Path(folder).absolute()
    if spec.external and callback is not None:
        raise InvalidArgumentError(f"{spec.describe()}: callback= is a flowrl callback, which another library's "
                                   "learn does not take")
    configuration = agent_configuration(spec)
    finished = read_json(folder / RESULT_FILE)
    if finished is not None:
        check_config(folder, spec, configuration)
        return finished
    folder.mkdir(parents=True, exist_ok=True)
    check_config(folder, spec, configuration, write=True)
    try:
        row = _run(spec, folder, callback, reporter)
    except BaseException:
        (folder / ERROR_FILE).write_text(traceback.format_exc())
        raise
    if (folder / ERROR_FILE).exists():
        (folder / ERROR_FILE).unlink()
    return row


def check_config(folder: Path, spec: TrialSpec, configuration: dict[str, Any], write: bool = False) -> None:
    """Checks that ``folder`` holds the trial ``spec`` (or nothing yet); writes its
    ``config.json`` when missing and ``write``.

    Parameters
    ----------
    folder : pathlib.Path
    spec : TrialSpec
    configuration : dict
        What the spec's hyperparameters resolve to now (:func:`~flowrl.experiments._grid.agent_configuration`).
    write : bool

    Raises
    ------
    InvalidArgumentError
        When the stored spec differs in what decides the result (naming both values); when the
        stored hyperparameters resolved to another agent configuration than they do now (a key
        renamed or a default changed since, naming the keys; a core key added since the record
        counts at its legacy value, as in a checkpoint written then: no change while it has that
        value); and when a ``config.json`` written
        before configurations were recorded sets a key that has been renamed since (its meaning
        then cannot be told). An external class's recorded configuration is not compared (its
        library's defaults cannot be read).
    """
    path = folder / CONFIG_FILE
    stored = read_json(path)
    if stored is None:
        if write:
            write_json(path, {**spec.to_dict(), AGENT_CONFIGURATION: configuration, VERSION: _lib.version()})
        return
    expected = json.loads(json.dumps(spec.identity()))
    differences = [key for key, value in expected.items() if stored.get(key) != value]
    if differences:
        raise InvalidArgumentError(
            f"{folder} holds a trial with other settings ({', '.join(f'{key}={stored.get(key)!r}' for key in differences)}"
            f" where this sweep has {', '.join(f'{key}={expected[key]!r}' for key in differences)}); use another "
            f"storage folder, or remove that trial's folder to run it again")
    if spec.external:
        return
    then = stored.get(AGENT_CONFIGURATION)
    if then is None:
        renamed = _schema.schema(ALGORITHMS[spec.algorithm].algorithm).renamed_keys
        ambiguous = sorted(key for key in spec.hyperparameters if key in renamed)
        if ambiguous:
            raise InvalidArgumentError(
                f"{folder} was stored before trial folders recorded what their hyperparameters resolve to, and it sets "
                f"{', '.join(f'{key}={spec.hyperparameters[key]!r}' for key in ambiguous)}, which {spec.algorithm} has "
                f"since renamed ({', '.join(f'{key} to {renamed[key]}' for key in ambiguous)}) and given another "
                "meaning: the stored trial may have meant either. Remove that trial's folder (or use another storage) "
                f"to run it with today's meaning, or sweep with {', '.join(renamed[key] for key in ambiguous)} for the "
                "old one (another trial)")
        return
    changed = _differences(then, configuration, _schema.schema(ALGORITHMS[spec.algorithm].algorithm))
    if changed:
        raise InvalidArgumentError(
            f"{folder}: its hyperparameters {spec.hyperparameters} resolved to another agent configuration when the "
            f"trial was stored (by flowrl {stored.get(VERSION)}) than they do now ({'; '.join(changed)}): a key was "
            "renamed or a default changed since. Remove that trial's folder (or use another storage) to run it "
            "again; report() still reads it")


def _differences(then: dict[str, Any], now: dict[str, Any], schema: _schema.Schema) -> list[str]:
    """The keys whose values differ between two agent configurations, each as ``"core key k: a then, b now"``.
    A core key missing then was added since: it meant its legacy value (``schema.stored_meaning``,
    the rule by which checkpoints written before it load), whatever its default is now."""
    changed = []
    for part in ("core", "python"):
        before, after = then.get(part, {}), now.get(part, {})
        if part == "core":
            before = schema.stored_meaning(before)
        for key in sorted(set(before) | set(after)):
            if before.get(key) != after.get(key):
                changed.append(f"{part} key {key}: {before.get(key, '(unset)')!r} then, {after.get(key, '(unset)')!r} now")
    return changed


def read_spec(folder: Path) -> TrialSpec:
    """The spec in ``folder/config.json`` (the entries besides the spec's fields left out).

    Raises
    ------
    InvalidArgumentError
        For a missing file or a field the spec does not have.
    """
    config = read_json(folder / CONFIG_FILE)
    if not isinstance(config, dict):
        raise InvalidArgumentError(f"{folder / CONFIG_FILE} does not hold a trial's settings")
    return TrialSpec.from_dict({key: value for key, value in config.items() if key not in (AGENT_CONFIGURATION, VERSION)})


def _run(spec: TrialSpec, folder: Path, callback: MaybeCallback, reporter: Optional[Reporter]) -> dict[str, Any]:
    threads: dict[str, Optional[int]] = {"blas_threads": limit_blas_threads(spec.blas_threads)}
    clock = _Clock()
    env = gym.make(spec.env)
    evaluation_env = gym.make(spec.env)
    try:
        with (_external.torch_threads(spec.blas_threads) if spec.external else contextlib.nullcontext()) as torch_threads:
            if spec.external:
                threads["torch_threads"] = torch_threads
                agent, step, evaluations = _start_external(spec, folder, env)
            else:
                agent, step, evaluations = _start(spec, folder, env, evaluation_env, clock)
            stopped = False
            while step < spec.timesteps and not stopped:
                if step > 0:  # a new episode from an env state the step decides (the env is not checkpointed)
                    env.reset(seed=derived_seed(spec.seed, step, _TRAINING_ENV))
                    agent.set_env(env)
                target = min(step + spec.eval_every, spec.timesteps)
                agent.learn(target - step, reset_num_timesteps=step == 0, **({} if callback is None else {"callback": callback}))
                stopped = agent.num_timesteps < target  # a callback stopped training
                step = agent.num_timesteps
                evaluations.append(_evaluate(agent, evaluation_env, spec, step))
                _commit(folder, agent, spec, step, evaluations, clock.times())
                if reporter is not None:
                    reporter({"step": step, "mean_return": evaluations[-1]["mean_return"],
                              "best_return": max(record["mean_return"] for record in evaluations)})
        state = read_json(folder / STATE_FILE) or {}
        row = _row(spec, folder, evaluations, step, {**clock.times(), **state}, state.get("checkpoint"), threads,
                   "stopped" if stopped else "done")
        write_json(folder / RESULT_FILE, row)
        if not spec.external:
            agent.close()
        return row
    finally:
        env.close()
        evaluation_env.close()


def _start(spec: TrialSpec, folder: Path, env: gym.Env, evaluation_env: gym.Env,
           clock: _Clock) -> tuple[Agent, int, list[dict[str, Any]]]:
    """flowrl's agent, its step and evaluations: loaded from the checkpoint ``state.json`` names
    (the evaluations and log rows after it dropped), or created (pretrained, evaluated and
    committed at step 0 when the trial has a dataset)."""
    cls = ALGORITHMS[spec.algorithm]
    state = read_json(folder / STATE_FILE)
    if state is None:
        agent: Agent = cls(env, seed=spec.seed, log_dir=folder, **spec.hyperparameters)
        evaluations: list[dict[str, Any]] = []
        if spec.dataset is not None:
            agent.pretrain(spec.dataset, steps=spec.pretrain_steps)
            evaluations.append(_evaluate(agent, evaluation_env, spec, 0))
            _commit(folder, agent, spec, 0, evaluations, clock.times())
        return agent, 0, evaluations
    step = int(state["step"])
    clock.resume(state)
    agent = cls.load(folder / state["checkpoint"], env=env)
    agent.log_dir = str(folder)
    if agent.num_timesteps != step:
        raise InvalidArgumentError(f"{folder / state['checkpoint']} holds {agent.num_timesteps} steps; "
                                   f"state.json says {step}")
    evaluations = [record for record in read_json(folder / EVALUATIONS_FILE) or [] if record["step"] <= step]
    _truncate_progress(folder / PROGRESS_FILE, step)
    return agent, step, evaluations


def _start_external(spec: TrialSpec, folder: Path, env: gym.Env) -> tuple[Any, int, list[dict[str, Any]]]:
    """A new model of an external class at step 0, created as ``Cls(policy, env, seed=seed,
    **hyperparameters)`` with a copy of the hyperparameters (Stable-Baselines3 adds keys to a
    ``policy_kwargs`` dict it is given); what an interrupted attempt left (``state.json`` first,
    then its evaluations and models) is removed, since it cannot resume."""
    for name in (STATE_FILE, EVALUATIONS_FILE, EVALUATIONS_CSV):
        (folder / name).unlink(missing_ok=True)
    for old in folder.glob(MODELS):
        old.unlink()
    cls = _external.resolve(spec.algorithm)
    return cls(spec.policy, env, seed=spec.seed, **copy.deepcopy(spec.hyperparameters)), 0, []


class _Clock:
    """The trial's wall-clock and CPU time (this process's, all threads), summed over resumptions."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.time(), time.process_time()
        self.wall_before = self.cpu_before = 0.0

    def resume(self, state: dict[str, Any]) -> None:
        """Continues the times a ``state.json`` recorded."""
        self.wall_before, self.cpu_before = float(state.get("wall_time", 0.0)), float(state.get("cpu_time", 0.0))

    def times(self) -> dict[str, float]:
        return {"wall_time": self.wall_before + time.time() - self.wall,
                "cpu_time": self.cpu_before + time.process_time() - self.cpu}


def _evaluate(agent: Predictor, env: Any, spec: TrialSpec, step: int) -> dict[str, Any]:
    returns, lengths = evaluate_episodes(agent, env, spec.eval_episodes, deterministic=True,
                                         seed=derived_seed(spec.seed, step, _EVALUATION_ENV))
    return {"step": int(step), "mean_return": float(np.mean(returns)), "std_return": float(np.std(returns)),
            "returns": [float(value) for value in returns], "lengths": [int(value) for value in lengths]}


def _commit(folder: Path, agent: Any, spec: TrialSpec, step: int, evaluations: list[dict[str, Any]],
            times: dict[str, float]) -> None:
    """Checkpoint (or an external class's model), then evaluations, then ``state.json`` (the
    commit point), each written atomically; older checkpoints are removed last."""
    name = _save(agent, spec, folder, step)
    write_json(folder / EVALUATIONS_FILE, evaluations)
    _write_evaluations_csv(folder / EVALUATIONS_CSV, evaluations)
    write_json(folder / STATE_FILE, {"step": int(step), "checkpoint": name, **times})
    for old in folder.glob(MODELS if spec.external else CHECKPOINTS):
        if old.name != name:
            old.unlink()


def _save(agent: Any, spec: TrialSpec, folder: Path, step: int) -> str:
    """Saves the agent after ``step`` steps into ``folder`` and returns the file's name: flowrl's
    checkpoint with its replay buffer, or the one file an external class's ``save(folder /
    "model-N")`` wrote (``model-N`` itself or with a suffix, such as SB3's ``.zip``)."""
    if not spec.external:
        name = CHECKPOINT.format(step=step)
        agent.save(folder / name, include_replay_buffer=True)
        return name
    stem = MODEL.format(step=step)
    agent.save(folder / stem)
    written = sorted(path.name for path in folder.glob(stem + "*") if path.name == stem or path.name.startswith(stem + "."))
    if len(written) != 1:
        raise RuntimeError(f"{spec.algorithm}'s save({folder / stem}) wrote {written or 'nothing'} there; a trial "
                           "keeps the one file save(path) writes at path (with or without a suffix)")
    return written[0]


def _row(spec: TrialSpec, folder: Path, evaluations: list[dict[str, Any]], step: int, times: dict[str, Any],
         checkpoint: Optional[str], threads: dict[str, Optional[int]], status: str) -> dict[str, Any]:
    """The trial's row; ``threads``: ``blas_threads`` (and an external trial's ``torch_threads``)."""
    means = [record["mean_return"] for record in evaluations]
    best = int(np.argmax(means)) if means else None
    return {"trial": spec.name, "algorithm": spec.algorithm, "label": spec.label, "policy": spec.policy, "env": spec.env,
            "seed": spec.seed, "hyperparameters": dict(spec.hyperparameters), "dataset": spec.dataset, "status": status,
            "resumable": not spec.external,
            "final_return": means[-1] if means else math.nan,
            "best_return": means[best] if best is not None else math.nan,
            "best_step": evaluations[best]["step"] if best is not None else None,
            "steps": int(step), "wall_time": round(float(times.get("wall_time", 0.0)), 3),
            "cpu_time": round(float(times.get("cpu_time", 0.0)), 3), "evaluations": len(evaluations),
            **threads, "path": str(folder),
            "checkpoint": str(folder / checkpoint) if checkpoint else None}


def unfinished_row(spec: TrialSpec, folder: Path, error: Optional[str] = None) -> dict[str, Any]:
    """The row of a trial without ``result.json``: status ``"failed"`` (or ``"pending"`` when it
    has no error), its evaluations so far (an external class's trial runs them again from step
    0), and the last line of its error."""
    state = read_json(folder / STATE_FILE) or {}
    step = int(state.get("step", 0))
    evaluations = [record for record in read_json(folder / EVALUATIONS_FILE) or [] if record["step"] <= step]
    if error is None and (folder / ERROR_FILE).exists():
        lines = (folder / ERROR_FILE).read_text().strip().splitlines()
        error = lines[-1] if lines else "failed"
    threads = {"blas_threads": spec.blas_threads, **({"torch_threads": None} if spec.external else {})}
    row = _row(spec, folder, evaluations, step, state, state.get("checkpoint"), threads,
               "failed" if error else "pending")
    row["error"] = error
    return row


def _truncate_progress(path: Path, step: int) -> None:
    """Drops the rows of ``progress.csv`` logged after ``step`` (by a run that did not reach its
    next checkpoint), so that the resumed run's rows follow on without duplicates."""
    if not path.exists():
        return
    with open(path, newline="") as file:
        reader = csv.DictReader(file)
        columns = list(reader.fieldnames or [])
        rows = list(reader)
    kept = [row for row in rows if _float(row.get("time/total_timesteps")) <= step]
    if len(kept) == len(rows):
        return
    temporary = path.with_suffix(".csv.tmp")
    with open(temporary, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(kept)
    os.replace(temporary, path)


def _float(text: Optional[str]) -> float:
    try:
        return float(text) if text else -math.inf
    except ValueError:
        return -math.inf


def _write_evaluations_csv(path: Path, evaluations: list[dict[str, Any]]) -> None:
    temporary = path.with_suffix(".csv.tmp")
    with open(temporary, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["step", "mean_return", "std_return", "episodes"])
        for record in evaluations:
            writer.writerow([record["step"], repr(record["mean_return"]), repr(record["std_return"]), len(record["returns"])])
    os.replace(temporary, path)


def read_json(path: Path) -> Any:
    """The JSON in ``path``, or None when the file does not exist."""
    try:
        with open(path) as file:
            return json.load(file)
    except FileNotFoundError:
        return None


def write_json(path: Path, value: Any) -> None:
    """Writes ``value`` as JSON to ``path`` atomically (a temporary file, fsynced, then renamed)."""
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w") as file:
        json.dump(value, file, indent=1)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
