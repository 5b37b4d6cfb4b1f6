"""Learning curves from the ``progress.csv`` that :meth:`flowrl.Agent.learn` writes.

matplotlib is an optional dependency (``pip install matplotlib`` or ``pip install 'flowrl[plot]'``),
imported only when a plot is drawn.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Optional, Union

PathLike = Union[str, "os.PathLike[str]"]

#: The x axis of every curve.
X_KEY = "time/total_timesteps"


def read_curve(csv_path: PathLike, key: str = "rollout/ep_rew_mean") -> tuple[list[float], list[float]]:
    """The ``(time/total_timesteps, key)`` pairs of a progress file, skipping rows without ``key``.

    Raises
    ------
    ValueError
        If the file has no ``key`` column or no row with a value for it.
    """
    with open(csv_path, newline="") as file:
        reader = csv.DictReader(file)
        columns = reader.fieldnames or []
        if key not in columns or X_KEY not in columns:
            raise ValueError(f"{os.fspath(csv_path)} has no column '{key}' and '{X_KEY}'; its columns: {', '.join(columns)}")
        steps: list[float] = []
        values: list[float] = []
        for row in reader:
            x, y = row.get(X_KEY) or "", row.get(key) or ""
            if not x or not y:
                continue
            x_value, y_value = float(x), float(y)
            if math.isfinite(x_value) and math.isfinite(y_value):
                steps.append(x_value)
                values.append(y_value)
    if not steps:
        raise ValueError(f"{os.fspath(csv_path)} has no row with a value for '{key}' yet")
    return steps, values


def plot_learning_curve(csv_path: PathLike, output_png: PathLike, key: str = "rollout/ep_rew_mean",
                        title: Optional[str] = None) -> Path:
    """Plots ``key`` against ``time/total_timesteps`` from a ``progress.csv`` into a PNG file.

    Parameters
    ----------
    csv_path : str or os.PathLike
        A file written by :meth:`flowrl.Agent.learn` with ``log_dir`` set.
    output_png : str or os.PathLike
        Where the figure is written (its folder is created if needed).
    key : str
        The column to plot, such as ``"rollout/ep_rew_mean"`` or ``"eval/mean_reward"``.
    title : str, optional
        Defaults to the CSV file's folder name.

    Returns
    -------
    pathlib.Path
        ``output_png``.

    Raises
    ------
    ImportError
        If matplotlib is not installed.
    ValueError
        If the file has no values for ``key``.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError("plot_learning_curve needs matplotlib: pip install matplotlib "
                          "(or pip install 'flowrl[plot]')") from error
    steps, values = read_curve(csv_path, key)
    output = Path(output_png)
    output.parent.mkdir(parents=True, exist_ok=True)
    figure = Figure(figsize=(6.4, 4.0), dpi=100)  # no pyplot: no global state, no GUI backend
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    axes.plot(steps, values, marker="." if len(steps) < 50 else None)
    axes.set_xlabel("timesteps")
    axes.set_ylabel(key)
    axes.set_title(title if title is not None else Path(csv_path).resolve().parent.name)
    axes.grid(True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(output)
    return output
