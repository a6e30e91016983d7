"""The split discipline made checkable: a TaskData whose items record every read of the test split and of labels.

Rules it lets a test (or a baseline's test) check:
- the test split is not read at all (no field of any test item) before the final scoring;
- labels (`answer`, `rationale`, `meta` — which holds reasoning-gym's verifier entry) of the scored splits, and of
  labelled pool items no split hands out, are read only by the evaluator, i.e. inside `scoring()`;
- the train split (few-shot / LoRA-collection pool) and the unlabeled support prompts are not guarded.

API:
    from degaml.data.guard import AccessLog, guard_task_data, scoring

    log = AccessLog()
    task = guard_task_data(load_task_data(spec), log)   # same splits, same order, same values
    ... run adapt / a ReST^EM E-step / a strategy / a baseline with `task` ...
    log.mark("final scoring")            # a named point in the access sequence (e.g. from an episode's on_event)
    log.test_reads()                     # reads of test items, in order (each an Access)
    log.label_reads(scoring=False)       # label reads outside the evaluator: leaks
    log.before("final scoring")          # the accesses recorded before that mark

`scoring()` is the evaluator's declaration that it reads labels to score (evaluation.evaluator and
evaluation.result enter it). It is the only hook in production code: one context variable set per scoring call.
Production never wraps a TaskData, so its Examples are plain and cost nothing extra. Counting a split
(`len(task.test)`) is not a read; wrapping replaces the items of `validation`, `test` and `pool` (test and pool stay
sealed, `degaml.data.seal`: a read outside the final scoring's release raises before this log would see it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from degaml.data.example import Example
from degaml.data.splits import TaskData

LABEL_FIELDS = ("answer", "rationale", "meta")
_SCORING: ContextVar[bool] = ContextVar("degaml_scoring", default=False)


@contextmanager
def scoring() -> Iterator[None]:
    """Label reads inside this block are the evaluator's (legitimate) ones."""
    token = _SCORING.set(True)
    try:
        yield
    finally:
        _SCORING.reset(token)


@dataclass(frozen=True)
class Access:
    index: int  # position in the log (marks included)
    split: str  # "validation", "test" or "pool" (a labelled pool item no split hands out)
    item: str  # the example's id
    field: str  # the field read ("template_vars" when a template's variables were built)
    scoring: bool  # inside `scoring()` (the evaluator)

    @property
    def is_label(self) -> bool:
        return self.field in LABEL_FIELDS


class AccessLog:
    """Every recorded read of guarded items, with named marks interleaved."""

    def __init__(self) -> None:
        self.accesses: list[Access] = []
        self.marks: dict[str, int] = {}
        self._next = 0

    def record(self, split: str, item: str, field: str) -> None:
        self.accesses.append(Access(self._next, split, item, field, _SCORING.get()))
        self._next += 1

    def mark(self, name: str) -> None:
        """Remember this point of the sequence under `name` (the first mark of a name wins)."""
        self.marks.setdefault(name, self._next)
        self._next += 1

    def before(self, name: str) -> list[Access]:
        return [a for a in self.accesses if a.index < self.marks[name]]

    def test_reads(self) -> list[Access]:
        return [a for a in self.accesses if a.split == "test"]

    def label_reads(self, scoring: bool | None = None) -> list[Access]:
        """Label reads (of any guarded split); `scoring` selects those inside/outside the evaluator."""
        return [a for a in self.accesses if a.is_label and (scoring is None or a.scoring == scoring)]


class _Label:
    """A label inside a template's variables: recorded only when the template actually uses it."""

    def __init__(self, value: Any, touch: Callable[[], None]) -> None:
        self._value, self._touch = value, touch

    def _get(self) -> Any:
        self._touch()
        return self._value

    def __str__(self) -> str:
        return str(self._get())

    def __repr__(self) -> str:
        return repr(self._get())

    def __format__(self, spec: str) -> str:
        return format(self._get(), spec)

    def __eq__(self, other: object) -> bool:
        return self._get() == other

    def __hash__(self) -> int:
        return hash(self._get())

    def __bool__(self) -> bool:
        return bool(self._get())

    def __int__(self) -> int:
        return int(self._get())

    def __index__(self) -> int:
        return int(self._get())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)


class GuardedExample(Example):
    """An Example that reports reads to an AccessLog (every field on the test split; labels everywhere)."""

    def __init__(self, inner: Example, split: str, log: AccessLog) -> None:  # noqa: D107 - not the dataclass init
        object.__setattr__(self, "_inner", inner)
        object.__setattr__(self, "_split", split)
        object.__setattr__(self, "_log", log)

    def _read(self, field: str) -> Any:
        inner: Example = object.__getattribute__(self, "_inner")
        split = object.__getattribute__(self, "_split")
        if split == "test" or field in LABEL_FIELDS:
            object.__getattribute__(self, "_log").record(split, inner.id, field)
        return getattr(inner, field)

    id = property(lambda self: self._read("id"))  # type: ignore[assignment]
    question = property(lambda self: self._read("question"))  # type: ignore[assignment]
    choices = property(lambda self: self._read("choices"))  # type: ignore[assignment]
    answer = property(lambda self: self._read("answer"))  # type: ignore[assignment]
    rationale = property(lambda self: self._read("rationale"))  # type: ignore[assignment]
    meta = property(lambda self: self._read("meta"))  # type: ignore[assignment]

    def unlabeled(self) -> Example:
        """A plain copy without labels (reads only the inputs)."""
        return Example(self.id, self.question, self.choices)

    def template_vars(self) -> dict[str, Any]:
        inner: Example = object.__getattribute__(self, "_inner")
        split = object.__getattribute__(self, "_split")
        log: AccessLog = object.__getattribute__(self, "_log")
        if split == "test":
            log.record(split, inner.id, "template_vars")
        values = inner.template_vars()
        for key, field in (("answer", "answer"), ("rationale", "rationale"), ("gold", "answer")):
            values[key] = _Label(values[key], lambda f=field: log.record(split, inner.id, f))
        return values


def guard_task_data(task: TaskData, log: AccessLog) -> TaskData:
    """`task` with its validation, test and labelled pool items reporting reads to `log` (train/support untouched)."""
    wrapped: dict[int, Example] = {}

    def wrap(split: str) -> Callable[[Example], Example]:
        def one(ex: Example) -> Example:
            return wrapped.setdefault(id(ex), GuardedExample(ex, split, log))
        return one

    validation = tuple(wrap("validation")(ex) for ex in task.validation)
    test = task.test.rewrap(wrap("test"))  # a new seal over the wrapped items (wrapping is not a read)
    train = {id(ex) for ex in task.train}
    pool = task.pool.rewrap(lambda ex: wrapped.get(id(ex)) or (ex if id(ex) in train else wrap("pool")(ex)))
    return dataclasses.replace(task, pool=pool, validation=validation, test=test)
