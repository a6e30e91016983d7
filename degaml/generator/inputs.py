"""What the generator's sentence encoder reads for a task: the spec's `generator_input` template rendered over
unlabeled examples (default `{{question}}`, the normalized prompt).

The encoder keeps only the first `prompt_tokens` tokens of each text (`PromptEmbedder`), so a spec whose question
starts with a long passage (BoolQ) puts the part that identifies the task first.
"""

from __future__ import annotations

from collections.abc import Sequence

from degaml.data.example import Example
from degaml.specs.model import TaskSpec
from degaml.specs.templates import compile_template, render


def generator_inputs(spec: TaskSpec, examples: Sequence[Example]) -> list[str]:
    """The generator's input text for each example (labels are never visible to the template)."""
    template = compile_template(spec.generator_input, "generator_input")
    return [render(template, f"task '{spec.task}': item {ex.id}: generator_input", id=ex.id, question=ex.question,
                   choices=list(ex.choices)) for ex in examples]
