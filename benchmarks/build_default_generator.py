"""Rebuild the shipped default generator (SmolLM2-135M, the six in-domain tasks) with one command.

    python benchmarks/build_default_generator.py [--meta specs/meta/in_domain.yaml]

runs `degaml generator collect` and `degaml generator train` on the meta spec (both resume if interrupted), then
copies the trained generator into `degaml/generator/pretrained/smollm2-135m-in-domain/` with a `manifest.json`:
the commands, the data each task was collected from, seeds, recipes, sha256 of every file, and the metrics.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from degaml.generator.pipeline import SHIPPED_GENERATOR, collection_dir, generator_dir, included_tasks
from degaml.io import file_sha256, write_json
from degaml.specs import load_meta_spec

REPO = Path(__file__).resolve().parents[1]
FILES = ("generator.json", "generator.safetensors", "tokenizer.json", "tokenizer_stats.safetensors")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--meta", type=Path, default=REPO / "specs" / "meta" / "in_domain.yaml")
    parser.add_argument("--skip-training", action="store_true", help="only copy an already trained generator")
    args = parser.parse_args()
    meta_rel = args.meta.resolve().relative_to(REPO)
    commands = [f"degaml generator collect {meta_rel}", f"degaml generator train {meta_rel}"]
    if not args.skip_training:
        for command in commands:
            subprocess.run(command.split(), check=True, cwd=REPO)
    meta = load_meta_spec(args.meta)
    source = generator_dir(meta, [])
    config = json.loads((source / "generator.json").read_text())
    collections = {}
    for _, spec in included_tasks(meta, []):
        m = json.loads((collection_dir(meta, spec.task) / "manifest.json").read_text())
        collections[spec.task] = {"data_source": m["data_source"], "train_items": m["train_items"], "checkpoints": m["checkpoints"],
                                  "seconds": m["seconds"], "validation": m["validation"]}
    SHIPPED_GENERATOR.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        shutil.copy2(source / name, SHIPPED_GENERATOR / name)
    manifest = {
        "what": "DeGAML generator for SmolLM2-135M-Instruct (embedded GGUF default), meta-trained on six in-domain tasks",
        "rebuild": f"python benchmarks/build_default_generator.py --meta {meta_rel}",
        "commands": commands,
        "meta_spec": str(meta_rel),
        "profile": meta.profile,
        "model": meta.model,
        "encoder": meta.encoder,
        "seeds": {"collection": meta.collection.seed, "generator": meta.generator.seed},
        "collection": collections,
        "metrics": config["meta"].get("metrics"),
        "sha256": {name: file_sha256(SHIPPED_GENERATOR / name) for name in FILES},
        "bytes": sum((SHIPPED_GENERATOR / name).stat().st_size for name in FILES),
    }
    write_json(SHIPPED_GENERATOR / "manifest.json", manifest, indent=2)
    print(json.dumps({k: manifest[k] for k in ("metrics", "bytes", "sha256")}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
