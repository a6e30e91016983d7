"""Task data: sources (hf, local files, shared benchmark files, reasoning-gym) → normalized examples → splits."""

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
