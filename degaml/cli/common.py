"""Helpers shared by CLI commands: consoles, quiet libraries, progress bars, atomic output files."""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from degaml.errors import DegamlError
from degaml.io import write_text_atomic

console = Console()
console_err = Console(stderr=True)


def quiet_libraries() -> None:
    """Silence library progress bars and info logs; degaml shows its own progress."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    warnings.filterwarnings("ignore", category=FutureWarning)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


@contextmanager
def progress_bar(description: str, total: float) -> Iterator[Any]:
    """A rich progress bar on stderr; yields `advance(n)`."""
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=console_err, transient=False) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n=1: progress.update(task, advance=n)
        progress.update(task, completed=total)


def check_writable(path: Path | None, option: str) -> None:
    """Fail before any work when an output file's directory does not exist."""
    if path is not None and not path.parent.resolve().is_dir():
        raise DegamlError(f"{option}: directory '{path.parent}' does not exist")


def write_json(path: Path, data: Any) -> None:
    """Valid JSON only: a NaN/inf value is a bug upstream and raises ValueError instead of being written."""
    write_text_atomic(path, json.dumps(data, indent=2, default=str, allow_nan=False) + "\n")


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    write_text_atomic(path, "".join(json.dumps(r, default=str, allow_nan=False) + "\n" for r in rows))
