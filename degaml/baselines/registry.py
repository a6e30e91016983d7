"""The one registry of methods: name → module (imported on first use, so the CLI starts without torch). Every
row of Tables 1–2 is a method here, DeGAML's adaptation included; see degaml.baselines.method for a module's shape."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, cast

from degaml.baselines.config import MethodConfig, build_config
from degaml.errors import DegamlError

if TYPE_CHECKING:  # the interface module imports the protocol (torch); the registry stays importable without it
    from degaml.baselines.method import Method

METHODS: dict[str, str] = {
    "base": "degaml.baselines.base",
    "majority": "degaml.baselines.majority",
    "generator": "degaml.baselines.generator",
    "no_meta_lora": "degaml.baselines.no_meta_lora",
    "union_lora": "degaml.baselines.union_lora",
    "maml": "degaml.baselines.maml",
    "abmll": "degaml.baselines.abmll",
    "degaml": "degaml.baselines.adapt",
}


def method(name: str) -> Method:
    """The module of method `name`."""
    if name not in METHODS:
        raise DegamlError(f"NAME: unknown baseline '{name}' (choose from {', '.join(METHODS)})")
    return cast("Method", importlib.import_module(METHODS[name]))


def config_class(name: str) -> type[MethodConfig]:
    return method(name).Config


def make_config(name: str, profile: str, overrides: list[str]) -> MethodConfig:
    """Method `name`'s config for `profile` with `key=value` overrides."""
    return build_config(config_class(name), profile, overrides)


def is_meta_trained(name: str) -> bool:
    """Whether the method builds a meta-trained artifact (leave-one-out over the meta spec's tasks)."""
    return hasattr(method(name), "build_artifact")
