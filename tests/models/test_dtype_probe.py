"""`dtype: auto` on CPU: decided by the cached bf16/fp32 probe, never by name; explicit dtypes are honoured."""

from __future__ import annotations

import json

import torch

from degaml.models import load_llm
from degaml.models.device import choose_dtype
from degaml.models.dtype_probe import MAX_REL_ERROR, MIN_SPEEDUP, cpu_probe, probe_cache_path, run_probe


def test_explicit_dtypes_are_honoured_without_a_probe(tmp_path, monkeypatch):
    monkeypatch.setenv("DEGAML_CACHE", str(tmp_path))
    assert choose_dtype("float32", torch.device("cpu"))[0] == torch.float32
    assert choose_dtype("bfloat16", torch.device("cpu"))[0] == torch.bfloat16
    assert not (tmp_path / "dtype_probe").exists()


def test_probe_measures_both_dtypes_and_its_choice_follows_the_rule():
    probe = run_probe(64, 128, reps=3)
    assert set(probe.gflops) == {"40", "512"}
    assert all(v["float32"] > 0 and v["bfloat16"] > 0 for v in probe.gflops.values())
    assert 0 < probe.rel_error < MAX_REL_ERROR  # bf16 rounds (non-zero) and stays within its precision
    fast = all(s >= MIN_SPEEDUP for s in probe.speedups().values())
    assert probe.choice == ("bfloat16" if fast else "float32")
    assert torch.get_num_threads() >= 1  # the probe's single thread was restored


def test_auto_on_cpu_uses_the_cached_probe(tmp_path, monkeypatch):
    monkeypatch.setenv("DEGAML_CACHE", str(tmp_path))
    first = cpu_probe(64, 128)
    path = probe_cache_path(64, 128)
    assert path.is_file() and cpu_probe(64, 128) == first  # cached: the second call reads the file
    for choice, dtype in (("bfloat16", torch.bfloat16), ("float32", torch.float32)):
        path.write_text(json.dumps(first.model_dump() | {"choice": choice}))
        got, why = choose_dtype("auto", torch.device("cpu"), (64, 128))
        assert got == dtype and why.startswith(f"auto: {choice} (CPU probe")


def test_load_llm_records_how_the_dtype_was_chosen(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("DEGAML_CACHE", str(tmp_path))
    loaded = load_llm(str(tiny_model_dir), device="cpu", dtype="auto")
    probe = cpu_probe(loaded.model.config.hidden_size, loaded.model.config.intermediate_size)
    assert loaded.dtype == (torch.bfloat16 if probe.choice == "bfloat16" else torch.float32)
    assert next(loaded.model.parameters()).dtype == loaded.dtype
    assert loaded.dtype_reason.startswith(f"auto: {probe.choice}")
    assert load_llm(str(tiny_model_dir), device="cpu", dtype="float32").dtype_reason == "float32 (asked for)"
