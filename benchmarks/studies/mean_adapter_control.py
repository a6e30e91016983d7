"""Control for the in-domain Table 2: is θ₀'s gain prompt-conditioned prediction, or the meta-training mean?

The leave-one-out generator is trained by MSE on the other tasks' collected LoRA checkpoints; a generator that
ignored its prompts would converge to their mean. This scores that prompt-blind adapter directly, under the
comparison protocol (validation, then the test split once), for the target task:
  mean_all   the mean of every collected checkpoint of the included tasks (the MSE-optimal constant output)
  mean_last  the mean of each included task's last checkpoint (the fitted LoRAs themselves)
  task:NAME  (with --per-task) the mean of one included task's checkpoints: which source task's LoRA transfers
and pairs it on the same test items with the table's `base` and `generator` cells (exact McNemar). The target's
own collection is never read (the same exclusion as the generator's).

Usage: python benchmarks/studies/mean_adapter_control.py SPEC... [--meta specs/meta/in_domain.yaml]
           [--cells runs/tables-in-domain/cells] [--work runs/mean_adapter_control] [--per-task]
           [--out docs/results/tables-in-domain/mean_adapter_control.json]   (merged: one entry per task)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from degaml.baselines.artifacts import exclusion_for, load_meta  # noqa: E402
from degaml.protocol import ProtocolTask, final_score, validation_score  # noqa: E402
from degaml.stats import mcnemar_exact  # noqa: E402
from degaml.data import load_task_data  # noqa: E402
from degaml.generator.collect import TRAJECTORY_FILE, lora_config  # noqa: E402
from degaml.generator.pipeline import collection_dir, included_tasks  # noqa: E402
from degaml.generator.shards import TrajectoryFile  # noqa: E402
from degaml.generator.generate import save_lora_adapter  # noqa: E402
from degaml.io import write_json  # noqa: E402
from degaml.models import load_llm  # noqa: E402
from degaml.specs import load_spec  # noqa: E402

ARMS = ("mean_all", "mean_last")


def mean_state(meta, exclude: list[str], arm: str) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The arm's mean LoRA state dict (PEFT saved keys) over the included tasks, and those tasks."""
    total: dict[str, torch.Tensor] = {}
    count, tasks = 0, []
    for _, spec in included_tasks(meta, exclude):
        if arm.startswith("task:") and spec.task != arm[5:]:
            continue
        trajectory = TrajectoryFile(collection_dir(meta, spec.task) / TRAJECTORY_FILE)
        states = [trajectory[-1]] if arm == "mean_last" else list(trajectory)
        for state in states:
            for key, value in state.items():
                total[key] = total.get(key, 0) + value.float()
            count += 1
        tasks.append(spec.task)
    return {k: v / count for k, v in total.items()}, tasks


def write_adapter(state: dict[str, torch.Tensor], recipe, base_model: str, out_dir: Path) -> Path:
    config = lora_config(recipe.rank, recipe.alpha, recipe.target_modules)
    config.base_model_name_or_path, config.task_type = base_model, "CAUSAL_LM"
    return save_lora_adapter(state, config, out_dir)


def table_cell(cells: Path, task: str, method: str) -> dict | None:
    found = sorted((cells / task).glob(f"{method}-s0-*.json"))
    return json.loads(found[-1].read_text()) if found else None


def control(spec_path: Path, meta_path: Path, cells: Path, work: Path, per_task: bool = False) -> dict:
    meta = load_meta(meta_path)
    spec = load_spec(spec_path)
    exclude = exclusion_for(meta, spec.task, spec_path)
    if not exclude:
        raise SystemExit(f"mean_adapter_control: {spec_path} is not a task of {meta_path}: nothing to leave out")
    loaded = load_llm(spec.model, spec.device, spec.dtype, spec.trust_remote_code)
    ptask = ProtocolTask.from_task(load_task_data(spec, on_skip=lambda _: None))
    reference = {m: table_cell(cells, spec.task, m) for m in ("base", "generator")}
    result = {"task": spec.task, "excluded": exclude, "arms": {}}
    arms = list(ARMS) + ([f"task:{s.task}" for _, s in included_tasks(meta, exclude)] if per_task else [])
    for arm in arms:
        state, tasks = mean_state(meta, exclude, arm)
        adapter = write_adapter(state, meta.collection, spec.model, work / f"{spec.task}-{arm.replace(':', '-')}")
        validation = validation_score(loaded, ptask, [adapter])
        test = final_score(loaded, ptask, [adapter])
        row = {"tasks": tasks, "validation": validation.summary(), "test": test.summary(), "paired": {}}
        for method, cell in reference.items():
            if cell and cell["predictions"]["ids"] == test.ids:
                theirs = cell["predictions"]["correct"]
                row["paired"][method] = {"accuracy": cell["test"]["accuracy"],
                                         "delta_points": 100 * (test.accuracy - cell["test"]["accuracy"]),
                                         "mcnemar_p": mcnemar_exact(test.correct, theirs),
                                         "only_this_right": sum(a and not b for a, b in zip(test.correct, theirs)),
                                         "only_theirs_right": sum(b and not a for a, b in zip(test.correct, theirs))}
        result["arms"][arm] = row
        print(f"{spec.task} {arm}: validation {validation.accuracy:.3f}, test {test.accuracy:.3f} (n={test.n}) " + ", ".join(
            f"vs {m} {p['delta_points']:+.1f} (p={p['mcnemar_p']:.3g}, discordant {p['only_this_right']}/"
            f"{p['only_theirs_right']})" for m, p in row["paired"].items()))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", type=Path, nargs="+")
    parser.add_argument("--meta", type=Path, default=Path("specs/meta/in_domain.yaml"))
    parser.add_argument("--cells", type=Path, default=Path("runs/tables-in-domain/cells"))
    parser.add_argument("--per-task", action="store_true", help="also score each included task's mean adapter")
    parser.add_argument("--work", type=Path, default=Path("runs/mean_adapter_control"))
    parser.add_argument("--out", type=Path, default=Path("docs/results/tables-in-domain/mean_adapter_control.json"))
    args = parser.parse_args()
    report = json.loads(args.out.read_text()) if args.out.is_file() else {"tasks": {}}
    for spec_path in args.specs:
        report["tasks"][load_spec(spec_path).task] = control(spec_path, args.meta, args.cells, args.work, args.per_task)
        report["command"] = "python benchmarks/studies/mean_adapter_control.py " + " ".join(sys.argv[1:])
        write_json(args.out, report, indent=1)


if __name__ == "__main__":
    main()
