"""User-facing errors: one clear line, exit code 2, never a traceback.

Everything a user can get wrong (a spec, a data file, a CLI argument, a policy output) raises `DegamlError`
with a message that names the offending file/field/value. The CLI prints it and exits with `EXIT_USAGE`.
An I/O failure of the machine (disk full, a vanished mount; `degaml.io.as_os_error`) is one line too, with
`EXIT_IO`: nothing half-written is left behind, and a run it interrupts can be resumed.
"""

from __future__ import annotations

EXIT_USAGE = 2
EXIT_IO = 1


class DegamlError(Exception):
    """An error caused by user input; its message is a single line meant for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))  # always one line


class SpecError(DegamlError):
    """A task spec is malformed (syntax, type, unknown key, missing file, ...)."""


class DataError(DegamlError):
    """Task data cannot be loaded or does not have the expected fields."""


class ModelLoadError(DegamlError):
    """A model or encoder cannot be loaded (unknown id, no hub, missing embedded wheel)."""
