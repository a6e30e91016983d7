"""Helpers shared by CLI commands: consoles, quiet libraries, progress (bars and plain lines), data-source notes,
atomic output files. Nothing here imports torch or transformers: `degaml --help` must answer at once."""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from degaml.errors import DegamlError
from degaml.io import write_texts_atomic

console = Console()
console_err = Console(stderr=True)
VERBOSE = {"on": False}  # set by `degaml -v`
PLAIN_INTERVAL = 10.0  # seconds between plain progress lines when stderr is not a terminal


def quiet_libraries() -> None:
    """Silence library progress bars and info logs (through the environment: nothing heavy is imported here)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    warnings.filterwarnings("ignore", category=FutureWarning)
    if "transformers" in sys.modules:  # already imported (in-process callers): the environment is read at import
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()


def format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class PhaseProgress:
    """Progress of a sequence of phases, each reported as (what, fraction done): a rich bar with ETA when stderr is a
    terminal, else a plain line when a phase starts, every PLAIN_INTERVAL seconds, and when it ends.

    A new phase begins when the label changes (ignoring its `done/total` counts) or the fraction goes back."""

    def __init__(self, out: Console | None = None) -> None:
        self.out = out or console_err
        self.live = self.out.is_terminal
        self.progress: Progress | None = None
        self.task: TaskID | None = None
        self.key: str | None = None
        self.fraction = 0.0
        self.started = 0.0
        self.printed = 0.0

    def __enter__(self) -> PhaseProgress:
        if self.live:
            columns = [TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
                       TextColumn("eta"), TimeRemainingColumn()]
            self.progress = Progress(*columns, console=self.out, transient=False)
            self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.__exit__(None, None, None)
            self.progress = None

    def eta(self) -> float | None:
        elapsed = time.monotonic() - self.started
        return elapsed * (1 - self.fraction) / self.fraction if self.fraction > 0 and elapsed >= 1.0 else None

    def __call__(self, what: str, fraction: float) -> None:
        fraction = min(1.0, max(0.0, fraction))
        key = re.sub(r"\d+\s*/\s*≤?\d+", "#", what)
        now = time.monotonic()
        new_phase = key != self.key or fraction < self.fraction
        if new_phase:
            self.key, self.started = key, now
            if self.progress is not None:
                if self.task is not None:
                    self.progress.remove_task(self.task)
                self.task = self.progress.add_task(what, total=1.0)
        self.fraction = fraction
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, completed=fraction, description=what)
        elif new_phase or fraction >= 1.0 or now - self.printed >= PLAIN_INTERVAL:
            self.printed = now
            eta = self.eta()
            tail = f", eta {format_seconds(eta)}" if eta is not None and 0 < fraction < 1 else ""
            self.out.print(f"{what} ({100 * fraction:.0f}%{tail})", highlight=False, soft_wrap=True)

    def done(self) -> None:
        """The current phase is over: drop its bar (the caller prints the result)."""
        if self.progress is not None and self.task is not None:
            self.progress.remove_task(self.task)
        self.task, self.key, self.fraction = None, None, 0.0


def items_progress(report: Callable[[str, float], None], what: str, total: int) -> Callable[[int], None]:
    """Turn `report(what, fraction)` into an `advance(n items)` callback labelled `what done/total`."""
    done = [0]

    def advance(n: int = 1) -> None:
        done[0] += n
        report(f"{what} {int(min(done[0], total))}/{total}", done[0] / max(1, total))

    if total:
        report(f"{what} 0/{total}", 0.0)
    return advance


@contextmanager
def progress_bar(description: str, total: float) -> Iterator[Callable[[int], None]]:
    """Items progress of one phase on stderr (bar with ETA on a terminal, plain lines otherwise); yields `advance(n)`."""
    with PhaseProgress() as phases:
        yield items_progress(phases, description, int(total))


def data_notes() -> Callable[[str], None]:
    """`on_skip` for data loading: the sources tried before the one used are details, shown only with `-v`."""
    def note(message: str) -> None:
        if VERBOSE["on"]:
            console_err.print(f"[dim]{message}[/]", highlight=False, soft_wrap=True)
    return note


def data_line(task: str, data: Any, split: str | None = None, n: int | None = None) -> None:
    """The one quiet line naming the data source a command used."""
    what = f"{n} {split} items" if split is not None else f"{len(data.pool)} items"
    source = data.provenance.summary() if getattr(data, "provenance", None) is not None else data.source.source
    console_err.print(f"[dim]{task}: {what} from {source}[/]", highlight=False, soft_wrap=True)


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


def require_terminal(what: str, hint: str) -> None:
    """Refuse (before any work) a terminal UI when stdin/stdout are not a TTY (it would write escape codes forever)."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise DegamlError(f"{what}: needs an interactive terminal (stdin/stdout are not a TTY); {hint}")


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


def json_text(data: Any) -> str:
    """Valid JSON only: a NaN/inf value is a bug upstream and raises ValueError instead of being written."""
    return json.dumps(data, indent=2, default=str, allow_nan=False) + "\n"


def jsonl_text(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, default=str, allow_nan=False) + "\n" for r in rows)


def write_outputs(outputs: list[tuple[str, Path | None, str]]) -> None:
    """Write a command's output files — (option, path or None, text) — all or none: when the disk refuses one, none
    is written in place and all are kept together in one temp directory, named in one line (exit 2)."""
    outputs = [(option, Path(path), text) for option, path, text in outputs if path is not None]
    if not outputs:
        return
    try:
        write_texts_atomic({path: text for _, path, text in outputs})
        return
    except OSError as exc:
        first = exc
    options = "/".join(option for option, _, _ in outputs)
    fallback = Path(tempfile.mkdtemp(prefix="degaml-kept-"))
    names = [path.name for _, path, _ in outputs]
    kept = [fallback / (name if names.count(name) == 1 else f"{index}-{name}") for index, name in enumerate(names)]
    try:
        write_texts_atomic({path: text for path, (_, _, text) in zip(kept, outputs)})
    except OSError:
        raise DegamlError(f"{options}: cannot write '{outputs[0][1]}' ({first.strerror or first}); "
                          f"the fallback in {fallback} failed too, nothing was saved") from None
    places = ", ".join(f"{path} ({option})" for (option, _, _), path in zip(outputs, kept))
    raise DegamlError(f"{options}: cannot write '{first.filename or outputs[0][1]}' ({first.strerror or first}); no output "
                      f"was written in place, the results were kept at {places}")


def write_json(path: Path, data: Any, option: str = "--json") -> None:
    """Valid JSON only: a NaN/inf value is a bug upstream and raises ValueError instead of being written."""
    write_outputs([(option, path, json_text(data))])


def write_jsonl(path: Path, rows: list[dict[str, Any]], option: str = "--predictions") -> None:
    write_outputs([(option, path, jsonl_text(rows))])
