"""Reading YAML task specs: `yaml.safe_load`, `include:` of base files (degaml.specs.include), `key=value` overrides,
and one-line errors naming the field.

Every failure raises `SpecError` with `<file>: <field path>: <problem> (got <value>)`, never a traceback.
Hostile files are bounded before they can cost memory or time: a spec may be at most `MAX_SPEC_BYTES`, nest at most
`MAX_DEPTH` levels, and expand (aliases counted at every use) to at most `MAX_NODES` YAML nodes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError

from degaml.errors import SpecError
from degaml.specs.include import INCLUDE_KEY, INCLUDE_SCHEMA, resolve_includes
from degaml.specs.meta import MetaSpec
from degaml.specs.model import TaskSpec

ModelT = TypeVar("ModelT", TaskSpec, MetaSpec)
MAX_SPEC_BYTES = 1_000_000
MAX_DEPTH = 50
MAX_NODES = 100_000


class SpecTooLarge(yaml.YAMLError):
    """The YAML is nested too deeply or expands (through aliases) to too many nodes."""


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses deep nesting while composing (before Python recursion can blow up)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):  # type: ignore[no-untyped-def]
        self._depth += 1
        if self._depth > MAX_DEPTH:
            mark = self.peek_event().start_mark
            raise SpecTooLarge(f"line {mark.line + 1}: nesting deeper than {MAX_DEPTH} levels")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """Nodes `node` stands for once every alias is expanded (memoized: linear in the composed graph)."""
    if id(node) in memo:
        return memo[id(node)]
    memo[id(node)] = MAX_NODES + 1  # a cycle (recursive alias) counts as unbounded
    if isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(child, memo) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    else:
        size = 1
    memo[id(node)] = min(size, MAX_NODES + 1)
    return memo[id(node)]


def safe_load_bounded(text: str) -> Any:
    """`yaml.safe_load` with bounded nesting depth and alias expansion (raises yaml.YAMLError beyond them)."""
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, {}) > MAX_NODES:
            raise SpecTooLarge(f"expands to more than {MAX_NODES} YAML nodes once aliases are expanded")
        return loader.construct_document(node)
    finally:
        loader.dispose()


def parse_override(text: str) -> tuple[list[str], Any]:
    """`a.b=value` → (["a", "b"], value parsed as YAML, so `3` is an int and `[x, y]` a list)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip() or any(not part for part in key.strip().split(".")):
        raise SpecError(f"override '{text}': expected key=value (e.g. num_validation=50 or generation.max_new_tokens=64)")
    try:
        value = safe_load_bounded(raw) if raw.strip() else ""
    except (yaml.YAMLError, RecursionError) as exc:
        raise SpecError(f"override '{text}': value is not valid YAML ({_yaml_problem(exc)})") from exc
    return key.strip().split("."), value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of `data` with each `key=value` override applied (nested keys by dots)."""
    data = json.loads(json.dumps(data))  # deep copy of plain YAML data
    for text in overrides:
        path, value = parse_override(text)
        node = data
        for part in path[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise SpecError(f"override '{text}': '{part}' is not a section")
            node = child
        node[path[-1]] = value
    return data


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark else problem


def _format_location(loc: tuple) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif str(item).startswith(("function-", "tagged-union")):
            continue
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(top level)"


def validation_message(source: str, exc: ValidationError) -> str:
    """One line for the first pydantic error: file, field path, message and offending value."""
    errors = exc.errors()
    first = errors[0]
    loc = _format_location(first["loc"])
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    value = first.get("input")
    shown = "" if first["type"] == "missing" or isinstance(value, dict) else f" (got {json.dumps(value, default=str)[:80]})"
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{source}: {loc}: {msg}{shown}{more}"


def _validate(model: type[ModelT], data: Any, source: str, path: Path | None) -> ModelT:
    """Parsed YAML → a spec model, or one SpecError line; remembers the file it came from."""
    if data is None:
        raise SpecError(f"{source}: spec is empty")
    if not isinstance(data, dict):
        raise SpecError(f"{source}: a spec must be a mapping of keys, got {type(data).__name__}")
    if INCLUDE_KEY in data:
        raise SpecError(f"{source}: {INCLUDE_KEY}: resolved only when a spec file is read (load_spec), not here")
    _check_kind(model, data, source)
    try:
        spec = model.model_validate(data)
    except ValidationError as exc:
        raise SpecError(validation_message(source, exc)) from None
    spec._path = path
    return spec


def _check_kind(model: type[ModelT], data: dict[str, Any], source: str) -> None:
    """A task spec where a meta spec is expected (or the reverse) is named as such, not as missing fields."""
    is_task, is_meta = "task" in data and "tasks" not in data, "tasks" in data and "task" not in data
    if model is MetaSpec and is_task:
        raise SpecError(f"{source}: this is a task spec; this command takes a meta spec (specs/meta/…)")
    if model is TaskSpec and is_meta:
        raise SpecError(f"{source}: this is a meta spec (a list of tasks); this command takes a task spec (specs/<task>.yaml)")


def spec_from_dict(data: Any, source: str = "<spec>", path: Path | None = None) -> TaskSpec:
    """Validate already-parsed YAML data into a TaskSpec."""
    spec = _validate(TaskSpec, data, source, path)
    _check_local_files(spec, source)
    return spec


def _check_local_files(spec: TaskSpec, source: str) -> None:
    for key, sources in (("dataset", spec.dataset), ("train_dataset", spec.train_dataset or [])):
        for index, item in enumerate(sources):
            if item.kind == "local" and not (spec.source_dir / item.source).is_file():
                raise SpecError(f"{source}: {key}[{index}].source: data file not found (got \"{item.source}\")")


def _read_yaml(path: Path, overrides: list[str] | None) -> Any:
    """The spec file's data: parsed, its `include:` resolved (degaml.specs.include), then the overrides applied."""
    data = resolve_includes(_parse_file(path), path, _parse_file)
    if overrides and isinstance(data, dict):
        data = apply_overrides(data, overrides)
    return data


