"""Wall-clock speed-up of a sweep's trials run two at a time on Ray (one CPU and one BLAS thread
each) over the same trials run one after another in this process (docs/experiments.md,
"Measured speed-up").

The runs are interleaved (serial, parallel, serial, parallel, ...) so that a load that changes
during the measurement (other jobs on a shared machine) hits both modes alike. Each run uses a
fresh storage folder. For the parallel runs, Ray's start-up is timed apart from the sweep.

    .venv-test/bin/python scripts/measure_sweep_speedup.py --rounds 2 --timesteps 3000 [--worker-niceness 0]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from flowrl.experiments import sweep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="serial/parallel pairs")
    parser.add_argument("--timesteps", type=int, default=3000)
    parser.add_argument("--algorithm", default="SAC")
    parser.add_argument("--env", default="Pendulum-v1")
    parser.add_argument("--worker-niceness", type=int, default=None,
                        help="Ray's worker niceness (RAY_worker_niceness; Ray's default is 15, below the serial "
                             "run's 0: on a machine busy with other work the parallel trials then yield to it)")
    arguments = parser.parse_args()
    if arguments.worker_niceness is not None:
        os.environ["RAY_worker_niceness"] = str(arguments.worker_niceness)
    import ray

    grid = {"algorithms": [arguments.algorithm], "envs": [arguments.env], "seeds": [0, 1],
            "timesteps": arguments.timesteps, "eval_every": arguments.timesteps, "eval_episodes": 5, "verbose": 0}
    results: dict[str, list[float]] = {"serial": [], "parallel": [], "ray_start": []}
    finals: dict[str, list[float]] = {}
    for round_ in range(arguments.rounds):
        for mode in ("serial", "parallel"):
            with tempfile.TemporaryDirectory() as folder:
                if mode == "parallel":
                    started = time.perf_counter()
                    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
                    results["ray_start"].append(time.perf_counter() - started)
                started = time.perf_counter()
                rows = sweep(**grid, storage=Path(folder) / "sweep", backend="ray" if mode == "parallel" else "serial")
                elapsed = time.perf_counter() - started
                if mode == "parallel":
                    ray.shutdown()
            results[mode].append(elapsed)
            finals[mode] = [row["final_return"] for row in rows]
            print(f"round {round_ + 1} {mode:8s} {elapsed:6.2f} s  trials' wall times "
                  f"{[row['wall_time'] for row in rows]}, CPU times {[row['cpu_time'] for row in rows]}", flush=True)
    serial, parallel = statistics.median(results["serial"]), statistics.median(results["parallel"])
    print(json.dumps({"serial_s": results["serial"], "parallel_s": results["parallel"], "ray_start_s": results["ray_start"],
                      "median_speedup": serial / parallel,
                      "median_speedup_with_ray_start": serial / (parallel + statistics.median(results["ray_start"])),
                      "same_results": finals["serial"] == finals["parallel"]}, indent=1))


if __name__ == "__main__":
    main()
