"""Which dtype is faster on this CPU: a short bf16-vs-fp32 matmul probe at the model's shapes, cached per machine.

`dtype: auto` on CPU must not guess from the CPU's name: some machines of this project's kind have AMX /
AVX512-BF16 (bf16 matmul several times faster than fp32), others only AVX2 (bf16 several times slower). The
probe times `linear` at the shapes a decoder layer uses — a decoding step (rows = 40, hidden → intermediate)
and a prefill (rows = 512) — in both dtypes, interleaved, keeping the fastest of several repeats (robust to a
machine shared with other jobs), and checks the bf16 result against fp32 (relative error within bf16's
precision: a broken kernel is never chosen). bf16 is chosen when it is at least `MIN_SPEEDUP` faster at BOTH
shapes and accurate. The result is cached as JSON under `<degaml cache>/dtype_probe/`, keyed by the CPU flags,
torch version and the shapes, so the ~3 s probe runs once per machine and configuration.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import torch
from pydantic import BaseModel

from degaml.io import write_json
from degaml.models.cache import cache_root

PROBE_FORMAT = 1
MIN_SPEEDUP = 1.3  # bf16 must be this much faster at both shapes (below that, fp32's accuracy wins)
MAX_REL_ERROR = 0.02  # ‖bf16 − fp32‖ / ‖fp32‖ of the probe matmul; bf16 rounding gives ~0.005
ROWS = (40, 512)  # decoding-step rows (a generation batch) and prefill rows


class DtypeProbe(BaseModel):
    """Outcome of one probe: speeds (GFLOP/s) per shape and dtype, accuracy, and the choice."""

    format: int = PROBE_FORMAT
    key: str
    hidden: int
    intermediate: int
    threads: int
    torch: str
    gflops: dict[str, dict[str, float]]  # {"40": {"float32": ..., "bfloat16": ...}, "512": {...}}
    rel_error: float
    choice: str  # "bfloat16" | "float32"

    def speedups(self) -> dict[str, float]:
        return {rows: v["bfloat16"] / v["float32"] for rows, v in self.gflops.items()}

    def describe(self) -> str:
        """One line: the choice and the measurement behind it."""
        ratio = ", ".join(f"{r} rows {s:.1f}×" for r, s in self.speedups().items())
        return f"{self.choice} (CPU probe: bf16/fp32 matmul speed {ratio}; bf16 rel. error {self.rel_error:.4f})"


def cpu_flags() -> str:
    """The CPU feature flags (Linux /proc/cpuinfo; empty elsewhere — the key then only holds torch and shapes)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return " ".join(sorted(line.split(":", 1)[1].split()))
    except OSError:
        return ""  # no /proc/cpuinfo (not Linux): the cache key then holds only torch and the shapes
    return ""


def probe_key(hidden: int, intermediate: int) -> str:
    raw = f"{PROBE_FORMAT}|{cpu_flags()}|{torch.__version__}|{hidden}|{intermediate}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def run_probe(hidden: int, intermediate: int, reps: int = 40) -> DtypeProbe:
    """Time bf16 and fp32 `linear` (rows × hidden → intermediate) at each of `ROWS` on one thread, and bf16's error.

    One thread: the bf16/fp32 ratio is a property of the CPU's kernels, and a single-threaded timing is not
    stalled by a descheduled sibling thread on a shared machine (multi-threaded probes under load gave
    contradictory answers; single-threaded ones agreed).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _probe(hidden, intermediate, reps)
    finally:
        torch.set_num_threads(threads)


@torch.inference_mode()
def _probe(hidden: int, intermediate: int, reps: int) -> DtypeProbe:
    gen = torch.Generator().manual_seed(0)
    weight = torch.randn(intermediate, hidden, generator=gen) / hidden**0.5  # (I, d)
    gflops: dict[str, dict[str, float]] = {}
    rel_error = 0.0
    for rows in ROWS:
        x = torch.randn(rows, hidden, generator=gen)  # (rows, d)
        pairs = {"float32": (x, weight), "bfloat16": (x.bfloat16(), weight.bfloat16())}
        seconds = {name: float("inf") for name in pairs}
        for _ in range(reps):  # interleaved, many short single calls, fastest kept: robust to a busy machine
            for name, (a, w) in pairs.items():
                torch.nn.functional.linear(a, w)  # warm-up (weight packing, caches)
                start = time.perf_counter()
                torch.nn.functional.linear(a, w)
                seconds[name] = min(seconds[name], time.perf_counter() - start)
        flop = 2 * rows * hidden * intermediate
        gflops[str(rows)] = {name: flop / s / 1e9 for name, s in seconds.items()}
        ref = torch.nn.functional.linear(x, weight)
        got = torch.nn.functional.linear(*pairs["bfloat16"]).float()
        err = float((got - ref).norm() / ref.norm())
        rel_error = max(rel_error, err if err == err else float("inf"))
    fast = all(v["bfloat16"] >= MIN_SPEEDUP * v["float32"] for v in gflops.values())
    choice = "bfloat16" if fast and rel_error <= MAX_REL_ERROR else "float32"
    return DtypeProbe(key=probe_key(hidden, intermediate), hidden=hidden, intermediate=intermediate,
                      threads=1, torch=torch.__version__, gflops=gflops, rel_error=rel_error,
                      choice=choice)


def probe_cache_path(hidden: int, intermediate: int) -> Path:
    return cache_root() / "dtype_probe" / f"{probe_key(hidden, intermediate)}.json"


def cached_probe(hidden: int, intermediate: int) -> DtypeProbe | None:
    """The cached probe for this machine/configuration and shapes, if one exists and is readable."""
    path = probe_cache_path(hidden, intermediate)
    try:
        probe = DtypeProbe.model_validate_json(path.read_text())
    except (OSError, ValueError):
        return None
    return probe if probe.format == PROBE_FORMAT else None


def cpu_probe(hidden: int, intermediate: int) -> DtypeProbe:
    """The cached probe, or run it and cache it (atomically: a killed probe leaves no file)."""
    probe = cached_probe(hidden, intermediate)
    if probe is not None:
        return probe
    probe = run_probe(hidden, intermediate)
    path = probe_cache_path(hidden, intermediate)
    write_json(path, probe.model_dump(), indent=1)
    return probe
