#!/usr/bin/env bash
# In-domain Tables 1–2, leave-one-task-out, filled task by task (resumable: every step skips what is done).
# Needs the in-domain collection first (resumable):
#   degaml generator collect specs/meta/in_domain.yaml collection.eval_checkpoints=0
# Per TASK: the generator trained without it (`degaml generator train --exclude TASK`, skipped once built), then
# `degaml reproduce table2` and `table1` on that task into OUT (cells cached by their inputs; reproduce builds the
# leave-one-out union-LoRA / MAML / ABMLL artifacts itself). Same settings as the out-of-domain tables
# (`--set adapt.steps=2`, one seed of the trained baselines). The DeGAML row uses the shipped policy, trained on
# reasoning-gym families only (its manifest excludes all six in-domain tasks).
# Usage: bash benchmarks/in_domain_tables.sh [TASK...]   (spec stems; default: the six of specs/meta/in_domain.yaml)
#        OUT=runs/tables-in-domain (default); TABLES="table2 table1" (default; e.g. TABLES=table2 for the generator
#        rows only, so that a second process can fill Table 1's baseline cells of the same tasks side by side)
set -euo pipefail
cd "$(dirname "$0")/.."
meta=specs/meta/in_domain.yaml
out="${OUT:-runs/tables-in-domain}"
read -r -a tables <<< "${TABLES:-table2 table1}"
tasks=("$@")
[ ${#tasks[@]} -gt 0 ] || tasks=(arc_challenge arc_easy hellaswag boolq piqa winogrande)
for task in "${tasks[@]}"; do
  gen="$(python -c "import sys; from degaml.generator.pipeline import generator_dir; from degaml.specs.load import load_meta_spec; print(generator_dir(load_meta_spec(sys.argv[1]), [sys.argv[2]]))" "$meta" "$task")"
  if [ ! -f "$gen/generator.json" ]; then
    echo "== generator without $task → $gen"
    python -m degaml generator train "$meta" --exclude "$task"
  fi
  for table in "${tables[@]}"; do
    echo "== $table on $task"
    # a failed cell (e.g. the DeGAML run locked by a second process) is reported in the table; go on with the rest
    python -m degaml reproduce "$table" --meta "$meta" --tasks "specs/$task.yaml" --set adapt.steps=2 --out "$out" \
      || echo "== $table on $task: some cells failed (see $out/$table.json); re-run to retry them"
  done
done
