"""The report of a sweep's folder: per configuration, the statistics over seeds and the learning
curves with bands."""

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
from ._trial import CONFIG_FILE, EVALUATIONS_FILE, RESULT_FILE, read_json

_BANDS = ("ci", "minmax")


@dataclass
class SweepReport:
    """What :func:`report` found.

    Attributes
    ----------
    rows : list of dict
        One per configuration (algorithm, env, hyperparameters), in the order of
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
        config = read_json(folder / CONFIG_FILE)
        config.pop("flowrl_version", None)
        spec = TrialSpec.from_dict(config)
        trials.append(_Trial(spec, read_json(folder / RESULT_FILE), read_json(folder / EVALUATIONS_FILE) or []))
    return trials


def report(storage: os.PathLike[str] | str, *, plot: bool = True, band: str = "ci", confidence: float = 0.95,
           resamples: int = _stats.RESAMPLES, seed: int = _stats.BOOTSTRAP_SEED) -> SweepReport:
    """Statistics over seeds for each configuration of the sweep stored in ``storage``.

    Only finished trials (with ``result.json``) count; ``trials`` tells how many a configuration
    has in all. For the final return (the last evaluation's mean return) and the best return (the
    best evaluation's mean return) of the seeds, each row gives:

    - ``*_mean``: the mean over seeds;
    - ``*_ci_low``, ``*_ci_high``: the seeded percentile-bootstrap ``confidence`` interval of that
      mean (``resamples`` resamples; see :func:`flowrl.experiments.bootstrap_ci`);
    - ``*_iqm``: the interquartile mean over seeds (:func:`flowrl.experiments.iqm`: ``floor(n/4)``
      values dropped at each end; the plain mean below 4 seeds).

    Parameters
    ----------
    storage : str or os.PathLike
        The folder :func:`~flowrl.experiments.sweep` wrote.
    plot : bool
        Draw the curves (needs matplotlib; skipped silently without it): ``storage/curves_<env>.png``,
        the mean evaluation return over seeds against steps with a band, one line per
        configuration, labelled with the hyperparameters that differ between them.
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
        Rows sorted by env, algorithm, hyperparameters. Keys: ``algorithm``, ``env``,
        ``hyperparameters``, ``seeds`` (finished), ``trials``, ``steps``, ``final_mean``,
        ``final_ci_low``, ``final_ci_high``, ``final_iqm``, ``best_mean``, ``best_ci_low``,
        ``best_ci_high``, ``best_iqm``, ``finals`` (the values, by seed order).

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
    groups: dict[tuple[str, str, str], list[_Trial]] = {}
    for trial in trials:
        groups.setdefault(trial.spec.configuration, []).append(trial)
    rows = []
    for key in sorted(groups, key=lambda key: (key[1], key[0], key[2])):
        members = sorted(groups[key], key=lambda trial: trial.spec.seed)
        done = [trial for trial in members if trial.result is not None]
        row: dict[str, Any] = {"algorithm": key[0], "env": key[1], "hyperparameters": json.loads(key[2]),
                               "seeds": len(done), "trials": len(members),
                               "steps": max((trial.result["steps"] for trial in done), default=0)}
        for name in ("final", "best"):
            values = [trial.result[f"{name}_return"] for trial in done]
            values = [value for value in values if value is not None and math.isfinite(value)]
            if values:
                low, high = _stats.bootstrap_ci(values, confidence, resamples, seed)
                row.update({f"{name}_mean": _stats.mean(values), f"{name}_ci_low": low, f"{name}_ci_high": high,
                            f"{name}_iqm": _stats.iqm(values)})
            else:
                row.update({f"{name}_mean": math.nan, f"{name}_ci_low": math.nan, f"{name}_ci_high": math.nan,
                            f"{name}_iqm": math.nan})
            row[f"{name}s"] = values
        rows.append(row)
    markdown = markdown_table(rows, confidence)
    (folder / "report.md").write_text(markdown + "\n")
    plots = _plot(folder, groups, band, confidence, resamples, seed) if plot else []
    return SweepReport(rows, markdown, plots)


def markdown_table(rows: list[dict[str, Any]], confidence: float = 0.95) -> str:
    """The report's rows as a Markdown table."""
    percent = f"{confidence * 100:g}%"
    lines = [f"| algorithm | env | hyperparameters | seeds | steps | final mean [{percent} CI] | final IQM | "
             f"best mean [{percent} CI] | best IQM |",
             "| --- | --- | --- | ---: | ---: | --- | ---: | --- | ---: |"]
    for row in rows:
        settings = ", ".join(f"{key}={json.dumps(value)}" for key, value in sorted(row["hyperparameters"].items())) or "defaults"
        seeds = f"{row['seeds']}" if row["seeds"] == row["trials"] else f"{row['seeds']} of {row['trials']}"
        lines.append(f"| {row['algorithm']} | {row['env']} | {settings} | {seeds} | {row['steps']} | "
                     f"{row['final_mean']:.1f} [{row['final_ci_low']:.1f}, {row['final_ci_high']:.1f}] | "
                     f"{row['final_iqm']:.1f} | {row['best_mean']:.1f} [{row['best_ci_low']:.1f}, "
                     f"{row['best_ci_high']:.1f}] | {row['best_iqm']:.1f} |")
    return "\n".join(lines)


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
    """The hyperparameters whose values differ between ``configurations`` (what a legend needs)."""
    names = {name for configuration in configurations for name in configuration}
    return {name for name in names
            if len({json.dumps(configuration.get(name), sort_keys=True) for configuration in configurations}) > 1}


def _plot(folder: Path, groups: dict[tuple[str, str, str], list[_Trial]], band: str, confidence: float,
          resamples: int, seed: int) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    paths = []
    for env in sorted({key[1] for key in groups}):
        figure, axes = plt.subplots(figsize=(7, 4.5))
        keys = sorted(key for key in groups if key[1] == env)
        varying = _varying([json.loads(key[2]) for key in keys])
        for key in keys:
            steps, means, lows, highs = curve(groups[key], band, confidence, resamples, seed)
            if steps.size == 0:
                continue
            settings = json.loads(key[2])
            shown = {name: value for name, value in sorted(settings.items()) if name in varying}
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
