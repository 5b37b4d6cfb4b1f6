"""Training logs with Stable-Baselines3's keys and outputs: a table on stdout, ``log.txt``,
``progress.csv``, ``progress.json`` and TensorBoard event files.

:func:`configure` builds a logger as Stable-Baselines3's ``configure`` does
(``configure("/tmp/run", ["stdout", "csv", "tensorboard"])``); give it to an agent with
``agent.set_logger(logger)``. Values are recorded under keys such as ``rollout/ep_rew_mean`` or ``train/bc_loss`` with
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
import datetime
import json
import numbers
import os
import re
import sys
import tempfile
import time
from typing import Any, Optional, Sequence, TextIO, Union

PathLike = Union[str, "os.PathLike[str]"]

#: The CSV file name inside a ``log_dir``.
CSV_FILE_NAME = "progress.csv"

#: The output formats :func:`configure` knows (Stable-Baselines3's names).
FORMATS = ("stdout", "log", "csv", "json", "tensorboard")

#: Message levels of :meth:`Logger.log`, as in Stable-Baselines3.
DEBUG, INFO, WARN, ERROR, DISABLED = 10, 20, 30, 40, 50


class OutputFormat:
    """Where a logger's rows go; subclasses implement :meth:`write`.

    Attributes
    ----------
    name : str
        The format's name (``"stdout"``, ``"csv"``, ...), which ``Logger.record(..., exclude=)``
        refers to.
    """

    name = ""

    def write(self, values: dict[str, Any], step: int) -> None:
        """Writes one row of ``key -> value``."""
        raise NotImplementedError

    def close(self) -> None:
        """Releases any open file."""

    def write_sequence(self, messages: Sequence[Any]) -> None:
        """Writes a text message (:meth:`Logger.log`); formats without text ignore it."""


class HumanOutputFormat(OutputFormat):
    """Stable-Baselines3's table: keys grouped under their ``prefix/`` and sorted.

    Parameters
    ----------
    stream : file-like or str or os.PathLike, optional
        Where to print; a path is opened for writing (``log.txt``); ``sys.stdout`` at the time of
        each write when omitted (so a stream swapped in later, such as pytest's ``capsys``,
        receives the table).
    max_length : int
        Keys and values longer than this are truncated with ``...``.
    """

    name = "stdout"

    def __init__(self, stream: Union[None, TextIO, PathLike] = None, max_length: int = 36) -> None:
        self._own = isinstance(stream, (str, os.PathLike))
        if self._own:
            path = os.fspath(stream)  # type: ignore[arg-type]
            folder = os.path.dirname(path)
            if folder:
                os.makedirs(folder, exist_ok=True)
            stream = open(path, "w")
            self.name = "log"
        self.stream = stream
        self.max_length = max_length

    def close(self) -> None:
        if self._own and self.stream is not None:
            self.stream.close()  # type: ignore[union-attr]

    def write_sequence(self, messages: Sequence[Any]) -> None:
        stream = self.stream if self.stream is not None else sys.stdout
        stream.write(" ".join(str(message) for message in messages) + "\n")
        stream.flush()

    def _truncate(self, text: str) -> str:
        return text if len(text) <= self.max_length else text[: self.max_length - 3] + "..."

    def write(self, values: dict[str, Any], step: int) -> None:
        rows: list[tuple[str, str]] = []
        values = {key: value for key, value in values.items() if _is_scalar(value) or isinstance(value, str)}
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

    name = "csv"

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


def _plain(value: Any) -> Any:
    """A value as JSON writes it (numpy scalars and arrays converted)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    return value


def _is_scalar(value: Any) -> bool:
    """True for a number (Python's, numpy's), not a bool-free string, array or object."""
    return isinstance(value, numbers.Number) or (hasattr(value, "dtype") and getattr(value, "ndim", 1) == 0)


