"""Task specs: pydantic models of the YAML files in `specs/`, and their loader."""

from __future__ import annotations

from typing import TYPE_CHECKING

from degaml.lazy import lazy_exports

_EXPORTS = {
    "apply_overrides": "degaml.specs.load",
    "load_meta_spec": "degaml.specs.load",
    "load_spec": "degaml.specs.load",
    "spec_from_dict": "degaml.specs.load",
    "spec_json_schema": "degaml.specs.load",
    "CollectionRecipe": "degaml.specs.meta",
    "GeneratorRecipe": "degaml.specs.meta",
    "MetaSpec": "degaml.specs.meta",
    "PolicyRecipe": "degaml.specs.meta",
    "AdaptConfig": "degaml.specs.model",
    "AnswerFilter": "degaml.specs.model",
    "DataSource": "degaml.specs.model",
    "FieldMap": "degaml.specs.model",
    "GenerationConfig": "degaml.specs.model",
    "TaskSpec": "degaml.specs.model",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # the eager imports, for type checkers only
    from degaml.specs.load import apply_overrides, load_meta_spec, load_spec, spec_from_dict, spec_json_schema
    from degaml.specs.meta import CollectionRecipe, GeneratorRecipe, MetaSpec, PolicyRecipe
    from degaml.specs.model import AdaptConfig, AnswerFilter, DataSource, FieldMap, GenerationConfig, TaskSpec

__all__ = [
    "AdaptConfig",
    "AnswerFilter",
    "DataSource",
    "FieldMap",
    "GenerationConfig",
    "TaskSpec",
    "CollectionRecipe",
    "GeneratorRecipe",
    "MetaSpec",
    "PolicyRecipe",
    "apply_overrides",
    "load_meta_spec",
    "load_spec",
    "spec_from_dict",
    "spec_json_schema",
]
