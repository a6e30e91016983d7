"""Rebuild the shipped default policy adapter (SmolLM2-135M, ReST^EM) with one command.

    python benchmarks/build_default_policy.py [--meta specs/meta/broad.yaml] [--set draws=1] [--iterations 1]
        [--exclude TASK ...] [--generator DIR] [--shards 2] [--out runs/policy-broad] [--skip-training]

runs `degaml policy train META [KEY=VALUE...] --out OUT --iterations N [--generator DIR]` (resumes if interrupted;
strategy outcomes are cached under OUT/outcomes); with `--shards N` each iteration's E-step runs as N processes of
one thread each (`--shard K/N`) before the unsharded command does the M-step. Then it copies the adapter into `degaml/controller/pretrained/smollm2-135m-policy/`
with a `manifest.json`: the command, tasks, recipe, seeds, the generator it was rolled out with (sha256), reward rate
per iteration, SFT metrics and the adapter's sha256.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from degaml.controller.policy import SHIPPED_POLICY
from degaml.generator.pipeline import SHIPPED_GENERATOR
from degaml.io import file_sha256, write_json

REPO = Path(__file__).resolve().parents[1]
FILES = ("adapter_config.json", "adapter_model.safetensors")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--meta", type=Path, default=REPO / "specs" / "meta" / "broad.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="meta spec override")
    parser.add_argument("--exclude", action="append", default=[], metavar="TASK", help="leave this task (spec stem) out")
    parser.add_argument("--generator", type=Path, default=None, help="generator directory (default: the meta spec's)")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "policy-broad")
    parser.add_argument("--iterations", type=int, default=1)
    parser.add_argument("--shards", type=int, default=1, help="E-step processes (one thread each)")
    parser.add_argument("--skip-training", action="store_true", help="only copy an already trained policy")
    args = parser.parse_args()
    meta_rel = args.meta.resolve().relative_to(REPO)
    generator = f" --generator {args.generator}" if args.generator else ""
    options = "".join(f" {o}" for o in args.overrides) + "".join(f" --exclude {e}" for e in args.exclude)
    out_rel = args.out.resolve().relative_to(REPO)
    if not args.skip_training:
        for k in range(1, args.iterations + 1):
            command = f"degaml policy train {meta_rel}{options} --out {out_rel} --iterations {k}{generator}"
            if args.shards > 1:
                env = os.environ | {"OMP_NUM_THREADS": "1"}
                shards = [subprocess.Popen(f"{command} --shard {i}/{args.shards}".split(), cwd=REPO, env=env)
                          for i in range(1, args.shards + 1)]
                if any(s.wait() != 0 for s in shards):
                    sys.exit(f"an E-step shard of iteration {k} failed")
            subprocess.run(command.split(), check=True, cwd=REPO)
    command = f"degaml policy train {meta_rel}{options} --out {out_rel} --iterations {args.iterations}{generator}"
    source = args.out / "policy"
    trained = json.loads((source / "manifest.json").read_text())
    shipped_generator = json.loads((SHIPPED_GENERATOR / "manifest.json").read_text())["sha256"]["generator.safetensors"]
    SHIPPED_POLICY.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        shutil.copy2(source / name, SHIPPED_POLICY / name)
    manifest = {
        "what": "DeGAML adaptation policy: a LoRA on SmolLM2-135M-Instruct (embedded default), trained by ReST^EM",
        "rebuild": (f"python benchmarks/build_default_policy.py --meta {meta_rel}" + "".join(f" --set {o}" for o in args.overrides)
                    + "".join(f" --exclude {e}" for e in args.exclude)
                    + f" --iterations {args.iterations}{generator} --shards {args.shards} --out {out_rel}"),
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
    write_json(SHIPPED_POLICY / "manifest.json", manifest, indent=2)
    print(json.dumps({k: manifest[k] for k in ("iterations", "bytes", "sha256")}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
