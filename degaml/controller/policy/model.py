"""The policy LLM π_ψ: base model + policy LoRA adapter, emitting an `Action` as JSON constrained by Outlines.

Outlines compiles the JSON Schema of the strategies' discriminated union into a token-level constraint, so the
output always parses as JSON of that shape; numeric bounds are not enforced by Outlines, which is why every numeric
parameter is a Literal grid — and the output is validated with pydantic anyway. Actions already tried from the current configuration are excluded inside the
constraint (`action_language.TriedExclusion`, jump-forward decoding), so a greedy decision picks the best untried
action in one attempt. An output that still fails validation (cut by `max_new_tokens`) or repeats a tried action
(the reference `generate` path has no exclusion; or every action was tried) is re-sampled (temperature ≥ 1) up to
`retries` times; a re-sample reuses the KV cache of the whole prompt, so it costs only its own constrained tokens.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from degaml.controller.policy.action_language import canonical
from degaml.controller.policy.decoding import ConstrainedDecoder
from degaml.errors import DegamlError
from degaml.io import verify_manifest
from degaml.models import LoadedModel
from degaml.models.adapters import attached_adapter
from degaml.specs.model import AdaptConfig

SHIPPED_POLICY = Path(__file__).parents[1] / "pretrained" / "smollm2-135m-policy"


def resolve_policy(name: str) -> Path | None:
    """'default' → the shipped policy adapter if present, else None (base model); 'base' → None; else a directory."""
    if name == "base":
        return None
    if name == "default":
        if not (SHIPPED_POLICY / "adapter_config.json").is_file():
            return None
        verify_manifest(SHIPPED_POLICY, "adapt.policy")
        return SHIPPED_POLICY
    path = Path(name)
    if not (path / "adapter_config.json").is_file():
        raise DegamlError(f"adapt.policy: '{name}' is not a PEFT adapter directory (no adapter_config.json)")
    verify_manifest(path, "adapt.policy")  # a corrupt manifest or a file differing from its hash: one line
    return path


@dataclass
class Decision:
    raw: str
    action: dict[str, Any] | None  # Action.model_dump(by_alias=True) or None when no attempt validated
    error: str | None
    attempts: int
    seconds: float


class Policy:
    """Generates constrained actions with the (shared) base model and an optional policy adapter.

    The Outlines index is compiled once per process and the KV cache of the last prompt is reused by the next
    decision and by re-samples (`policy_decoding`); `reuse_prefix=False` prefills every prompt in full. Reference
    paths: `jump_forward=False` decodes with HF `generate` (no exclusion), `exclude_tried=False` re-samples repeats.
    """

    def __init__(self, loaded: LoadedModel, adapter: Path | None, reuse_prefix: bool = True, jump_forward: bool = True,
                 exclude_tried: bool = True) -> None:
        from degaml.strategies.registry import Action

        self.loaded = loaded
        self.adapter = adapter
        self.exclude_tried = exclude_tried
        self.decoder = ConstrainedDecoder(Action, reuse_prefix=reuse_prefix, jump_forward=jump_forward)

    @property
    def name(self) -> str:
        return str(self.adapter) if self.adapter else f"{self.loaded.name} (no policy adapter)"

    def decide(self, messages: list[dict[str, str]], config: AdaptConfig, seed: int, tried: set[str],
               progress: Callable[[str, float], None] | None = None) -> Decision:
        """Sample an action for this prompt, `tried` actions excluded (or re-sampled); re-sample invalid outputs.
        `progress(what, fraction)` gets the tokens generated so far against `max_new_tokens` (an upper bound)."""
        from degaml.strategies.registry import Action

        start = time.perf_counter()
        raw, error, action, repeat = "", None, None, None
        with attached_adapter(self.loaded.model, self.adapter, "adapt.policy") as model:
            for attempt in range(config.retries + 1):
                temperature = config.temperature if attempt == 0 else max(1.0, config.temperature)
                what, limit = f"policy decision (attempt {attempt + 1}): token", config.max_new_tokens
                on_token = (lambda n: progress(f"{what} {n}/≤{limit}", n / limit)) if progress else None  # noqa: B023
                raw = self.decoder.generate(model, self.loaded.tokenizer, messages, str(self.adapter), temperature,
                                            limit, seed * 1000 + attempt, on_token=on_token,
                                            exclude=tried if self.exclude_tried else None)
                try:
                    parsed = Action.model_validate_json(raw).model_dump(mode="json", by_alias=True)
                except ValidationError as exc:
                    error = f"invalid action: {str(exc).splitlines()[0][:200]}"
                    action = None
                    continue
                action, error = parsed, None
                if canonical(parsed) in tried and attempt < config.retries:
                    repeat, action, error = (raw, parsed), None, "repeats an action already tried"
                    continue
                break
        if action is None and repeat is not None:  # nothing new came out: run the repeat (its outcome is reused)
            (raw, action), error = repeat, None
        return Decision(raw, action, error, attempt + 1, time.perf_counter() - start)
