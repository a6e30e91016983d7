"""The normalized task example every source is converted to."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class Example:
    """One task item. `answer` is a choice index (multiple choice) or the gold string; None when unlabeled."""

    id: str
    question: str
    choices: tuple[str, ...] = ()
    answer: int | str | None = None
    rationale: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)  # e.g. a reasoning_gym entry

    def unlabeled(self) -> Example:
        """A copy without the label or rationale (what support prompts expose)."""
        return replace(self, answer=None, rationale=None)

    def template_vars(self) -> dict[str, Any]:
        """Variables the Jinja prompt templates see."""
        return {
            "id": self.id,
            "question": self.question,
            "choices": list(self.choices),
            "answer": self.answer,
            "rationale": self.rationale or "",
            "gold": self.choices[self.answer] if self.choices and isinstance(self.answer, int) else self.answer,
        }
