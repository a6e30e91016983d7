"""Wall-clock time and peak RSS of the default episode (`degaml adapt specs/gsm8k.yaml`), measured by this command.

Runs the episode as a child process (`python -m degaml adapt SPEC --run-dir RUN_DIR --json RUN_DIR/summary.json`,
torch threads = --threads) and reports: wall-clock seconds, the child's peak resident set size
(`resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`, i.e. the maximum over the whole episode, not a sample), CPU
seconds, the dtype `auto` chose on this machine, the CPU flags, and the load average before and after (the
machine may be shared; the load says how much of the two cores the episode had). Where the memory goes: the
child's resident set (`VmRSS` of /proc/PID/status) is sampled every 0.2 s and each sample is attributed to the phase
the run's events say was under way (the `what` of the last progress event, coarsened to its phase; `startup`
before the first event) → `memory.per_phase` (max RSS per phase, in order of first appearance). `episode` lists
what the run did (θ₀'s scoring, each decision and step with its seconds, budget stops, the final scoring) from its
events; `costs` is the per-machine cost file after the run ($DEGAML_COST_FILE if set). `--note` records what else
ran on the machine. The report is written atomically (degaml.io.write_json).

Usage: python benchmarks/speed/episode_time.py [--spec specs/gsm8k.yaml] [--threads 2] [--run-dir runs/episode-time/<time>]
       [--out docs/benchmarks/episode_time.json] [--note TEXT] [-- extra KEY=VALUE overrides]
Goal: ≤ 5 min wall-clock at 2 threads on an idle machine of this project's kind.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path
from degaml.io import write_json

REPO = Path(__file__).resolve().parents[2]
FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, default=REPO / "specs" / "gsm8k.yaml")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--run-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks" / "episode_time.json")
    parser.add_argument("--note", default="", help="what else ran on the machine (recorded as given)")
    parser.add_argument("overrides", nargs="*", help="spec overrides passed to `degaml adapt`")
    args = parser.parse_args()
    run_dir = args.run_dir or REPO / "runs" / "episode-time" / time.strftime("%Y%m%d-%H%M%S")
    if run_dir.exists():
        sys.exit(f"--run-dir: '{run_dir}' exists (a new directory is needed)")
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads),
               PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "degaml", "adapt", str(args.spec), *args.overrides, "--run-dir", str(run_dir),
           "--json", str(run_dir.with_suffix(".summary.json"))]
    load_start = os.getloadavg()
    start = time.perf_counter()
    child = subprocess.Popen(cmd, env=env, cwd=REPO)
    samples = sample_rss(child)  # [(unix time, RSS GiB)]
    code = child.returncode
    seconds = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    from degaml.models.dtype_probe import cpu_flags
    from degaml.models.device import choose_dtype
    import torch

    flags = set(cpu_flags().split())
    report = {"command": cmd, "exit_code": code, "wall_seconds": seconds, "wall_minutes": seconds / 60,
              "peak_rss_gib": usage.ru_maxrss * 1024 / 2**30, "cpu_seconds": usage.ru_utime + usage.ru_stime,
              "threads": args.threads, "auto_dtype": choose_dtype("auto", torch.device("cpu"))[1],
              "flags": [f for f in FLAGS if f in flags], "load_start": load_start, "load_end": os.getloadavg(),
              "goal_minutes": 5, "note": args.note, "cpu_count": os.cpu_count(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "episode": episode_summary(run_dir / "events.jsonl"), "costs": read_costs_file(),
              "memory": {"sampled_peak_rss_gib": max((r for _, r in samples), default=0.0),
                         "per_phase": rss_per_phase(samples, run_dir / "events.jsonl")}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, report, indent=2)
    print(json.dumps(report, indent=2))
    sys.exit(code)


def episode_summary(events_path: Path) -> list[dict]:
    """What the run did, from its stored events: θ₀'s scoring, decisions, steps, budget stops, the final scoring."""
    out: list[dict] = []
    if not events_path.is_file():
        return out
    for line in events_path.read_text().splitlines():
        e = json.loads(line)
        kind = e.get("kind")
        if kind == "baseline":
            out.append({"baseline_seconds": e["seconds"], "validation": e["validation"]["accuracy"], "compute": e.get("compute")})
        elif kind == "decision":
            out.append({"decision": e["step"], "seconds": e["policy_seconds"], "action": e["action"],
                        "minutes_left": e["state"].get("minutes_left"), "family_minutes": e["state"].get("family_minutes")})
        elif kind == "step":
            out.append({"step": e["step"], "seconds": e["seconds"], "accuracy": e["accuracy"], "reward": e["reward"]})
        elif kind == "status" and e.get("message"):
            out.append({"status": e["status"], "message": e["message"]})
        elif kind == "final":
            out.append({"final_seconds_total": e["seconds"], "test": e["test"]["accuracy"], "n_test": e["test"]["n"],
                        "chain": e["chain"]})
    return out


def read_costs_file() -> dict | None:
    """The cost file the run used (None when it has none)."""
    from degaml.controller.episode.cost_model import cost_file

    path = cost_file()
    return {"path": str(path), **json.loads(path.read_text())} if path.is_file() else None


def read_rss_gib(pid: int) -> float | None:
    """VmRSS of a process in GiB, or None where /proc/PID/status is unreadable (process gone, not Linux)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    kib = [int(line.split()[1]) for line in lines if line.startswith("VmRSS:")]
    return kib[0] / 2**20 if kib else None


def sample_rss(child: subprocess.Popen, every: float = 0.2) -> list[tuple[float, float]]:
    """Sample the child's VmRSS until it exits (an empty list where /proc is not readable)."""
    samples = []
    while child.poll() is None:
        rss = read_rss_gib(child.pid)
        if rss is not None:
            samples.append((time.time(), rss))
        time.sleep(every)
    return samples


def phase_of(what: str) -> str:
    """A progress label coarsened to its phase: "θ₀ baseline · validation 3/40" → "θ₀ baseline",
    "support_sft step 3/50 (6%, eta 4m)" → "support_sft step"."""
    return re.sub(r"\s+\d+/\S+.*$", "", what.split(" · ")[0].split(":")[0].split(" (")[0]).strip()


def rss_per_phase(samples: list[tuple[float, float]], events_path: Path) -> list[dict]:
    """Max sampled RSS (GiB) per phase of the run, phases in order of first appearance."""
    marks = []  # (time, phase)
    if events_path.is_file():
        for line in events_path.read_text().splitlines():
            event = json.loads(line)
            if event.get("kind") == "progress":
                marks.append((event["time"], phase_of(event["what"])))
            elif event.get("kind") in ("baseline", "decision", "step", "final"):
                marks.append((event["time"], f"after {event['kind']}"))
    times = [when for when, _ in marks]  # events are appended in time order
    peaks: dict[str, float] = {}
    for t, rss in samples:
        k = bisect.bisect_right(times, t)
        phase = marks[k - 1][1] if k else "startup"
        peaks[phase] = max(peaks.get(phase, 0.0), rss)
    return [{"phase": p, "max_rss_gib": round(r, 3)} for p, r in peaks.items()]


if __name__ == "__main__":
    main()
