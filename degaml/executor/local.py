"""The in-process backend: units run one after another in this process, as degaml always ran them (the thread
count is left as it is; what a unit loads stays cached for the next one)."""

from __future__ import annotations

from collections.abc import Sequence

from degaml.executor.base import OnDone, Unit, UnitResult, run_unit


class LocalExecutor:
    """Run units sequentially here; a failed unit is reported and the next one runs."""

    in_process = True

    def run(self, units: Sequence[Unit], on_done: OnDone | None = None) -> list[UnitResult]:
        results = []
        for unit in units:
            result = run_unit(unit)
            results.append(result)
            if on_done is not None:
                on_done(result)
        return results

    def close(self) -> None:
        return None
