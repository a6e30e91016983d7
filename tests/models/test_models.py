"""Model loading: local dirs, bad paths, unreachable hub, device/dtype resolution, encoder path."""

from __future__ import annotations

import pytest
import torch

from degaml.errors import ModelLoadError
from degaml.models import load_llm, resolve_device, resolve_dtype
from degaml.models import hub


def test_local_model_dir_loads_in_eval_mode_with_pad_token(tiny_model_dir):
    loaded = load_llm(str(tiny_model_dir), device="cpu", dtype="float32")
    assert not loaded.model.training and loaded.tokenizer.pad_token is not None
    assert loaded.device == torch.device("cpu") and loaded.dtype == torch.float32


def test_bfloat16_is_honoured(tiny_model_dir):
    loaded = load_llm(str(tiny_model_dir), device="cpu", dtype="bfloat16")
    assert next(loaded.model.parameters()).dtype == torch.bfloat16


@pytest.mark.parametrize("name,match", [("./no/such/dir", "does not exist"), ("/tmp/x.gguf", "GGUF file")])
def test_bad_local_paths(name, match):
    with pytest.raises(ModelLoadError, match=match):
        load_llm(name, device="cpu")


def test_dir_without_config(tmp_path):
    with pytest.raises(ModelLoadError, match="no config.json"):
        load_llm(str(tmp_path), device="cpu")


def test_unreachable_hub_names_the_offline_default(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub.hub_reachable.cache_clear()
    try:
        with pytest.raises(ModelLoadError) as info:
            load_llm("someone/not-cached-model-xyz", device="cpu")
    finally:
        hub.hub_reachable.cache_clear()
    message = str(info.value)
    assert "unreachable" in message and "model: default" in message and "\n" not in message


def test_device_and_dtype_resolution():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_dtype("float32", torch.device("cpu")) == torch.float32
    if not torch.cuda.is_available():
        assert resolve_device("auto") == torch.device("cpu")
        with pytest.raises(ModelLoadError, match="cuda"):
            resolve_device("cuda")


def test_embedded_encoder_is_located_without_import():
    from degaml.models.encoder import embedded_encoder_path

    path = embedded_encoder_path()
    assert (path / "model.safetensors").is_file() or (path / "config.json").is_file()
