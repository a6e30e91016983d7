"""Data provenance: which source a task's items actually came from, and why the sources before it were skipped.

Every load records, per pool (`dataset`, and `train_dataset` when the spec has one), the source that was used —
its kind, id or path, config/split, the sha256 of its normalized items and their count — and the sources that
were skipped with their reason. Eval/strategy JSON, run.json and generator/policy manifests embed
`DataProvenance.model_dump()` under the key `data`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from degaml.data.example import Example


class SourceRecord(BaseModel):
    """The source a pool was loaded from."""

    model_config = ConfigDict(frozen=True)
    source: str  # as written in the spec, e.g. "hf:openai/gsm8k", "shared:gsm8k/test.jsonl", "data/x.jsonl"
    kind: str  # hf | shared | reasoning_gym | sklearn | local
    location: str  # hub dataset id, resolved file path, or reasoning-gym dataset name
    config: str | None = None  # hf config name
    split: str | None = None  # hf split name
    seed: int | None = None  # reasoning_gym: generation seed
    items: int  # normalized items loaded (before partitioning)
    sha256: str  # of the normalized items (id, question, choices, answer) in source order: equal hash ⇔ equal data
    substitute: bool = False  # the spec marks this source as a different benchmark standing in for the task


class SkippedSource(BaseModel):
    """A fallback source that was not used, and why (hub unreachable, file missing, package missing, no items)."""

    model_config = ConfigDict(frozen=True)
    source: str
    reason: str


class PoolProvenance(BaseModel):
    model_config = ConfigDict(frozen=True)
    used: SourceRecord
    skipped: list[SkippedSource] = []


class DataProvenance(BaseModel):
    """Where a task's labelled pool (and separate train pool, if any) came from."""

    model_config = ConfigDict(frozen=True)
    task: str
    dataset: PoolProvenance
    train_dataset: PoolProvenance | None = None

    @property
    def substituted(self) -> list[str]:
        """Sources in use that the spec marks as a different benchmark (empty in the normal case)."""
        pools = [self.dataset] + ([self.train_dataset] if self.train_dataset else [])
        return [p.used.source for p in pools if p.used.substitute]

    def summary(self) -> str:
        """One line for logs: `source (n items, sha256 prefix)`."""
        used = self.dataset.used
        return f"{used.source} ({used.items} items, sha256 {used.sha256[:12]})" + (" [substitute benchmark]" if used.substitute else "")


def items_sha256(examples: Sequence[Example]) -> str:
    """sha256 of the normalized items in order (ids, questions, choices, answers; not rationales or metadata)."""
    digest = hashlib.sha256()
    for ex in examples:
        digest.update(json.dumps([ex.id, ex.question, list(ex.choices), ex.answer], ensure_ascii=False).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def source_record(source, examples: Sequence[Example], location: str | Path, seed: int | None) -> SourceRecord:
    """The record of a loaded `DataSource` (`source`) and its normalized items."""
    return SourceRecord(
        source=source.source, kind=source.kind, location=str(location), config=source.config, split=source.split,
        seed=seed, items=len(examples), sha256=items_sha256(examples), substitute=source.substitute,
    )
