#!/usr/bin/env bash
# Two baselines on one task under the comparison protocol (docs/comparison.md), then their paired test.
# Writes OUT/<method>.json (the `degaml baseline` record, with per-item test correctness) and prints the
# docs/history.md rows (benchmarks/baselines_report.py).
# Usage: bash benchmarks/baselines_pair.sh [SPEC] [OUT] [METHOD...]   (default: specs/arc_easy.yaml, base no_meta_lora)
set -euo pipefail
cd "$(dirname "$0")/.."
spec="${1:-specs/arc_easy.yaml}"
out="${2:-docs/results/baselines}"
shift 2 || true
methods=("$@")
[ ${#methods[@]} -gt 0 ] || methods=(base no_meta_lora)
mkdir -p "$out"
task="$(basename "$spec" .yaml)"
for m in "${methods[@]}"; do
  echo "== $m on $task (cpu profile)"
  nice -n 15 python -m degaml baseline "$m" "$spec" --profile cpu --json "$out/$task-$m.json" --work-dir "runs/baselines/$task-$m"
done
python benchmarks/baselines_report.py $(for m in "${methods[@]}"; do echo "$out/$task-$m.json"; done)
