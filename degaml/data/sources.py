"""Loading task data from a spec's sources (through `datasets`) into normalized `Example`s.

Kinds: `hf:<id>` (hub, with config/split), local .json/.jsonl/.parquet/.csv files, `shared:<path>` (the
normalized benchmark files in the project's shared data dir), `reasoning_gym:<name>` (seeded, offline) and
`sklearn:<name>` (real datasets bundled in scikit-learn, offline: `degaml.data.sklearn_source`).
A list of sources is a fallback chain: the first that loads wins. Only expected "unavailable" conditions (hub
unreachable or dataset not on it, file missing, package missing, no items) fall through to the next source; a parse
error or a bug is an error. Which source was used and why the others were skipped is recorded (`PoolProvenance`).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from degaml.data.example import Example
from degaml.data.local_files import SourceUnavailable, read_local_file
from degaml.data.provenance import PoolProvenance, SkippedSource, source_record
from degaml.errors import DataError
from degaml.models.hub import hub_reachable
from degaml.specs.model import DataSource, TaskSpec
from degaml.specs.templates import compile_template, render

log = logging.getLogger(__name__)
SHARED_DATA_ENV = "DEGAML_SHARED_DATA"


def shared_data_dir(start: Path | None = None) -> Path | None:
    """The shared benchmark data dir: $DEGAML_SHARED_DATA, else the first `shared/data` above `start` or the cwd."""
    if os.environ.get(SHARED_DATA_ENV):
        return Path(os.environ[SHARED_DATA_ENV])
    for base in (start, Path.cwd()):
        if base is None:
            continue
        for parent in (base.resolve(), *base.resolve().parents):
            if (parent / "shared" / "data").is_dir():
                return parent / "shared" / "data"
    return None


def _lookup(record: dict[str, Any], dotted: str, source: str, field: str = "field") -> Any:
    """A field by dotted path (`choices.text`), or a Jinja template over the record (`{{passage}}\n\n{{question}}`)."""
    if "{{" in dotted:
        return render(compile_template(dotted, f"{source}: fields.{field}"), f"{source}: fields.{field}", **record)
    value: Any = record
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise DataError(f"{source}: record has no field '{dotted}' (fields: {', '.join(sorted(record))[:120]})")
        value = value[part]
    return value


def normalize_record(record: dict[str, Any], index: int, src: DataSource, multiple_choice: bool) -> Example:
    """Map one raw record to an Example using the source's field map."""
    fm = src.fields
    name = src.source
    question = _lookup(record, fm.question, name, "question")
    raw_answer = _lookup(record, fm.answer, name, "answer")
    if src.answer_regex is not None:
        match = re.search(src.answer_regex, str(raw_answer))
        if not match:
            raise DataError(f"{name}: item {index}: answer_regex found no answer in {str(raw_answer)[:60]!r}")
        raw_answer = match.group(1).strip()
    choices: tuple[str, ...] = ()
    if multiple_choice:
        if fm.choices is None:
            raise DataError(f"{name}: format multiple_choice needs fields.choices")
        raw_choices = _lookup(record, fm.choices, name, "choices")
        if isinstance(raw_choices, str):  # a template rendered a JSON list
            try:
                raw_choices = json.loads(raw_choices)
            except json.JSONDecodeError:
                raise DataError(f"{name}: item {index}: choices {raw_choices[:60]!r} is not a list") from None
        if not isinstance(raw_choices, (list, tuple)):
            raise DataError(f"{name}: item {index}: choices must be a list, got {type(raw_choices).__name__}")
        choices = tuple(str(c) for c in raw_choices)
        if fm.labels is not None:
            labels = [str(x) for x in _lookup(record, fm.labels, name, "labels")]
            if str(raw_answer) not in labels:
                raise DataError(f"{name}: item {index}: answer {raw_answer!r} is not among labels {labels}")
            answer: int | str = labels.index(str(raw_answer))
        else:
            try:
                answer = int(raw_answer)
            except (TypeError, ValueError):
                raise DataError(f"{name}: item {index}: answer {raw_answer!r} is not a choice index") from None
        if len(choices) < 2 or not 0 <= answer < len(choices):
            raise DataError(f"{name}: item {index}: answer {answer} out of range for {len(choices)} choices")
    else:
        answer = str(raw_answer).strip()
    item_id = record.get(fm.id) if fm.id else None
    rationale = record.get(fm.rationale) if fm.rationale else None
    return Example(
        id=str(item_id) if item_id is not None else f"{name}-{index:05d}",
        question=str(question),
        choices=choices,
        answer=answer,
        rationale=str(rationale) if rationale else None,
    )


def source_path(src: DataSource, base_dir: Path) -> Path:
    """The file a local or `shared:` source reads; `shared:` paths are confined to the shared data dir."""
    if src.kind == "shared":
        root = shared_data_dir(base_dir)
        if root is None:
            raise SourceUnavailable(f"no shared data dir (set ${SHARED_DATA_ENV})")
        path = (root / src.target).resolve()
        if not path.is_relative_to(root.resolve()):
            raise DataError(f"{src.source}: path leaves the shared data dir {root}")
        return path
    return (base_dir / src.source).resolve()


