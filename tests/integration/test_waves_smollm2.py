"""Row compaction on the real embedded SmolLM2-135M (fp32, offline): GSM8K validation prompts with the spec's stop
strings give the same texts decoded in waves (finished rows dropped, unfinished rows of two batches merged) as
with one `generate` per batch. Never checks speed (benchmarks/speed/generation_compaction.py measures it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from degaml.data import load_task_data, shared_data_dir
from degaml.evaluation import PromptBuilder
from degaml.evaluation.generation import generate_greedy
from degaml.evaluation.waves import SINGLE_WAVE, WaveSchedule
from degaml.specs import load_spec

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def test_waves_give_the_same_texts_on_real_gsm8k_prompts(monkeypatch):
    import degaml.evaluation.generation as generation
    from degaml.models import load_llm

    if shared_data_dir(REPO) is None:
        pytest.skip("shared benchmark data not beside this checkout")
    spec = load_spec(REPO / "specs" / "gsm8k.yaml")
    data = load_task_data(spec)
    prompts = [PromptBuilder(spec, data.train).context(ex) for ex in data.split("validation")[:12]]
    loaded = load_llm("default", device="cpu", dtype="float32")
    args = (loaded.model, loaded.tokenizer, prompts, spec.generation.until, 40, 6, spec.max_length)
    single = generate_greedy(*args, schedule=SINGLE_WAVE)
    merged_parts: list[int] = []
    real = generation.merge
    monkeypatch.setattr(generation, "merge", lambda parts, pad: merged_parts.append(len(parts)) or real(parts, pad))
    waves = generate_greedy(*args, schedule=WaveSchedule(first=30, growth=1.5))  # waves end at 30, 40
    assert [(g.text, g.n_new_tokens) for g in waves] == [(g.text, g.n_new_tokens) for g in single]
    lengths = [g.n_new_tokens for g in single]
    assert any(30 < n < 40 for n in lengths) and any(n < 30 for n in lengths)  # rows end in different waves
    assert max(merged_parts, default=0) == 2  # the two batches' unfinished rows decoded together
