"""Units of work, their results, the executor protocol and what every backend shares.

A `Unit` is a top-level function and its (picklable) arguments; it writes its own result atomically into the
command's resumable cache (keyed by content) and returns a small value. The caller hands an executor only the units
whose results are not cached yet, so a re-run skips what is done and a killed worker loses at most its own unit.
`run_unit` never raises: an exception becomes a failed `UnitResult` (error line + where), never a cached result.

Threads: a unit given `threads` CPUs sets OMP_NUM_THREADS and torch's intra-op threads to that number before it
runs, so two workers on two cores do not oversubscribe. `process_cached` keeps what a unit loads (a model, a
generator) for the next unit that runs in the same process (the in-process backend, or a reused Ray worker).
"""

from __future__ import annotations

import os
import resource
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

_CACHE: dict[Any, Any] = {}


@dataclass(frozen=True)
class Unit:
    """One independent piece of work: `fn(*args, **kwargs)`; `key` is unique within a run, `label` is for people."""

    key: str
    label: str
    fn: Callable[..., Any]
    args: tuple = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class UnitResult:
    """A unit's value, or its error (`error` is one line: `Type: message`; `where` the raising line)."""

    key: str
    label: str
    value: Any = None
    error: str | None = None
    where: str | None = None
    seconds: float = 0.0
    max_rss_mb: float | None = None  # peak resident memory of the process that ran it (so far)
    pid: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


OnDone = Callable[[UnitResult], None]


class ExecutorConfig(BaseModel):
    """Which backend runs the units and what each unit is given."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["local", "ray"] = "local"
    address: str | None = None  # an existing Ray cluster (`ray start --head` prints it); None: a local runtime
    num_cpus: int | None = Field(None, ge=1)  # size of a local Ray runtime (default: this machine's CPUs)
    cpus_per_unit: int = Field(1, ge=1)  # Ray: CPUs reserved per unit, also its torch thread count


class Executor(Protocol):
    """Runs units, calls `on_done` as each finishes (in the calling process), returns the results in unit order."""

    in_process: bool

    def run(self, units: Sequence[Unit], on_done: OnDone | None = None) -> list[UnitResult]: ...

    def close(self) -> None: ...


def set_threads(n: int) -> None:
    """Give this process `n` compute threads (OMP for libraries started later, torch's intra-op pool now)."""
    os.environ["OMP_NUM_THREADS"] = str(n)
    os.environ["MKL_NUM_THREADS"] = str(n)
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def run_unit(unit: Unit, threads: int | None = None) -> UnitResult:
    """Run one unit here (with `threads` compute threads if given); an exception becomes a failed result."""
    if threads is not None:
        set_threads(threads)
    began = time.perf_counter()
    result = UnitResult(unit.key, unit.label, pid=os.getpid())
    try:
        result.value = unit.fn(*unit.args, **unit.kwargs)
    except Exception as exc:  # noqa: BLE001 - one failed unit must not stop the others
        result.error = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        result.where = where(exc)
    result.seconds = time.perf_counter() - began
    result.max_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def where(exc: BaseException) -> str:
    """`file:line in function: source line` of the frame that raised `exc`."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    f = frames[-1]
    return f"{os.path.basename(f.filename)}:{f.lineno} in {f.name}: {(f.line or '').strip()}"[:200]


def process_cached(key: Any, factory: Callable[[], Any]) -> Any:
    """`factory()` once per process and key (a failed factory is not cached)."""
    if key not in _CACHE:
        _CACHE[key] = factory()
    return _CACHE[key]


def failures(results: Sequence[UnitResult]) -> list[dict[str, str | None]]:
    """The failed units as JSON-ready rows."""
    return [{"unit": r.label, "error": r.error, "where": r.where} for r in results if not r.ok]
