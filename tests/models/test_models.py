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


def _local_copy(tiny_model_dir, tmp_path, name):
    import shutil

    return shutil.copytree(tiny_model_dir, tmp_path / name)


def test_a_local_dir_needing_remote_code_says_so(tiny_model_dir, tmp_path):
    import json

    path = _local_copy(tiny_model_dir, tmp_path, "remote")
    config = json.loads((path / "config.json").read_text())
    config |= {"model_type": "xmodel", "auto_map": {"AutoConfig": "configuration_x.XConfig", "AutoModelForCausalLM": "modeling_x.X"}}
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="local directory .* custom Python code") as info:
        load_llm(str(path), device="cpu")
    assert "hub" not in str(info.value) and "not a local path" not in str(info.value)


class _Payload:
    def __reduce__(self):
        return (print, ("code ran",))


def test_a_local_dir_with_unsafe_pickle_weights_says_so(tiny_model_dir, tmp_path):
    from safetensors.torch import load_file

    path = _local_copy(tiny_model_dir, tmp_path, "pickle")
    weights = load_file(str(path / "model.safetensors"))
    (path / "model.safetensors").unlink()
    torch.save({"payload": _Payload(), **weights}, path / "pytorch_model.bin")
    with pytest.raises(ModelLoadError, match="local directory .* pickle that cannot be loaded safely") as info:
        load_llm(str(path), device="cpu")
    assert "not a local path" not in str(info.value)
