"""Is there a map from prompts to LoRAs to learn? Task-level predictability of collected LoRA checkpoints from the
prompt embeddings the generator reads (the goal: "improve until it generalizes, or show why it cannot").

A generator that generalizes to never-seen tasks needs tasks with similar prompts to have similar LoRAs. This
measures that directly, before any decoder is involved, over the tasks of `--meta` and `--held-out` together
(every task once held out): per task, its key (the mean pooled MiniLM embedding of 8 seeded prompt batches, as the
retrieval baseline uses) and its mean checkpoint in a generator's normalised token space (MSE units of
`degaml/generator/reconstruction.py`). Reported:

- `variance`: how much of the checkpoints' spread is between tasks (what a task-aware predictor could explain);
- `mantel`: Spearman correlation between the tasks' pairwise prompt distances (1 − cosine) and pairwise LoRA
  distances (masked MSE between mean checkpoints), with a permutation p-value (task labels shuffled);
- `neighbours`: leave-one-task-out prediction of each task's checkpoints by the mean of its k nearest other tasks
  by prompt similarity (k = 1 is retrieval), against the prompt-blind mean of all other tasks, and the oracle
  nearest task by LoRA distance (how much a perfect choice of neighbour could gain). No k is selected here; all
  are reported.
- `delta_w`: the Mantel test, neighbours and redraws again in the space of weight updates ΔW = B·A of each task's
  final checkpoint (factors can differ while ΔW agrees; this space cannot hide such similarity);
- `redraws`: tasks of `--meta` collected again on another seeded draw (`draws=2`: other items, another train
  pool; only the families collected so far): is a new draw of a family closest to its own first draw — i.e. is the
  LoRA a property of the task rather than of the sampled data — and would recognising the family (the first draw's
  mean, what a generator that memorised its training tasks could output) beat the prompt-blind mean there? The
  generator's own MSE on these new draws is reported beside (its training saw only the first draws);
- `generator_output`: does the generator's mean output move across its training tasks as their mean checkpoints
  do (between-task spreads, cosine of the deviations)? A collapsed decoder outputs the same tokens for every task.

Usage: python benchmarks/studies/generator_predictability.py [--meta specs/meta/broad.yaml --set draws=1]
         [--held-out specs/heldout/rg_families.yaml] [--generator runs/meta/broad/generator]
         [--out docs/results/generator_predictability.json]
(needs `degaml generator collect` of both meta specs first.)
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
from degaml.io import write_json

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/_common.py
from _common import BATCHES, SEED, TaskSpace  # noqa: E402,F401  (the token space and batches the studies share)

REPO = Path(__file__).resolve().parents[2]
PERMUTATIONS, KS = 9999, (1, 3, 5, 10)


def pairwise(keys: torch.Tensor, means: torch.Tensor, mask: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(K, C) keys, (K, T, r, chunk) means → (prompt distance, LoRA distance), both (K, K)."""
    unit = torch.nn.functional.normalize(keys.double(), dim=-1)
    prompt = 1.0 - (unit @ unit.T)
    flat = (means.double() * mask.double().sqrt()).flatten(1)  # masked coordinates
    lora = torch.cdist(flat, flat) ** 2 / float(mask.sum())
    return prompt.numpy(), lora.numpy()


def mantel(a: np.ndarray, b: np.ndarray, permutations: int = PERMUTATIONS, seed: int = 0) -> dict:
    """Spearman correlation of the upper triangles of two (K, K) distance matrices; one-sided permutation p-value."""
    from scipy.stats import rankdata

    iu = np.triu_indices(a.shape[0], 1)
    ra = rankdata(a[iu])

    def rho(bm: np.ndarray) -> float:
        return float(np.corrcoef(ra, rankdata(bm[iu]))[0, 1])

    observed = rho(b)
    rng = np.random.default_rng(seed)
    hits = sum(rho(b[np.ix_(p, p)]) >= observed for p in (rng.permutation(a.shape[0]) for _ in range(permutations)))
    return {"spearman": observed, "p_value": (hits + 1) / (permutations + 1), "permutations": permutations,
            "pairs": len(iu[0])}


def group_mse(lora: np.ndarray, spread: np.ndarray, i: int, group: list[int]) -> float:
    """MSE of task i's checkpoints under the mean of the tasks in `group`: ‖mean_S m − m_i‖² + spread_i, where
    ‖mean_S m − m_i‖² = mean_{s∈S} D_si − mean_{s,s'∈S} D_ss' / 2 (D = squared distances `lora`)."""
    g = np.array(group)
    return float(lora[i, g].mean() - lora[np.ix_(g, g)].mean() / 2 + spread[i])


def summarise(rows: list[dict], names) -> dict:
    """Per predictor: mean MSE over the rows and on how many rows it beats the prompt-blind mean."""
    return {n: {"mean_mse": float(np.mean([r[n] for r in rows])) if rows else None,
                "beats_prompt_blind": int(sum(r[n] < r["prompt_blind_mean"] for r in rows))} for n in names}


