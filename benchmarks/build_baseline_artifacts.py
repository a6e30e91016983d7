"""Build the meta-trained baseline artifacts (union LoRA, MAML initialisation, ABMLL prior) for the embedded default
and ship them into `degaml/baselines/pretrained/<meta name>/` with their manifests.

    python benchmarks/build_baseline_artifacts.py [--meta specs/meta/in_domain.yaml] [--methods union_lora maml abmll]
        [--leave-one-out TASK ...] [--profile cpu] [--skip-training]

For each method it runs `degaml baseline-train METHOD META --profile P [--exclude TASK]` (resumes if interrupted;
the artifact lands in the meta spec's output directory), then copies the finished artifact into the package. A
shipped artifact is used by `degaml baseline` / `degaml reproduce` only when its inputs are exactly the ones asked
for (its directory name carries the exclusions and a digest of the training config, model and meta tasks;
`degaml.baselines.artifacts.artifact_dir`). Without `--leave-one-out` it builds the artifacts of every meta task
(for out-of-domain targets); each `--leave-one-out TASK` adds the variant that never saw TASK (in-domain tables).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from degaml.baselines.artifacts import MANIFEST_FILE, PRETRAINED, STATE_FILE, artifact_name, is_complete, load_meta
from degaml.baselines.registry import make_config
from degaml.io import file_sha256, write_json

REPO = Path(__file__).resolve().parents[1]
METHODS = ("union_lora", "maml", "abmll")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--meta", type=Path, default=REPO / "specs" / "meta" / "in_domain.yaml")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--leave-one-out", nargs="*", default=[], metavar="TASK", help="also the variant without TASK")
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--skip-training", action="store_true", help="only copy already built artifacts")
    args = parser.parse_args()
    os.chdir(REPO)  # the meta spec's output directory is relative to the working directory
    meta_rel = args.meta.resolve().relative_to(REPO)
    meta = load_meta(args.meta)
    for method in args.methods:
        for exclude in [[], *([t] for t in args.leave_one_out)]:
            command = f"degaml baseline-train {method} {meta_rel} --profile {args.profile}" + "".join(f" --exclude {e}" for e in exclude)
            if not args.skip_training:
                subprocess.run(command.split(), check=True, cwd=REPO)
            config = make_config(method, args.profile, [f"meta={meta_rel}"])
            name = artifact_name(meta, method, exclude, config.training_key())
            built = meta.output_dir() / "baselines" / name
            if not is_complete(built):
                sys.exit(f"{built}: no finished artifact (run without --skip-training)")
            shipped = PRETRAINED / meta.name / name
            shipped.mkdir(parents=True, exist_ok=True)
            shutil.copy2(built / STATE_FILE, shipped / STATE_FILE)
            manifest = json.loads((built / MANIFEST_FILE).read_text()) | {
                "command": command,
                "rebuild": f"python benchmarks/build_baseline_artifacts.py --meta {meta_rel} --methods {method} --profile {args.profile}"
                           + (f" --leave-one-out {' '.join(exclude)}" if exclude else ""),
                "sha256": {STATE_FILE: file_sha256(shipped / STATE_FILE)},
                "bytes": (shipped / STATE_FILE).stat().st_size,
            }
            write_json(shipped / MANIFEST_FILE, manifest, indent=2)
            print(f"{method}{' without ' + exclude[0] if exclude else ''} → {shipped.relative_to(REPO)}")


if __name__ == "__main__":
    main()
