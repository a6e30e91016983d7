"""Meta-training specs: which task specs form the meta-training distribution, and the recipes for LoRA
checkpoint collection and generator training (paper App. C stage 1, App. E).

Two shipped profiles fill the recipe defaults: `cpu` (SmolLM2-135M on this kind of machine, minutes per task)
and `paper` (the paper's GPU recipe: 75 + 50 steps, batch 32, ≤ 5000 samples, rank 8; N = 128 prompts of 512
tokens). Any recipe field can still be set explicitly or overridden with `key=value`.

Seeded draws: `draws: N` (or a task entry `{spec: path, draws: N}`) turns one task spec into N task instances.
Draw 0 is the spec as written; draw d ≥ 1 is the same spec with seed + d·DRAW_SEED_STRIDE and task name
`<task>-draw<d>`, i.e. another support/validation/test partition and, for generated (reasoning_gym) sources,
other items and another train pool. `--exclude <stem>` removes every draw of that spec.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, PrivateAttr, Tag, field_validator, model_validator

from degaml.specs.model import StrictModel, TaskSpec, safe_name

Profile = Literal["cpu", "paper"]
DRAW_SEED_STRIDE = 7919  # seed step between draws; data.splits.TRAIN_SEED_OFFSET is no multiple of it, so no
# draw's evaluation pool reuses another draw's train-pool seed


class TaskEntry(StrictModel):
    """A task spec file with its own number of seeded draws."""

    spec: str = Field(min_length=1, description="task spec file, relative to the meta spec")
    draws: int = Field(ge=1, le=1000)

    def __str__(self) -> str:
        return self.spec


TaskItem = Annotated[
    Annotated[str, Tag("path")] | Annotated[TaskEntry, Tag("entry")],
    Discriminator(lambda v: "entry" if isinstance(v, (dict, TaskEntry)) else "path"),
]


def draw_spec(spec: TaskSpec, draw: int) -> TaskSpec:
    """Draw `draw` of a task spec: draw 0 is the spec itself; others shift its seed and rename the task."""
    if draw == 0:
        return spec
    return spec.model_copy(update={"task": f"{spec.task}-draw{draw}", "seed": spec.seed + DRAW_SEED_STRIDE * draw})


class CollectionRecipe(StrictModel):
    """Training a LoRA on one task's train pool and saving its parameters after every optimizer step."""

    rank: int = Field(8, ge=1, le=256)
    alpha: int = Field(16, ge=1, le=1024)
    target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "v_proj"], min_length=1)
    phase1_steps: int = Field(ge=1, le=100_000)
    phase1_lr: float = Field(gt=0, le=1.0)
    phase2_steps: int = Field(ge=0, le=100_000)
    phase2_lr: float = Field(gt=0, le=1.0)
    batch_size: int = Field(ge=1, le=4096)
    max_samples: int = Field(5000, ge=1, le=10_000_000)
    max_length: int = Field(ge=8, le=131072, description="tokens per training sequence (prompt left-truncated)")
    eval_checkpoints: int = Field(3, ge=0, le=100, description="checkpoints scored on validation (evenly spaced)")
    eval_items: int = Field(100, ge=1, le=100_000, description="validation items used for those scores")
    seed: int = Field(0, ge=0)


class LoraShape(StrictModel):
    """Rank, scale and target modules of every LoRA the baselines train (the same for all methods of a table)."""

    rank: int = Field(8, ge=1, le=256)
    alpha: int = Field(16, ge=1, le=1024)
    target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "v_proj"], min_length=1)


class UnionRecipe(StrictModel):
    """The multi-task (union) LoRA: one LoRA trained on the union of the included tasks' train pools
    (degaml.generator.union; the `union_lora` baseline's `union` section is this recipe)."""

    steps: int = Field(120, ge=1, le=1_000_000)
    lr: float = Field(1e-3, gt=0, le=1.0)
    batch_size: int = Field(8, ge=1, le=4096)
    max_length: int = Field(256, ge=8, le=131072)
    max_samples: int = Field(2000, ge=1, description="train-pool items per meta-training task")


