"""Rendering prompts from a spec's Jinja templates, lm-evaluation-harness style.

A multiple-choice item becomes one (context, continuation) pair per choice: context = few-shot prefix +
`doc_to_text`, continuation = `target_delimiter` + `doc_to_target` (with `choice` bound). When `doc_to_text`
itself uses `choice` (WinoGrande's partial scoring) the context varies per choice and the continuation is shared.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import jinja2
from jinja2 import meta

from degaml.data.example import Example
from degaml.errors import DataError
from degaml.specs.model import TaskSpec
from degaml.specs.templates import ENV, compile_template, render

TEMPLATE_FIELDS = ("doc_to_text", "doc_to_target", "fewshot_target")


def _uses_variable(template: str, name: str) -> bool:
    return name in meta.find_undeclared_variables(ENV.parse(template))


class PromptBuilder:
    """Turns examples into model inputs following one spec's templates and few-shot settings."""

    def __init__(self, spec: TaskSpec, fewshot_pool: Sequence[Example] = (),
                 select_demos: Callable[[Example], list[Example]] | None = None) -> None:
        if spec.num_fewshot and len(fewshot_pool) < spec.num_fewshot:
            raise DataError(
                f"task '{spec.task}': num_fewshot {spec.num_fewshot} needs a train pool of at least that size "
                f"(have {len(fewshot_pool)}); set train_dataset or num_train"
            )
        self.spec = spec
        self.fewshot_pool = list(fewshot_pool)
        self.select_demos = select_demos  # an item's demonstrations chosen otherwise (e.g. nearest by embedding)
        self._templates = {field: compile_template(getattr(spec, field), field) for field in TEMPLATE_FIELDS}
        self._text, self._target, self._fewshot_target = (self._templates[field] for field in TEMPLATE_FIELDS)
        self.choice_in_context = _uses_variable(spec.doc_to_text, "choice")

    def _render(self, template: jinja2.Template, example: Example, **extra: object) -> str:
        field = next(name for name, known in self._templates.items() if known is template)
        return render(template, f"task '{self.spec.task}': item {example.id}: {field}", **example.template_vars(), **extra)

    def check_templates(self, example: Example) -> None:
        """Render every template of the spec for one item (as scoring will), so a broken one fails up front."""
        if self.spec.format == "multiple_choice":
            self.choice_pairs(example)
        else:
            self.context(example)
        self._render(self._fewshot_target, example)

    def fewshot_examples(self, example: Example) -> list[Example]:
        """`num_fewshot` pool items for this example, seeded by (spec seed, example id), never the item itself (or
        what `select_demos` picks)."""
        if not self.spec.num_fewshot:
            return []
        if self.select_demos is not None:
            return self.select_demos(example)
        rng = random.Random(f"{self.spec.seed}:{example.id}")
        candidates = [ex for ex in self.fewshot_pool if ex.question != example.question]
        return rng.sample(candidates, self.spec.num_fewshot)

    def _prefix(self, example: Example) -> str:
        shots = self.fewshot_examples(example)
        if not shots:
            return ""
        blocks = []
        for shot in shots:
            text = self._render(self._text, shot, choice=shot.template_vars()["gold"])
            blocks.append(text + self.spec.target_delimiter + self._render(self._fewshot_target, shot))
        return self.spec.fewshot_delimiter.join(blocks) + self.spec.fewshot_delimiter

    def context(self, example: Example) -> str:
        """The full prompt for a generative item (few-shot prefix + doc_to_text)."""
        return self._prefix(example) + self._render(self._text, example)

    def training_pair(self, example: Example) -> tuple[str, str]:
        """(prompt, answer) for supervised LoRA training: the gold choice's continuation, or `fewshot_target`."""
        if example.answer is None:
            raise DataError(f"task '{self.spec.task}': item {example.id} has no label to train on")
        if self.spec.format == "multiple_choice":
            return self.choice_pairs(example)[int(example.answer)]
        return self.context(example), self.spec.target_delimiter + self._render(self._fewshot_target, example)

    def choice_pairs(self, example: Example) -> list[tuple[str, str]]:
        """(context, continuation) for each choice of a multiple-choice item."""
        prefix = self._prefix(example)
        pairs = []
        for choice in example.choices:
            context = prefix + self._render(self._text, example, choice=choice)
            pairs.append((context, self.spec.target_delimiter + self._render(self._target, example, choice=choice)))
        return pairs


def check_templates(spec: TaskSpec, fewshot_pool: Sequence[Example], example: Example) -> None:
    """What scoring checks first, done before any model is loaded: the few-shot pool is large enough, and every
    template of the spec (prompt, target, few-shot target, generator input) renders for `example` — no undefined
    variable, no error, within the template bounds."""
    PromptBuilder(spec, fewshot_pool).check_templates(example)
    generator_inputs(spec, [example])


def generator_inputs(spec: TaskSpec, examples: Sequence[Example]) -> list[str]:
    """What the generator's sentence encoder reads for each example: the spec's `generator_input` template (default
    `{{question}}`) over the unlabeled item — labels are never visible to it. The encoder keeps only its first
    `prompt_tokens` tokens (`PromptEmbedder`), so a spec whose question starts with a long passage (BoolQ) puts what
    identifies the task first."""
    template = compile_template(spec.generator_input, "generator_input")
    return [render(template, f"task '{spec.task}': item {ex.id}: generator_input", id=ex.id, question=ex.question,
                   choices=list(ex.choices)) for ex in examples]
