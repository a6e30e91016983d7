#!/usr/bin/env bash
# Agreement check for generative scoring: degaml's GSM8K evaluator vs lm-evaluation-harness, same model, same items.
#
# lm-eval scores the first N items of the shared gsm8k/test.jsonl with benchmarks/speed/lm_eval_tasks/gsm8k.yaml.in
# (lm-eval's `gsm8k` prompt, stop strings, flexible-extract filter and exact_match cleaning; zero-shot and at most
# 160 new tokens, as specs/gsm8k.yaml), `degaml eval specs/gsm8k.yaml --split all --limit N` scores the same items,
# and a markdown table compares accuracy, per-item correctness, extracted answers and the generated text.
#
# Usage: bash benchmarks/speed/compare_lm_eval_gsm8k.sh [N]     (default N = 100)
# Environment: LM_EVAL_VENV, DEGAML_SHARED_DATA, DEGAML_MODEL_DIR, COMPARE_OUT, BATCH_SIZE as in compare_lm_eval.sh.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
n="${1:-100}"
venv="${LM_EVAL_VENV:-/work/lmeval-venv}"
data="$(cd "${DEGAML_SHARED_DATA:-$repo/../shared/data}" && pwd)"
out="${COMPARE_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/degaml-lm-eval-gsm8k.XXXXXX")}"
batch="${BATCH_SIZE:-16}"
mkdir -p "$out/tasks"
out="$(cd "$out" && pwd)"
[ -x "$venv/bin/lm_eval" ] || { echo "no lm_eval in $venv (set LM_EVAL_VENV)" >&2; exit 2; }
model="${DEGAML_MODEL_DIR:-$(python -c 'from degaml.models.llm import prepare_default_model; print(prepare_default_model())')}"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false DEGAML_SHARED_DATA="$data"
sed "s|@DATA_DIR@|$data|g" benchmarks/speed/lm_eval_tasks/gsm8k.yaml.in >"$out/tasks/gsm8k.yaml"

echo "== gsm8k: lm-eval on $n items" >&2
t0=$(date +%s)
"$venv/bin/lm_eval" --model hf --model_args "pretrained=$model,dtype=float32" --device cpu \
  --batch_size "$batch" --include_path "$out/tasks" --tasks degaml_gsm8k --limit "$n" \
  --output_path "$out/lm_eval" --log_samples >"$out/lm_eval.log" 2>&1 || { tail -30 "$out/lm_eval.log" >&2; exit 1; }
t1=$(date +%s)
echo "== gsm8k: degaml on $n items" >&2
degaml eval specs/gsm8k.yaml device=cpu dtype=float32 --split all --limit "$n" \
  --json "$out/degaml.json" --predictions "$out/degaml_predictions.jsonl" >"$out/degaml.log" 2>&1 \
  || { tail -30 "$out/degaml.log" >&2; exit 1; }
t2=$(date +%s)

python - "$out" "$n" "$((t1 - t0))" "$((t2 - t1))" <<'PY' | tee "$out/table.md"
import glob, json, sys

out, n, t_lm, t_dg = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
res = json.load(open(sorted(glob.glob(f"{out}/lm_eval/**/results_*.json", recursive=True))[-1]))
lm_acc = res["results"]["degaml_gsm8k"]["exact_match,flexible-extract"]
samples = sorted((json.loads(line) for p in glob.glob(f"{out}/lm_eval/**/samples_*.jsonl", recursive=True) for line in open(p)),
                 key=lambda s: s["doc_id"])
preds = [json.loads(line) for line in open(f"{out}/degaml_predictions.jsonl")]
assert len(samples) == len(preds) == n, (len(samples), len(preds), n)
dg_acc = sum(p["correct"] for p in preds) / n
text_diff = answer_diff = correct_diff = 0
for s, p in zip(samples, preds):
    assert s["doc"]["id"] == p["id"], (s["doc"]["id"], p["id"])
    lm_text, lm_answer = s["resps"][0][0], s["filtered_resps"][0]
    text_diff += lm_text.strip() != (p.get("output") or "").strip()
    answer_diff += lm_answer != (p["prediction"] if p["prediction"] is not None else "[invalid]")  # both: the raw regex match
    correct_diff += bool(s["exact_match"]) != bool(p["correct"])
print("| task | N | lm-eval exact_match (flexible-extract) % | degaml accuracy % | Δ (pts) | items: different correctness "
      "| different extracted answer | different generated text | lm-eval s | degaml s |")
print("|---|---|---|---|---|---|---|---|---|---|")
print(f"| gsm8k (0-shot, ≤160 tokens) | {n} | {100 * lm_acc:.2f} | {100 * dg_acc:.2f} | {100 * (dg_acc - lm_acc):+.2f} "
      f"| {correct_diff} | {answer_diff} | {text_diff} | {t_lm} | {t_dg} |")
PY
echo "outputs: $out" >&2
