"""Writing a recipe back out (the run folder's recipe.yaml): shareable, and with its secrets hidden.

Loading a recipe resolves it for this machine: ${VAR} becomes the variable's value and relative
paths become absolute. The YAML written back undoes that where it can, so that it can be shared
and still works from where it is written: a value read from a variable is written as the
reference (`${STSB_DIR}/sts-train.csv`), a path the recipe gave relative to its folder is
written relative to the folder of the new file, and whole numbers stay integers
(`num_train_epochs: 2`, not 2.0). What the paths resolved to on this machine, and the
variables' values, are in `resolution` (the run folder keeps it in run.json).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from sbft.recipe.load import EnvSecret
from sbft.recipe.schema import Recipe

_REDACTED = "<redacted>"
_VARIABLE_NAME = re.compile(r"\$\{(\w+)")
_LOCATION = ("output_dir",)
"""Where a run went is not what the recipe wrote (-o): never written back as written."""


def dump_recipe(recipe: Recipe, folder: str | Path | None = None) -> str:
    """The recipe as YAML, secrets redacted, for a file in `folder` (relative paths become
    relative to it; None leaves them absolute)."""
    data = redact(recipe.to_dict())
    for node, key, _, shareable in _written_back(data, recipe, folder):
        node[key] = shareable
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True)


def resolution(recipe: Recipe) -> dict[str, Any]:
    """How the recipe resolved on this machine, for run.json: the recipe file, what each value
    written back as written resolved to (by dotted key), and the variables' values.

    A variable that fills a secret field is left out, whatever its name.
    """
    data = redact(recipe.to_dict())
    resolved = dict(_resolved(data, recipe))
    hidden = {
        name
        for path, value in resolved.items()
        if value == _REDACTED
        for name in _VARIABLE_NAME.findall(recipe.written[path])
    }
    return {
        "recipe": str(recipe.source) if recipe.source else None,
        "resolved": {".".join(path): value for path, value in resolved.items() if value != _REDACTED},
        "variables": {name: value for name, value in recipe.variables.items() if name not in hidden},
    }


def _written_back(
    data: dict[str, Any], recipe: Recipe, folder: str | Path | None
) -> Iterator[tuple[dict[str, Any], str, str, str]]:
    """(mapping, key, resolved value, shareable value) for each value to write as written."""
    for path, resolved in _resolved(data, recipe):
        *parents, last = path
        node = data
        for part in parents:
            node = node[part] if isinstance(node, dict) else node[int(part)]
        written = recipe.written[path]
        if "${" not in written and folder is not None:
            try:
                written = os.path.relpath(resolved, Path(folder).resolve())
            except ValueError:  # another drive (Windows): only the absolute path reaches it
                written = resolved
        elif "${" not in written:
            written = resolved
        yield node, last, resolved, written


def _resolved(data: dict[str, Any], recipe: Recipe) -> Iterator[tuple[tuple[str, ...], str]]:
    """Key paths whose value came from ${VAR}, or from a path relative to the recipe's folder."""
    for path, written in recipe.written.items():
        if path[: len(_LOCATION)] == _LOCATION:
            continue
        resolved = _lookup(data, path)
        if not isinstance(resolved, str) or resolved == written:
            continue
        if "${" in written or (not os.path.isabs(written) and os.path.isabs(resolved)):
            yield path, resolved


def _lookup(data: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


class _Dumper(yaml.SafeDumper):
    """Safe YAML, with whole numbers written as integers: YAML reads 2 back as the same number,
    and the recipe's number fields take it as a float again."""


def _represent_float(dumper: yaml.SafeDumper, value: float) -> yaml.Node:
    if value.is_integer() and abs(value) < 2**53:
        return dumper.represent_int(int(value))
    return dumper.represent_float(value)


_Dumper.add_representer(float, _represent_float)


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
        return _REDACTED
    return redact(value, by_field and key not in _DATA_NAMES)