def neighbour_predictions(prompt: np.ndarray, lora: np.ndarray, spread: np.ndarray, ks=KS) -> dict:
    """Leave-one-task-out MSE of each task's checkpoints under each predictor, from the pairwise matrices alone
    (`group_mse`)."""
    k_all = prompt.shape[0]

    def mse(i: int, group: list[int]) -> float:
        return group_mse(lora, spread, i, group)

    rows = []
    for i in range(k_all):
        others = [j for j in range(k_all) if j != i]
        by_prompt = sorted(others, key=lambda j: prompt[i, j])
        row = {"prompt_blind_mean": mse(i, others), "oracle_nearest": mse(i, [min(others, key=lambda j: lora[i, j])]),
               "own_task_mean": float(spread[i])}
        row |= {f"nearest_{k}": mse(i, by_prompt[:k]) for k in ks if k < k_all - 1}
        rows.append(row)
    return {"tasks": k_all, "summary": summarise(rows, rows[0].keys()), "per_task": rows}


def redraw_predictions(prompt: np.ndarray, lora: np.ndarray, spread: np.ndarray, family: dict[int, int],
                       main: list[int]) -> dict:
    """Per redraw r (index into the matrices; `family[r]` = index of its family's first draw among `main`): MSE of
    r's checkpoints under the first draw's mean, the prompt-blind mean of `main`, retrieval by prompt over `main`."""
    rows = []
    for r, i in family.items():
        g = np.array(main)
        nearest = main[int(np.argmin(prompt[r, g]))]
        others = np.array([j for j in main if j != i])
        rows.append({"same_family": float(lora[r, i] + spread[r]),
                     "prompt_blind_mean": group_mse(lora, spread, r, main),
                     "retrieval": float(lora[r, nearest] + spread[r]), "retrieval_hit": nearest == i,
                     "own_task_mean": float(spread[r]),
                     "lora_distance_same_family": float(lora[r, i]),
                     "lora_distance_other_families_min": float(lora[r, others].min()),
                     "same_family_is_nearest_lora": bool(lora[r, i] < lora[r, others].min())})
    summary = summarise(rows, ["same_family", "prompt_blind_mean", "retrieval", "own_task_mean"])
    summary["retrieval_hit_rate"] = float(np.mean([r["retrieval_hit"] for r in rows])) if rows else None
    summary["same_family_is_nearest_lora"] = int(sum(r["same_family_is_nearest_lora"] for r in rows))
    return {"redraws": len(rows), "summary": summary, "per_task": rows}


def delta_w_distances(checkpoints: list[dict[str, torch.Tensor]]) -> np.ndarray:
    """(K, K) squared distances between the tasks' weight updates ΔW = B·A (summed over modules, per weight), from
    the factors alone: ⟨B_i A_i, B_j A_j⟩ = tr((B_iᵀ B_j)(A_j A_iᵀ)) — invariant to how ΔW splits into factors."""
    gram, size = None, 0
    for key in [k for k in checkpoints[0] if "lora_A" in k]:
        a = torch.stack([c[key] for c in checkpoints]).double()  # (K, r, in)
        b = torch.stack([c[key.replace("lora_A", "lora_B")] for c in checkpoints]).double()  # (K, out, r)
        btb = torch.einsum("iok,jol->ijkl", b, b)  # (K, K, r, r): B_iᵀ B_j
        aat = torch.einsum("jln,ikn->ijlk", a, a)  # (K, K, r, r): A_j A_iᵀ
        g = torch.einsum("ijkl,ijlk->ij", btb, aat)
        gram = g if gram is None else gram + g
        size += b.shape[1] * a.shape[2]
    sq = torch.diagonal(gram)
    return ((sq[:, None] + sq[None, :] - 2 * gram).clamp_min(0) / size).numpy()


def output_spread(preds: torch.Tensor, means: torch.Tensor, mask: torch.Tensor) -> dict:
    """Does a generator's output move with the task as its targets do? preds, means (K, T, r, chunk): its mean output
    and the mean checkpoint per task. Between-task spreads (MSE units) and the mean cosine of the deviations."""
    dp, dm = (preds - preds.mean(0)) * mask.sqrt(), (means - means.mean(0)) * mask.sqrt()
    cos = torch.nn.functional.cosine_similarity(dp.flatten(1).double(), dm.flatten(1).double(), dim=1)
    return {"prediction_between_spread": float((dp**2).sum(dim=(1, 2, 3)).mean() / mask.sum()),
            "target_between_spread": float((dm**2).sum(dim=(1, 2, 3)).mean() / mask.sum()),
            "deviation_cosine_mean": float(cos.mean()), "tasks": len(preds)}


