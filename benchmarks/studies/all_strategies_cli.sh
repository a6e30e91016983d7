#!/usr/bin/env bash
# Every strategy family and every TTS method through `degaml strategy run` on the embedded default
# (SmolLM2-135M + shipped generator), ARC-Easy, first 50 validation items (num_validation=50 keeps it quick).
# Writes docs/results/strategies/cli_arc_easy/<name>.json (family, params, baseline_accuracy, accuracy, seconds, ...).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=docs/results/strategies/cli_arc_easy
mkdir -p "$out"
run() {  # name action-json
  degaml strategy run specs/arc_easy.yaml num_validation=50 --action "$2" --work-dir "runs/strategy/cli-$1" --json "$out/$1.json" || true
}
run ttt '{"family": "ttt", "ttl_steps": 5, "learning_rate": 1e-4, "batch_size": 4, "shuffle_data": true}'
for method in max_confidence majority_vote sum_logprobs avg_sim_score avg_prompt_embed; do
  run "tts_$method" "{\"family\": \"tts\", \"num_prompt_batches\": 2, \"method\": \"$method\"}"
done
run lora_mix '{"family": "lora_mix", "lambda": 0.5}'
run slot '{"family": "slot", "times": 3, "learning_rate": 0.01}'
python - "$out" <<'PY'
import json, sys
from pathlib import Path
print("| run | params | θ₀ | adapted | seconds |\n| --- | --- | --- | --- | --- |")
for f in sorted(Path(sys.argv[1]).glob("*.json")):
    r = json.loads(f.read_text())
    params = {k: v for k, v in r["params"].items() if k != "family"}
    print(f"| {f.stem} | {json.dumps(params)} | {100 * r['baseline_accuracy']:.0f} | {100 * r['accuracy']:.0f} | {r['seconds']:.0f} |")
PY
