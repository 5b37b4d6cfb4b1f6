"""``python -m flowrl.experiments run grid.yaml``, ``python -m flowrl.experiments check grid.yaml``
and ``python -m flowrl.experiments report DIR``.

The grid file holds :func:`flowrl.experiments.sweep`'s keyword arguments as a mapping (YAML
through PyYAML when it is installed, else JSON); an entry of ``algorithms`` may be a mapping
with settings of its own::

    algorithms:
      - SWFP
      - {algorithm: SACFlow, label: sac-flow-gated, hyperparameters: {velocity: gated}}
      - {algorithm: SAC, label: sac-scratch, dataset: null}
    envs: [Pendulum-v1]
    seeds: [0, 1, 2]
    timesteps: 20000
    hyperparameters: {learning_rate: [0.0003, 0.001]}
    eval_every: 5000
    storage: runs/sweep
    backend: ray

Relative ``storage`` and ``dataset`` paths are relative to the current directory, as in Python.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

from ..errors import InvalidArgumentError
from . import report, sweep


def read_grid(path: Path) -> dict[str, Any]:
    """The grid file's mapping: YAML (with PyYAML) or JSON.

    Raises
    ------
    InvalidArgumentError
        For a missing file, a file that does not parse, YAML without PyYAML, or a top level that
        is not a mapping.
    """
    if not path.is_file():
        raise InvalidArgumentError(f"grid file {path} does not exist")
    text = path.read_text()
    try:
        import yaml
    except ImportError:
        yaml = None
    if yaml is not None:
        try:
            grid = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise InvalidArgumentError(f"{path} is not valid YAML: {error}") from None
    else:
        try:
            grid = json.loads(text)
        except ValueError:
            raise InvalidArgumentError(f"{path} is not JSON, and PyYAML (to read YAML) is not installed: "
                                       "pip install pyyaml (it comes with the ray extra), or write the grid as JSON") from None
    if not isinstance(grid, dict):
        raise InvalidArgumentError(f"{path} must hold a mapping of sweep()'s arguments, got {type(grid).__name__}")
    return grid


def _format(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, float) and math.isfinite(value) else str(value)


def _sweep(arguments: argparse.Namespace, **options: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The grid file's arguments (those given on the command line overriding them) and the rows
    :func:`sweep` returns for them."""
    grid = read_grid(arguments.grid)
    for key in ("backend", "storage", "address"):
        if getattr(arguments, key, None) is not None:
            grid[key] = getattr(arguments, key)
    try:
        return grid, sweep(**grid, **options)
    except TypeError as error:
        raise InvalidArgumentError(f"{arguments.grid}: {error}") from None


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flowrl.experiments",
                                     description="Multi-seed sweeps of flowrl agents (docs/experiments.md).")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run (or resume) the sweep a grid file describes")
    run.add_argument("grid", type=Path, help="a YAML or JSON file of sweep()'s keyword arguments")
    run.add_argument("--backend", choices=["ray", "serial"], help="overrides the file's backend")
    run.add_argument("--storage", help="overrides the file's storage folder")
    run.add_argument("--address", help='Ray cluster address ("auto" joins the cluster of `ray start`)')
    run.add_argument("--no-report", action="store_true", help="do not write the report afterwards")
    check = commands.add_parser("check", help="check a grid file as run would (envs, agents, datasets, storage) "
                                              "and list its trials, running nothing")
    check.add_argument("grid", type=Path, help="a YAML or JSON file of sweep()'s keyword arguments")
    check.add_argument("--backend", choices=["ray", "serial"], help="overrides the file's backend")
    check.add_argument("--storage", help="overrides the file's storage folder")
    shown = commands.add_parser("report", help="statistics and curves of a sweep's folder")
    shown.add_argument("storage", type=Path)
    shown.add_argument("--band", choices=["ci", "minmax"], default="ci", help="the curves' band")
    shown.add_argument("--no-plot", action="store_true", help="do not draw the curves")
    arguments = parser.parse_args(argv)
    try:
        if arguments.command == "check":
            _, rows = _sweep(arguments, dry_run=True)
            for row in rows:
                print(f"{row['trial']}: {row['status']}")
            finished = sum(row["status"] in ("done", "stopped") for row in rows)
            print(f"{arguments.grid}: {len(rows)} trials, {finished} finished, {len(rows) - finished} to run")
            return 0
        if arguments.command == "run":
            grid, rows = _sweep(arguments)
            for row in rows:
                print(f"{row['trial']}: {row['status']}, final {_format(row['final_return'])}, best "
                      f"{_format(row['best_return'])}, {row['steps']} steps, {_format(row['wall_time'])} s")
            if not arguments.no_report:
                table = report(grid.get("storage", "runs/sweep"))
                print(table.markdown)
                for plot in table.plots:
                    print(f"curves: {plot}")
            return 0 if all(row["status"] in ("done", "stopped") for row in rows) else 1
        table = report(arguments.storage, plot=not arguments.no_plot, band=arguments.band)
        print(table.markdown)
        for plot in table.plots:
            print(f"curves: {plot}")
        return 0
    except (InvalidArgumentError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
