#!/usr/bin/env bash
# Residual-generator pipeline (every step resumes after a kill; run from the checkout root):
#   θ_union (reused if `degaml baseline union_lora` built it: same artifact) → residual collection (θ_union continued
#   on each in-domain task, collection recipe, seed 0) → residual generator (generator recipe, seed 0) → the four
#   arms on the held-out tasks' test splits → docs/results/residual-generator/heldout.json
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
META=specs/meta/in_domain.yaml
python -m degaml generator collect "$META" generator.mode=residual
python -m degaml generator train "$META" generator.mode=residual
python benchmarks/studies/residual_generator.py specs/sciq.yaml specs/openbookqa.yaml specs/commonsenseqa.yaml --meta "$META"

# What ran on 2026-12-07: this script as it is (1000 steps; 43 min of generator training on a Xeon with AMX, one
# thread) → docs/results/residual-generator/heldout.json. Before it, with the same collection and θ_union, a
# 200-step residual generator in its own out_dir (θ_union and the residual collection linked, not copied):
#   mkdir -p runs/meta/in_domain-s200
#   ln -sfn ../in_domain/baselines runs/meta/in_domain-s200/baselines
#   ln -sfn ../in_domain/collect-residual runs/meta/in_domain-s200/collect-residual
#   python -m degaml generator train "$META" generator.mode=residual generator.steps=200 out_dir=runs/meta/in_domain-s200
#   python benchmarks/studies/residual_generator.py specs/sciq.yaml specs/openbookqa.yaml specs/commonsenseqa.yaml \
#     --residual runs/meta/in_domain-s200/generator-residual --work runs/residual_generator-s200 \
#     --out docs/results/residual-generator/heldout-s200.json
