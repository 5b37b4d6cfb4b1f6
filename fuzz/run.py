#!/usr/bin/env python3
"""flowrl's fuzz harness: runs one mode (or all) for a number of cases or seconds and reports findings.

    python fuzz/run.py MODE [--cases N] [--seconds S] [--seed K] [--out DIR] [--results FILE] [--no-atheris]
    python fuzz/run.py MODE --reproduce FILE...     # re-runs saved cases in this process
    MODE: checkpoint | config | arrays | concurrency | all

A supervisor process starts one worker at a time; the worker runs cases (atheris's coverage-guided
mutation of the input bytes if atheris is installed, else a plain random loop) under a 4 GiB
address-space limit. Before each case the worker writes the case's input and, step by step, a
trail of what it is doing; if the worker dies (a Swift trap, an allocator abort, a segfault) or
stops making progress, the supervisor saves that input as a reproducer and starts a new worker.
Exceptions other than flowrl.FlowRLError, silent NaN actions, calls that raise but change the
agent, and unreadable own checkpoints are findings the worker saves itself.
Exit status: 0 without findings, 1 with findings.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import mmap
import os
import platform
import random
import resource
import signal
import struct
import subprocess
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

MODES = ["checkpoint", "config", "arrays", "concurrency"]
ADDRESS_SPACE_LIMIT = 4 << 30
HANG_SECONDS = 180.0
REPRODUCERS_PER_CLASS = 3
HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parent


# ---------------------------------------------------------------- worker (runs the cases)

class Worker:
    """Runs cases of one mode, keeping its counters and the current input where the supervisor can read them."""

    def __init__(self, mode: str, out: Path) -> None:
        import common  # noqa: F401 - imports flowrl (instrumented when atheris is on)

        self.module = importlib.import_module(f"mode_{mode}")
        self.state = self.module.setup()
        self.out = out
        self.findings_dir = out / "findings"
        self.findings_dir.mkdir(parents=True, exist_ok=True)
        self.counters = mmap.mmap(os.open(out / "counters", os.O_RDWR), 16)
        self.current = os.open(out / "current.bin", os.O_RDWR | os.O_CREAT, 0o644)
        self.trail_file = open(out / "current.txt", "w", encoding="utf-8")  # noqa: SIM115 - open for the worker's life
        self.classes = load_classes(out)

    def trail(self, step: str) -> None:
        self.trail_file.write(step[:2000] + "\n")
        self.trail_file.flush()

    def run(self, data: bytes) -> None:
        from common import Findings, Input

        os.ftruncate(self.current, 0)
        os.pwrite(self.current, data, 0)
        self.trail_file.seek(0)
        self.trail_file.truncate()
        findings = Findings(self.trail)
        try:
            self.module.run_case(Input(data), self.state, findings)
        except Exception as error:  # noqa: BLE001 - a bug of the harness itself, reported as such
            where = traceback.extract_tb(error.__traceback__)[-1]
            findings.add(f"harness error (fix the fuzzer): {type(error).__name__} at {where.filename}:{where.lineno}: {error}")
        cases, count = struct.unpack_from("<QQ", self.counters)
        struct.pack_into("<QQ", self.counters, 0, cases + 1, count + len(findings.items))
        for text in findings.items:
            save_finding(self.findings_dir, self.classes, text, data, (self.out / "current.txt").read_text("utf-8"))


def load_classes(out: Path) -> dict[str, int]:
    path = out / "classes.json"
    return json.loads(path.read_text()) if path.exists() else {}


def save_finding(directory: Path, classes: dict[str, int], text: str, data: bytes, trail: str) -> None:
    """Counts the finding under its class and keeps the first few reproducers of each class."""
    from common import signature

    kind = signature(text)
    classes[kind] = classes.get(kind, 0) + 1
    (directory.parent / "classes.json").write_text(json.dumps(classes, indent=1, sort_keys=True))
    if classes[kind] <= REPRODUCERS_PER_CLASS:
        name = hashlib.sha1(data).hexdigest()[:16]
        (directory / f"{name}.bin").write_bytes(data)
        (directory / f"{name}.txt").write_text(f"{text}\n\nclass: {kind}\n\ntrail:\n{trail}", encoding="utf-8")


def worker_main(mode: str, out: Path, cases: int, seconds: float, seed: int, use_atheris: bool) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))
    sys.path.insert(0, str(HERE))
    atheris = None
    if use_atheris:
        try:
            import atheris  # type: ignore[import-not-found,no-redef]
        except ImportError:
            atheris = None
    if atheris is not None:
        import gymnasium  # noqa: F401 - imported uninstrumented (only flowrl's own code is instrumented)
        import numpy  # noqa: F401

        with atheris.instrument_imports(include=["flowrl"]):
            import flowrl  # noqa: F401
    worker = Worker(mode, out)
    if atheris is None:
        generator = random.Random(seed)
        deadline = time.monotonic() + seconds
        for _ in range(cases):
            if time.monotonic() >= deadline:
                break
            worker.run(generator.randbytes(generator.choice([16, 64, 256, 1024])))
        return
    corpus = out / "corpus"
    corpus.mkdir(exist_ok=True)
    argv = [sys.argv[0], str(corpus), f"-runs={cases if cases < 2**31 else -1}", f"-max_total_time={max(1, int(seconds))}", f"-seed={seed + 1}",
            "-timeout=300", "-rss_limit_mb=0", "-max_len=1024", f"-artifact_prefix={out}/atheris-", "-print_final_stats=1"]
    atheris.Setup(argv, worker.run)
    atheris.Fuzz()


# ---------------------------------------------------------------- supervisor (one worker at a time)

@dataclass
class Summary:
    mode: str
    cases: int = 0
    seconds: float = 0.0
    crashes: int = 0
    hangs: int = 0
    findings: int = 0
    classes: dict[str, int] = field(default_factory=dict)
    out: str = ""


def describe_exit(code: int, log: Path, offset: int) -> str:
    """Lines about how the worker died (libFuzzer's, Swift's and faulthandler's messages) from what it logged since ``offset``."""
    with open(log, "rb") as stream:
        stream.seek(offset)
        tail = stream.read().decode("utf-8", "replace").splitlines()[-80:]
    keys = ("Fatal error", "deadly signal", "Fatal Python error", "out-of-memory", "Error", "error:", 'File "')
    return "\n".join(line.rstrip() for line in tail if any(key in line for key in keys))


def supervise(mode: str, cases: int, seconds: float, seed: int, out: Path, use_atheris: bool) -> Summary:
    out.mkdir(parents=True, exist_ok=True)
    (out / "counters").write_bytes(bytes(16))
    counters = mmap.mmap(os.open(out / "counters", os.O_RDWR), 16)
    log = out / "worker.log"
    summary = Summary(mode, out=str(out))
    start = time.monotonic()
    restarts = 0
    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONFAULTHANDLER": "1"}
    while True:
        done = struct.unpack_from("<Q", counters)[0]
        remaining = seconds - (time.monotonic() - start)
        if done >= cases or remaining < 1:
            break
        command = [sys.executable, str(Path(__file__).resolve()), mode, "--worker", "--out", str(out), "--cases", str(cases - done),
                   "--seconds", f"{remaining:.1f}", "--seed", str(seed + restarts)] + ([] if use_atheris else ["--no-atheris"])
        (out / "current.txt").unlink(missing_ok=True)
        with open(log, "a", encoding="utf-8") as stream:
            offset = stream.tell()
            process = subprocess.Popen(command, stdout=stream, stderr=subprocess.STDOUT, env=environment, cwd=REPOSITORY)
            last, progress = done, time.monotonic()
            while process.poll() is None:
                time.sleep(0.2)
                now_done = struct.unpack_from("<Q", counters)[0]
                if now_done != last:
                    last, progress = now_done, time.monotonic()
                elif time.monotonic() - progress > HANG_SECONDS or time.monotonic() - start > seconds + HANG_SECONDS:
                    process.kill()
                    process.wait()
                    summary.hangs += 1
                    break
        code = process.returncode
        if code == 0:
            break
        restarts += 1
        if not (out / "current.txt").exists():  # the worker makes it when its setup is done
            sys.stderr.write(f"fuzz {mode}: the worker failed before running a case; see {log}\n")
            sys.exit(2)
        trail = (out / "current.txt").read_text("utf-8", "replace") if (out / "current.txt").exists() else ""
        step = (trail.strip().splitlines() or ["(before the first step)"])[-1][:200]
        how = "no progress" if code == -signal.SIGKILL else f"signal {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
        text = f"{'hang' if code == -signal.SIGKILL else 'crash'}, {how}, during: {step}\n{describe_exit(code, log, offset)}"
        if code != -signal.SIGKILL:
            summary.crashes += 1
        # the case in progress is counted too
        struct.pack_into("<QQ", counters, 0, *[value + 1 for value in struct.unpack_from("<QQ", counters)])
        save_finding(out / "findings", load_classes(out), text, (out / "current.bin").read_bytes(), trail)
    summary.cases, summary.findings = struct.unpack_from("<QQ", counters)
    summary.seconds = round(time.monotonic() - start, 1)
    summary.classes = load_classes(out)
    (out / "summary.json").write_text(json.dumps(asdict(summary), indent=1))
    return summary


def append_results(path: Path, summary: Summary) -> None:
    """One line per mode: date, host, cases, hours, crashes, hangs, findings, output folder."""
    model = next((line.split(":", 1)[1].strip() for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
                  if line.startswith("Model name")), platform.processor())
    new = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as stream:
        if new:
            stream.write("date\tmachine\tmode\tcases\thours\tcrashes\thangs\tfindings\tclasses\tout\n")
        stream.write(f"{time.strftime('%Y-%m-%d %H:%M')}\t{model} ({os.cpu_count()} cpus)\t{summary.mode}\t{summary.cases}\t"
                     f"{summary.seconds / 3600:.3f}\t{summary.crashes}\t{summary.hangs}\t{summary.findings}\t{len(summary.classes)}\t{summary.out}\n")


def reproduce(mode: str, files: list[str]) -> int:
    sys.path.insert(0, str(HERE))
    from common import Findings, Input

    module = importlib.import_module(f"mode_{mode}")
    state = module.setup()
    found = 0
    for name in files:
        findings = Findings(lambda step: print("  step:", step[:300], flush=True))
        print(f"{name}:", flush=True)
        module.run_case(Input(Path(name).read_bytes()), state, findings)
        for text in findings.items:
            print("  FINDING:", text)
        found += len(findings.items)
    return 1 if found else 0


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=MODES + ["all"])
    parser.add_argument("--cases", type=int, default=2**62, help="stop after this many cases (per mode)")
    parser.add_argument("--seconds", type=float, default=60.0, help="time budget (for 'all': shared equally by the modes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="output folder (default runs/fuzz/<date>-<mode>)")
    parser.add_argument("--results", type=Path, help="append the figures of each mode to this file")
    parser.add_argument("--no-atheris", action="store_true", help="use the plain random loop even if atheris is installed")
    parser.add_argument("--reproduce", nargs="+", metavar="FILE", help="re-run saved inputs in this process")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.reproduce:
        return reproduce(arguments.mode, arguments.reproduce)
    if arguments.worker:
        worker_main(arguments.mode, arguments.out, arguments.cases, arguments.seconds, arguments.seed, not arguments.no_atheris)
        return 0
    modes = MODES if arguments.mode == "all" else [arguments.mode]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = arguments.out or REPOSITORY / "runs" / "fuzz" / stamp
    try:
        import atheris  # type: ignore[import-not-found]  # noqa: F401
        engine = "plain random loop" if arguments.no_atheris else "atheris"
    except ImportError:
        engine = "plain random loop (atheris is not installed)"
    print(f"flowrl fuzz: {', '.join(modes)} · {engine} · output in {base}", flush=True)
    total = 0
    for mode in modes:
        summary = supervise(mode, arguments.cases, arguments.seconds / len(modes), arguments.seed, base / mode, not arguments.no_atheris)
        if arguments.results:
            append_results(arguments.results, summary)
        print(f"{mode:12s} {summary.cases:8d} cases in {summary.seconds:7.1f} s · {summary.crashes} crashes · {summary.hangs} hangs · "
              f"{summary.findings} findings", flush=True)
        for kind, count in sorted(summary.classes.items(), key=lambda item: -item[1]):
            print(f"    {count:6d} × {kind}")
        total += summary.findings
    if total:
        print(f"flowrl fuzz: {total} findings; reproducers in {base}/*/findings "
              f"(re-run one with: python fuzz/run.py MODE --reproduce FILE)", flush=True)
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
