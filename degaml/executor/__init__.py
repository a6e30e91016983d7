"""Run independent units of work (a collection task, a table cell, an E-step task) in-process or on Ray.

Low layer: imports nothing of degaml but `errors`; the callers (generator, comparison, controller) build the units."""

from __future__ import annotations

from degaml.executor.base import Executor, ExecutorConfig, Unit, UnitResult, failures, process_cached, run_unit

__all__ = ["Executor", "ExecutorConfig", "Unit", "UnitResult", "failures", "make_executor", "process_cached", "run_unit"]


def make_executor(config: ExecutorConfig | None = None) -> Executor:
    """The backend `config` names (in-process by default; Ray needs the `ray` extra)."""
    config = config or ExecutorConfig()
    if config.backend == "ray":
        from degaml.executor.ray_backend import RayExecutor

        return RayExecutor(config)
    from degaml.executor.local import LocalExecutor

    return LocalExecutor()
