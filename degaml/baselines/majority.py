"""`majority`: the constant predictor the labelled budget gives for free — always the most common answer among the
labelled support items (a choice position for multiple choice, the gold string otherwise).

It reads no model. It is the reference a method must beat to show that it reads the task rather than moving its
answer prior: on BoolQ and reasoning-gym syllogism the table winners are answer priors
(docs/findings/comparisons.md).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from degaml.baselines.config import BaselineConfig
from degaml.baselines.method import Fitted, RunContext
from degaml.data import Example
from degaml.errors import DegamlError
from degaml.protocol import ProtocolTask

SEEDED = False
USES_GENERATOR = False


class MajorityConfig(BaselineConfig):
    """No parameters: the answer is a function of the support labels."""


Config = MajorityConfig


def answer_counts(support: Sequence[Example]) -> Counter:
    """How often each answer (choice index or gold string) occurs among the labelled items."""
    return Counter(ex.answer if isinstance(ex.answer, int) else str(ex.answer) for ex in support if ex.answer is not None)


def majority_answer(support: Sequence[Example]) -> int | str:
    """The most common support answer (choice index or gold string); ties go to the first in sorted order."""
    counts = answer_counts(support)
    if not counts:
        raise DegamlError("majority: the target has no labelled support items (num_support)")
    return min(counts, key=lambda answer: (-counts[answer], str(answer)))


def fit(ptask: ProtocolTask, config: MajorityConfig, ctx: RunContext) -> Fitted:
    """The support's most common answer, as a constant predictor (no model)."""
    answer = majority_answer(ptask.support)
    counts = {str(a): n for a, n in sorted(answer_counts(ptask.support).items(), key=lambda kv: str(kv[0]))}
    return Fitted([], {"answer": answer, "support_counts": counts}, constant=answer)
