"""Offline checks of what a spec names on this machine (`degaml spec validate`): local model, encoder,
generator and policy paths exist and look right, local data files exist. Hub ids and `shared:` files (fallbacks
that may legitimately be absent) are left to the command that loads them, which records what it skipped.
"""

from __future__ import annotations

from pathlib import Path

from degaml.specs.model import TaskSpec

RESERVED = {"default", "base", "random"}


def looks_like_path(name: str) -> bool:
    """A model/encoder value meant as a local path (hub ids are `org/name`, never starting with . / ~)."""
    return name.startswith((".", "/", "~")) or name.endswith(".gguf") or Path(name).expanduser().exists()


def _local(spec: TaskSpec, name: str) -> Path:
    path = Path(name).expanduser()
    return path if path.is_absolute() or path.exists() else spec.source_dir / path


def offline_problems(spec: TaskSpec) -> list[str]:
    """`field: problem (got value)` for everything checkable offline that is wrong; empty when all is fine."""
    problems = []
    for field in ("model", "encoder"):
        name = getattr(spec, field)
        if name == "default" or not looks_like_path(name):
            continue
        path = Path(name).expanduser()
        if name.endswith(".gguf"):
            if not path.is_file():
                problems.append(f'{field}: GGUF file not found (got "{name}")')
        elif not path.is_dir():
            problems.append(f'{field}: local model directory not found (got "{name}")')
        elif not (path / "config.json").is_file() and not (path / "modules.json").is_file():
            problems.append(f'{field}: "{name}" has no config.json (not a model directory)')
    if spec.generator != "default" and not (Path(spec.generator).expanduser() / "generator.json").is_file():
        problems.append(f'generator: not a generator directory, no generator.json (got "{spec.generator}")')
    policy = spec.adapt.policy
    if policy not in RESERVED and not (Path(policy).expanduser() / "adapter_config.json").is_file():
        problems.append(f'adapt.policy: not a PEFT adapter directory, no adapter_config.json (got "{policy}")')
    for key, sources in (("dataset", spec.dataset), ("train_dataset", spec.train_dataset or [])):
        for index, src in enumerate(sources):
            if src.kind == "local" and not (spec.source_dir / src.source).is_file():
                problems.append(f'{key}[{index}].source: data file not found (got "{src.source}")')
    return problems
