"""The finite language of action texts, and the exclusion of tried actions inside the constraint."""

from __future__ import annotations

import json
import math
import re

from outlines_core.json_schema import build_regex_from_schema
from pydantic import BaseModel

from degaml.controller.policy.action_language import TriedExclusion, action_language, canonical, compact
from degaml.strategies.registry import Action, action_json_schema


def test_the_language_is_every_action_of_the_grid_once():
    language = action_language(Action)
    schema = action_json_schema()
    grid = sum(math.prod(len(p["enum"]) if "enum" in p else {"boolean": 2}[p["type"]]
                         for name, p in d["properties"].items() if name != "family") for d in schema["$defs"].values())
    assert language is not None and len(language) == grid
    assert len({action for _, action in language}) == grid
    regex = build_regex_from_schema(json.dumps(schema))  # what the policy is constrained to (optional spaces)
    for text, action in language:
        assert re.fullmatch(regex, text) and compact(text) == text
        assert canonical(Action.model_validate_json(text).model_dump(mode="json", by_alias=True)) == action


def test_a_free_form_schema_has_no_finite_language():
    class Note(BaseModel):
        text: str

    assert action_language(Note) is None


def test_exclusion_keeps_every_prefix_that_can_still_end_untried():
    language = action_language(Action)
    mix = {canonical({"strategy": {"family": "lora_mix", "lambda": v}}) for v in (0.0, 0.25, 0.5, 0.75)}
    exclusion = TriedExclusion(language, mix)
    assert exclusion.active
    assert exclusion.allows('{"strategy":{"family":"lora_mix","lambda":1')  # 1.0 is left
    assert not exclusion.allows('{"strategy":{"family":"lora_mix","lambda":0')  # every 0.x was tried
    assert exclusion.allows_end('{"strategy":{"family":"lora_mix","lambda":1.0}}')
    assert not exclusion.allows_end('{"strategy":{"family":"lora_mix","lambda":0.5}}')
    assert exclusion.allows('{"strategy":{"family":"tts"')
    everything = TriedExclusion(language, {action for _, action in language})
    assert not everything.active and everything.allows('{"strategy":{"family":"lora_mix","lambda":0')  # nothing left
    assert not TriedExclusion(language, set()).active
