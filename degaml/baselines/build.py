"""Build the meta-trained baseline artifacts (union LoRA, MAML initialisation, ABMLL prior) for the embedded default
and ship them into `degaml/baselines/pretrained/<meta name>/` with their manifests (`degaml build baselines`).

For each method it runs `degaml baseline-train METHOD META --profile P [--exclude TASK]` (resumes if interrupted;
the artifact lands in the meta spec's output directory), then copies the finished artifact into the package. A
shipped artifact is used by `degaml baseline` / `degaml reproduce` only when its inputs are exactly the ones asked
for (its directory name carries the exclusions and a digest of the training config, model and meta tasks;
`degaml.baselines.artifacts.artifact_dir`). Without leave-one-out tasks it builds the artifacts of every meta task
(for out-of-domain targets); each leave-one-out TASK adds the variant that never saw TASK (in-domain tables)."""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

from degaml.baselines.artifacts import MANIFEST_FILE, PRETRAINED, STATE_FILE, artifact_name, is_complete, load_meta
from degaml.checkout import REPO, repo_relative, run_degaml
from degaml.errors import DegamlError
from degaml.io import file_sha256, write_json

DEFAULT_META = REPO / "specs" / "meta" / "in_domain.yaml"
METHODS = ("union_lora", "maml", "abmll")
PROFILES = ("cpu", "paper", "tiny")


def check_arguments(methods: list[str], leave_one_out: list[str], profile: str, task_stems: set[str]) -> None:
    """One-line errors for an unknown method, profile or leave-one-out task (before any work)."""
    for method in methods:
        if method not in METHODS:
            raise DegamlError(f"--method: unknown meta-trained baseline '{method}' (choose from {', '.join(METHODS)})")
    if profile not in PROFILES:
        raise DegamlError(f"--profile: '{profile}' is not one of {', '.join(PROFILES)}")
    unknown = [t for t in leave_one_out if t not in task_stems]
    if unknown:
        raise DegamlError(f"--leave-one-out: {unknown[0]!r} is not a task of this meta spec (tasks: {', '.join(sorted(task_stems))})")


def build_baselines(meta_path: Path = DEFAULT_META, methods: list[str] | None = None, leave_one_out: list[str] | None = None,
                    profile: str = "cpu", skip_training: bool = False, *, pretrained: Path = PRETRAINED, repo: Path = REPO,
                    log: Callable[[str], None] = print) -> list[Path]:
    """Train (unless `skip_training`) and ship each method's artifact, and its variant without each leave-one-out task,
    under `pretrained/<meta name>/`; returns the shipped directories. Arguments are checked before any work."""
    from degaml.baselines.registry import make_config

    methods = list(methods or METHODS)
    leave_one_out = list(leave_one_out or [])
    meta_rel = repo_relative(meta_path, "--meta", repo)
    meta = load_meta(repo / meta_rel)
    check_arguments(methods, leave_one_out, profile, {p.stem for p in meta.task_paths()})
    shipped_dirs = []
    for method in methods:
        for exclude in [[], *([t] for t in leave_one_out)]:
            command = f"degaml baseline-train {method} {meta_rel} --profile {profile}" + "".join(f" --exclude {e}" for e in exclude)
            if not skip_training:
                run_degaml(command, repo)
            config = make_config(method, profile, [f"meta={meta_rel}"])
            name = artifact_name(meta, method, exclude, config.training_key())
            with contextlib.chdir(repo):  # the meta spec's output directory is relative to where its commands ran
                built = (meta.output_dir() / "baselines" / name).resolve()
            if not is_complete(built):
                raise DegamlError(f"{built}: no finished artifact (run without --skip-training)")
            shipped = pretrained / meta.name / name
            shipped.mkdir(parents=True, exist_ok=True)
            shutil.copy2(built / STATE_FILE, shipped / STATE_FILE)
            manifest = json.loads((built / MANIFEST_FILE).read_text()) | {
                "command": command,
                "rebuild": f"degaml build baselines --meta {meta_rel} --method {method} --profile {profile}"
                           + "".join(f" --leave-one-out {e}" for e in exclude),
                "sha256": {STATE_FILE: file_sha256(shipped / STATE_FILE)},
                "bytes": (shipped / STATE_FILE).stat().st_size,
            }
            write_json(shipped / MANIFEST_FILE, manifest, indent=2)
            shown = shipped.relative_to(repo) if shipped.is_relative_to(repo) else shipped
            log(f"{method}{' without ' + exclude[0] if exclude else ''} → {shown}")
            shipped_dirs.append(shipped)
    return shipped_dirs
