"""The scale-out options shared by `generator collect`, `reproduce` and `policy train`: in-process by default,
`--ray` for a local Ray runtime sized to this machine, `--ray-address ADDR` to join an existing cluster."""

from __future__ import annotations

import typer

from degaml.errors import DegamlError

RAY = typer.Option(False, "--ray", help="run the independent units on a local Ray runtime (one per CPU; pip install -e \".[ray]\")")
RAY_ADDRESS = typer.Option(None, "--ray-address", metavar="ADDR",
                           help="run the units on an existing Ray cluster (e.g. 10.0.0.1:6379 or auto); implies --ray")
CPUS_PER_UNIT = typer.Option(1, "--cpus-per-unit", help="Ray: CPUs (and torch threads) given to each unit")


def executor_config(ray: bool, address: str | None, cpus_per_unit: int = 1):
    """The ExecutorConfig these options ask for; a bad value is a one-line error (exit 2)."""
    from degaml.executor import ExecutorConfig

    if address is not None and not address.strip():
        raise DegamlError("--ray-address: empty address (use host:port, ray://host:port or auto)")
    if cpus_per_unit < 1:
        raise DegamlError(f"--cpus-per-unit: must be ≥ 1 (got {cpus_per_unit})")
    if not ray and address is None:
        return ExecutorConfig(cpus_per_unit=cpus_per_unit)
    return ExecutorConfig(backend="ray", address=address, cpus_per_unit=cpus_per_unit)


class UnitProgress:
    """Units done/total with an ETA across workers (a rich bar on a terminal, plain lines otherwise); `start(total)`
    once the pending units are known, `step()` as each finishes (steps before `start` are not counted)."""

    def __init__(self, what: str) -> None:
        from degaml.cli.common import PhaseProgress

        self.what = what
        self.phases = PhaseProgress()
        self.advance = None

    def __enter__(self) -> UnitProgress:
        self.phases.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.phases.__exit__(*exc)

    def start(self, total: int) -> None:
        from degaml.cli.common import items_progress

        self.advance = items_progress(self.phases, self.what, total) if total else None

    def step(self) -> None:
        if self.advance is not None:
            self.advance(1)
