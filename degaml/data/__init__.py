"""Task data: sources (hf, local files, shared benchmark files, reasoning-gym) → normalized examples → splits."""

from __future__ import annotations

from typing import TYPE_CHECKING

from degaml.lazy import lazy_exports

_EXPORTS = {
    "Example": "degaml.data.example",
    "DataProvenance": "degaml.data.provenance",
    "PoolProvenance": "degaml.data.provenance",
    "SkippedSource": "degaml.data.provenance",
    "SourceRecord": "degaml.data.provenance",
    "load_chain": "degaml.data.sources",
    "load_first_available": "degaml.data.sources",
    "load_source": "degaml.data.sources",
    "shared_data_dir": "degaml.data.sources",
    "SplitName": "degaml.data.splits",
    "TaskData": "degaml.data.splits",
    "load_task_data": "degaml.data.splits",
    "partition": "degaml.data.splits",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # the eager imports, for type checkers only
    from degaml.data.example import Example
    from degaml.data.provenance import DataProvenance, PoolProvenance, SkippedSource, SourceRecord
    from degaml.data.sources import load_chain, load_first_available, load_source, shared_data_dir
    from degaml.data.splits import SplitName, TaskData, load_task_data, partition

__all__ = [
    "DataProvenance",
    "Example",
    "PoolProvenance",
    "SkippedSource",
    "SourceRecord",
    "load_chain",
    "SplitName",
    "TaskData",
    "load_first_available",
    "load_source",
    "load_task_data",
    "partition",
    "shared_data_dir",
]
