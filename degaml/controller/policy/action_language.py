"""The finite language of the policy's action JSON, to keep already-tried actions out of a decision's constraint.

Every parameter of every strategy family is a Literal grid, so the action schema's regex (outlines_core's
`build_regex_from_schema`, the same function Outlines compiles) describes a finite set of texts. Built with an
empty whitespace pattern it gives each action's *compact* text (`{"strategy":{"family":"ttt","ttl_steps":5,...}}`);
the regex the policy is constrained to differs from it only by optional spaces between JSON tokens, and no value
contains a space, so a generated prefix with its whitespace removed is a prefix of the compact text of every action
it can still become. `TriedExclusion.allows(prefix)` is therefore exact: a continuation is allowed iff it can still
end in an action that is not in `tried`.

The language is enumerated from the parsed regex (`re._parser`, CPython's regex parser: literals, character sets,
groups, alternations and bounded repeats); any other construct, or more than `MAX_TEXTS` texts, means the schema is
not a finite grid and `action_language` returns None (no exclusion: the policy re-samples repeats as before).
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from typing import Any

from pydantic import BaseModel, ValidationError

try:  # CPython ≥ 3.11; the same parser under its old public name before
    from re import _constants as _sre, _parser as _sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    import sre_constants as _sre  # type: ignore[no-redef]
    import sre_parse as _sre_parse  # type: ignore[no-redef]

MAX_TEXTS = 20_000
_WHITESPACE = re.compile(r"\s+")


class _NotFinite(ValueError):
    pass


def _expand(items: Any) -> list[str]:
    """All strings matched by a parsed (finite) regex."""
    out = [""]
    for op, av in items:
        if op is _sre.LITERAL:
            alts = [chr(av)]
        elif op is _sre.IN:
            alts = []
            for kind, value in av:
                if kind is _sre.LITERAL:
                    alts.append(chr(value))
                elif kind is _sre.RANGE:
                    alts += [chr(c) for c in range(value[0], value[1] + 1)]
                else:
                    raise _NotFinite(f"character set {kind}")
        elif op is _sre.SUBPATTERN:
            alts = _expand(av[-1])
        elif op is _sre.BRANCH:
            alts = [s for branch in av[1] for s in _expand(branch)]
        elif op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT) and av[1] is not _sre.MAXREPEAT and av[1] <= 8:
            inner, alts = _expand(av[2]), []
            for k in range(av[0], av[1] + 1):
                alts += functools.reduce(lambda acc, _: [a + b for a in acc for b in inner], range(k), [""])
        else:
            raise _NotFinite(str(op))
        out = [a + b for a in out for b in alts]
        if len(out) > MAX_TEXTS:
            raise _NotFinite("too many texts")
    return out


def canonical(action: dict[str, Any]) -> str:
    """Order-independent text of an action (to recognise repeats)."""
    return json.dumps(action, sort_keys=True, separators=(",", ":"))


def compact(text: str) -> str:
    return _WHITESPACE.sub("", text)


@functools.lru_cache(maxsize=8)
def action_language(output_type: type[BaseModel]) -> tuple[tuple[str, str], ...] | None:
    """(compact text, canonical action) for every text of the schema, or None when it is not a finite grid."""
    from outlines_core.json_schema import build_regex_from_schema

    schema = json.dumps(output_type.model_json_schema())  # as Outlines serialises it: the key order is the regex's
    try:
        texts = _expand(_sre_parse.parse(build_regex_from_schema(schema, "")))
    except (_NotFinite, re.error, RecursionError):
        return None
    pairs = []
    for text in texts:
        if compact(text) != text:
            return None  # a value containing whitespace: removing spaces would not be exact
        try:
            action = output_type.model_validate_json(text).model_dump(mode="json", by_alias=True)
        except ValidationError:
            return None  # the regex accepts something the model rejects: do not reason about it
        pairs.append((text, canonical(action)))
    return tuple(pairs)


class TriedExclusion:
    """Which generated prefixes can still become an action outside `tried` (compact prefixes, see module doc)."""

    def __init__(self, language: tuple[tuple[str, str], ...], tried: set[str]) -> None:
        allowed = [text for text, action in language if action not in tried]
        self.active = bool(tried) and bool(allowed)  # everything tried: no exclusion (the caller runs a repeat)
        self.prefixes = {text[:i] for text in allowed for i in range(len(text) + 1)}
        self.complete = set(allowed)

    def allows(self, prefix: str) -> bool:
        return not self.active or prefix in self.prefixes

    def allows_end(self, prefix: str) -> bool:
        return not self.active or prefix in self.complete


@functools.lru_cache(maxsize=1)
def all_actions() -> tuple[dict[str, Any], ...]:
    """Every action of the (finite, Literal-grid) action space, as the policy emits it."""
    from degaml.strategies.registry import Action, action_json_schema

    schema = action_json_schema()
    out = []
    for ref in schema["properties"]["strategy"]["oneOf"]:
        props = schema["$defs"][ref["$ref"].split("/")[-1]]["properties"]
        names = list(props)
        grids = [p.get("enum") or ([p["const"]] if "const" in p else [True, False]) for p in props.values()]
        for values in itertools.product(*grids):
            action = Action.model_validate({"strategy": dict(zip(names, values))})
            out.append(action.model_dump(mode="json", by_alias=True))
    return tuple(out)
