#!/usr/bin/env bash
# Base accuracy of each shipped spec's model (SmolLM2-135M-Instruct by default) on the labelled data the spec
# reads, scored in file order (`--split all`): the full file, or its first N items when N is given below. Tasks whose
# partition's test split serves the comparisons (the sklearn out-of-domain sets) score their validation split only.
# Writes one summary JSON per task to OUT (default docs/results/base) — docs/findings/evaluation.md is built from these.
# Usage: bash benchmarks/base_accuracy.sh [OUT] [TASK...]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/results/base}"
shift || true
mkdir -p "$out"
declare -A limit=(
  [arc_easy]="" [arc_challenge]="" [winogrande]="" [piqa]=1000 [boolq]=1000 [hellaswag]=500
  [gsm8k]=500 [math]=500 [rg_chain_sum]=500 [rg_letter_counting]=500 [rg_leg_counting]=500
)
declare -A split=([breast_cancer]=validation [digits]=validation)
tasks=("$@")
[ ${#tasks[@]} -gt 0 ] || tasks=(arc_easy arc_challenge winogrande piqa boolq hellaswag rg_chain_sum rg_letter_counting rg_leg_counting gsm8k math)
for task in "${tasks[@]}"; do
  n="${limit[$task]-}"
  echo "== $task (${n:-all} items, split ${split[$task]-all})"
  degaml eval "specs/$task.yaml" --split "${split[$task]-all}" ${n:+--limit "$n"} --json "$out/$task.json"
done
