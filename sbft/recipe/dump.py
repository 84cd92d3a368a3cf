"""Writing a recipe back out (the run folder's recipe.yaml) with its secrets hidden."""

from __future__ import annotations

from typing import Any

import yaml

from sbft.recipe.load import EnvSecret
from sbft.recipe.schema import Recipe


def dump_recipe(recipe: Recipe) -> str:
    """The recipe as YAML, with secrets (tokens, passwords) redacted."""
    return yaml.safe_dump(redact(recipe.to_dict()), sort_keys=False, allow_unicode=True)


SECRET_FIELDS = frozenset(
    {"token", "hub_token", "push_to_hub_token", "use_auth_token", "auth_token", "access_token"}
    | {"api_key", "password"}
)
"""Options whose value is a secret: hub tokens in model, loader and training options, passwords."""
_DATA_NAMES = frozenset({"columns", "files", "splits"})
"""Mappings of column, split and file names: data, never secrets, whatever a name says."""


def redact(data: Any, by_field: bool = True) -> Any:
    """Hide secrets before data reaches logs or saved files.

    Hidden: the value of a known secret option (SECRET_FIELDS, by exact name) and text expanded
    from a secret-looking environment variable (written back as its ${VAR} reference). Names
    that merely contain a word stay (a dataset named 'api_keys_faq'), and a mapping or list is
    never replaced wholesale.
    """
    if isinstance(data, EnvSecret):
        return data.reference
    if isinstance(data, dict):
        return {key: _redact_field(str(key), value, by_field) for key, value in data.items()}
    if isinstance(data, list):
        return [redact(value, by_field) for value in data]
    return data


def _redact_field(key: str, value: Any, by_field: bool) -> Any:
    hidden = by_field and key.lower() in SECRET_FIELDS and value and not isinstance(value, (dict, list))
    if hidden and not isinstance(value, EnvSecret):
        return "<redacted>"
    return redact(value, by_field and key not in _DATA_NAMES)
