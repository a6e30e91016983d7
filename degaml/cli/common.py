"""Helpers shared by CLI commands: consoles, quiet libraries, progress bars, atomic output files."""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
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


def _first_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path("/")


def _probe(directory: Path, option: str) -> None:
    """Really create (and remove) a file in `directory`: catches read-only mounts and permissions, even as root."""
    if not os.access(directory, os.W_OK | os.X_OK):
        raise DegamlError(f"{option}: '{directory}' is not writable")
    try:
        fd, name = tempfile.mkstemp(prefix=".degaml-probe-", dir=directory)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise DegamlError(f"{option}: cannot write in '{directory}' ({exc.strerror or exc})") from None


def consent_remote_code(requested: bool, flag: bool) -> None:
    """Apply the `--trust-remote-code` flag and refuse (before any work) a spec asking for remote code without it."""
    from degaml.models.llm import allow_remote_code, check_remote_code

    allow_remote_code(flag)
    check_remote_code(requested)


def check_writable(path: Path | None, option: str) -> None:
    """Fail before any work unless `path` can be written as a file (its directory exists and is writable)."""
    if path is None:
        return
    path = Path(path)
    if path.is_dir():
        raise DegamlError(f"{option}: '{path}' is a directory; give a file path")
    existing = _first_existing(path.parent.absolute())
    if not existing.is_dir():
        raise DegamlError(f"{option}: '{path}' is below '{existing}', which is a file")
    if existing != path.parent.absolute():
        raise DegamlError(f"{option}: directory '{path.parent}' does not exist")
    _probe(existing, option)


def check_writable_dir(path: Path | None, option: str) -> None:
    """Fail before any work unless directory `path` exists as a directory or can be created (parents included)."""
    if path is None:
        return
    path = Path(path).absolute()
    if path.exists() and not path.is_dir():
        raise DegamlError(f"{option}: '{path}' exists and is not a directory")
    existing = _first_existing(path)
    if not existing.is_dir():
        raise DegamlError(f"{option}: '{path}' is below '{existing}', which is a file")
    _probe(existing, option)


def save_or_keep(write: Callable[[Path], Any], target: Path, option: str) -> None:
    """Run `write(target)`; if the disk refuses (full, read-only, gone), write to a temp location instead and
    stop with one line saying where the result was kept — computed work is never lost to a late write failure."""
    try:
        write(Path(target))
        return
    except OSError as exc:
        first = exc
    fallback = Path(tempfile.mkdtemp(prefix="degaml-kept-")) / Path(target).name
    try:
        write(fallback)
    except OSError:
        raise DegamlError(f"{option}: cannot write '{target}' ({first.strerror or first}); "
                          f"the fallback in {fallback.parent} failed too, nothing was saved") from None
    raise DegamlError(f"{option}: cannot write '{target}' ({first.strerror or first}); the result was kept at {fallback}")


def write_json(path: Path, data: Any, option: str = "--json") -> None:
    """Valid JSON only: a NaN/inf value is a bug upstream and raises ValueError instead of being written."""
    text = json.dumps(data, indent=2, default=str, allow_nan=False) + "\n"
    save_or_keep(lambda p: write_text_atomic(p, text), path, option)


def write_jsonl(path: Path, rows: list[dict[str, Any]], option: str = "--predictions") -> None:
    text = "".join(json.dumps(r, default=str, allow_nan=False) + "\n" for r in rows)
    save_or_keep(lambda p: write_text_atomic(p, text), path, option)
