"""Markdown tables for docs/findings/adaptation.md on the shipped policy's ReST^EM training: the iterations (from its manifest)
and what the E-step tried and rewarded, per family (from the E-step's rollout records).

    python benchmarks/studies/policy_report.py [--manifest degaml/controller/pretrained/smollm2-135m-policy/manifest.json]
        [--rollouts runs/policy-broad] [--summary docs/results/policy_estep.json]

`--rollouts DIR` reads DIR/iter-k/rollouts-<task>.jsonl (not versioned: `runs/`) and writes a compact summary of
every record (task, step, action, accuracy, the configuration it started from, reward, p) to `--summary`, which is
committed; without `--rollouts` the summary is read back from there. The held-out comparison of the policy is
rendered by `benchmarks/studies/heldout_report.py`.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from degaml.io import write_json

REPO = Path(__file__).resolve().parents[2]


def iterations_table(manifest: dict) -> str:
    rows = ["| iteration | policy rolled out | samples | accepted | failed | reward rate | tasks with ≥ 1 accepted | SFT examples, steps, loss first → last |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for it in manifest["iterations"]:
        sft = it.get("sft") or {}
        loss = f"{sft['examples']}, {sft['steps']}, {sft['first_loss']:.3f} → {sft['last_loss']:.3f}" if sft else "–"
        rewarded = sum(1 for v in it["accepted_per_task"].values() if v)
        policy_in = "base model" if it["policy_in"] == "base" else Path(it["policy_in"]).parent.name
        explore = (manifest.get("recipe") or {}).get("exploration", 0.0)
        if explore:  # that share of the samples came from the uniformly random policy instead
            policy_in = "uniformly random actions" if explore == 1.0 else f"{policy_in}, {explore:.0%} random actions"
        rows.append(f"| {it['iteration']} | {policy_in} | {it['samples']} | {it['accepted']} | {it.get('failed', '–')} | "
                    f"{it['reward_rate']:.3f} | {rewarded} of {len(it['accepted_per_task'])} | {loss} |")
    return "\n".join(rows)


def summarize(run_dir: Path) -> list[dict]:
    """One compact row per E-step record, every iteration."""
    rows = []
    for it_dir in sorted(run_dir.glob("iter-*"), key=lambda p: int(p.name.split("-")[1])):
        for path in sorted(it_dir.glob("rollouts-*.jsonl")):
            for line in path.read_text().splitlines():
                r = json.loads(line)
                action = r["completion"][0]["content"]
                rows.append({"iteration": int(it_dir.name.split("-")[1]), "task": r["task"], "step": r["step"],
                             "family": r["family"], "action": action, "accuracy": r["accuracy"], "from": r["baseline"],
                             "theta0": r["theta0"], "reward": r["reward"], "p_value": r["p_value"],
                             "sampler": r.get("sampler", "policy")})
    return rows


def families_table(rows: list[dict]) -> str:
    out = ["| iteration | family | sampled | failed | accepted | mean Δ vs the configuration it started from (points) | tasks where accepted |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
    groups: dict[tuple[int, str], list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["iteration"], r["family"] or "invalid")].append(r)
    for (it, family), rs in sorted(groups.items()):
        ran = [r for r in rs if r["accuracy"] is not None]
        delta = f"{100 * sum(r['accuracy'] - r['from'] for r in ran) / len(ran):+.1f}" if ran else "–"
        tasks = sorted({r["task"] for r in rs if r["reward"] == 1})
        out.append(f"| {it} | {family} | {len(rs)} | {len(rs) - len(ran)} | {sum(r['reward'] for r in rs)} | {delta} | "
                   f"{', '.join(tasks) or '–'} |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, default=REPO / "degaml" / "controller" / "pretrained" / "smollm2-135m-policy" / "manifest.json")
    parser.add_argument("--rollouts", type=Path, default=None, help="a `degaml policy train` output directory")
    parser.add_argument("--summary", type=Path, default=REPO / "docs" / "results" / "policy_estep.json")
    args = parser.parse_args()
    if args.manifest.is_file():
        print(iterations_table(json.loads(args.manifest.read_text())), end="\n\n")
    if args.rollouts is not None:
        rows = summarize(args.rollouts)
        write_json(args.summary, {"rollouts": str(args.rollouts), "records": rows}, indent=0)
    elif args.summary.is_file():
        rows = json.loads(args.summary.read_text())["records"]
    else:
        return
    print(families_table(rows))


if __name__ == "__main__":
    main()
