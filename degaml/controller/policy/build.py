"""Rebuild the shipped default policy adapter (`degaml build policy`): `degaml policy train META [KEY=VALUE...] --out
OUT --iterations k [--generator DIR]` for k = 1..N (resumes if interrupted; strategy outcomes are cached under
OUT/outcomes); with `shards` > 1 each iteration's E-step runs as that many one-thread processes (`--shard K/N`)
before the unsharded command does the M-step. Then the adapter is copied into
`degaml/controller/pretrained/smollm2-135m-policy/` with a `manifest.json`: the command, tasks, recipe, seeds, the
generator it was rolled out with (sha256), reward rate per iteration, SFT metrics and the adapter's sha256."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from degaml.checkout import REPO, repo_relative, run_degaml, start_degaml
from degaml.controller.policy.model import SHIPPED_POLICY
from degaml.errors import DegamlError
from degaml.generator.pipeline import SHIPPED_GENERATOR
from degaml.io import file_sha256, write_json
from degaml.specs import load_meta_spec

DEFAULT_META = REPO / "specs" / "meta" / "broad.yaml"
DEFAULT_OUT = REPO / "runs" / "policy-broad"
FILES = ("adapter_config.json", "adapter_model.safetensors")


def _check_exclusions(meta_path: Path, overrides: list[str], exclude: list[str]) -> None:
    meta = load_meta_spec(meta_path, overrides)  # a bad spec or override: one line, before any work
    stems = {p.stem for p in meta.task_paths()}
    unknown = [e for e in exclude if e not in stems]
    if unknown:
        raise DegamlError(f"--exclude: {unknown[0]!r} is not a task of this meta spec (tasks: {', '.join(sorted(stems))})")


def _command(base: str, k: int, gen: str) -> str:
    return f"{base} --iterations {k}{gen}"


def _train(base: str, gen: str, iterations: int, shards: int, repo: Path) -> None:
    for k in range(1, iterations + 1):
        command = _command(base, k, gen)
        if shards > 1:
            children = [start_degaml(f"{command} --shard {i}/{shards}", repo, {"OMP_NUM_THREADS": "1"})
                        for i in range(1, shards + 1)]
            if any(child.wait() != 0 for child in children):
                raise DegamlError(f"an E-step shard of iteration {k} failed; re-run to resume")
        run_degaml(command, repo)


def build_policy(meta_path: Path = DEFAULT_META, overrides: list[str] | None = None, exclude: list[str] | None = None,
                 generator: str | None = None, out: Path = DEFAULT_OUT, iterations: int = 1, shards: int = 1,
                 skip_training: bool = False, *, dest: Path = SHIPPED_POLICY, repo: Path = REPO) -> dict[str, Any]:
    """Train the policy (unless `skip_training`), copy the adapter into `dest`, write its manifest and return it.
    The meta spec and `out` must lie inside the checkout `repo`; arguments are checked before any work."""
    overrides, exclude = list(overrides or []), list(exclude or [])
    if iterations < 1 or shards < 1:
        raise DegamlError(f"--iterations and --shards must be ≥ 1 (got {iterations} and {shards})")
    meta_rel = repo_relative(meta_path, "--meta", repo)
    out_rel = repo_relative(out, "--out", repo)
    _check_exclusions(repo / meta_rel, overrides, exclude)
    shipped_manifest = SHIPPED_GENERATOR / "manifest.json"
    if not shipped_manifest.is_file():
        raise DegamlError(f"{shipped_manifest}: not found (the shipped generator's manifest names it in the policy's)")
    gen = f" --generator {generator}" if generator else ""
    options = "".join(f" {o}" for o in overrides) + "".join(f" --exclude {e}" for e in exclude)
    base = f"degaml policy train {meta_rel}{options} --out {out_rel}"
    source = repo / out_rel / "policy"
    if skip_training and not (source / "manifest.json").is_file():
        raise DegamlError(f"{source}: no trained policy (run without --skip-training)")
    if not skip_training:
        _train(base, gen, iterations, shards, repo)
    trained = json.loads((source / "manifest.json").read_text())
    shipped_generator = json.loads(shipped_manifest.read_text())["sha256"]["generator.safetensors"]
    dest.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        shutil.copy2(source / name, dest / name)
    manifest = {
        "what": "DeGAML adaptation policy: a LoRA on SmolLM2-135M-Instruct (embedded default), trained by ReST^EM",
        "rebuild": (f"degaml build policy --meta {meta_rel}{options} --iterations {iterations}{gen} --shards {shards} --out {out_rel}"),
        "command": _command(base, iterations, gen),
        "meta_spec": str(meta_rel),
        "tasks": trained["tasks"],
        "model": trained["model"],
        "generator": ("degaml/generator/pretrained/smollm2-135m-in-domain (the shipped generator)"
                      if trained["generator_sha256"] == shipped_generator else trained["generator"]),
        "generator_sha256": trained["generator_sha256"],
        "recipe": trained["recipe"],
        "iterations": trained["iterations"],
        "outcomes_cached": trained["outcomes_cached"],
        "sha256": {name: file_sha256(dest / name) for name in FILES},
        "bytes": sum((dest / name).stat().st_size for name in FILES),
    }
    write_json(dest / "manifest.json", manifest, indent=2)
    return manifest