class GeneratorRecipe(StrictModel):
    """Generator shape (App. E.3) and its MSE training (App. E.4)."""

    num_prompts: int = Field(ge=1, le=4096, description="N: prompts per task-embedding batch")
    prompt_tokens: int = Field(ge=4, le=4096, description="L: encoder tokens kept per prompt")
    chunk: int = Field(ge=1, le=65536, description="token width (columns of a rank × chunk parameter token)")
    hidden_dims: list[tuple[int, int, int]] = Field(min_length=1, description="(channels, height, width) between input and output")
    kernel: int = Field(3, ge=1, le=31)
    position_dim: int = Field(64, ge=4, le=4096)
    steps: int = Field(ge=1, le=10_000_000)
    lr: float = Field(gt=0, le=1.0)
    weight_decay: float = Field(0.1, ge=0, le=10)
    batch_size: int = Field(ge=1, le=4096)
    grad_clip: float = Field(1.0, gt=0)
    input_noise: float = Field(1e-4, ge=0)
    init: Literal["torch", "variance_preserving"] = Field(
        "torch", description="decoder weights at the start: PyTorch's defaults, or N(0, 1/fan_in) so the output depends "
        "on the prompts at the targets' scale (HyperConvGenerator.reset_variance_preserving)")
    pairs_per_task: int = Field(5000, ge=1, le=10_000_000)
    held_out_fraction: float = Field(0.1, gt=0, lt=1, description="pairs kept aside for validation loss")
    seed: int = Field(0, ge=0)
    mode: Literal["direct", "residual"] = Field(
        "direct", description="direct: the generator outputs the LoRA; residual: it outputs Δ and the adapter is "
        "θ_union + Δ, with θ_union the multi-task LoRA of the included tasks (`union`) and the checkpoints collected "
        "by continuing θ_union on each task (degaml.generator.residual)")
    union: UnionRecipe = Field(default_factory=UnionRecipe, description="θ_union's recipe (residual mode; LoRA shape and "
                               "seed are the collection's)")


class PolicyRecipe(StrictModel):
    """ReST^EM training of the adaptation policy (`degaml policy train`): E-step rollouts, M-step SFT of a fresh LoRA."""

    iterations: int = Field(2, ge=1, le=100, description="E-step + M-step rounds")
    episodes_per_task: int = Field(1, ge=1, le=1000)
    steps_per_episode: int = Field(3, ge=1, le=100, description="T of each rollout episode")
    samples_per_state: int = Field(4, ge=1, le=64, description="actions sampled (and executed) per state")
    temperature: float = Field(1.0, gt=0, le=5.0)
    exploration: float = Field(0.0, ge=0, le=1.0, description="E-step: the probability that a sample is a uniformly random "
                               "action (controller.baselines.RandomPolicy) instead of the policy's: off-policy exploration "
                               "where the untrained policy's own samples are too narrow (1.0 = a random first E-step)")
    exploration_later: float | None = Field(None, ge=0, le=1.0, description="the exploration of iterations 2, 3, … "
                                            "(None: `exploration`): e.g. 1.0 then 0.25, a random first E-step, later "
                                            "ones mostly the trained policy's own samples")
    metric: Literal["spec", "acc", "balanced_acc"] = Field("spec", description="what the E-step's reward compares: each "
                                                           "task spec's adapt.metric, or this one for every task "
                                                           "(balanced_acc: accuracy on tasks whose answers are free-form)")
    alpha: float | None = Field(None, gt=0.0, lt=1.0, description="the E-step's paired-rule level (None: each spec's adapt.alpha)")
    validation_items: int | None = Field(None, ge=1, description="validation items scored per strategy run (None: the task's)")
    lora_rank: int = Field(16, ge=1, le=256)
    lora_alpha: int = Field(16, ge=1, le=1024)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    epochs: float = Field(8, gt=0, le=1000)
    lr: float = Field(5e-5, gt=0, le=1.0)
    batch_size: int = Field(4, ge=1, le=4096)
    max_length: int = Field(1024, ge=64, le=131072)
    seed: int = Field(0, ge=0)


PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    "cpu": {
        "collection": {"phase1_steps": 30, "phase1_lr": 1e-3, "phase2_steps": 10, "phase2_lr": 1e-4,
                       "batch_size": 8, "max_samples": 2000, "max_length": 128},
        "generator": {"num_prompts": 16, "prompt_tokens": 64, "chunk": 64,
                      "hidden_dims": [(64, 32, 192), (128, 16, 128), (256, 8, 96), (512, 8, 64)],
                      "steps": 1000, "lr": 1e-3, "batch_size": 16, "pairs_per_task": 2000},
        "policy": {"iterations": 2, "steps_per_episode": 2, "samples_per_state": 4, "validation_items": 50,
                   "epochs": 4, "lr": 2e-4, "max_length": 1024},
    },
    "paper": {
        "collection": {"phase1_steps": 75, "phase1_lr": 1e-4, "phase2_steps": 50, "phase2_lr": 1e-5,
                       "batch_size": 32, "max_samples": 5000, "max_length": 512,
                       "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]},
        "generator": {"num_prompts": 128, "prompt_tokens": 384, "chunk": 128,
                      "hidden_dims": [(128, 200, 300), (128, 100, 256), (256, 50, 200), (512, 50, 200),
                                      (1024, 25, 200), (1024, 10, 200), (2048, 10, 200)],
                      "kernel": 9, "steps": 4000, "lr": 3e-5, "batch_size": 64, "pairs_per_task": 5000,
                      "union": {"steps": 1000, "lr": 1e-4, "batch_size": 32, "max_length": 512, "max_samples": 5000}},
        "policy": {"iterations": 2, "epochs": 8, "lr": 5e-5},
    },
}


class MetaSpec(StrictModel):
    """A meta-training distribution: task specs + collection and generator recipes."""

    version: Literal[1]
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$")
    tasks: list[TaskItem] = Field(min_length=1, description="task spec files (relative to this file) or {spec, draws}")
    draws: int = Field(1, ge=1, le=1000, description="seeded draws per task spec (a task entry's `draws` wins)")
    profile: Profile = "cpu"
    model: str = "default"
    encoder: str = "default"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    out_dir: str | None = Field(None, description="default: runs/meta/<name> under the current directory")
    collection: CollectionRecipe
    generator: GeneratorRecipe
    policy: PolicyRecipe

    _path: Path | None = PrivateAttr(None)

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        return safe_name(value)

    @model_validator(mode="before")
    @classmethod
    def _apply_profile(cls, data: Any) -> Any:
        if isinstance(data, dict):
            profile = PROFILES.get(data.get("profile", "cpu"))
            if profile is not None:
                data = dict(data)
                for section in ("collection", "generator", "policy"):
                    given = data.get(section) or {}
                    if isinstance(given, dict):
                        data[section] = {**profile[section], **given}
        return data

    @property
    def source_dir(self) -> Path:
        return self._path.parent if self._path is not None else Path.cwd()

    def task_paths(self) -> list[Path]:
        return [(self.source_dir / str(t)).resolve() for t in self.tasks]

    def task_draws(self) -> list[tuple[Path, int]]:
        """(spec path, number of seeded draws) per task entry."""
        return [(path, t.draws if isinstance(t, TaskEntry) else self.draws) for path, t in zip(self.task_paths(), self.tasks)]

    def output_dir(self) -> Path:
        return Path(self.out_dir) if self.out_dir else Path.cwd() / "runs" / "meta" / self.name

    @property
    def path(self) -> Path | None:
        """The file this meta spec was read from (None when built in code)."""
        return self._path

    def leave_one_out(self, task: str, spec_path: Path | None = None) -> list[str]:
        """Leave-one-out: the meta spec's task whose file stem (or task name) is the target's, if any."""
        stems = {p.stem for p in self.task_paths()}
        if spec_path is not None and Path(spec_path).stem in stems:
            return [Path(spec_path).stem]
        return [task] if task in stems else []
