"""The one registry of methods: name → module (imported on first use, so the CLI starts without torch). Every
row of Tables 1–2 is a method here, DeGAML's adaptation included; see degaml.baselines.method for a module's shape."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, cast

import yaml

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
    "calibrate": "degaml.baselines.calibrate",
    "fewshot": "degaml.baselines.fewshot",
    "tfew": "degaml.baselines.tfew",
    "library_mix": "degaml.baselines.library_mix",
    "best_source": "degaml.baselines.best_source",
    "best_family": "degaml.baselines.best_family",
}
VARIANTS: dict[str, tuple[str, list[str]]] = {  # rows that are a method with fixed settings: name → (method, overrides)
    "calibrate_contextual": ("calibrate", ["method=contextual"]),
    "calibrate_batch": ("calibrate", ["method=batch"]),
    "calibrate_support_bias": ("calibrate", ["method=support_bias"]),
    "calibrate_pmi": ("calibrate", ["method=pmi"]),
    "fewshot_random": ("fewshot", ["selection=random"]),
    "fewshot_nearest": ("fewshot", ["selection=nearest"]),
    "degaml_random": ("degaml", ["overrides=[adapt.policy=random]"]),  # the controller with a uniformly random policy
    "degaml_strict": ("degaml", ["overrides=[adapt.reward=strict]"]),  # keeps a step on any validation gain
    "degaml_strict_balanced": ("degaml", ["overrides=[adapt.reward=strict, adapt.metric=balanced_acc]"]),  # any gain
    # of validation balanced accuracy (a shift of the answer prior does not raise it)
    "degaml_balanced_a10": ("degaml", ["overrides=[adapt.metric=balanced_acc, adapt.alpha=0.1]"]),  # the paired
    # rule on balanced accuracy at α = 0.1: between the paired rule at 0.05 and any gain (the default on MC tasks)
    "degaml_acc_a05": ("degaml", ["overrides=[adapt.metric=acc, adapt.alpha=0.05]"]),  # the default rule before
    # 2026-12-08: the paired rule on accuracy at α = 0.05
}
NAMES: tuple[str, ...] = (*METHODS, *VARIANTS)


def method(name: str) -> Method:
    """The module of method `name` (a variant's method's)."""
    base = VARIANTS[name][0] if name in VARIANTS else name
    if base not in METHODS:
        raise DegamlError(f"NAME: unknown baseline '{name}' (choose from {', '.join(NAMES)})")
    return cast("Method", importlib.import_module(METHODS[base]))


def config_class(name: str) -> type[MethodConfig]:
    return method(name).Config


def make_config(name: str, profile: str, overrides: list[str]) -> MethodConfig:
    """Method `name`'s config for `profile` with `key=value` overrides (after a variant's own)."""
    fixed = VARIANTS[name][1] if name in VARIANTS else []
    cls = config_class(name)
    profile_overrides = getattr(cls, "PROFILES", {}).get(profile, {}).get("overrides", [])
    if profile_overrides:  # a variant's run overrides come after the profile's (e.g. `tiny`'s one random step)
        fixed = [f"overrides=[{', '.join([*profile_overrides, *yaml_list(f)])}]" if f.startswith("overrides=") else f
                 for f in fixed]
    return build_config(cls, profile, [*fixed, *overrides])


def yaml_list(assignment: str) -> list[str]:
    """The items of a `key=[a, b]` override."""
    return [str(v) for v in yaml.safe_load(assignment.split("=", 1)[1])]


def is_meta_trained(name: str) -> bool:
    """Whether the method builds a meta-trained artifact (leave-one-out over the meta spec's tasks)."""
    return hasattr(method(name), "build_artifact")
