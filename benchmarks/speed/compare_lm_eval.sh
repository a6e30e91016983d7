#!/usr/bin/env bash
# Agreement check: degaml's multiple-choice evaluator vs lm-evaluation-harness, same model, same data, same items.
#
# For each task, lm-eval scores the first N items of the shared JSONL with a custom task generated from
# benchmarks/speed/lm_eval_tasks/<task>.yaml.in (lm-eval's default prompt for that task), `degaml eval specs/<task>.yaml
# --split all --limit N` scores the same N items, and a markdown table of acc / acc_norm and their differences
# (in points) is printed, plus per-item agreement computed from lm-eval's --log_samples and degaml's --predictions.
#
# Usage: bash benchmarks/speed/compare_lm_eval.sh [TASK[:N] ...]
#   TASK: arc_easy arc_challenge winogrande piqa boolq hellaswag (default: all six, in that order)
#   N:    items (default: the whole file for ARC, 500 otherwise; "all" = the whole file)
# Environment (all optional):
#   LM_EVAL_VENV        virtualenv with lm-eval installed            (default /work/lmeval-venv)
#   DEGAML_SHARED_DATA  the shared normalized data dir               (default ../shared/data from the repo root)
#   DEGAML_MODEL_DIR    transformers model dir used by both sides    (default: degaml's cached default model,
#                       $DEGAML_CACHE/models/smollm2-135m-instruct-q4_1, converted first if missing)
#   COMPARE_OUT         where outputs and table.md go                (default: a new dir under ${TMPDIR:-/tmp})
#   BATCH_SIZE          lm-eval --batch_size                          (default 16)
# Set up lm-eval once, outside the repo, without touching the system torch/transformers/datasets:
#   python -m venv --system-site-packages /work/lmeval-venv && /work/lmeval-venv/bin/pip install lm-eval==0.4.13
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
venv="${LM_EVAL_VENV:-/work/lmeval-venv}"
data="$(cd "${DEGAML_SHARED_DATA:-$repo/../shared/data}" && pwd)"
out="${COMPARE_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/degaml-lm-eval.XXXXXX")}"
batch="${BATCH_SIZE:-16}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

[ -x "$venv/bin/lm_eval" ] || { echo "no lm_eval in $venv (set LM_EVAL_VENV)" >&2; exit 2; }
command -v degaml >/dev/null || { echo "degaml is not on PATH" >&2; exit 2; }

if [ -n "${DEGAML_MODEL_DIR:-}" ]; then
  model="$DEGAML_MODEL_DIR"
else
  model="$(python -c 'from degaml.models.llm import prepare_default_model; print(prepare_default_model())')"
fi

# Both sides read the shared file: no hub (degaml's specs would otherwise prefer the hub copy of the data).
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false DEGAML_SHARED_DATA="$data"

declare -A default_n=([arc_easy]=all [arc_challenge]=all [winogrande]=500 [piqa]=500 [boolq]=500 [hellaswag]=500)
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(arc_easy arc_challenge winogrande piqa boolq hellaswag)

# (a) task YAMLs with this machine's data path
tasks_dir="$out/tasks"
mkdir -p "$tasks_dir"
for tmpl in "$repo"/benchmarks/speed/lm_eval_tasks/*.yaml.in; do
  name="$(basename "$tmpl" .in)"
  sed "s|@DATA_DIR@|$data|g" "$tmpl" >"$tasks_dir/$name"
done

rows=()
for arg in "${args[@]}"; do
  task="${arg%%:*}"
  n="${arg#*:}"
  [ "$n" != "$arg" ] || n="${default_n[$task]:-}"
  [ -n "$n" ] || { echo "unknown task '$task'" >&2; exit 2; }
  file="$data/$task/validation.jsonl"
  [ -f "$file" ] || { echo "missing $file" >&2; exit 2; }
  total="$(wc -l <"$file")"
  if [ "$n" = all ] || [ "$n" -gt "$total" ]; then n="$total"; fi
  dir="$out/$task"
  mkdir -p "$dir"

  # (b) lm-eval
  echo "== $task: lm-eval on $n items" >&2
  t0=$(date +%s)
  "$venv/bin/lm_eval" --model hf --model_args "pretrained=$model,dtype=float32" --device cpu \
    --batch_size "$batch" --include_path "$tasks_dir" --tasks "degaml_$task" --limit "$n" \
    --output_path "$dir/lm_eval" --log_samples >"$dir/lm_eval.log" 2>&1 \
    || { tail -30 "$dir/lm_eval.log" >&2; exit 1; }
  t1=$(date +%s)

  # (c) degaml
  echo "== $task: degaml on $n items" >&2
  degaml eval "specs/$task.yaml" device=cpu dtype=float32 --split all --limit "$n" \
    --json "$dir/degaml.json" --predictions "$dir/degaml_predictions.jsonl" >"$dir/degaml.log" 2>&1 \
    || { tail -30 "$dir/degaml.log" >&2; exit 1; }
  t2=$(date +%s)
  rows+=("$task $n $((t1 - t0)) $((t2 - t1))")
done

# (d) the table
python - "$out" "${rows[@]}" <<'EOF' | tee "$out/table.md"
import glob, json, sys

out, rows = sys.argv[1], [r.split() for r in sys.argv[2:]]

def pts(x):
    return "–" if x is None else f"{100 * x:.2f}"

def diff(a, b):
    return "–" if a is None or b is None else f"{100 * (b - a):+.2f}"

print("| task | N | lm-eval acc | lm-eval acc_norm | degaml acc | degaml acc_norm | Δacc (pts) | Δacc_norm (pts) "
      "| items, different argmax | max abs Δ log-lik | lm-eval s | degaml s |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for task, n, t_lm, t_dg in rows:
    res = json.load(open(sorted(glob.glob(f"{out}/{task}/lm_eval/**/results_*.json", recursive=True))[-1]))
    r = res["results"][f"degaml_{task}"]
    lm_acc, lm_norm = r.get("acc,none"), r.get("acc_norm,none")
    dg = json.load(open(f"{out}/{task}/degaml.json"))
    dg_acc, dg_norm = dg["acc"], dg.get("acc_norm")
    if task == "winogrande":  # lm-eval's acc_norm is not defined for partial scoring; degaml's equals acc
        lm_norm = dg_norm = None
    samples = sorted(
        (json.loads(line) for path in glob.glob(f"{out}/{task}/lm_eval/**/samples_*.jsonl", recursive=True)
         for line in open(path)),
        key=lambda s: s["doc_id"],
    )
    preds = [json.loads(line) for line in open(f"{out}/{task}/degaml_predictions.jsonl")]
    assert len(samples) == len(preds) == int(n), (len(samples), len(preds), n)
    flips, worst = 0, 0.0
    for s, p in zip(samples, preds):
        assert s["doc"]["id"] == p["id"], (s["doc"]["id"], p["id"])
        ll = [float(x[0]) for x in s["filtered_resps"]]
        flips += max(range(len(ll)), key=ll.__getitem__) != max(range(len(ll)), key=p["scores"].__getitem__)
        worst = max(worst, max(abs(a - b) for a, b in zip(ll, p["scores"])))
    print(f"| {task} | {n} | {pts(lm_acc)} | {pts(lm_norm)} | {pts(dg_acc)} | {pts(dg_norm)} | {diff(lm_acc, dg_acc)} "
          f"| {diff(lm_norm, dg_norm)} | {flips} | {worst:.2e} | {t_lm} | {t_dg} |")
EOF
echo "outputs: $out" >&2
