"""Where degaml caches what it derives on this machine (converted models, dtype probes): $DEGAML_CACHE, else
~/.cache/degaml."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """Root of degaml's cache: $DEGAML_CACHE, else ~/.cache/degaml."""
    return Path(os.environ.get("DEGAML_CACHE", Path.home() / ".cache" / "degaml"))
