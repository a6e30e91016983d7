#!/usr/bin/env bash
# Issue 35 pipeline (every step resumes after a kill; run from the checkout root):
#   θ_union (reused if `degaml baseline union_lora` built it: same artifact) → residual collection (θ_union continued
#   on each in-domain task, collection recipe, seed 0) → residual generator (generator recipe, seed 0) → the four
#   arms on the held-out tasks' test splits → docs/results/residual-generator/heldout.json
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
META=specs/meta/in_domain.yaml
python -m degaml generator collect "$META" generator.mode=residual
python -m degaml generator train "$META" generator.mode=residual
python benchmarks/studies/residual_generator.py specs/sciq.yaml specs/openbookqa.yaml specs/commonsenseqa.yaml --meta "$META"
