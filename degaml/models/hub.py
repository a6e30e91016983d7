"""Hugging Face hub reachability and the one-line message when a hub model cannot be had.

transformers retries an unreachable hub for ~25 s before failing; we check reachability once, quickly, so a
user without network gets an immediate, actionable line naming the offline default instead.
"""

from __future__ import annotations

import os
import socket
from functools import lru_cache
from urllib.parse import urlparse

HUB_PROBE_TIMEOUT_S = 3.0


@lru_cache(maxsize=1)
def hub_reachable() -> bool:
    """True when the hub endpoint accepts a TCP connection and offline mode is not forced."""
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes"}:
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        with socket.create_connection((host, 443), timeout=HUB_PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


def local_refusal(text: str) -> str | None:
    """Why a local model directory was refused, when it was for safety (remote code, a pickle); else None."""
    lowered = text.lower()
    if "custom code" in lowered or "trust_remote_code" in lowered:
        return ("it contains custom Python code (remote code), which runs only with trust_remote_code: true in the spec "
                "and --trust-remote-code on the command line")
    if "pickle" in lowered or "weights_only" in lowered or "unpickl" in lowered:
        return "its weights are a pickle that cannot be loaded safely; convert them to safetensors"
    return None


def hub_error_message(kind: str, name: str, exc: BaseException, offline_default: str, local: bool = False) -> str:
    """One line explaining why `name` (a hub id, or a `local` path) could not be loaded, naming the offline default."""
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if local:
        reason = local_refusal(f"{exc} {exc.__cause__ or ''}") or first_line
        return f"{kind}: cannot load the local directory '{name}': {reason}"
    if not hub_reachable():
        return (
            f"{kind}: cannot load '{name}': it is not a local path and the Hugging Face hub is unreachable; "
            f"use {kind}: {offline_default}, which works offline"
        )
    return f"{kind}: cannot load '{name}': {first_line}"
