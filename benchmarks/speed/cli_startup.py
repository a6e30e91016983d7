"""CPU cost of the CLI's first answers: `degaml --help`, `degaml eval --help`, an argument error — and, for scale,
importing torch + transformers (what every command paid before the CLI's imports were made lazy).

    python benchmarks/speed/cli_startup.py [TREE ...]     # each TREE is a checkout (default: this one), measured side by side

Reports the median CPU seconds (user + sys of the child process) over --reps runs, interleaved across trees.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
from pathlib import Path

CASES = [["-m", "degaml", "--help"], ["-m", "degaml", "eval", "--help"], ["-m", "degaml", "eval", "missing.yaml"],
         ["-c", "import torch, transformers"]]


def cpu_seconds(argv: list[str], cwd: Path) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, *argv], cwd=cwd, capture_output=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="*", type=Path, default=[Path(__file__).resolve().parents[2]])
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    results: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.reps):
        for tree in args.trees:
            for case in CASES:
                results.setdefault((str(tree), " ".join(case)), []).append(cpu_seconds(case, tree))
    for (tree, case), values in results.items():
        print(f"{tree}  python {case:34} median CPU {statistics.median(values):.2f} s  (min {min(values):.2f}, n={len(values)})")


if __name__ == "__main__":
    main()
