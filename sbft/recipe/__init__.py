"""The recipe: a YAML file validated into typed objects before anything heavy is imported.

`schema` holds the specs and their rules, `load` reads YAML into them (overrides, ${VAR}),
`dump` writes the resolved recipe back with its secrets hidden.
"""

from sbft.recipe.dump import SECRET_FIELDS, dump_recipe, redact
from sbft.recipe.load import EnvSecret, apply_override, check_type, load_recipe, parse_assignment
from sbft.recipe.rows import MineSpec, NegativesSpec, PairsFromLabels
from sbft.recipe.schema import (
    DOCUMENT,
    POOLING_MODES,
    QUERY,
    SPLITS,
    DatasetSpec,
    EvaluationSpec,
    LossSpec,
    ModelSpec,
    Recipe,
    column_prompts,
)

__all__ = [
    "DOCUMENT",
    "POOLING_MODES",
    "QUERY",
    "SECRET_FIELDS",
    "SPLITS",
    "DatasetSpec",
    "EnvSecret",
    "EvaluationSpec",
    "LossSpec",
    "MineSpec",
    "ModelSpec",
    "NegativesSpec",
    "PairsFromLabels",
    "Recipe",
    "apply_override",
    "check_type",
    "column_prompts",
    "dump_recipe",
    "load_recipe",
    "parse_assignment",
    "redact",
]
