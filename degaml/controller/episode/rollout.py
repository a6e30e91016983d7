"""The one rollout path (paper Algorithm 2, cumulative): state → action → candidate configuration → reward.

Both `degaml adapt` (controller.episode) and the ReST^EM E-step (controller.rest_em) step through episodes with
this class, so the policy is trained on exactly the states it sees at inference.

A *configuration* is what the current accepted state is made of:
    adapter     the adapter predictions start from (θ₀, or one refined by earlier accepted steps)
    predictor   an accepted prediction-time action (tts, slot, calibrate, fewshot) applied on top of `adapter`, or None
    chain       the accepted steps that built it, in order (θ_{t+1} = θ_t + a_t)

An action a_t applied to configuration c_t gives a candidate c':
    weight family (ttt, lora_mix, support_sft, tfew, library_mix): adapter' = a_t(c_t.adapter); c' = (adapter', c_t.predictor),
        scored by re-running c_t's predictor on adapter' when it depends on the adapter (slot, calibrate, fewshot;
        a tts ensemble does not, so a refined adapter replaces it: c' = (adapter', None));
    prediction family (tts, slot, calibrate, fewshot): c' = (c_t.adapter, a_t), scored by running a_t on c_t.adapter.
The candidate is kept (c_{t+1} = c') iff its reward is 1 (`controller.reward`: strict, or a paired test on the same
validation items); a weight step that failed and reverted yields no candidate (reward 0).
At the end the accepted chain is replayed on the test split, in order, once; a support-fitted step (its adapter
does not depend on the scored split) scores the adapter its validation run wrote instead of training again.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from degaml.controller.episode.reward import Comparison, bits, compare, from_bits
from degaml.errors import DegamlError
from degaml.evaluation import EvalResult
from degaml.stats import balanced_weights
from degaml.stats.answers import classification_like
from degaml.strategies.base import Outcome, ScoredSplit, StrategyContext, Timer
from degaml.strategies.registry import ADAPTER_PREDICTORS, SUPPORT_FITTED, WEIGHT_FAMILIES, Action, run_strategy


class Configuration(BaseModel):
    """The current accepted state of an episode (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")
    adapter: str
    predictor: dict[str, Any] | None = None
    chain: list[int] = []  # accepted steps, in order
    actions: list[dict[str, Any]] = []  # their actions, in order
    accuracy: float  # validation accuracy
    correct: str  # per-item validation correctness ('0'/'1'), in split order
    balanced_accuracy: float | None = None  # validation balanced accuracy (classification-like tasks)
    collapse_rate: float | None = None  # share of the most common validation prediction

    def describe(self) -> str:
        """One line for the policy and the TUI: θ₀ followed by each accepted action."""
        parts = ["θ₀"]
        for step, action in zip(self.chain, self.actions):
            strategy = action.get("strategy", action)
            params = ",".join(f"{k}={v}" for k, v in strategy.items() if k != "family")
            parts.append(f"step {step} {strategy.get('family')}({params})")
        return " → ".join(parts)


@dataclass
class Transition:
    """One action tried from a configuration: its outcome, the candidate it gave and the reward."""

    action: dict[str, Any]
    outcome: dict[str, Any]  # the last strategy run's summary (Outcome.summary()), plus `parts` when two ran
    candidate: Configuration | None  # None: the strategy failed / reverted (no new configuration)
    comparison: Comparison | None
    seconds: float = 0.0

    @property
    def reward(self) -> int:
        return self.comparison.reward if self.comparison is not None else 0

    @property
    def accuracy(self) -> float | None:
        return self.candidate.accuracy if self.candidate is not None else None

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "outcome": self.outcome, "seconds": self.seconds,
                "candidate": self.candidate.model_dump() if self.candidate else None,
                "comparison": self.comparison.model_dump() if self.comparison else None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transition:
        cand, comp = data.get("candidate"), data.get("comparison")
        return cls(data["action"], data["outcome"], Configuration.model_validate(cand) if cand else None,
                   Comparison.model_validate(comp) if comp else None, float(data.get("seconds", 0.0)))


def next_predictor(predictor: dict[str, Any] | None, action: dict[str, Any], weight: bool) -> dict[str, Any] | None:
    """The predictor after `action`: a prediction-time action becomes it; a weight action keeps a predictor that
    depends on the adapter (slot, calibrate, fewshot: re-run on the new adapter) and drops a tts ensemble (which
    ignores the adapter)."""

    if not weight:
        return action
    return predictor if predictor is not None and predictor["strategy"]["family"] in ADAPTER_PREDICTORS else None


def correctness(result: EvalResult) -> list[bool]:
    return [bool(p.correct) for p in result.predictions]


def scored_configuration(result: EvalResult, **fields: Any) -> Configuration:
    """A configuration scored by `result` on validation: accuracy, per-item correctness and the answer metrics."""
    answers = result.answers
    return Configuration(**fields, accuracy=result.accuracy, correct=bits(correctness(result)),
                         balanced_accuracy=answers.balanced_accuracy if answers is not None else None,
                         collapse_rate=answers.collapse_rate if answers is not None else None)


BALANCED_FORMATS = ("multiple_choice", "exact_match")  # answers that can come from a small fixed set


def reward_metric(metric: str, format: str) -> str:
    """The metric the reward compares (`adapt.metric` resolved): `auto` is balanced accuracy where answers can come
    from a small fixed set (multiple-choice, exact match) and accuracy on free-form tasks."""
    if metric == "auto":
        return "balanced_acc" if format in BALANCED_FORMATS else "acc"
    return metric


def check_metric(metric: str, format: str) -> None:
    """`balanced_acc` needs answers that can come from a small fixed set: multiple-choice positions, or exact-match
    labels such as Yes/No (checked from the spec, before any label is read; a validation split whose gold answers
    turn out not to be classification-like is compared on accuracy, see `metric_weights`)."""
    if metric == "balanced_acc" and format not in BALANCED_FORMATS:
        raise DegamlError(f"adapt.metric: balanced_acc needs a multiple-choice or exact-match task (this one is "
                          f"{format}); use acc")


def metric_weights(metric: str, result: EvalResult) -> list[float] | None:
    """Per-item weights of the reward metric over a scored validation split, from the gold answers the evaluator
    returned: None for accuracy, balanced weights for `balanced_acc` (accuracy again when the split is not
    classification-like: too many distinct answers for per-answer recall to mean anything)."""

    if metric == "acc":
        return None
    gold = [p.gold for p in result.predictions]
    return balanced_weights(gold) if classification_like(gold) else None


@dataclass
class Rollout:
    """Applies actions to configurations on one task; `ctx` holds the model, task data and frozen generator."""

    ctx: StrategyContext
    reward_rule: str = "paired"
    alpha: float = 0.05
    metric: str = "acc"  # adapt.metric: acc or balanced_acc (what the reward compares)
    progress: Any = None  # (what, fraction) callback for strategy progress
    _runs: int = field(default=0, repr=False)

    def initial(self, adapter: Path, result: EvalResult) -> Configuration:
        return scored_configuration(result, adapter=str(adapter))


    def _run(self, action: dict[str, Any], adapter: str, split: ScoredSplit, work: Path) -> Outcome:

        params = Action.model_validate(action).strategy
        ctx = StrategyContext(self.ctx.loaded, self.ctx.spec, self.ctx.task, self.ctx.sampler, work, seed=self.ctx.seed,
                              progress=self.progress, _initial=Path(adapter))
        return run_strategy(params, ctx, split)  # type: ignore[arg-type]

    def apply(self, action: dict[str, Any], config: Configuration, split: ScoredSplit, work: Path) -> tuple[Outcome, Outcome | None]:
        """Run `action` from `config` on `split`: (the action's outcome, the predictor re-run on its adapter or None)."""

        family = action["strategy"]["family"]
        first = self._run(action, config.adapter, split, work)
        if family not in WEIGHT_FAMILIES or not first.ok or first.artifact is None:
            return first, None
        return first, self._predictor_on(first, action, config, split, work)

    def _predictor_on(self, first: Outcome, action: dict[str, Any], config: Configuration, split: ScoredSplit,
                      work: Path) -> Outcome | None:
        """`config`'s predictor re-run on the adapter a weight step wrote, when it depends on the adapter (else None)."""
        predictor = config.predictor
        if predictor is not None and next_predictor(predictor, action, True) is not None:
            return self._run(predictor, str(first.artifact), split, work / "predictor")
        return None

    def step(self, action: dict[str, Any], config: Configuration, step: int, work: Path) -> Transition:
        """Try `action` (taken at `step`) from `config` on validation; the transition says whether it is kept."""

        first, second = self.apply(action, config, "validation", work)
        scored = second or first
        outcome = scored.summary() | ({"parts": [first.summary(), second.summary()]} if second else {})
        seconds = first.seconds + (second.seconds if second else 0.0)
        if not first.ok or scored.result is None or (second is not None and not second.ok):
            return Transition(action, outcome, None, None, seconds)
        weight = action["strategy"]["family"] in WEIGHT_FAMILIES
        candidate = scored_configuration(
            scored.result, adapter=str(first.artifact) if weight else config.adapter,
            predictor=next_predictor(config.predictor, action, weight),
            chain=[*config.chain, step], actions=[*config.actions, action])
        if len(config.correct) == len(candidate.correct):
            comparison = compare(from_bits(candidate.correct), from_bits(config.correct), self.reward_rule, self.alpha,  # type: ignore[arg-type]
                                 metric_weights(self.metric, scored.result))
        else:  # a run stored before per-item records: only the strict rule can be applied
            comparison = Comparison(accuracy=candidate.accuracy, reference=config.accuracy, wins=0, losses=0, p_value=1.0,
                                    reward=int(candidate.accuracy > config.accuracy))
        return Transition(action, outcome, candidate, comparison, seconds)

    def replay(self, config: Configuration, split: ScoredSplit, work: Path, theta0: Path,
               fitted: dict[int, str] | None = None) -> tuple[Outcome | None, bool]:
        """Re-run the accepted chain of `config` from θ₀ on `split`, in order: (the last scored outcome, reverted?).

        `fitted` maps a chain step to the adapter its validation run wrote. While the chain so far reproduces the
        validation run's adapters, a step of a support-fitted family (`SUPPORT_FITTED`: its adapter does not depend on
        the scored split) reuses that adapter and is only scored on `split` — the adapter validation chose is the one
        tested, and its training is not paid twice. After a step that read the split (TTT), later steps train again.
        Returns (None, False) for an empty chain (θ₀ is the result). `reverted` is True when a step of the chain
        failed on this split (e.g. TTT diverged on the test inputs): the result then is not what validation chose.
        """

        if not config.chain:
            return None, False
        current = Configuration(adapter=str(theta0), accuracy=0.0, correct="")
        last: Outcome | None = None
        reverted, same_as_validation = False, True
        for step, action in zip(config.chain, config.actions):
            reuse = (fitted or {}).get(step) if same_as_validation and action["strategy"]["family"] in SUPPORT_FITTED else None
            if reuse is not None and Path(reuse, "adapter_config.json").is_file():
                first, second = self.score_fitted(action, Path(reuse), current, split, work / f"{split}-step-{step:03d}", step)
            else:
                first, second = self.apply(action, current, split, work / f"{split}-step-{step:03d}")
                same_as_validation &= first.artifact is None  # a prediction-time step leaves the adapter as it was
            last = second or first
            reverted |= not first.ok or (second is not None and not second.ok)
            if not first.ok:
                continue  # the step reverted on this split: the chain goes on from the same configuration
            weight = first.artifact is not None
            current = current.model_copy(update={"adapter": str(first.artifact) if weight else current.adapter,
                                                 "predictor": next_predictor(current.predictor, action, weight)})
        return last, reverted

    def score_fitted(self, action: dict[str, Any], adapter: Path, config: Configuration, split: ScoredSplit, work: Path,
                     step: int) -> tuple[Outcome, Outcome | None]:
        """A support-fitted step's validation adapter scored on `split` (then the predictor re-run on it, as `apply`)."""

        timer, family = Timer(), action["strategy"]["family"]
        result = replace(self.ctx, progress=self.progress).evaluate(split, adapter)
        first = Outcome(family, dict(action["strategy"]), split, ok=True, accuracy=result.accuracy, result=result,
                        artifact=adapter, seconds=timer.seconds, tokens=result.tokens,
                        log=[f"adapter of validation step {step} reused (support-fitted: same adapter on every split)",
                             f"{split} accuracy {result.accuracy:.4f} (n={result.n})"])
        return first, self._predictor_on(first, action, config, split, work)
