"""Textual terminal UI of degaml: watch an adaptation run's policy decisions live and inspect each one.

`RunApp(run_dir, runner=None)` views one run; `PickerApp(root)` lists the runs under a directory. Launch with
`degaml tui [RUN_DIR]` or `degaml adapt SPEC --tui`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from degaml.lazy import lazy_exports

_EXPORTS = {
    "RunApp": "degaml.tui.app",
    "PickerApp": "degaml.tui.picker",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # the eager imports, for type checkers only
    from degaml.tui.app import RunApp
    from degaml.tui.picker import PickerApp

__all__ = ["PickerApp", "RunApp"]
