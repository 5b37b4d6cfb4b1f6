"""Training logs with Stable-Baselines3's keys: a table on stdout and a ``progress.csv`` file.

Values are recorded under keys such as ``rollout/ep_rew_mean`` or ``train/bc_loss`` with
:meth:`Logger.record`; :meth:`Logger.dump` writes the recorded values as one row to every output
and clears them, as in Stable-Baselines3.

>>> logger = Logger([HumanOutputFormat()])
>>> logger.record("rollout/ep_rew_mean", -1234.5)
>>> logger.record("time/total_timesteps", 800)
>>> logger.dump(step=800)
----------------------------------
| rollout/           |           |
|    ep_rew_mean     | -1.23e+03 |
| time/              |           |
|    total_timesteps | 800       |
----------------------------------
"""

from __future__ import annotations

import csv
import os
import sys
from typing import Any, Optional, TextIO, Union

PathLike = Union[str, "os.PathLike[str]"]

#: The CSV file name inside a ``log_dir``.
CSV_FILE_NAME = "progress.csv"


class OutputFormat:
    """Where a logger's rows go; subclasses implement :meth:`write`."""

    def write(self, values: dict[str, Any], step: int) -> None:
        """Writes one row of ``key -> value``."""
        raise NotImplementedError

    def close(self) -> None:
        """Releases any open file."""


class HumanOutputFormat(OutputFormat):
    """Stable-Baselines3's table: keys grouped under their ``prefix/`` and sorted.

    Parameters
    ----------
    stream : file-like, optional
        Where to print; ``sys.stdout`` at the time of each write when omitted (so a stream
        swapped in later, such as pytest's ``capsys``, receives the table).
    max_length : int
        Keys and values longer than this are truncated with ``...``.
    """

    def __init__(self, stream: Optional[TextIO] = None, max_length: int = 36) -> None:
        self.stream = stream
        self.max_length = max_length

    def _truncate(self, text: str) -> str:
        return text if len(text) <= self.max_length else text[: self.max_length - 3] + "..."

    def write(self, values: dict[str, Any], step: int) -> None:
        rows: list[tuple[str, str]] = []
        tag = None
        for key in sorted(values):
            value = values[key]
            text = f"{value:<8.3g}" if isinstance(value, float) else str(value)
            prefix, slash, name = key.partition("/")
            if slash and prefix:
                if prefix != tag:
                    tag = prefix
                    rows.append((self._truncate(prefix + "/"), ""))
                rows.append((self._truncate("   " + name), self._truncate(text)))
            else:
                tag = None
                rows.append((self._truncate(key), self._truncate(text)))
        if not rows:
            return
        key_width = max(len(key) for key, _ in rows)
        value_width = max(len(text) for _, text in rows)
        dashes = "-" * (key_width + value_width + 7)
        lines = [dashes]
        lines += [f"| {key:<{key_width}} | {text:<{value_width}} |" for key, text in rows]
        lines.append(dashes)
        stream = self.stream if self.stream is not None else sys.stdout
        stream.write("\n".join(lines) + "\n")
        stream.flush()


class CSVOutputFormat(OutputFormat):
    """Appends rows to a CSV file whose header is the union of every key seen.

    The columns are fixed by the first row (sorted); when a later row brings new keys, the file
    is rewritten once with the new columns appended (sorted) and empty cells in the earlier rows.
    A missing value is an empty cell.

    Parameters
    ----------
    path : str or os.PathLike
        The file; its folder is created if needed.
    append : bool
        Keep the rows of an existing file (and its columns) instead of starting a new one.
    """

    def __init__(self, path: PathLike, append: bool = False) -> None:
        self.path = os.fspath(path)
        folder = os.path.dirname(self.path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        self.columns: list[str] = []
        if append and os.path.isfile(self.path):
            with open(self.path, newline="") as existing:
                self.columns = next(csv.reader(existing), [])
        else:
            open(self.path, "w").close()

    def write(self, values: dict[str, Any], step: int) -> None:
        new = sorted(key for key in values if key not in self.columns)
        if new:
            with open(self.path, newline="") as existing:
                rows = list(csv.DictReader(existing)) if self.columns else []
            self.columns += new
            with open(self.path, "w", newline="") as rewritten:
                writer = csv.DictWriter(rewritten, fieldnames=self.columns, restval="")
                writer.writeheader()
                writer.writerows(rows)
        with open(self.path, "a", newline="") as output:
            csv.DictWriter(output, fieldnames=self.columns, restval="").writerow(values)


class Logger:
    """Collects ``key -> value`` records and writes them as rows.

    Parameters
    ----------
    outputs : list of OutputFormat
        Where :meth:`dump` writes; empty for a logger that only keeps the last row.

    Attributes
    ----------
    name_to_value : dict
        The values recorded since the last :meth:`dump`.
    last_row : dict
        The last row written by :meth:`dump`.
    """

    def __init__(self, outputs: Optional[list[OutputFormat]] = None) -> None:
        self.outputs: list[OutputFormat] = list(outputs or [])
        self.name_to_value: dict[str, Any] = {}
        self.last_row: dict[str, Any] = {}

    def record(self, key: str, value: Any) -> None:
        """Sets ``key`` to ``value`` for the next row (a later record of the same key wins)."""
        self.name_to_value[key] = value

    def dump(self, step: int = 0) -> None:
        """Writes the recorded values to every output and clears them."""
        if self.name_to_value:
            for output in self.outputs:
                output.write(self.name_to_value, step)
            self.last_row = dict(self.name_to_value)
        self.name_to_value = {}

    def close(self) -> None:
        """Closes every output."""
        for output in self.outputs:
            output.close()


def configure_logger(verbose: int = 0, log_dir: Optional[PathLike] = None, append: bool = False) -> Logger:
    """The logger :meth:`flowrl.Agent.learn` uses by default.

    Parameters
    ----------
    verbose : int
        ``>= 1`` prints a table on stdout at every dump.
    log_dir : str or os.PathLike, optional
        Writes ``log_dir/progress.csv`` when given.
    append : bool
        Continue an existing ``progress.csv`` instead of starting it anew.
    """
    outputs: list[OutputFormat] = []
    if verbose >= 1:
        outputs.append(HumanOutputFormat())
    if log_dir is not None:
        outputs.append(CSVOutputFormat(os.path.join(os.fspath(log_dir), CSV_FILE_NAME), append=append))
    return Logger(outputs)
