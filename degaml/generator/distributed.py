"""Process topology for scaling meta-training out under `accelerate launch` (or `torchrun`).

One process is the default and needs no launcher and no process group. Under a launcher (WORLD_SIZE > 1), the
same commands change behaviour in two places only:
  - `degaml generator collect` shards the meta-training tasks round-robin across processes (no communication:
    every task's trajectory lands in its own directory);
  - `degaml generator train` wraps the generator in DDP through `accelerate.Accelerator`; every process draws the
    same seeded global batch and trains on its slice, so the update equals one process on the whole batch.

On a CPU-only machine the process group uses gloo. accelerate's `--cpu` flag selects its single-process
launcher, so launch CPU processes with the torchrun launcher:
    accelerate launch --multi_gpu --num_processes 2 $(which degaml) generator train META_SPEC
    torchrun --standalone --nproc_per_node 2 -m degaml.cli generator train META_SPEC
Each launched process takes its share of the node's CPUs as torch threads (`set_worker_threads`). Rank 0 alone writes
the resume state; every process reads it on restart (tests/generator/test_distributed.py runs this on 2 CPU
processes). For independent units (collection tasks, table cells, E-step tasks) see degaml/executor/ instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TypeVar

import torch

T = TypeVar("T")


def launched_world_size() -> int:
    """Processes started by the launcher (1 without one)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def use_cpu(device: str) -> bool:
    """Whether processes should run (and communicate) on the CPU for a spec's `device`."""
    return device == "cpu" or not torch.cuda.is_available()


@dataclass(frozen=True)
class Topology:
    """This process's place among the launched ones."""

    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, items: list[T]) -> list[T]:
        """This process's share of `items`, round-robin (every item goes to exactly one process)."""
        return items[self.rank :: self.world]

    def describe(self) -> str:
        return "" if self.world == 1 else f"(process {self.rank + 1}/{self.world}) "


def set_worker_threads() -> int:
    """Give this launched process its share of the CPUs as torch threads (OMP_NUM_THREADS if set — torchrun sets 1 —
    else the CPUs this process may use divided by the processes on this node), so processes do not oversubscribe."""
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = int(os.environ.get("OMP_NUM_THREADS") or max(1, cpus // max(1, local)))
    torch.set_num_threads(threads)
    return threads


def topology(device: str = "auto") -> Topology:
    """The launcher's topology; initializes accelerate's process group (gloo on CPU) only when launched with > 1."""
    if launched_world_size() <= 1:
        return Topology()
    from accelerate import PartialState

    state = PartialState(cpu=use_cpu(device))
    set_worker_threads()
    return Topology(state.process_index, state.num_processes)
