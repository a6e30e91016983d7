#!/usr/bin/env bash
# Held-out comparison of the shipped policy under the default reward rule (every step resumes after a kill; run from
# the checkout root): SciQ, OpenBookQA, CommonsenseQA and the four reasoning-gym families held out of every meta spec
# (gcd, word_sorting, syllogism, binary_alternation), trained baselines over 3 seeds, test read once per cell.
#   1. the in-domain collection (the LoRA library of `library_mix` and `best_source`; resumable, ~15 min on 2 cores)
#   2. the committed cells of rows that depend on neither the policy nor the reward rule are copied into OUT (found by
#      their content keys: base, θ₀, the baselines); the DeGAML rows are keyed by the policy's sha256 and the rule
#   3. `degaml reproduce heldout` fills the rest → OUT/heldout.{json,md,png}
# Usage: bash benchmarks/studies/heldout_policy_pipeline.sh   (OUT=runs/tables-heldout-policy by default)
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
out="${OUT:-runs/tables-heldout-policy}"
python -m degaml generator collect specs/meta/in_domain.yaml collection.eval_checkpoints=0
mkdir -p "$out/cells"
for d in docs/results/tables-heldout docs/results/tables-heldout-rules docs/results/tables-heldout-rules/rg \
         docs/results/tables-heldout-strict docs/results/tables-ood docs/results/tables-heldout-policy; do
  cp -rn "$d/cells/." "$out/cells/"
done
tasks=()
for t in sciq openbookqa commonsenseqa rg/gcd rg/word_sorting rg/syllogism rg/binary_alternation; do
  tasks+=(--tasks "specs/$t.yaml")
done
rows=()
for r in base generator majority degaml degaml_random best_family union_lora no_meta_lora tfew fewshot_random \
         fewshot_nearest calibrate_contextual calibrate_batch calibrate_support_bias calibrate_pmi library_mix best_source; do
  rows+=(--row "$r")
done
python -m degaml reproduce heldout "${tasks[@]}" "${rows[@]}" --seeds 3 --set adapt.steps=2 --out "$out"
