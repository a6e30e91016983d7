"""Task specs: pydantic models of the YAML files in `specs/`, and their loader."""

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
