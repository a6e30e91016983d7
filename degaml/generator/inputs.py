"""What the generator's sentence encoder reads for a task: the spec's `generator_input` template rendered over
unlabeled examples (default `{{question}}`, the normalized prompt).

The encoder keeps only the first `prompt_tokens` tokens of each text (`PromptEmbedder`), so a spec whose question
starts with a long passage (BoolQ) puts the part that identifies the task first.
"""

from __future__ import annotations

from collections.abc import Sequence

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from degaml.data.example import Example
from degaml.errors import DataError
from degaml.specs.model import TaskSpec

_ENV = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined)


def generator_inputs(spec: TaskSpec, examples: Sequence[Example]) -> list[str]:
    """The generator's input text for each example (labels are never visible to the template)."""
    template = _ENV.from_string(spec.generator_input)
    texts = []
    for ex in examples:
        try:
            texts.append(template.render(id=ex.id, question=ex.question, choices=list(ex.choices)))
        except jinja2.TemplateError as exc:
            raise DataError(f"task '{spec.task}': item {ex.id}: generator_input template error: {exc}") from None
    return texts
