"""Configuration shared by the methods: the LoRA shape, profiles (`cpu`, `paper`, `tiny`) and overrides.

Every method config is a pydantic model with a `profile` field (`MethodConfig`); the profile fills defaults (like
the generator's recipes in degaml.specs.meta) and `KEY=VALUE` overrides win over it. Baselines that train a LoRA
also share its shape and a seed (`BaselineConfig`). `tiny` exists for unit tests and smoke runs.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationError, model_validator

from degaml.errors import DegamlError
from degaml.specs.load import apply_overrides
from degaml.specs.meta import LoraShape
from degaml.specs.model import StrictModel

Profile = Literal["cpu", "paper", "tiny"]


SHAPES: dict[str, dict[str, Any]] = {
    "cpu": {"rank": 8, "alpha": 16, "target_modules": ["q_proj", "v_proj"]},  # as the cpu collection recipe
    "paper": {"rank": 8, "alpha": 16, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]},
    "tiny": {"rank": 2, "alpha": 4, "target_modules": ["q_proj", "v_proj"]},
}


class MethodConfig(StrictModel):
    """Base of every method's config: `profile` fills the method's PROFILES entry (and the LoRA shape of configs
    that have one), explicit fields win."""

    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {}
    profile: Profile = "cpu"

    @model_validator(mode="before")
    @classmethod
    def _apply_profile(cls, data: Any) -> Any:
        if isinstance(data, dict):
            name = data.get("profile", "cpu")
            defaults = dict(cls.PROFILES.get(name, {}))
            if "lora" in cls.model_fields:
                defaults["lora"] = SHAPES.get(name, {})
            data = _deep_merge(defaults, data)
        return data


class BaselineConfig(MethodConfig):
    """Base of the baselines' configs: the LoRA shape every trained adapter has, and the seed."""

    lora: LoraShape = Field(default_factory=LoraShape)
    seed: int = Field(0, ge=0)


def _deep_merge(base: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in given.items():
        out[key] = _deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def build_config(cls: type[MethodConfig], profile: str, overrides: list[str]) -> MethodConfig:
    """`cls` for `profile` with `key=value` overrides (dotted keys reach nested fields); one-line error on bad input."""
    data = apply_overrides({"profile": profile}, overrides)
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "config"
        raise DegamlError(f"{cls.__name__} {where}: {first['msg']}") from None
