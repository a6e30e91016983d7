"""Seeded, disjoint partition of a task's labelled pool into support / validation / test (+ train pool).

- support: unlabeled prompts for the generator and test-time methods (labels stripped); the same items *with*
  their labels are `labelled_support` — the target task's few labelled datapoints (the paper's 20) that only the
  adaptation module and the baselines may fit on, never the generator (it conditions on unlabeled prompts);
- validation: labelled; the only split rewards and tuning may read;
- test: labelled; read once for final numbers;
- train: LoRA-collection / few-shot pool — the spec's `train_dataset` (minus any item that is also in the
  labelled pool, whichever split it lands in) when given, else carved from the pool.

One seeded permutation of the pool decides everything: support ← first `num_support`, validation ← next
`num_validation`, train (carved) ← next `num_train`, test ← next `num_test` (default: all the rest). Each split
keeps permutation order, so `--limit N` takes a fixed random sample.

The test split, and the pool (which holds the test items), are sealed (`degaml.data.seal`): counting them is free,
reading them raises outside a `released()` block — the final scoring's. `degaml.data.guard.guard_task_data(task,
log)` gives the same task with every read of the test split and of labels recorded: how tests check that nothing
peeks before the final scoring.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from degaml.data.example import Example
from degaml.data.provenance import DataProvenance
from degaml.data.seal import SealedSplit, sealed
from degaml.data.sources import load_chain
from degaml.errors import DataError
from degaml.specs.model import DataSource, TaskSpec

TRAIN_SEED_OFFSET = 1_000_003  # generated train pools use another seed than the evaluation pool
SplitName = Literal["support", "validation", "test", "train", "all"]


@dataclass(frozen=True)
class TaskData:
    """A task instance: the loaded pool and its partition."""

    spec: TaskSpec
    source: DataSource  # the source that was actually loaded
    pool: SealedSplit  # every labelled item, in source order (sealed: it holds the test items)
    support: tuple[Example, ...]  # unlabeled
    validation: tuple[Example, ...]
    test: SealedSplit  # read only inside `test.released(...)` (the final scoring)
    train: tuple[Example, ...]
    provenance: DataProvenance | None = None  # which sources were used/skipped (set by `load_task_data`)
    labelled_support: tuple[Example, ...] = ()  # the support items with labels (adaptation / baselines only)

    def __post_init__(self) -> None:
        """Seal the test split and the pool (tuples given here are sealed; a sealed split keeps its state)."""
        object.__setattr__(self, "pool", sealed("all", self.spec.task, self.pool))
        object.__setattr__(self, "test", sealed("test", self.spec.task, self.test))

    def split(self, name: SplitName) -> Sequence[Example]:
        if name == "all":
            return self.pool
        return getattr(self, name)

    def read(self, name: SplitName, why: str) -> tuple[Example, ...]:
        """The items of `name`, releasing a sealed split for this one read (`why` is recorded with the release): for a
        user who asks for the test split by name (`degaml eval --split test`), never for a method."""
        items = self.split(name)
        if isinstance(items, SealedSplit):
            with items.released(why) as released:
                return released
        return tuple(items)

    def fewshot_pool(self) -> tuple[Example, ...]:
        """The examples few-shot prompts are drawn from (spec `fewshot_from`): the train pool or the labelled support."""
        return self.labelled_support if self.spec.fewshot_from == "support" else self.train

    def support_prompts(self) -> list[str]:
        """The support questions (unlabeled task inputs) as plain text."""
        return [ex.question for ex in self.support]


def support_with_labels(support: Sequence[Example], pool: Sequence[Example]) -> tuple[Example, ...]:
    """The support items with their labels, found in the (released) pool by id, or by content where ids repeat."""
    items = tuple(pool)
    by_id = {ex.id: ex for ex in items}
    try:
        if len(by_id) == len(items):
            return tuple(by_id[ex.id] for ex in support)
        by_key = {(ex.question, ex.choices): ex for ex in items}
        return tuple(by_key[(ex.question, ex.choices)] for ex in support)
    except KeyError:  # support items that are not in the pool: no labels to recover
        return ()


def partition(
    pool: list[Example], spec: TaskSpec, carve_train: bool
) -> tuple[list[Example], list[Example], list[Example], list[Example]]:
    """Split `pool` into (labelled support, validation, test, carved train) with the spec's sizes and seed."""
    order = list(range(len(pool)))
    random.Random(spec.seed).shuffle(order)
    n_train = (spec.num_train or 0) if carve_train else 0
    needed = spec.num_support + spec.num_validation + n_train + (spec.num_test or 1)
    if needed > len(pool):
        raise DataError(
            f"task '{spec.task}': split sizes need {needed} items (num_support {spec.num_support} + num_validation "
            f"{spec.num_validation} + num_train {n_train} + num_test {spec.num_test or '≥1'}) but the data has {len(pool)}"
        )
    cuts = [spec.num_support, spec.num_validation, n_train]
    parts, start = [], 0
    for size in cuts:
        parts.append([pool[i] for i in order[start : start + size]])
        start += size
    rest = order[start:]
    test = [pool[i] for i in (rest[: spec.num_test] if spec.num_test else rest)]
    support, validation, train = parts
    return support, validation, test, train


def load_task_data(spec: TaskSpec, on_skip: Callable[[str], None] | None = None) -> TaskData:
    """Load the spec's data (with fallbacks), record its provenance, and partition it.

    A source the spec marks `substitute: true` (a different benchmark) is announced on stderr when it is used.
    """
    source, pool, pool_prov = load_chain(spec.dataset, spec, on_skip)
    carve = spec.train_dataset is None
    train_prov = None
    labelled_support, validation, test, train = partition(pool, spec, carve_train=carve)
    support = [ex.unlabeled() for ex in labelled_support]
    if not carve:
        _, train_pool, train_prov = load_chain(spec.train_dataset, spec, on_skip, seed_offset=TRAIN_SEED_OFFSET)
        used = {(ex.question, ex.choices) for ex in pool}  # the whole labelled pool, not only the splits drawn from it
        train = [ex for ex in train_pool if (ex.question, ex.choices) not in used]  # never train on an evaluation item
    provenance = DataProvenance(task=spec.task, dataset=pool_prov, train_dataset=train_prov)
    for pool_name, prov in (("dataset", pool_prov), ("train_dataset", train_prov)):
        if prov is not None and prov.used.substitute:
            why = "; ".join(f"{s.source}: {s.reason}" for s in prov.skipped) or "it is listed first"
            print(f"warning: task '{spec.task}' {pool_name} uses {prov.used.source}, a substitute benchmark "
                  f"(not the task's own data) because {why}", file=sys.stderr)
    return TaskData(spec, source, tuple(pool), tuple(support), tuple(validation), tuple(test), tuple(train), provenance,
                    tuple(labelled_support))
