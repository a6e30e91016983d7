"""What a method is (PEFT-style: one module per method, looked up by name in degaml.baselines.registry).

A method module exposes:
- `Config`: its pydantic config class (a `MethodConfig`, with `cpu` / `paper` / `tiny` profiles);
- `fit(ptask, config, ctx) -> Fitted`: the method's predictor for the target, from the labelled support and the
  validation split only (the ProtocolTask refuses the test split until the final scoring);
- `SEEDED`: whether the outcome depends on `config.seed` (tables run such methods once per seed);
- `USES_GENERATOR`: whether it reads a generator (tables hand it the leave-one-out one in `ctx.generator`);
- optionally `USES_POLICY`: it reads the policy adapter its config's `policy(spec)` names;
- optionally `READS_ADAPT`: it reads the target spec's `adapt` section (only then is that section part of a table
  cell's key, so a new episode default does not orphan every other row's cells);
- optionally `build_artifact(loaded, config, exclude, progress) -> Path` and `artifact_steps(config) -> int`: a
  meta-trained artifact built on the meta spec's tasks minus `exclude` (`degaml baseline-train`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from degaml.baselines.config import MethodConfig
from degaml.protocol import ProtocolTask, SplitScore, TestScorer


@dataclass
class RunContext:
    """What a method may use besides the target's ProtocolTask: the model and meta-training resources."""

    loaded: Any  # LoadedModel, or None with `load` (loaded on first use: methods without a model never load one)
    work_dir: Path
    spec_path: Path | None = None  # the target's spec file (its stem names it in a meta spec)
    generator: str | None = None  # generator dir for the generator-reading methods (tables pass the leave-one-out one)
    encoder: Any = None
    progress: Callable[[str], None] | None = None
    load: Callable[[], Any] | None = None
    spec_overrides: list[str] = field(default_factory=list)  # the overrides the target's spec was loaded with

    def model(self) -> Any:
        """The loaded base model (loading it now if the context was given a loader)."""
        if self.loaded is None and self.load is not None:
            self.loaded = self.load()
        return self.loaded


@dataclass
class Fitted:
    """A method's predictor: adapters on the base model, a constant answer, or a scorer of its own."""

    adapters: list[Path | None]  # several = posterior samples averaged
    info: dict[str, Any] = field(default_factory=dict)
    validation: SplitScore | None = None
    constant: int | str | None = None  # a constant answer instead of the model (`majority`)
    scorer: TestScorer | None = None  # scores the released test items itself (DeGAML's episode predictor)

    @property
    def needs_model(self) -> bool:
        return self.constant is None and self.scorer is None


class Method(Protocol):
    """The shape of a method module."""

    Config: type[MethodConfig]
    SEEDED: bool
    USES_GENERATOR: bool

    def fit(self, ptask: ProtocolTask, config: Any, ctx: RunContext) -> Fitted: ...
