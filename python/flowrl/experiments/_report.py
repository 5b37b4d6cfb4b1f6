"""The report of a sweep's folder: per configuration (label or algorithm, env, hyperparameters),
the statistics over seeds of the final and best returns and of the offline-to-online metrics, and
the learning curves with bands."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..errors import InvalidArgumentError
from . import _stats
from ._grid import TrialSpec
from ._metrics import offline_to_online_metrics
from ._trial import CONFIG_FILE, EVALUATIONS_FILE, RESULT_FILE, read_json, read_spec

_BANDS = ("ci", "minmax")


@dataclass
class SweepReport:
    """What :func:`report` found.

    Attributes
    ----------
    rows : list of dict
        One per configuration (label or algorithm, env, hyperparameters), in the order of
        :func:`report`'s documentation.
    markdown : str
        The rows as a Markdown table (also written to ``storage/report.md``).
    plots : list of str
        The PNG files of the learning curves, one per env (empty without matplotlib).
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    markdown: str = ""
    plots: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return self.markdown

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Any:
        return iter(self.rows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.rows[index]


@dataclass
class _Trial:
    spec: TrialSpec
    result: Optional[dict[str, Any]]
    evaluations: list[dict[str, Any]]


def _trials(storage: Path) -> list[_Trial]:
    trials = []
    for folder in sorted(path for path in storage.iterdir() if path.is_dir() and (path / CONFIG_FILE).is_file()):
        trials.append(_Trial(read_spec(folder), read_json(folder / RESULT_FILE), read_json(folder / EVALUATIONS_FILE) or []))
    return trials


#: What a report gives statistics over seeds of: the returns of a trial's row, then the
#: offline-to-online metrics of its evaluation curve (:func:`offline_to_online_metrics`).
_RETURNS = ("final", "best")
_CURVE_METRICS = ("start", "worst", "dip", "final_ratio", "auc")


def _values(trial: _Trial) -> dict[str, float]:
    """A finished trial's values of :data:`_RETURNS` and :data:`_CURVE_METRICS`."""
    assert trial.result is not None
    values = {name: _float(trial.result.get(f"{name}_return")) for name in _RETURNS}
    curve = {record["step"]: record["mean_return"] for record in trial.evaluations}
    try:
        metrics = offline_to_online_metrics(curve)
    except ValueError:  # no evaluation, or a return that is not finite
        metrics = {}
    values.update({name: metrics.get(name, math.nan) for name in _CURVE_METRICS})
    return values


def _float(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def _summary(name: str, values: list[float], confidence: float, resamples: int, seed: int) -> dict[str, Any]:
    """``name_mean``, ``name_ci_low``, ``name_ci_high``, ``name_iqm`` over ``values`` (all NaN
    when there are none or one is not finite: no statistic over a part of the seeds) and the
    values themselves as ``name + "s"``."""
    summary: dict[str, Any] = {f"{name}_{statistic}": math.nan for statistic in ("mean", "ci_low", "ci_high", "iqm")}
    if values and all(math.isfinite(value) for value in values):
        low, high = _stats.bootstrap_ci(values, confidence, resamples, seed)
        summary.update({f"{name}_mean": _stats.mean(values), f"{name}_ci_low": low, f"{name}_ci_high": high,
                        f"{name}_iqm": _stats.iqm(values)})
    summary[f"{name}s"] = values
    return summary


def report(storage: os.PathLike[str] | str, *, plot: bool = True, band: str = "ci", confidence: float = 0.95,
           resamples: int = _stats.RESAMPLES, seed: int = _stats.BOOTSTRAP_SEED) -> SweepReport:
    """Statistics over seeds for each configuration of the sweep stored in ``storage``.

    Only finished trials (with ``result.json``) count; ``trials`` tells how many a configuration
    has in all. A configuration is a label (an entry's ``label`` in :func:`~flowrl.experiments.sweep`,
    else the algorithm's name), an algorithm, an env and the hyperparameters. Over its seeds, each
    row gives for the final return (the last evaluation's mean return) and the best return (the
    best evaluation's mean return), and for the offline-to-online metrics of each seed's evaluation
    curve (:func:`flowrl.experiments.offline_to_online_metrics`: ``start``, the return at step 0,
    after pretraining; ``worst`` after it; ``dip``; ``final_ratio``, final / start; ``auc``):

    - ``*_mean``: the mean over seeds;
    - ``*_ci_low``, ``*_ci_high``: the seeded percentile-bootstrap ``confidence`` interval of that
      mean (``resamples`` resamples; see :func:`flowrl.experiments.bootstrap_ci`);
    - ``*_iqm``: the interquartile mean over seeds (:func:`flowrl.experiments.iqm`: ``floor(n/4)``
      values dropped at each end; the plain mean below 4 seeds);
    - ``*s`` (``finals``, ``starts``, ``final_ratios``, ...): the values, in seed order.

    A statistic is NaN when a seed has no value for it: ``start``, ``dip`` and ``final_ratio``
    without an evaluation at step 0 (trials without a dataset), ``final_ratio`` when a start is
    not positive.

    Parameters
    ----------
    storage : str or os.PathLike
        The folder :func:`~flowrl.experiments.sweep` wrote.
    plot : bool
        Draw the curves (needs matplotlib; skipped silently without it): ``storage/curves_<env>.png``,
        the mean evaluation return over seeds against steps with a band, one line per
        configuration, labelled with its label (or algorithm) and the hyperparameters that differ
        between the lines of that label.
    band : {"ci", "minmax"}
        The band around each curve: the bootstrap interval of the mean at each evaluation, or the
        range over seeds.
    confidence : float
    resamples : int
    seed : int
        The bootstrap's generator seed.

    Returns
    -------
    SweepReport
        Rows sorted by env, label, algorithm, hyperparameters. Keys: ``label``, ``algorithm``,
        ``env``, ``hyperparameters``, ``dataset``, ``seeds`` (finished), ``trials``, ``steps``, and
        for each of ``final``, ``best``, ``start``, ``worst``, ``dip``, ``final_ratio``, ``auc``
        the four statistics and the values (``final_mean``, ``final_ci_low``, ``final_ci_high``,
        ``final_iqm``, ``finals``, ...). The Markdown has a second table of the offline-to-online
        metrics when a trial was pretrained on a dataset.

    Raises
    ------
    InvalidArgumentError
        If ``storage`` is not a folder holding trials, or for a bad ``band``.
    """
    folder = Path(storage)
    if not folder.is_dir():
        raise InvalidArgumentError(f"{folder} is not a folder (give the storage= of a sweep)")
    if band not in _BANDS:
        raise InvalidArgumentError(f"band must be one of {_BANDS}, got {band!r}")
    trials = _trials(folder)
    if not trials:
        raise InvalidArgumentError(f"{folder} holds no trial folders (folders with {CONFIG_FILE})")
    groups: dict[tuple[str, str, str, str], list[_Trial]] = {}
    for trial in trials:
        groups.setdefault(trial.spec.configuration, []).append(trial)
    rows = []
    for key in sorted(groups, key=lambda key: (key[2], key[0], key[1], key[3])):
        members = sorted(groups[key], key=lambda trial: trial.spec.seed)
        done = [trial for trial in members if trial.result is not None]
        row: dict[str, Any] = {"label": key[0], "algorithm": key[1], "env": key[2], "hyperparameters": json.loads(key[3]),
                               "dataset": members[0].spec.dataset, "seeds": len(done), "trials": len(members),
                               "steps": max((trial.result["steps"] for trial in done), default=0)}
        values = [_values(trial) for trial in done]
        for name in _RETURNS + _CURVE_METRICS:
            row.update(_summary(name, [value[name] for value in values], confidence, resamples, seed))
        rows.append(row)
    markdown = markdown_table(rows, confidence)
    (folder / "report.md").write_text(markdown + "\n")
    plots = _plot(folder, groups, band, confidence, resamples, seed) if plot else []
    return SweepReport(rows, markdown, plots)


def markdown_table(rows: list[dict[str, Any]], confidence: float = 0.95) -> str:
    """The report's rows as a Markdown table, and a second table of their offline-to-online
    metrics when a row's trials were pretrained on a dataset."""
    percent = f"{confidence * 100:g}%"
    lines = [f"| algorithm | env | hyperparameters | seeds | steps | final mean [{percent} CI] | final IQM | "
             f"best mean [{percent} CI] | best IQM |",
             "| --- | --- | --- | ---: | ---: | --- | ---: | --- | ---: |"]
    for row in rows:
        lines.append(f"| {_name(row)} | {row['env']} | {_settings(row)} | {_seeds(row)} | {row['steps']} | "
                     f"{_interval(row, 'final')} | {_number(row['final_iqm'], 1)} | {_interval(row, 'best')} | "
                     f"{_number(row['best_iqm'], 1)} |")
    if any(row.get("dataset") is not None for row in rows):
        lines += ["", f"Offline-to-online: each cell is the mean over seeds [{percent} bootstrap CI] (IQM). start: the "
                  "return at step 0 (after pretraining; – without a dataset); worst: the worst return after it; dip: "
                  "(worst − start) / |start|; final / start: when every start is positive; AUC: the mean return of "
                  "the evaluations after step 0.", "",
                  "| algorithm | env | hyperparameters | seeds | start | worst | dip | final / start | AUC |",
                  "| --- | --- | --- | ---: | --- | --- | --- | --- | --- |"]
        for row in rows:
            cells = [_interval(row, "start", iqm=True), _interval(row, "worst", iqm=True),
                     _interval(row, "dip", iqm=True, scale=100, unit="%", digits=0),
                     _interval(row, "final_ratio", iqm=True, digits=2), _interval(row, "auc", iqm=True)]
            lines.append(f"| {_name(row)} | {row['env']} | {_settings(row)} | {_seeds(row)} | {' | '.join(cells)} |")
    return "\n".join(lines)


def _name(row: dict[str, Any]) -> str:
    """A row's label, with its algorithm when the label is another name: ``sac-scratch (SAC)``."""
    return row["algorithm"] if row.get("label", row["algorithm"]) == row["algorithm"] else f"{row['label']} ({row['algorithm']})"


def _settings(row: dict[str, Any]) -> str:
    return ", ".join(f"{key}={json.dumps(value)}" for key, value in sorted(row["hyperparameters"].items())) or "defaults"


def _seeds(row: dict[str, Any]) -> str:
    return f"{row['seeds']}" if row["seeds"] == row["trials"] else f"{row['seeds']} of {row['trials']}"


def _interval(row: dict[str, Any], name: str, iqm: bool = False, scale: float = 1.0, unit: str = "",
              digits: int = 1) -> str:
    """``mean [low, high]`` of a row's statistic ``name`` (with ``(IQM)`` when ``iqm``), or – when NaN."""
    if not math.isfinite(row[f"{name}_mean"]):
        return "–"
    mean, low, high, middle = (_number(scale * row[f"{name}_{statistic}"], digits) + unit
                               for statistic in ("mean", "ci_low", "ci_high", "iqm"))
    return f"{mean} [{low}, {high}]" + (f" ({middle})" if iqm else "")


def _number(value: float, digits: int) -> str:
    """``value`` with ``digits`` decimals, or – for NaN."""
    return f"{value:.{digits}f}" if math.isfinite(value) else "–"


def curve(trials: list[_Trial], band: str = "ci", confidence: float = 0.95, resamples: int = _stats.RESAMPLES,
          seed: int = _stats.BOOTSTRAP_SEED) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(steps, mean, low, high)`` over the evaluation steps every finished trial has."""
    done = [trial for trial in trials if trial.result is not None] or trials
    by_step = [{record["step"]: record["mean_return"] for record in trial.evaluations} for trial in done]
    steps = sorted(set.intersection(*(set(series) for series in by_step))) if by_step else []
    means, lows, highs = [], [], []
    for step in steps:
        values = [series[step] for series in by_step]
        means.append(_stats.mean(values))
        low, high = (_stats.bootstrap_ci(values, confidence, resamples, seed) if band == "ci"
                     else (float(np.min(values)), float(np.max(values))))
        lows.append(low)
        highs.append(high)
    return np.array(steps), np.array(means), np.array(lows), np.array(highs)


def _varying(configurations: list[dict[str, Any]]) -> set[str]:
    """The hyperparameters whose values differ between ``configurations`` (what a legend needs
    besides the label)."""
    names = {name for configuration in configurations for name in configuration}
    return {name for name in names
            if len({json.dumps(configuration.get(name), sort_keys=True) for configuration in configurations}) > 1}


def _plot(folder: Path, groups: dict[tuple[str, str, str, str], list[_Trial]], band: str, confidence: float,
          resamples: int, seed: int) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    paths = []
    for env in sorted({key[2] for key in groups}):
        figure, axes = plt.subplots(figsize=(7, 4.5))
        keys = sorted(key for key in groups if key[2] == env)
        varying = {name: _varying([json.loads(key[3]) for key in keys if key[0] == name]) for name in {key[0] for key in keys}}
        for key in keys:
            steps, means, lows, highs = curve(groups[key], band, confidence, resamples, seed)
            if steps.size == 0:
                continue
            settings = json.loads(key[3])
            shown = {name: value for name, value in sorted(settings.items()) if name in varying[key[0]]}
            label = key[0] + (" " + ", ".join(f"{name}={value}" for name, value in shown.items()) if shown else "")
            seeds = sum(trial.result is not None for trial in groups[key])
            line, = axes.plot(steps, means, marker="o", markersize=3, label=f"{label} ({seeds} seeds)")
            axes.fill_between(steps, lows, highs, color=line.get_color(), alpha=0.2)
        what = f"{confidence * 100:g}% bootstrap CI of the mean" if band == "ci" else "min–max over seeds"
        axes.set(title=f"{env}: mean evaluation return over seeds (band: {what})", xlabel="environment steps",
                 ylabel="evaluation return")
        axes.title.set_fontsize(9)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=7)
        path = folder / f"curves_{env.replace('/', '-')}.png"
        figure.tight_layout()
        figure.savefig(path, dpi=110)
        plt.close(figure)
        paths.append(str(path))
    return paths