def _parse_file(path: Path) -> Any:
    """One YAML file, size- and nesting-bounded; every failure is a SpecError naming the file."""
    if path.is_dir():
        found = sorted(path.glob("[!_]*.yaml"))  # _*.yaml: bases that specs include
        hint = f" (e.g. {found[0]})" if found else ""
        raise SpecError(f"{path}: is a directory, not a spec file; give one YAML spec{hint}")
    if not path.is_file():
        raise SpecError(f"{path}: spec file not found")
    try:
        size = path.stat().st_size
        if size > MAX_SPEC_BYTES:
            raise SpecError(f"{path}: spec file is {size} bytes; a spec may be at most {MAX_SPEC_BYTES} bytes")
        with path.open("rb") as handle:  # read at most the bound, even if the file grows meanwhile
            text = handle.read(MAX_SPEC_BYTES + 1).decode("utf-8")
        if len(text) > MAX_SPEC_BYTES:
            raise SpecError(f"{path}: spec file exceeds {MAX_SPEC_BYTES} bytes")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot read spec ({exc.__class__.__name__})") from None
    try:
        data = safe_load_bounded(text)
    except SpecTooLarge as exc:
        raise SpecError(f"{path}: refused: {exc}") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: YAML syntax error at {_yaml_problem(exc)}") from None
    except RecursionError:
        raise SpecError(f"{path}: YAML nesting too deep") from None
    return data


def load_spec(path: str | Path, overrides: list[str] | None = None) -> TaskSpec:
    """Read, override and validate a YAML task spec file."""
    path = Path(path)
    return spec_from_dict(_read_yaml(path, overrides), str(path), path.resolve())


def load_meta_spec(path: str | Path, overrides: list[str] | None = None) -> MetaSpec:
    """Read, override and validate a YAML meta-training spec; its task spec files must exist."""
    path = Path(path)
    meta = _validate(MetaSpec, _read_yaml(path, overrides), str(path), path.resolve())
    for index, task in enumerate(meta.task_paths()):
        if not task.is_file():
            raise SpecError(f"{path}: tasks[{index}]: task spec not found (got \"{meta.tasks[index]}\")")
    return meta


def spec_json_schema() -> dict[str, Any]:
    """JSON Schema of a task spec (for editors' YAML language servers)."""
    schema = TaskSpec.model_json_schema()
    schema["title"] = "degaml task spec"
    schema["properties"] = {INCLUDE_KEY: INCLUDE_SCHEMA, **schema["properties"]}  # resolved before validation
    return schema
