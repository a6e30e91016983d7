"""Rebuild the shipped default policy adapter (SmolLM2-135M, ReST^EM on the six in-domain tasks) with one command.

    python benchmarks/build_default_policy.py [--meta specs/meta/in_domain.yaml] [--iterations 1] [--skip-training]

runs `degaml policy train META --out runs/policy --iterations N` (resumes if interrupted; strategy outcomes are
cached under runs/policy/outcomes), then copies the adapter into `degaml/controller/pretrained/smollm2-135m-policy/`
with a `manifest.json`: the command, tasks, recipe, seeds, the generator it was rolled out with (sha256), reward rate
per iteration, SFT metrics and the adapter's sha256.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from degaml.controller.policy import SHIPPED_POLICY
from degaml.generator.pipeline import SHIPPED_GENERATOR
from degaml.io import file_sha256

REPO = Path(__file__).resolve().parents[1]
FILES = ("adapter_config.json", "adapter_model.safetensors")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--meta", type=Path, default=REPO / "specs" / "meta" / "in_domain.yaml")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "policy")
    parser.add_argument("--iterations", type=int, default=1)
    parser.add_argument("--skip-training", action="store_true", help="only copy an already trained policy")
    args = parser.parse_args()
    meta_rel = args.meta.resolve().relative_to(REPO)
    command = f"degaml policy train {meta_rel} --out {args.out.resolve().relative_to(REPO)} --iterations {args.iterations}"
    if not args.skip_training:
        subprocess.run(command.split(), check=True, cwd=REPO)
    source = args.out / "policy"
    trained = json.loads((source / "manifest.json").read_text())
    shipped_generator = json.loads((SHIPPED_GENERATOR / "manifest.json").read_text())["sha256"]["generator.safetensors"]
    SHIPPED_POLICY.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        shutil.copy2(source / name, SHIPPED_POLICY / name)
    manifest = {
        "what": "DeGAML adaptation policy: a LoRA on SmolLM2-135M-Instruct (embedded default), trained by ReST^EM",
        "rebuild": f"python benchmarks/build_default_policy.py --meta {meta_rel} --iterations {args.iterations}",
        "command": command,
        "meta_spec": str(meta_rel),
        "tasks": trained["tasks"],
        "model": trained["model"],
        "generator": ("degaml/generator/pretrained/smollm2-135m-in-domain (the shipped generator)"
                      if trained["generator_sha256"] == shipped_generator else trained["generator"]),
        "generator_sha256": trained["generator_sha256"],
        "recipe": trained["recipe"],
        "iterations": trained["iterations"],
        "outcomes_cached": trained["outcomes_cached"],
        "sha256": {name: file_sha256(SHIPPED_POLICY / name) for name in FILES},
        "bytes": sum((SHIPPED_POLICY / name).stat().st_size for name in FILES),
    }
    (SHIPPED_POLICY / "manifest.json").write_text(json.dumps(manifest, indent=2))
    print(json.dumps({k: manifest[k] for k in ("iterations", "bytes", "sha256")}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
