"""`degaml`: DeGAML's test-time adaptation (`degaml adapt`: θ₀ from the generator, then the policy's strategy
steps) as one more method under the protocol — the "DeGAML-LLM (adapt)" row of Tables 1–2.

The adaptation run reads what every baseline reads: few-shot demonstrations come from the labelled support
(`fewshot_from=support`), decisions and rewards from the validation split. The episode scores its final predictor
(any predictor: an adapter, SLOT, TTS) on the test split once, at its end, from the run's own task data (`degaml
adapt` loads its data itself); `fit` checks that data is the ProtocolTask's (same items, same split sizes), and the
protocol's `final_score` hands the released test items to `scorer`, which returns the episode's per-item result.
A run directory that exists is resumed.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from degaml.baselines.config import MethodConfig
from degaml.baselines.method import Fitted, RunContext
from degaml.controller.episode.adapt import create_run, open_run, run_adapt
from degaml.controller.store.events import FinalEvent
from degaml.controller.episode.reward import from_bits
from degaml.controller.store.trajectory_store import TrajectoryStore
from degaml.errors import DegamlError
from degaml.generator.pipeline import resolve_generator
from degaml.protocol import ProtocolTask, SplitScore, TestScorer
from degaml.specs.model import TaskSpec
from degaml.stats import AnswerMetrics, wilson_interval

SEEDED = False
USES_GENERATOR = True
USES_POLICY = True  # reads the policy adapter `DegamlConfig.policy` names
READS_ADAPT = True  # reads the spec's `adapt` section (steps, reward, budget, …): part of its cells' keys
PROTOCOL_OVERRIDES = ["fewshot_from=support"]  # the run reads what every baseline reads (few-shot from support)


class DegamlConfig(MethodConfig):
    """Spec overrides of the adaptation run; `tiny` runs one step of the random policy (tests, smoke runs)."""

    PROFILES = {"tiny": {"overrides": ["adapt.policy=random", "adapt.steps=1"]}}
    overrides: list[str] = Field(default_factory=list, description="spec overrides of the adaptation run, e.g. adapt.steps=2")
    generator: str | None = Field(None, description="generator directory; None: the spec's (leave-one-out dirs in tables)")

    def run_overrides(self, generator: str) -> list[str]:
        """What the run's spec is loaded with (after the target's own overrides)."""
        return [*PROTOCOL_OVERRIDES, *self.overrides, f"generator={generator}"]

    def policy(self, spec: TaskSpec) -> str:
        """The `adapt.policy` the run uses (its content identifies DeGAML's cells)."""
        return next((o.split("=", 1)[1] for o in reversed(self.overrides) if o.startswith("adapt.policy=")), spec.adapt.policy)


Config = DegamlConfig


def fit(ptask: ProtocolTask, config: DegamlConfig, ctx: RunContext) -> Fitted:
    """Run (or resume) the adaptation episode; its final predictor, scored once on test by the episode."""
    if ctx.spec_path is None:
        raise DegamlError(f"task '{ptask.task}': the degaml method needs the target's spec file")
    generator = ctx.generator or str(resolve_generator(config.generator or ptask.spec.generator))
    run_dir = ctx.work_dir / "adapt"
    if (run_dir / "run.json").is_file():
        store = open_run(run_dir)[0]
    else:
        store = create_run(Path(ctx.spec_path), ctx.spec_overrides + config.run_overrides(generator), run_dir)
    store, run_spec = open_run(store.run_dir)
    _check_same_task(store, run_spec, ptask)
    final = run_adapt(store, run_spec)
    if final is None:
        raise DegamlError(f"adaptation run {run_dir} stopped before its final scoring")
    info = {"run_dir": str(run_dir), "best_action": final.best_action, "artifact": final.artifact}
    baseline = next((e for e in store.events() if e.kind == "baseline"), None)
    if baseline is not None and getattr(baseline, "compute", None):
        info["compute"] = baseline.compute  # what the episode computed on (its own model load)
    return Fitted([], info, _validation(store, final, ptask), scorer=_episode_scorer(final, ptask))


def _check_same_task(store: TrajectoryStore, run_spec: TaskSpec, ptask: ProtocolTask) -> None:
    """The run's data and partition are the protocol's: same items (sha256), seed and split sizes."""
    recorded = ((store.header.data or {}).get("dataset") or {}).get("used", {}).get("sha256")
    expected = ptask.provenance.dataset.used.sha256 if ptask.provenance is not None else None
    fields = ("seed", "num_support", "num_validation", "num_test", "num_train")
    if recorded != expected or any(getattr(run_spec, f) != getattr(ptask.spec, f) for f in fields):
        raise DegamlError(f"{store.run_dir}: the adaptation run's task data or partition is not the target's; "
                          "delete the run directory to start it again")


def _validation(store: TrajectoryStore, final: FinalEvent, ptask: ProtocolTask) -> SplitScore:
    """The chosen configuration's validation score (its per-item correctness as stored with the episode)."""
    steps = [s for s in store.steps() if s.configuration is not None]
    base = next(e for e in store.events() if e.kind == "baseline")
    bits = steps[-1].configuration["correct"] if steps else base.correct
    correct = from_bits(bits)
    n = len(correct)
    return SplitScore(final.best_validation, wilson_interval(sum(correct), n), n, correct,
                      [ex.id for ex in ptask.validation] if n == len(ptask.validation) else [])


def _episode_scorer(final: FinalEvent, ptask: ProtocolTask) -> TestScorer:
    """The episode's single test read, matched to the released test items."""
    def score(items) -> SplitScore:
        test = final.test
        if not test.correct or len(test.correct) != len(items):
            raise DegamlError(f"task '{ptask.task}': the adaptation run has no per-item test result for the "
                              f"{len(items)} test items (a run from an older version: delete it to run it again)")
        answers = AnswerMetrics.model_validate(test.answers) if test.answers is not None else None
        return SplitScore(test.accuracy, tuple(test.ci95), test.n, from_bits(test.correct), [ex.id for ex in items],
                          list(test.predicted or []), list(test.gold or []), answers)
    return score
