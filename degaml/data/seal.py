"""The runtime test-split guard: a split that can be counted but not read until it is released.

Every `TaskData` holds its test split, and its pool (which contains the test items), as a `SealedSplit`. `len()` is
free (a budget counts items); iterating, indexing or slicing raises `ProtocolError` unless a `released()` block is
open. The places that may read test open one, each naming why:
- the episode's final scoring (`controller.episode.episode`), once the accepted chain is fixed;
- the protocol's `final_score` (every baseline and table cell, `degaml.protocol`);
- `degaml eval --split test|all`, which a user asks for by name; the gold join of cached cells.
Each release counts as one read of the split (`reads`; what happens inside it is that read); the names of the
releases are kept in order (`releases`), so a test can check that nothing read the split before the final scoring.
`degaml.data.guard` is the finer instrument (which field of which item, in which order) that tests wrap around the
same data.

A seal pickles with its items and its state (process-pool and Ray lanes receive task data by pickle).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, overload

if TYPE_CHECKING:
    from degaml.data.example import Example


class ProtocolError(RuntimeError):
    """A method tried to read what the protocol forbids (the test split before the final scoring)."""


class SealedSplit(Sequence["Example"]):
    """A tuple of examples behind a seal: countable always, readable only inside `released()`."""

    __slots__ = ("name", "task", "_items", "_open", "reads", "releases")

    def __init__(self, name: str, task: str, items: Sequence[Example]) -> None:
        self.name, self.task = name, task  # e.g. "test", "arc_easy"
        self._items: tuple[Example, ...] = tuple(items)
        self._open = 0  # depth of nested releases
        self.reads = 0  # releases so far: each is one read of the split
        self.releases: list[str] = []  # why it was released, in order

    def __len__(self) -> int:  # counting is not reading
        return len(self._items)

    def require_released(self) -> None:
        """Raise `ProtocolError` unless a release is open."""
        if not self._open:
            raise ProtocolError(f"task '{self.task}': the {self.name} split is read only by the final scoring")

    @overload
    def __getitem__(self, index: int) -> Example: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[Example, ...]: ...
    def __getitem__(self, index):
        self.require_released()
        return self._items[index]

    def __iter__(self) -> Iterator[Example]:
        self.require_released()
        return iter(self._items)

    def __add__(self, other: Sequence[Example]) -> tuple[Example, ...]:
        self.require_released()
        return self._items + tuple(other)

    def __radd__(self, other: Sequence[Example]) -> tuple[Example, ...]:
        self.require_released()
        return tuple(other) + self._items

    def __repr__(self) -> str:
        state = "released" if self._open else "sealed"
        return f"SealedSplit({self.task}/{self.name}, {len(self._items)} items, {state})"

    @property
    def is_released(self) -> bool:
        return self._open > 0

    @contextmanager
    def released(self, why: str) -> Iterator[tuple[Example, ...]]:
        """Open the seal for this block (nested blocks are fine); yields the items. The block is one read."""
        self._open += 1
        self.releases.append(why)
        self.reads += 1
        try:
            yield self._items
        finally:
            self._open -= 1

    def rewrap(self, wrap: Callable[[Example], Example]) -> SealedSplit:
        """A new sealed split of `wrap(item)` per item: instrumentation (degaml.data.guard), not a read."""
        return SealedSplit(self.name, self.task, [wrap(ex) for ex in self._items])


def sealed(name: str, task: str, items: Sequence[Example]) -> SealedSplit:
    """`items` behind a seal (an already sealed split is returned as it is: its state is kept)."""
    return items if isinstance(items, SealedSplit) else SealedSplit(name, task, items)
