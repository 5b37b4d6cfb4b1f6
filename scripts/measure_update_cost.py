"""Cost of one update per algorithm at Hopper-v5 sizes, in repeatable units: instructions counted by
valgrind's callgrind, and the FLOPs of the matrix products counted by the core; plus milliseconds
as ratios to SAC, measured interleaved in one run (BENCHMARKS.md, "Flow update cost").

    python3 scripts/measure_update_cost.py [--algorithms sac,swfp,sac_flow_gated,sac_flow_mlp,rldt]
                                           [--updates 6] [--skip-timing] [--skip-callgrind]

It builds two copies of the `flowrl-update-bench` product (Sources/FlowRLUpdateBenchmark): the usual
release build for the timing and the FLOP count, and one compiled for znver3 (Zen 3: AVX2, no AVX-512) into
.build-callgrind, because valgrind does not decode AVX-512, which `-target-cpu native` may emit.
Under valgrind OpenBLAS also sees no AVX-512 and picks its AVX2 kernels, so the instruction counts
are those of an AVX2 machine: comparable with each other, before and after a change, not a
prediction of time. Each algorithm runs twice under callgrind, with `--updates 0` and with
`--updates N` after the same warm-up, and the difference divided by N is one update's count.
Needs valgrind (apt-get install -y valgrind) and a Swift toolchain.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALGORITHMS = "sac,swfp,sac_flow_gated,sac_flow_mlp,rldt"


def build(scratch: str, target_cpu: str | None) -> Path:
    env = dict(os.environ)
    if target_cpu:
        env["FLOWRL_TARGET_CPU"] = target_cpu
    subprocess.run(["swift", "build", "-c", "release", "--product", "flowrl-update-bench", "--scratch-path", scratch],
                   cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return ROOT / scratch / "release" / "flowrl-update-bench"


def instructions(binary: Path, algorithm: str, updates: int, warmup: int) -> int:
    """Total instructions (callgrind's Ir) of one run of the harness with `updates` updates after `warmup`."""
    with tempfile.TemporaryDirectory() as directory:
        out = Path(directory) / "callgrind.out"
        result = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                                 str(binary), "--algorithms", algorithm, "--rounds", "0",
                                 "--warmup", str(warmup), "--updates", str(updates)],
                                env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
                                capture_output=True, text=True, check=True)
        match = re.search(r"^summary:\s+(\d+)", out.read_text(), re.MULTILINE)
        if match is None:
            raise RuntimeError(f"no callgrind summary for {algorithm}:\n{result.stderr}")
        return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algorithms", default=ALGORITHMS)
    parser.add_argument("--updates", type=int, default=6, help="updates counted under callgrind (after the warm-up)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--timing-updates", type=int, default=20, help="update(1) calls per algorithm per timing round")
    parser.add_argument("--timing-rounds", type=int, default=7)
    parser.add_argument("--skip-timing", action="store_true")
    parser.add_argument("--skip-callgrind", action="store_true")
    arguments = parser.parse_args()
    labels = arguments.algorithms.split(",")

    if not arguments.skip_timing:
        native = build(".build", None)
        print(subprocess.run([str(native), "--algorithms", ",".join(labels), "--updates", str(arguments.timing_updates),
                              "--rounds", str(arguments.timing_rounds)],
                             env={**os.environ, "OPENBLAS_NUM_THREADS": "1"}, capture_output=True, text=True,
                             check=True).stdout)
    if not arguments.skip_callgrind:
        binary = build(".build-callgrind", "znver3")
        counts: dict[str, float] = {}
        for label in labels:
            base = instructions(binary, label, 0, arguments.warmup)
            total = instructions(binary, label, arguments.updates, arguments.warmup)
            counts[label] = (total - base) / arguments.updates
            print(f"  callgrind {label}: {counts[label] / 1e6:.1f} M instructions per update", flush=True)
        print(f"callgrind instructions per update (mean of {arguments.updates} after {arguments.warmup} warm-up)")
        print("algorithm        M instr/update  × SAC")
        for label in labels:
            ratio = f"{counts[label] / counts['sac']:5.2f}" if "sac" in counts else "    -"
            print(f"{label:<16} {counts[label] / 1e6:14.1f}  {ratio}")


if __name__ == "__main__":
    main()
