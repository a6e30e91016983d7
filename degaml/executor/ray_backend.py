"""The Ray backend: each unit is a Ray task reserving `cpus_per_unit` CPUs (and as many torch threads).

`ExecutorConfig(backend="ray")` starts a local runtime sized to this machine (`num_cpus`, default all CPUs) or, with
`address`, joins an existing cluster — whose nodes must have degaml installed and see the same paths (specs, data,
the output directory: units write their results where the command's cache lives). The runtime is shared by every
executor of the process (started once, stopped by `close` only if this executor started it). Units are not retried:
a unit whose worker died is reported failed, and a re-run computes it (results already written are kept).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from degaml.errors import DegamlError
from degaml.executor.base import ExecutorConfig, OnDone, Unit, UnitResult, run_unit

FORWARDED_ENV = ("DEGAML_", "HF_", "TRANSFORMERS_", "TOKENIZERS_")  # settings a remote worker must share


def _ray():
    try:
        import ray
    except ImportError:
        raise DegamlError("--ray: Ray is not installed; install the extra: pip install -e \".[ray]\"") from None
    return ray


class RayExecutor:
    """Run units as Ray tasks; results come back as they finish (progress and failures in completion order)."""

    in_process = False

    def __init__(self, config: ExecutorConfig) -> None:
        ray = _ray()
        self.config = config
        self.started = False
        if not ray.is_initialized():
            env = {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_ENV)}
            try:
                if config.address:
                    ray.init(address=config.address, runtime_env={"env_vars": env} if env else None,
                             log_to_driver=True)
                else:
                    ray.init(num_cpus=config.num_cpus or os.cpu_count() or 1, include_dashboard=False,
                             log_to_driver=True)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = config.address or "a local runtime"
                raise DegamlError(f"--ray: could not start or join {where}: {str(exc).splitlines()[0][:200]}") from None
            self.started = True
        self.remote = ray.remote(num_cpus=config.cpus_per_unit, max_retries=0)(run_unit)

    def run(self, units: Sequence[Unit], on_done: OnDone | None = None) -> list[UnitResult]:
        ray = _ray()
        pending = {self.remote.remote(unit, self.config.cpus_per_unit): i for i, unit in enumerate(units)}
        results: list[UnitResult | None] = [None] * len(units)
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                i = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - a dead worker or an unpicklable value: this unit only
                    result = UnitResult(units[i].key, units[i].label, error=f"{type(exc).__name__}: {exc}".splitlines()[0][:300],
                                        where="ray")
                results[i] = result
                if on_done is not None:
                    on_done(result)
        return [r for r in results if r is not None]

    def close(self) -> None:
        if self.started:
            _ray().shutdown()
            self.started = False
