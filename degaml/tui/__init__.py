"""Textual terminal UI of degaml: watch an adaptation run's policy decisions live and inspect each one.

`RunApp(run_dir, runner=None)` views one run; `PickerApp(root)` lists the runs under a directory. Launch with
`degaml tui [RUN_DIR]` or `degaml adapt SPEC --tui`.
"""

from degaml.tui.app import RunApp
from degaml.tui.picker import PickerApp

__all__ = ["PickerApp", "RunApp"]