class JSONOutputFormat(OutputFormat):
    """Appends each row as one JSON object per line (``progress.json``), as Stable-Baselines3.

    Parameters
    ----------
    path : str or os.PathLike
        The file (started anew unless ``append``).
    append : bool
    """

    name = "json"

    def __init__(self, path: PathLike, append: bool = False) -> None:
        self.path = os.fspath(path)
        folder = os.path.dirname(self.path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if not (append and os.path.isfile(self.path)):
            open(self.path, "w").close()

    def write(self, values: dict[str, Any], step: int) -> None:
        row = {key: _plain(value) for key, value in values.items()}
        with open(self.path, "a") as output:
            output.write(json.dumps(row, default=str) + "\n")


class TensorBoardOutputFormat(OutputFormat):
    """Writes every numeric value of a row as a TensorBoard scalar at ``step``, with the
    ``tensorboard`` package's own event writer (no TensorFlow or PyTorch needed).

    Parameters
    ----------
    folder : str or os.PathLike
        The run's folder (created if needed); an event file is written into it.

    Raises
    ------
    ImportError
        If the ``tensorboard`` package is not installed (``pip install tensorboard``, or
        ``pip install 'flowrl[tensorboard]'``).
    """

    name = "tensorboard"

    def __init__(self, folder: PathLike) -> None:
        try:
            from tensorboard.compat.proto.event_pb2 import Event
            from tensorboard.compat.proto.summary_pb2 import Summary
            from tensorboard.summary.writer.event_file_writer import EventFileWriter
        except ImportError as error:
            raise ImportError("TensorBoard logging needs the tensorboard package: pip install tensorboard "
                              "(or pip install 'flowrl[tensorboard]')") from error
        self.folder = os.fspath(folder)
        os.makedirs(self.folder, exist_ok=True)
        self._event, self._summary = Event, Summary
        self.writer = EventFileWriter(self.folder)

    def write(self, values: dict[str, Any], step: int) -> None:
        scalars = [self._summary.Value(tag=key, simple_value=float(value)) for key, value in values.items()
                   if _is_scalar(value) and not isinstance(value, bool)]
        if scalars:
            self.writer.add_event(self._event(wall_time=time.time(), step=int(step), summary=self._summary(value=scalars)))
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def make_output_format(format_name: str, folder: PathLike, log_suffix: str = "", append: bool = False) -> OutputFormat:
    """The output ``format_name`` (one of :data:`FORMATS`) writing into ``folder``.

    Raises
    ------
    ValueError
        For an unknown format name.
    """
    folder = os.fspath(folder)
    if format_name == "stdout":
        return HumanOutputFormat()
    if format_name == "log":
        return HumanOutputFormat(os.path.join(folder, f"log{log_suffix}.txt"))
    if format_name == "csv":
        return CSVOutputFormat(os.path.join(folder, f"progress{log_suffix}.csv"), append=append)
    if format_name == "json":
        return JSONOutputFormat(os.path.join(folder, f"progress{log_suffix}.json"), append=append)
    if format_name == "tensorboard":
        return TensorBoardOutputFormat(folder)
    raise ValueError(f"unknown log format {format_name!r}; the formats are {list(FORMATS)}")


class Logger:
    """Collects ``key -> value`` records and writes them as rows.

    Parameters
    ----------
    outputs : list of OutputFormat
        Where :meth:`dump` writes; empty for a logger that only keeps the last row.
    folder : str or os.PathLike, optional
        The folder the outputs write into (:meth:`get_dir`).

    Attributes
    ----------
    name_to_value : dict
        The values recorded since the last :meth:`dump`.
    last_row : dict
        The last row written by :meth:`dump`.
    level : int
        :meth:`log` prints messages of this level and above.
    """

    def __init__(self, outputs: Optional[list[OutputFormat]] = None, folder: Optional[PathLike] = None) -> None:
        self.outputs: list[OutputFormat] = list(outputs or [])
        self.dir: Optional[str] = None if folder is None else os.fspath(folder)
        self.name_to_value: dict[str, Any] = {}
        self.name_to_excluded: dict[str, tuple[str, ...]] = {}
        self._means: dict[str, tuple[float, int]] = {}
        self.last_row: dict[str, Any] = {}
        self.level = INFO

    @property
    def output_formats(self) -> list[OutputFormat]:
        """The outputs (Stable-Baselines3's name)."""
        return self.outputs

    def get_dir(self) -> Optional[str]:
        """The folder the outputs write into (None for a logger without files)."""
        return self.dir

    def record(self, key: str, value: Any, exclude: Union[None, str, Sequence[str]] = None) -> None:
        """Sets ``key`` to ``value`` for the next row (a later record of the same key wins).

        Parameters
        ----------
        key : str
        value : Any
        exclude : str or sequence of str, optional
            Output formats (``"stdout"``, ``"csv"``, ``"tensorboard"``, ...) not to write it to.
        """
        self.name_to_value[key] = value
        self.name_to_excluded[key] = _excluded(exclude)

    def record_mean(self, key: str, value: Any, exclude: Union[None, str, Sequence[str]] = None) -> None:
        """Records the running mean of the values given for ``key`` since the last :meth:`dump`."""
        if value is None:
            return
        mean, count = self._means.get(key, (0.0, 0))
        mean = (mean * count + float(value)) / (count + 1)
        self._means[key] = (mean, count + 1)
        self.record(key, mean, exclude)

    def dump(self, step: int = 0) -> None:
        """Writes the recorded values to every output and clears them."""
        if self.name_to_value:
            for output in self.outputs:
                values = {key: value for key, value in self.name_to_value.items()
                          if output.name not in self.name_to_excluded.get(key, ())}
                if values:
                    output.write(values, step)
            self.last_row = dict(self.name_to_value)
        self.name_to_value = {}
        self.name_to_excluded = {}
        self._means = {}

    def log(self, *messages: Any, level: int = INFO) -> None:
        """Writes a text message to the text outputs (stdout, log.txt) if ``level >= self.level``."""
        if level >= self.level:
            for output in self.outputs:
                output.write_sequence(messages)

    def debug(self, *messages: Any) -> None:
        """:meth:`log` at level DEBUG."""
        self.log(*messages, level=DEBUG)

    def info(self, *messages: Any) -> None:
        """:meth:`log` at level INFO."""
        self.log(*messages, level=INFO)

    def warn(self, *messages: Any) -> None:
        """:meth:`log` at level WARN."""
        self.log(*messages, level=WARN)

    def error(self, *messages: Any) -> None:
        """:meth:`log` at level ERROR."""
        self.log(*messages, level=ERROR)

    def set_level(self, level: int) -> None:
        """Sets the threshold of :meth:`log`."""
        self.level = level

    def close(self) -> None:
        """Closes every output."""
        for output in self.outputs:
            output.close()


def _excluded(exclude: Union[None, str, Sequence[str]]) -> tuple[str, ...]:
    if exclude is None:
        return ()
    return (exclude,) if isinstance(exclude, str) else tuple(exclude)


def configure(folder: Optional[PathLike] = None, format_strings: Optional[Sequence[str]] = None) -> Logger:
    """A logger writing into ``folder`` in the given formats, as Stable-Baselines3's ``configure``.

    Parameters
    ----------
    folder : str or os.PathLike, optional
        Defaults to ``$SB3_LOGDIR``, else a new ``flowrl-<date-time>`` folder in the temporary
        directory.
    format_strings : list of str, optional
        Among ``"stdout"``, ``"log"`` (``log.txt``), ``"csv"`` (``progress.csv``), ``"json"``
        (``progress.json``), ``"tensorboard"`` (event files; needs ``pip install tensorboard``).
        Defaults to ``$SB3_LOG_FORMAT`` (comma-separated), else ``["stdout", "log", "csv"]``.
        An empty list gives a logger that writes nothing.

    Returns
    -------
    Logger
        Give it to an agent with ``agent.set_logger(logger)``.

    Raises
    ------
    ValueError
        For an unknown format.
    """
    if folder is None:
        folder = os.getenv("SB3_LOGDIR") or os.path.join(
            tempfile.gettempdir(), datetime.datetime.now().strftime("flowrl-%Y-%m-%d-%H-%M-%S-%f"))
    folder = os.fspath(folder)
    if format_strings is None:
        format_strings = os.getenv("SB3_LOG_FORMAT", "stdout,log,csv").split(",")
    names = [name.strip() for name in format_strings if name.strip()]
    unknown = [name for name in names if name not in FORMATS]
    if unknown:
        raise ValueError(f"unknown log formats {unknown}; the formats are {list(FORMATS)}")
    os.makedirs(folder, exist_ok=True)
    return Logger([make_output_format(name, folder) for name in names], folder=folder)


def latest_run_id(log_path: PathLike, log_name: str) -> int:
    """The largest ``N`` among the folders ``log_path/{log_name}_N`` (0 when there is none)."""
    pattern = re.compile(re.escape(log_name) + r"_(\d+)$")
    latest = 0
    if os.path.isdir(log_path):
        for entry in os.listdir(log_path):
            match = pattern.match(entry)
            if match and os.path.isdir(os.path.join(log_path, entry)):
                latest = max(latest, int(match.group(1)))
    return latest


def configure_logger(verbose: int = 0, log_dir: Optional[PathLike] = None, append: bool = False,
                     tensorboard_log: Optional[PathLike] = None, tb_log_name: str = "", new_run: bool = True) -> Logger:
    """The logger :meth:`flowrl.Agent.learn` uses by default.

    Parameters
    ----------
    verbose : int
        ``>= 1`` prints a table on stdout at every dump.
    log_dir : str or os.PathLike, optional
        Writes ``log_dir/progress.csv`` when given.
    append : bool
        Continue an existing ``progress.csv`` instead of starting it anew.
    tensorboard_log : str or os.PathLike, optional
        Writes TensorBoard scalars to ``tensorboard_log/{tb_log_name}_{N}``, ``N`` one more than the
        latest run's (``new_run``) or the latest run's (continuing it), as Stable-Baselines3.
    tb_log_name : str
    new_run : bool
    """
    outputs: list[OutputFormat] = []
    folder: Optional[str] = None
    if verbose >= 1:
        outputs.append(HumanOutputFormat())
    if log_dir is not None:
        folder = os.fspath(log_dir)
        outputs.append(CSVOutputFormat(os.path.join(folder, CSV_FILE_NAME), append=append))
    if tensorboard_log is not None:
        run = latest_run_id(tensorboard_log, tb_log_name)
        run = run + 1 if new_run or run == 0 else run
        tensorboard_folder = os.path.join(os.fspath(tensorboard_log), f"{tb_log_name}_{run}")
        outputs.append(TensorBoardOutputFormat(tensorboard_folder))
        folder = folder or tensorboard_folder
    return Logger(outputs, folder=folder)
