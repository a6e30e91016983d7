"""Train a policy from exported trajectories: the ReST^EM M-step alone, on files written by
`degaml trajectories export` (`degaml policy train META_SPEC --out DIR --trajectories FILE...`).

Runs of `degaml adapt` anywhere (other machines, a GPU box) become training data: their accepted (reward = 1)
prompt/completion records fine-tune a fresh LoRA on the base model with TRL's SFTTrainer (`rest_em.sft_policy`,
loss on the action JSON only), and `DIR/policy/` gets the adapter + a manifest naming the source files (sha256),
record counts per task and the SFT metrics. `--exclude TASK` drops a task's records (keep the task you will adapt
on out of the policy's training data).
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from degaml.controller.policy.rest_em import sft_policy
from degaml.errors import DegamlError
from degaml.io import atomic_directory, file_sha256, write_json
from degaml.specs.meta import MetaSpec


def _check_record(record: Any, where: str) -> dict[str, Any]:
    """The fields the M-step needs, with a one-line error naming the file, line and field."""
    if not isinstance(record, dict):
        raise DegamlError(f"{where}: a record must be a JSON object")
    messages = record.get("prompt")
    if not isinstance(messages, list) or not messages or not all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in messages):
        raise DegamlError(f"{where}: field 'prompt' must be a non-empty list of {{role, content}} messages")
    completion = record.get("completion")
    if not (isinstance(completion, list) and len(completion) == 1 and isinstance(completion[0], dict)
            and completion[0].get("role") == "assistant" and isinstance(completion[0].get("content"), str)):
        raise DegamlError(f"{where}: field 'completion' must be one assistant message")
    if record.get("reward") not in (0, 1):
        raise DegamlError(f"{where}: field 'reward' must be 0 or 1, got {record.get('reward')!r}")
    return record


def read_exported(paths: list[Path]) -> list[dict[str, Any]]:
    """All records of exported .jsonl / .parquet files, validated."""
    records: list[dict[str, Any]] = []
    for path in paths:
        if not path.is_file():
            raise DegamlError(f"--trajectories: file not found: {path}")
        if path.suffix == ".parquet":
            from datasets import Dataset

            rows = Dataset.from_parquet(str(path)).to_list()
            records += [_check_record(r, f"{path}: record {i + 1}") for i, r in enumerate(rows)]
            continue
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DegamlError(f"{path}:{i}: not JSON ({exc.msg})") from None
            records.append(_check_record(record, f"{path}:{i}"))
    return records


def train_from_trajectories(meta: MetaSpec, paths: list[Path], out_dir: Path, exclude: list[str], command: str = "") -> dict[str, Any]:
    """M-step on the accepted records of `paths` (minus excluded tasks); writes `out_dir/policy` + manifest."""
    records = [r for r in read_exported(paths) if r.get("task") not in set(exclude)]
    accepted = [r for r in records if r["reward"] == 1]
    if not accepted:
        raise DegamlError(f"--trajectories: no accepted (reward = 1) record among the {len(records)} records read")
    sft_dir = out_dir / "sft-trajectories"
    metrics = (json.loads((sft_dir / "sft_metrics.json").read_text()) if (sft_dir / "adapter_config.json").is_file()
               else sft_policy(meta.model, meta.device, accepted, meta.policy, sft_dir))
    with atomic_directory(out_dir / "policy") as tmp:
        for name in ("adapter_config.json", "adapter_model.safetensors"):
            shutil.copy2(sft_dir / name, tmp / name)
        manifest = {
            "command": command, "source": "exported trajectories", "model": meta.model, "recipe": meta.policy.model_dump(),
            "files": {str(p): file_sha256(p) for p in paths}, "excluded_tasks": sorted(exclude),
            "records": len(records), "accepted": len(accepted), "accepted_per_task": dict(Counter(r.get("task") for r in accepted)),
            "tasks": sorted({str(r.get("task")) for r in records}), "sft": metrics,
            "adapter_sha256": file_sha256(tmp / "adapter_model.safetensors"),
        }
        write_json(tmp / "manifest.json", manifest, indent=2)
    return manifest
