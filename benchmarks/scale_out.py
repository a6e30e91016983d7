"""Scale-out measurement: one degaml command in-process and with `--ray` (a local runtime, one worker per CPU), each
in a fresh output directory; wall clock, peak memory per process, and whether the outputs are identical.

    python benchmarks/scale_out.py reproduce --out docs/results/scale-out/reproduce.json
    python benchmarks/scale_out.py collect --out docs/results/scale-out/collect.json

Outputs compared: `reproduce` cells by file name (content key) and record (timing fields dropped, the output
directory replaced by a placeholder); `collect` trajectories byte for byte (the manifests hold timings).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
SPECS = ["specs/breast_cancer.yaml", "specs/digits.yaml"]
COMMANDS = {
    "reproduce": lambda out: ["reproduce", "table2", "--row", "base", "--row", "majority", *[a for s in SPECS for a in ("--tasks", s)],
                              "--set", "num_validation=50", "--set", "num_test=100", "--out", str(out)],
    "collect": lambda out: ["generator", "collect", "docs/results/scale-out/collect_meta.yaml", f"out_dir={out}"],
}


def sample_rss(root: psutil.Process, peaks: dict[str, float], stop: threading.Event) -> None:
    """Peak RSS (MB) of the driver and of every Ray worker (`ray::` processes) under `root`, every 0.2 s."""
    while not stop.is_set():
        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            break
        for p in procs:
            try:
                name = "driver" if p.pid == root.pid else p.cmdline()[0] if p.cmdline() else p.name()
                if p.pid != root.pid and not name.startswith(("ray::run_unit", "ray::IDLE")):  # workers, not agents
                    continue
                key = "driver" if name == "driver" else f"worker {p.pid}"
                peaks[key] = max(peaks.get(key, 0.0), p.memory_info().rss / 2**20)
            except (psutil.Error, IndexError):
                continue
        stop.wait(0.2)


def run(args: list[str]) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    peaks: dict[str, float] = {}
    stop = threading.Event()
    began = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "degaml.cli", *args], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    sampler = threading.Thread(target=sample_rss, args=(psutil.Process(proc.pid), peaks, stop), daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - began
    stop.set()
    sampler.join()
    return {"command": "degaml " + shlex.join(args), "exit_code": proc.returncode, "wall_seconds": round(wall, 1),
            "peak_rss_mb": {k: round(v) for k, v in sorted(peaks.items())}, "stdout_tail": out[-600:],
            "stderr_tail": err[-600:] if proc.returncode else ""}


def comparable(record, out: str):
    if isinstance(record, dict):
        return {k: comparable(v, out) for k, v in record.items() if "seconds" not in k}
    if isinstance(record, list):
        return [comparable(v, out) for v in record]
    return record.replace(out, "<OUT>") if isinstance(record, str) else record


def outputs(kind: str, out: Path) -> dict[str, object]:
    if kind == "reproduce":
        return {p.name: comparable(json.loads(p.read_text()), str(out)) for p in sorted((out / "cells").rglob("*.json"))}
    return {p.parent.name: p.read_bytes() for p in sorted((out / "collect").glob("*/trajectory.safetensors"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=sorted(COMMANDS))
    parser.add_argument("--out", type=Path, required=True, help="result JSON")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix=f"scale-out-{args.kind}-"))
    load_before = os.getloadavg()
    runs, results = {}, {}
    for name, extra in (("in_process", []), ("ray", ["--ray"])):
        out = root / name
        runs[name] = run(COMMANDS[args.kind](out) + extra)
        results[name] = outputs(args.kind, out)
    identical = results["in_process"] == results["ray"] and bool(results["in_process"])
    report = {
        "what": f"`degaml {args.kind}` in-process vs --ray (local runtime, one worker per CPU, 1 torch thread each)",
        "command": "python benchmarks/scale_out.py " + " ".join(sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "load_average_before": [round(x, 2) for x in load_before],
                    "load_average_after": [round(x, 2) for x in os.getloadavg()],
                    "note": "not idle: other engineers' model jobs ran throughout (load average ~5-7 on 2 cores)"},
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "1"),
        "runs": runs,
        "wall_ratio_in_process_over_ray": round(runs["in_process"]["wall_seconds"] / runs["ray"]["wall_seconds"], 2),
        "units": len(results["in_process"]),
        "outputs_identical": identical,
        "compared": "cell records without timings" if args.kind == "reproduce" else "trajectory.safetensors bytes",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: report[k] for k in ("wall_ratio_in_process_over_ray", "units", "outputs_identical")}))


if __name__ == "__main__":
    main()