def _hub_unavailable_errors() -> tuple[type[BaseException], ...]:
    """Exceptions meaning "this hub dataset cannot be had here" (network, offline mode, gated, not on the hub)."""
    from datasets.exceptions import DatasetNotFoundError
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, OfflineModeIsEnabled

    return (ConnectionError, TimeoutError, DatasetNotFoundError, GatedRepoError, HfHubHTTPError, OfflineModeIsEnabled)


def _records_from_datasets(src: DataSource, base_dir: Path) -> list[dict[str, Any]]:
    import datasets

    datasets.disable_progress_bars()
    if src.kind == "hf":
        if not hub_reachable():
            raise SourceUnavailable("the Hugging Face hub is unreachable")
        try:
            ds = datasets.load_dataset(src.target, src.config, split=src.split or "train")
        except _hub_unavailable_errors() as exc:
            raise SourceUnavailable(f"not available from the hub ({type(exc).__name__}: {_first_line(exc)})") from None
        return list(ds)
    path = source_path(src, base_dir)
    if not path.is_file():
        raise SourceUnavailable(f"{path} does not exist")
    return read_local_file(path, src.source)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:160] if text else type(exc).__name__


def _reasoning_gym_examples(src: DataSource, seed: int) -> list[Example]:
    try:
        import reasoning_gym
    except ImportError:
        raise SourceUnavailable("the reasoning-gym package is not installed (pip install reasoning-gym)") from None

    try:
        dataset = reasoning_gym.create_dataset(src.target, size=src.size, seed=seed, **src.options)
    except Exception as exc:  # noqa: BLE001 - unknown name or bad options → one line
        raise DataError(f"{src.source}: cannot create dataset ({str(exc).splitlines()[0][:160]})") from None
    examples, seen = [], set()
    for i, entry in enumerate(dataset):
        if entry["question"] in seen:  # small problem spaces repeat items; keep splits truly disjoint
            continue
        seen.add(entry["question"])
        examples.append(
            Example(
                id=f"{src.target}-{seed}-{i:05d}",
                question=entry["question"],
                answer=str(entry["answer"]),
                meta={"reasoning_gym": entry, "scorer": dataset.score_answer},
            )
        )
    return examples


def load_source(src: DataSource, spec: TaskSpec, seed_offset: int = 0) -> list[Example]:
    """All examples of one source, in source order (raises SourceUnavailable to trigger the fallback).

    Generated (reasoning_gym) sources drop repeated questions, so `size` is an upper bound.

    `seed_offset` makes generated (reasoning_gym) train pools differ from the evaluation pool.
    """
    if src.kind == "reasoning_gym":
        return _reasoning_gym_examples(src, spec.seed + seed_offset)
    if src.kind == "sklearn":
        try:
            from degaml.data.sklearn_source import sklearn_examples

            return sklearn_examples(src.source, src.target, src.options)
        except ImportError:
            raise SourceUnavailable("scikit-learn is not installed (pip install scikit-learn)") from None
    records = _records_from_datasets(src, spec.source_dir)
    mc = spec.format == "multiple_choice"
    return [normalize_record(dict(r), i, src, mc) for i, r in enumerate(records)]


def source_location(src: DataSource, spec: TaskSpec) -> str:
    """What a provenance record names: the hub id, the resolved file, the reasoning-gym or scikit-learn dataset."""
    if src.kind == "sklearn":
        from importlib.metadata import version

        return f"scikit-learn {version('scikit-learn')} sklearn.datasets {src.target}"
    return str(source_path(src, spec.source_dir)) if src.kind in ("local", "shared") else src.target


def load_chain(
    sources: list[DataSource], spec: TaskSpec, on_skip: Callable[[str], None] | None = None, seed_offset: int = 0
) -> tuple[DataSource, list[Example], PoolProvenance]:
    """Try `sources` in order; the first that loads (and is non-empty), its examples, and the provenance record.

    Only `SourceUnavailable` (and an empty source) falls through; any other exception propagates.
    """
    skipped: list[SkippedSource] = []
    for src in sources:
        try:
            examples = load_source(src, spec, seed_offset)
        except SourceUnavailable as exc:
            reason = str(exc)
        else:
            if examples:
                seed = spec.seed + seed_offset if src.kind == "reasoning_gym" else None
                record = source_record(src, examples, source_location(src, spec), seed)
                return src, examples, PoolProvenance(used=record, skipped=skipped)
            reason = "no items"
        skipped.append(SkippedSource(source=src.source, reason=reason))
        (on_skip or log.info)(f"skipping data source {src.source}: {reason}")
    reasons = "; ".join(f"{s.source}: {s.reason}" for s in skipped)
    raise DataError(f"task '{spec.task}': no data source could be loaded ({reasons})")


def load_first_available(
    sources: list[DataSource], spec: TaskSpec, on_skip: Callable[[str], None] | None = None, seed_offset: int = 0
) -> tuple[DataSource, list[Example]]:
    """Try `sources` in order; return the first that loads (and is non-empty) with its examples."""
    src, examples, _ = load_chain(sources, spec, on_skip, seed_offset)
    return src, examples
