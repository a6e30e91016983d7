"""`include:` in spec files (lm-evaluation-harness task YAML style): a spec names one base YAML file, or a list of
them, whose keys it inherits.

Semantics:
- `include: base.yaml` or `include: [a.yaml, b.yaml]`; paths are relative to the file that writes them.
- The bases are applied in order (a later one wins over an earlier one) and the including file wins over all of
  them. Nested mappings merge key by key; lists and scalars replace as a whole.
- A base may itself include others, at most `MAX_INCLUDE_DEPTH` levels deep and `MAX_INCLUDE_FILES` files in all.
- Paths are confined to the directory tree of the spec file that was named (the root): an include must be a
  relative `.yaml`/`.yml` path (no absolute path, no `~`) that, symlinks resolved, stays under the root.
- Relative paths written inside a base (local data files, a meta spec's tasks) are read relative to the spec file
  that was named, as if its text were written there.

A cycle, a missing or unreadable file, a base that is not a mapping, a path outside the root, too deep a chain:
each is one `SpecError` line `<including file>: include: <problem> (got "<value>")`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from degaml.errors import SpecError

INCLUDE_KEY = "include"
MAX_INCLUDE_DEPTH = 8
MAX_INCLUDE_FILES = 64
SUFFIXES = (".yaml", ".yml")

ReadYaml = Callable[[Path], Any]  # file → parsed YAML; raises SpecError naming the file

INCLUDE_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "minLength": 1},
        {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
    ],
    "title": "Include",
    "description": "base YAML file(s), relative to this file and inside the named spec's directory tree, whose keys "
                   "this spec inherits: applied in order, this file's keys win; nested mappings merge, lists and "
                   f"scalars replace; bases may include others ({MAX_INCLUDE_DEPTH} levels at most)",
}


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`: mappings present in both merge recursively; anything else in `over` replaces."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _names(value: Any, source: Path) -> list[tuple[str, str]]:
    """The include value as (field label, path text) pairs, or one SpecError."""
    if isinstance(value, str):
        items, labels = [value], [INCLUDE_KEY]
    elif isinstance(value, list) and value:
        items, labels = value, [f"{INCLUDE_KEY}[{i}]" for i in range(len(value))]
    else:
        raise SpecError(f"{source}: {INCLUDE_KEY}: expected a file name or a non-empty list of them (got {value!r:.80})")
    for label, item in zip(labels, items):
        if not isinstance(item, str) or not item.strip():
            raise SpecError(f"{source}: {label}: expected a file name (got {item!r:.80})")
    return list(zip(labels, items))


def _target(text: str, label: str, source: Path, root: Path) -> Path:
    """The file an include names, checked to be a relative YAML path that stays under `root`."""
    got = f'(got "{text[:120]}")'
    if text.startswith("~") or Path(text).is_absolute():
        raise SpecError(f"{source}: {label}: must be a path relative to this file, not an absolute one {got}")
    if not text.lower().endswith(SUFFIXES):
        raise SpecError(f"{source}: {label}: must name a {' or '.join(SUFFIXES)} file {got}")
    target = (source.parent / text).resolve()
    if not target.is_relative_to(root):
        raise SpecError(f"{source}: {label}: leaves the spec's directory ({root}) {got}")
    if not target.is_file():
        raise SpecError(f"{source}: {label}: file not found {got}")
    return target


class _Resolver:
    """One resolution: the root directory and the number of files read so far."""

    def __init__(self, root: Path, read: ReadYaml) -> None:
        self.root, self.read, self.files = root, read, 0

    def resolve(self, data: Any, source: Path, chain: tuple[Path, ...]) -> Any:
        if not isinstance(data, dict) or INCLUDE_KEY not in data:
            return data
        own = {k: v for k, v in data.items() if k != INCLUDE_KEY}
        merged: dict[str, Any] = {}
        for label, text in _names(data[INCLUDE_KEY], source):
            target = _target(text, label, source, self.root)
            got = f'(got "{text[:120]}")'
            if target in chain:
                loop = " → ".join(p.name for p in (*chain[chain.index(target):], target))
                raise SpecError(f"{source}: {label}: include cycle {loop} {got}")
            if len(chain) > MAX_INCLUDE_DEPTH:
                raise SpecError(f"{source}: {label}: includes nest deeper than {MAX_INCLUDE_DEPTH} levels {got}")
            self.files += 1
            if self.files > MAX_INCLUDE_FILES:
                raise SpecError(f"{source}: {label}: more than {MAX_INCLUDE_FILES} included files in all {got}")
            base = self.read(target)
            if not isinstance(base, dict):
                kind = "an empty file" if base is None else f"a {type(base).__name__}"
                raise SpecError(f"{source}: {label}: the included file must be a mapping of keys, not {kind} {got}")
            merged = deep_merge(merged, self.resolve(base, target, (*chain, target)))
        return deep_merge(merged, own)


def resolve_includes(data: Any, path: Path, read: ReadYaml) -> Any:
    """`data` (parsed from the spec file `path`) with every `include:` resolved; data without one is returned as is.

    `read` parses one included file (bounded like the spec itself) and raises SpecError naming that file."""
    source = Path(path).resolve()
    return _Resolver(source.parent, read).resolve(data, Path(path), (source,))
