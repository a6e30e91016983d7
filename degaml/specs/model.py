"""Pydantic models of a YAML task spec (the single source of truth for what a spec may say).

Conventions follow lm-evaluation-harness task YAML: flat top-level keys, `doc_to_text` / `doc_to_target` Jinja
templates over the normalized example (`question`, `choices`, `answer`, `rationale`, and `choice` for
per-choice templates), `target_delimiter`, `generation.until`. Unknown keys are errors.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import jinja2
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from degaml.models.device import DeviceName, DtypeName

SPEC_VERSION = 1
TaskFormat = Literal["multiple_choice", "numeric", "exact_match", "math"]
SOURCE_PREFIXES = ("hf:", "shared:", "reasoning_gym:", "sklearn:")
LOCAL_SUFFIXES = (".json", ".jsonl", ".parquet", ".csv")


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldMap(StrictModel):
    """Where the normalized fields live in a source's records.

    Each value is a dotted path (`choices.text`) or a Jinja template over the record (`{{passage}}\n\n{{question}}`).
    """

    id: str | None = "id"
    question: str = "question"
    choices: str | None = "choices"
    answer: str = "answer"
    labels: str | None = Field(None, description="list of choice labels; when set, `answer` is looked up in it")
    rationale: str | None = "rationale"


class DataSource(StrictModel):
    """One place task data can come from. Sources in a list are fallbacks, tried in order.

    `source` is `hf:<dataset id>`, `shared:<path under the shared data dir>`, `reasoning_gym:<dataset name>`,
    `sklearn:<name>` (a real dataset bundled in scikit-learn: breast_cancer, wine, iris, digits), or a local
    .json/.jsonl/.parquet/.csv path (relative to the spec file).
    """

    source: str = Field(min_length=1)
    config: str | None = Field(None, description="hf: dataset config name")
    split: str | None = Field(None, description="hf: split name (default 'train' for local files)")
    fields: FieldMap = FieldMap()
    answer_regex: str | None = Field(None, description="regex whose group 1 is the gold answer inside `answer`")
    size: int = Field(1000, ge=1, le=1_000_000, description="reasoning_gym: number of generated items")
    options: dict[str, Any] = Field(default_factory=dict, description="reasoning_gym: dataset config kwargs; sklearn: {features: [...]}")
    substitute: bool = Field(False, description="this source is a different benchmark standing in for the task's own; "
                             "using it is announced on stderr and recorded in the run's data provenance")

    @field_validator("source")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value.startswith(SOURCE_PREFIXES):
            target = value.split(":", 1)[1]
            if not target:
                raise ValueError(f"'{value}' names no dataset after the prefix")
            if value.startswith("shared:") and (target.startswith(("/", "~")) or ".." in Path(target).parts):
                raise ValueError(f"'{value}': a shared: path must stay inside the shared data dir (no absolute path, no '..')")
            return value
        if not value.lower().endswith(LOCAL_SUFFIXES):
            raise ValueError(
                f"'{value}' is neither hf:<id>, shared:<path>, reasoning_gym:<name>, sklearn:<name> nor a {'/'.join(LOCAL_SUFFIXES)} file"
            )
        return value

    @field_validator("answer_regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                if re.compile(value).groups < 1:
                    raise ValueError("needs a capturing group")
            except re.error as exc:
                raise ValueError(f"invalid regex: {exc}") from exc
        return value

    @property
    def kind(self) -> Literal["hf", "shared", "reasoning_gym", "sklearn", "local"]:
        prefix = self.source.split(":", 1)[0]
        return prefix if self.source.startswith(SOURCE_PREFIXES) else "local"  # type: ignore[return-value]

    @property
    def target(self) -> str:
        return self.source.split(":", 1)[1] if self.kind != "local" else self.source


class GenerationConfig(StrictModel):
    """Greedy decoding settings for generative formats (lm-eval's `generation_kwargs`)."""

    until: list[str] = Field(default_factory=lambda: ["\n\n", "Question:"])
    max_new_tokens: int = Field(256, ge=1, le=8192)


class AnswerFilter(StrictModel):
    """How the answer is pulled out of generated text (lm-eval's regex filter with group_select)."""

    regex: str | None = Field(None, description="default depends on format; group 1 (or the whole match) is the answer")
    select: int = Field(-1, description="which match to keep: 0 = first, -1 = last")

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regex: {exc}") from exc
        return value


class AdaptConfig(StrictModel):
    """The adaptation episode (`degaml adapt`): policy, budget and decoding of the policy's decisions."""

    steps: int = Field(4, ge=1, le=1000, description="T: policy decisions (strategy runs) per episode")
    budget_minutes: float | None = Field(
        None, gt=0, le=100_000, description="time budget of the episode's work (θ₀ scoring, decisions, "
        "strategy runs and the final test scoring, reserved up front); the policy is offered only actions whose "
        "estimated cost (a per-machine cost model) fits what is left; null: no time limit")
    policy: str = Field("default", min_length=1, description="policy LoRA adapter directory; 'default' = the shipped "
                        "one if this install has it, else the base model; 'base' = the base model without adapter; 'random' = a "
                        "uniformly random action per step (a baseline)")
    temperature: float = Field(0.0, ge=0.0, le=5.0, description="policy sampling temperature (0: greedy)")
    max_new_tokens: int = Field(96, ge=16, le=2048, description="cap on the policy's action JSON")
    retries: int = Field(2, ge=0, le=20, description="re-samples when the output does not validate or repeats a tried action")
    examples_in_state: int = Field(3, ge=0, le=50, description="unlabeled support questions shown to the policy")
    reward: Literal["strict", "paired"] = Field("paired", description="when a step is kept: 'strict' = validation accuracy "
                                                "strictly above the current configuration's (the paper's rule); 'paired' = "
                                                "better on the same items by a one-sided exact McNemar test at `alpha`")
    alpha: float = Field(0.1, gt=0.0, lt=1.0, description="significance level of the paired reward rule (0.1: kept "
                         "the held-out multiple-choice gains and no answer-prior flip, see docs/adaptation.md)")
    metric: Literal["auto", "acc", "balanced_acc"] = Field(
        "auto", description="what the reward compares on validation: accuracy, or balanced accuracy (mean recall over "
        "gold answers; a shift of the answer prior does not raise it; multiple-choice and exact-match tasks, accuracy "
        "where the validation answers are not from a small fixed set); auto: balanced accuracy on multiple-choice and "
        "exact-match tasks, accuracy on free-form ones (numeric, math); every run reports both")
    library: str | None = Field(None, min_length=1, description="meta spec whose collected task LoRAs form the library "
                                "`library_mix` composes (the target task itself left out); None: no library")

    @model_validator(mode="before")
    @classmethod
    def _minutes_alias(cls, data: Any) -> Any:
        """`minutes` (deprecated) is read as `budget_minutes`."""
        if isinstance(data, dict) and "minutes" in data:
            data = dict(data)
            minutes = data.pop("minutes")
            if "budget_minutes" in data and data["budget_minutes"] != minutes:
                raise ValueError("give budget_minutes only (minutes is its deprecated name)")
            data["budget_minutes"] = minutes
        return data


def safe_name(value: str) -> str:
    """A name used as a path component (run directories, outputs): not `.` or `..` (the pattern allows the rest)."""
    if not value.strip("."):
        raise ValueError("must be usable as a file or directory name, and '.' and '..' are not")
    return value


def _check_template(value: str) -> str:
    try:
        jinja2.Environment().parse(value)
    except jinja2.TemplateSyntaxError as exc:
        raise ValueError(f"Jinja template syntax error: {exc.message}") from exc
    return value


class TaskSpec(StrictModel):
    """A task: its data, how to prompt and score it, which model runs it, and how its data is partitioned."""

    version: Literal[1] = Field(description="spec format version")
    task: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$")
    description: str = ""
    format: TaskFormat
    metric: Literal["acc", "acc_norm"] = Field("acc", description="multiple_choice: which score is `accuracy`")

    model: str = Field("default", min_length=1)
    encoder: str = Field("default", min_length=1)
    generator: str = Field("default", min_length=1, description="generator directory; default: the shipped one for SmolLM2-135M")
    device: DeviceName = "auto"
    dtype: DtypeName = "auto"
    trust_remote_code: bool = False
    batch_size: int = Field(16, ge=1, le=1024)
    max_length: int = Field(2048, ge=16, le=131072, description="context tokens kept (left-truncated)")
    gradient_checkpointing: bool = Field(False, description="recompute each layer's activations in the backward pass "
                                         "of LoRA training steps (support SFT, TTT, T-Few): less memory, more compute "
                                         "time per step, the same gradients")

    dataset: list[DataSource] = Field(min_length=1, description="labelled pool; fallbacks in order")
    train_dataset: list[DataSource] | None = Field(None, description="train pool; default: carved from `dataset`")

    doc_to_text: str = "Question: {{question}}\nAnswer:"
    doc_to_target: str = Field("{{choice}}", description="multiple_choice: continuation scored for each choice")
    target_delimiter: str = " "
    num_fewshot: int = Field(0, ge=0, le=64)
    fewshot_from: Literal["train", "support"] = Field(
        "train", description="where few-shot prompt examples come from: the train pool, or the labelled support items "
        "(the comparison protocol: nothing of the target but support + validation is read)")
    fewshot_target: str = Field("{{gold}}", description="answer shown after each few-shot question (gold = gold choice text or answer)")
    fewshot_delimiter: str = "\n\n"
    generation: GenerationConfig = GenerationConfig()
    answer_filter: AnswerFilter = AnswerFilter()

    seed: int = Field(1234, ge=0)
    num_support: int = Field(20, ge=1, le=100_000, description="unlabeled prompts for the generator/test-time methods")
    generator_input: str = Field("{{question}}", description="what the generator's sentence encoder reads per unlabeled "
                                 "example: a Jinja template over question/choices (never the answer); put what identifies "
                                 "the task first, the encoder keeps only its first prompt_tokens tokens")
    num_validation: int = Field(200, ge=1, le=1_000_000)
    num_test: int | None = Field(None, ge=1, le=1_000_000, description="null: everything left")
    num_train: int | None = Field(None, ge=1, le=1_000_000, description="carved train pool size (no train_dataset)")

    adapt: AdaptConfig = AdaptConfig()

    _path: Path | None = PrivateAttr(None)  # the YAML file it was read from (set by the loader)

    @field_validator("task")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        return safe_name(value)

    @field_validator("doc_to_text", "doc_to_target", "fewshot_target", "generator_input")
    @classmethod
    def _templates_parse(cls, value: str) -> str:
        return _check_template(value)

    @field_validator("generator_input")
    @classmethod
    def _unlabeled_only(cls, value: str) -> str:
        from jinja2 import meta

        seen = meta.find_undeclared_variables(jinja2.Environment().parse(value)) - {"id", "question", "choices"}
        if seen:
            raise ValueError(f"may use only id, question, choices (the generator sees unlabeled data), not {sorted(seen)}")
        return value

    @property
    def source_dir(self) -> Path:
        """Directory local data paths are relative to (the spec file's directory, else the cwd)."""
        return self._path.parent if self._path is not None else Path.cwd()

    @model_validator(mode="after")
    def _coherent(self) -> TaskSpec:
        if self.format != "multiple_choice" and self.metric == "acc_norm":
            raise ValueError(f"metric 'acc_norm' applies to multiple_choice only, not format '{self.format}'")
        if self.format == "multiple_choice" and any(s.kind == "reasoning_gym" for s in self.dataset):
            raise ValueError("reasoning_gym sources are generative; use format numeric, exact_match or math")
        sources = [*self.dataset, *(self.train_dataset or [])]
        if self.format != "multiple_choice" and any(s.kind == "sklearn" for s in sources):
            raise ValueError("sklearn sources are classification sets (class names as choices); use format multiple_choice")
        return self
