"""The policy LLM π_ψ: base model + policy LoRA adapter, emitting an `Action` as JSON constrained by Outlines.

Outlines compiles the JSON Schema of the strategies' discriminated union into a token-level constraint, so the
output always parses as JSON of that shape; numeric bounds are not enforced by Outlines, which is why every numeric
parameter is a Literal grid — and the output is validated with pydantic anyway. An output that fails validation
or repeats an action already tried in this episode is re-sampled (temperature ≥ 1) up to `retries` times.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError

from degaml.errors import DegamlError
from degaml.models import LoadedModel
from degaml.models.adapters import attached_adapter
from degaml.specs.model import AdaptConfig

SHIPPED_POLICY = Path(__file__).parent / "pretrained" / "smollm2-135m-policy"


def resolve_policy(name: str) -> Path | None:
    """'default' → the shipped policy adapter if present, else None (base model); 'base' → None; else a directory."""
    if name == "base":
        return None
    if name == "default":
        return SHIPPED_POLICY if (SHIPPED_POLICY / "adapter_config.json").is_file() else None
    path = Path(name)
    if not (path / "adapter_config.json").is_file():
        raise DegamlError(f"adapt.policy: '{name}' is not a PEFT adapter directory (no adapter_config.json)")
    return path


def canonical(action: dict[str, Any]) -> str:
    """Order-independent text of an action (to recognise repeats)."""
    return json.dumps(action, sort_keys=True, separators=(",", ":"))


@dataclass
class Decision:
    raw: str
    action: dict[str, Any] | None  # Action.model_dump(by_alias=True) or None when no attempt validated
    error: str | None
    attempts: int
    seconds: float


class Policy:
    """Generates constrained actions with the (shared) base model and an optional policy adapter."""

    def __init__(self, loaded: LoadedModel, adapter: Path | None) -> None:
        self.loaded = loaded
        self.adapter = adapter

    @property
    def name(self) -> str:
        return str(self.adapter) if self.adapter else f"{self.loaded.name} (no policy adapter)"

    @staticmethod
    def _sample(generator, messages: list[dict[str, str]], temperature: float, max_new_tokens: int, seed: int,
                on_token: Callable[[int], None] | None = None) -> str:
        import outlines
        from transformers import StoppingCriteria, StoppingCriteriaList

        class _Count(StoppingCriteria):  # never stops generation: only counts the tokens as they are generated
            n = 0

            def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **_: Any) -> torch.Tensor:
                self.n += 1
                on_token(self.n)  # type: ignore[misc]
                return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)

        torch.manual_seed(seed)
        kwargs: dict[str, Any] = {"max_new_tokens": max_new_tokens}
        if on_token is not None:
            kwargs["stopping_criteria"] = StoppingCriteriaList([_Count()])
        kwargs |= {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
        return generator(outlines.inputs.Chat(messages), **kwargs)

    def decide(self, messages: list[dict[str, str]], config: AdaptConfig, seed: int, tried: set[str],
               progress: Callable[[str, float], None] | None = None) -> Decision:
        """Sample an action for this prompt; re-sample invalid outputs and repeats of `tried` actions.
        `progress(what, fraction)` gets the tokens generated so far against `max_new_tokens` (an upper bound)."""
        import outlines

        from degaml.strategies.registry import Action

        start = time.perf_counter()
        raw, error, action, repeat = "", None, None, None
        tokenizer = self.loaded.tokenizer
        padding_side = tokenizer.padding_side
        with attached_adapter(self.loaded.model, self.adapter) as model:
            generator = outlines.Generator(outlines.from_transformers(model, tokenizer), Action)  # schema compiled once
            try:
                for attempt in range(config.retries + 1):
                    temperature = config.temperature if attempt == 0 else max(1.0, config.temperature)
                    what, limit = f"policy decision (attempt {attempt + 1}): token", config.max_new_tokens
                    on_token = (lambda n: progress(f"{what} {n}/≤{limit}", n / limit)) if progress else None  # noqa: B023
                    raw = self._sample(generator, messages, temperature, limit, seed * 1000 + attempt, on_token)
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
            finally:
                tokenizer.padding_side = padding_side  # from_transformers sets it to left; the evaluator pads itself
        if action is None and repeat is not None:  # nothing new came out: run the repeat (its outcome is reused)
            (raw, action), error = repeat, None
        return Decision(raw, action, error, attempt + 1, time.perf_counter() - start)