def delta_w_report(prompt: np.ndarray, dw: np.ndarray, family: dict[int, int], main: list[int]) -> dict:
    """The same questions in ΔW space, for each task's final checkpoint (no within-task spread)."""
    sub = np.ix_(main, main)
    zeros = np.zeros(len(dw))
    neighbours = neighbour_predictions(prompt[sub], dw[sub], zeros[: len(main)])
    return {"space": "ΔW = B·A of the final checkpoint, squared error per weight", "mantel": mantel(prompt[sub], dw[sub]),
            "neighbours": neighbours["summary"], "redraws": redraw_predictions(prompt, dw, zeros, family, main)["summary"]}


def main() -> None:
    from degaml.generator.pipeline import load_trajectories
    from degaml.generator.reconstruction import generate_tokens
    from degaml.specs import load_meta_spec

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--meta", type=Path, default=REPO / "specs" / "meta" / "broad.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=None, metavar="KEY=VALUE")
    parser.add_argument("--held-out", type=Path, default=REPO / "specs" / "heldout" / "rg_families.yaml")
    parser.add_argument("--generator", default="runs/meta/broad/generator", help="whose token space (tokenizer, N, L)")
    parser.add_argument("--draws", type=int, default=2, help="redraws: draws of --meta read where collected")
    parser.add_argument("--work", type=Path, default=Path("runs") / "generator_predictability")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "results" / "generator_predictability.json")
    args = parser.parse_args()
    overrides = ["draws=1"] if args.overrides is None else args.overrides
    meta = load_meta_spec(args.meta, overrides)
    trajectories = load_trajectories(meta, []) + load_trajectories(load_meta_spec(args.held_out), [])
    first = {t.task for t in trajectories}
    redraws = [t for t in load_trajectories(load_meta_spec(args.meta, [*overrides, f"draws={args.draws}"]), [], skip_missing=True)
               if t.task not in first]
    main_count, trajectories = len(trajectories), trajectories + redraws
    names = [t.task for t in trajectories]
    space = TaskSpace.build(args.generator, meta.encoder, trajectories, args.work / "shards")
    bundle, shards, mask, keys, targets, means = space.bundle, space.shards, space.mask, space.keys, space.targets, space.means
    spread = np.array([t.spread for t in targets]) / float(mask.sum())
    prompt, lora = pairwise(keys, means, mask)
    main_idx = list(range(main_count))
    family = {r: names.index(names[r].rsplit("-draw", 1)[0]) for r in range(main_count, len(names))}
    trained = set(bundle.config.meta.get("metrics", {}).get("tasks", []))
    in_training = [k for k in main_idx if names[k] in trained]
    preds = torch.stack([generate_tokens(bundle.model, shards[k], range(BATCHES)).mean(0) for k in in_training])
    grand = means[:main_count].mean(0)
    between = float((((means[:main_count] - grand) ** 2) * mask).sum(dim=(1, 2, 3)).mean() / mask.sum())
    within = float(spread[:main_count].mean())
    report = {
        "command": "python benchmarks/studies/generator_predictability.py " + " ".join(f"--set {o}" for o in overrides),
        "meta": meta.name, "held_out": str(args.held_out.name), "generator": args.generator, "tasks": names,
        "checkpoints": {n: s.n_checkpoints for n, s in zip(names, shards)},
        "variance": {"within_task": within, "between_task": between, "between_fraction": between / (between + within)},
        "mantel": mantel(prompt[np.ix_(main_idx, main_idx)], lora[np.ix_(main_idx, main_idx)]),
        "neighbours": neighbour_predictions(prompt[np.ix_(main_idx, main_idx)], lora[np.ix_(main_idx, main_idx)], spread[:main_count]),
        "nearest_by_prompt": {names[i]: names[min((j for j in main_idx if j != i), key=lambda j: prompt[i, j])] for i in main_idx},
        "nearest_by_lora": {names[i]: names[min((j for j in main_idx if j != i), key=lambda j: lora[i, j])] for i in main_idx},
        "redraws": redraw_predictions(prompt, lora, spread, family, main_idx),
        "generator_output": output_spread(preds, means[in_training], mask),
        "delta_w": delta_w_report(prompt, delta_w_distances([t.checkpoints[-1] for t in trajectories]), family, main_idx),
    }
    for row, name in zip(report["neighbours"]["per_task"], names):
        row["task"] = name
    for row, r in zip(report["redraws"]["per_task"], family):  # a new draw of a training family: in distribution
        row["task"] = names[r]
        row["generator"] = targets[r].mse(generate_tokens(bundle.model, shards[r], range(BATCHES)))
    report["redraws"]["summary"] |= summarise(report["redraws"]["per_task"], ["generator"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, report, indent=2)
    shutil.rmtree(args.work / "shards", ignore_errors=True)
    print(json.dumps({k: report[k] for k in ("variance", "mantel", "generator_output")}, indent=2))
    print(json.dumps(report["neighbours"]["summary"], indent=2))
    print(json.dumps(report["redraws"]["summary"], indent=2))
    print(json.dumps(report["delta_w"], indent=2))


if __name__ == "__main__":
    main()
