"""Run one baseline on one target task under the comparison protocol: fit (support + validation only), score
validation, then the single final scoring of the test split. Method modules are imported lazily by name."""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from degaml.baselines.config import BaselineConfig, build_config
from degaml.comparison.protocol import ProtocolTask, SplitScore, final_score, validation_score
from degaml.errors import DegamlError

METHODS: dict[str, tuple[str, str]] = {  # name → (module, config class)
    "base": ("degaml.baselines.simple", "BaseConfig"),
    "majority": ("degaml.baselines.majority", "MajorityConfig"),
    "generator": ("degaml.baselines.simple", "GeneratorConfig"),
    "no_meta_lora": ("degaml.baselines.no_meta_lora", "NoMetaLoraConfig"),
    "union_lora": ("degaml.baselines.union_lora", "UnionLoraConfig"),
    "maml": ("degaml.baselines.maml", "MamlConfig"),
    "abmll": ("degaml.baselines.abmll", "AbmllConfig"),
}


def config_class(name: str) -> type[BaselineConfig]:
    if name not in METHODS:
        raise DegamlError(f"NAME: unknown baseline '{name}' (choose from {', '.join(METHODS)})")
    module, cls = METHODS[name]
    return getattr(importlib.import_module(module), cls)


def make_config(name: str, profile: str, overrides: list[str]) -> BaselineConfig:
    return build_config(config_class(name), profile, overrides)


@dataclass
class RunContext:
    """What a method may use besides the target's ProtocolTask: the model and meta-training resources."""

    loaded: Any  # LoadedModel
    work_dir: Path
    spec_path: Path | None = None  # the target's spec file (its stem names it in a meta spec)
    generator: str | None = None  # generator dir for `generator` (tables pass the leave-one-out one)
    encoder: Any = None
    progress: Callable[[str], None] | None = None


@dataclass
class Fitted:
    adapters: list[Path | None]  # several = posterior samples averaged
    info: dict[str, Any] = field(default_factory=dict)
    validation: SplitScore | None = None
    constant: int | str | None = None  # a constant answer instead of the model (`majority`)


def _exclude(config, ptask: ProtocolTask, ctx: RunContext) -> list[str]:
    from degaml.baselines.artifacts import exclusion_for, load_meta

    return exclusion_for(load_meta(config.meta), ptask.task, ctx.spec_path)


def fit_method(name: str, ptask: ProtocolTask, config: BaselineConfig, ctx: RunContext) -> Fitted:
    """Produce the method's predictor for the target (reads support + validation only)."""
    work = ctx.work_dir
    if name == "base":
        return Fitted([None])
    if name == "majority":
        from degaml.baselines.majority import answer_counts, majority_answer

        answer = majority_answer(ptask.support)
        counts = {str(a): n for a, n in sorted(answer_counts(ptask.support).items(), key=lambda kv: str(kv[0]))}
        return Fitted([], {"answer": answer, "support_counts": counts}, constant=answer)
    if name == "generator":
        from degaml.generator.pipeline import resolve_generator
        from degaml.generator.sampler import AdapterSampler

        path = resolve_generator(ctx.generator or config.generator or ptask.spec.generator)
        sampler = AdapterSampler.load(path, work / "adapters", encoder=ctx.encoder)
        return Fitted([sampler.adapter_for(ptask.support_prompts())], {"generator": str(path)})
    if name == "no_meta_lora":
        from degaml.baselines.support_fit import fit_on_support

        out = fit_on_support(ctx.loaded, ptask, config.lora, config.fit, config.seed, work / "no_meta_lora")
        return Fitted([out.adapter], {"lr": out.lr, "steps": out.steps, "candidates": out.candidates}, out.validation)
    exclude = _exclude(config, ptask, ctx)
    if name == "union_lora":
        from degaml.baselines.artifacts import load_state
        from degaml.baselines.support_fit import fit_on_support
        from degaml.baselines.union_lora import build_union

        art = build_union(ctx.loaded, config, exclude)
        out = fit_on_support(ctx.loaded, ptask, config.lora, config.fit, config.seed, work / "union_lora", load_state(art))
        return Fitted([out.adapter], {"artifact": str(art), "excluded": exclude, "lr": out.lr, "steps": out.steps,
                                      "candidates": out.candidates}, out.validation)
    if name == "maml":
        from degaml.baselines.maml import build_init, meta_test

        art = build_init(ctx.loaded, config, exclude)
        return Fitted([meta_test(ctx.loaded, ptask, config, art, work / "maml")], {"artifact": str(art), "excluded": exclude})
    from degaml.baselines.abmll import build_prior, meta_test as abmll_test

    art = build_prior(ctx.loaded, config, exclude)
    return Fitted(abmll_test(ctx.loaded, ptask, config, art, work / "abmll"), {"artifact": str(art), "excluded": exclude})


def run_baseline(name: str, ptask: ProtocolTask, config: BaselineConfig, ctx: RunContext) -> dict[str, Any]:
    """Fit, score validation, then read the test split once; the JSON record of `degaml baseline`."""
    began = time.perf_counter()
    fitted = fit_method(name, ptask, config, ctx)
    validation = fitted.validation or validation_score(ctx.loaded, ptask, fitted.adapters, constant=fitted.constant)
    test = final_score(ctx.loaded, ptask, fitted.adapters, constant=fitted.constant)
    return {
        "method": name,
        "task": ptask.task,
        "profile": config.profile,
        "config": config.model_dump(mode="json"),
        "validation": validation.summary(),
        "test": test.summary(),
        "labelled_items": ptask.labelled_items(),
        "seconds": time.perf_counter() - began,
        "info": fitted.info,
        "data_source": ptask.data_source,
        "data": ptask.data,  # provenance: which items (sha256) were read
        "predictions": {"ids": test.ids, "correct": test.correct},
    }
