"""Start-up time of `clara --help` and `clara train --help` against a bare Python start.

Each command runs in a fresh interpreter (as a user types it); the figure to watch is the
time over the bare `python -c pass` start, which is what clara's own imports cost. Goal:
under 0.3 s in total. For scale, `import torch` alone is shown too.

    python benchmarks/bench_help.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def _time(argv: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    python = sys.executable
    bare = _time([python, "-c", "pass"], args.runs)
    rows = {
        "clara --help": _time([python, "-m", "clara_cli", "--help"], args.runs),
        "clara train --help": _time([python, "-m", "clara_cli", "train", "--help"], args.runs),
        "clara validate --help": _time(
            [python, "-m", "clara_cli", "validate", "--help"], args.runs
        ),
        "python -c 'import torch'": _time([python, "-c", "import torch"], max(3, args.runs // 2)),
    }
    print(f"bare interpreter start: {bare:.3f} s (median of {args.runs})")
    for name, seconds in rows.items():
        print(f"  {name:<26} {seconds:.3f} s  (+{seconds - bare:.3f} s over bare start)")
    worst = max(rows["clara --help"], rows["clara train --help"])
    print(f"slowest help {worst:.3f} s: {'within' if worst < 0.3 else 'OVER'} the 0.3 s goal")
    return 0


if __name__ == "__main__":
    sys.exit(main())
