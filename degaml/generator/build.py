"""Rebuild the shipped default generator (`degaml build generator`): `degaml generator collect META` and
`degaml generator train META` (both resume if interrupted), then a copy of the trained generator into
`degaml/generator/pretrained/smollm2-135m-in-domain/` with a `manifest.json`: the commands, the data each task was
collected from, seeds, recipes, sha256 of every file, and the metrics."""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path
from typing import Any

from degaml.checkout import REPO, repo_relative, run_degaml
from degaml.errors import DegamlError
from degaml.generator.artifact import UNION_FILE
from degaml.generator.pipeline import SHIPPED_GENERATOR, collection_dir, generator_dir, included_tasks
from degaml.io import file_sha256, write_json
from degaml.specs import load_meta_spec
from degaml.specs.meta import MetaSpec

DEFAULT_META = REPO / "specs" / "meta" / "in_domain.yaml"
FILES = ("generator.json", "generator.safetensors", "tokenizer.json", "tokenizer_stats.safetensors")


def _read_json(path: Path, hint: str) -> dict[str, Any]:
    if not path.is_file():
        raise DegamlError(f"{path}: not found ({hint})")
    return json.loads(path.read_text())


def _collections(meta: MetaSpec) -> dict[str, dict[str, Any]]:
    """What each included task was collected from, as its collection manifest records it."""
    out = {}
    for _, spec in included_tasks(meta, []):
        m = _read_json(collection_dir(meta, spec.task) / "manifest.json", "run without --skip-training")
        out[spec.task] = {"data_source": m["data_source"], "train_items": m["train_items"], "checkpoints": m["checkpoints"],
                          "seconds": m["seconds"], "validation": m["validation"]}
    return out


def build_generator(meta_path: Path = DEFAULT_META, skip_training: bool = False, *, dest: Path = SHIPPED_GENERATOR,
                    repo: Path = REPO) -> dict[str, Any]:
    """Collect and train on the meta spec (unless `skip_training`), copy the generator into `dest`, write its manifest
    and return it. The meta spec must lie inside the checkout `repo`; it is checked before any work."""
    meta_rel = repo_relative(meta_path, "--meta", repo)
    meta = load_meta_spec(repo / meta_rel)
    commands = [f"degaml generator collect {meta_rel}", f"degaml generator train {meta_rel}"]
    if not skip_training:
        for command in commands:
            run_degaml(command, repo)
    with contextlib.chdir(repo):  # a meta spec's output directory is relative to where its commands ran
        source = generator_dir(meta, []).resolve()
        config = _read_json(source / "generator.json", "no trained generator: run without --skip-training")
        collections = _collections(meta)
    dest.mkdir(parents=True, exist_ok=True)
    files = FILES + ((UNION_FILE,) if config.get("mode") == "residual" else ())  # a residual generator carries θ_union
    (dest / UNION_FILE).unlink(missing_ok=True)
    for name in files:
        shutil.copy2(source / name, dest / name)
    manifest = {
        "what": "DeGAML generator for SmolLM2-135M-Instruct (embedded GGUF default), meta-trained on six in-domain tasks",
        "rebuild": f"degaml build generator --meta {meta_rel}",
        "commands": commands,
        "meta_spec": str(meta_rel),
        "profile": meta.profile,
        "model": meta.model,
        "encoder": meta.encoder,
        "seeds": {"collection": meta.collection.seed, "generator": meta.generator.seed},
        "collection": collections,
        "metrics": config["meta"].get("metrics"),
        "mode": config.get("mode", "direct"),
        "sha256": {name: file_sha256(dest / name) for name in files},
        "bytes": sum((dest / name).stat().st_size for name in files),
    }
    write_json(dest / "manifest.json", manifest, indent=2)
    return manifest
