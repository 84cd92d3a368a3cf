"""Reading a recipe: strict YAML, `--set` overrides, ${VAR} expansion, then typed specs.

Validation is strict (unknown keys are errors with a 'did you mean') and pure Python, so
`sbft check` and the first second of `sbft train` stay fast. Checks that need the
ecosystem (training-argument names, loss signatures) happen where those objects are built.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml

from sbft.errors import SbftError, did_you_mean, did_you_mean_path, join_key
from sbft.recipe.schema import LossSpec, Recipe, check_recipe
from sbft.strict_yaml import StrictYamlError, parse_yaml

_SHORTHAND = {LossSpec: "name"}  # `loss: CoSENTLoss` means `loss: {name: CoSENTLoss}`
_SECRET_VARIABLE = re.compile(r"token|passw|secret|api_?key|credential", re.I)
"""Environment variables whose values are secrets: kept out of saved recipes (see dump.redact)."""
_ENV_VAR = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")
DATA_ONLY_SUFFIXES = (".csv", ".tsv", ".jsonl", ".parquet")
"""Files that hold data and never a recipe (a .json file may be either)."""


def load_recipe(
    path: str | Path, overrides: list[str] | None = None, variables: Mapping[str, str] | None = None
) -> Recipe:
    """Read, override (`--set a.b=c`), expand environment variables, and validate a recipe.

    `variables` are values for ${VAR} that win over the environment: a resumed run reads its
    recipe with the values it started with (`Recipe.variables`).
    """
    path = Path(path)
    if not path.is_file():
        raise SbftError(
            f"recipe file '{path}' does not exist",
            fix=did_you_mean_path(path)
            or "Check the path, or write a recipe for your data: sbft init --data YOUR_DATA -o recipe.yaml",
        )
    if path.suffix.lower() in DATA_ONLY_SUFFIXES:
        raise SbftError(
            f"'{path}' is a data file, not a recipe",
            fix=f"Write a recipe that trains on it, then train with that: sbft init --data {path} -o "
            "recipe.yaml && sbft train recipe.yaml",
        )
    try:
        raw = parse_yaml(path.read_text(encoding="utf-8"))
    except StrictYamlError as exc:
        raise SbftError(exc.problem, where=_yaml_where(path, exc.problem_mark), fix=exc.fix) from None
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc)
        raise SbftError(
            f"the recipe is not valid YAML ({problem})",
            where=_yaml_where(path, getattr(exc, "problem_mark", None)),
            fix="Check indentation and quoting around that spot; values with ':' or '#' need quotes.",
        ) from None
    except RecursionError:
        raise SbftError(
            "the recipe nests too deeply to read",
            where=str(path),
            fix="A recipe nests a few levels deep; check for unclosed brackets.",
        ) from None
    except UnicodeDecodeError as exc:
        raise SbftError(f"the recipe is not UTF-8 text ({exc.reason})", where=str(path)) from None
    if not isinstance(raw, dict):
        raise SbftError(
            "the recipe must be a mapping with at least 'model' and 'datasets'",
            where=str(path),
            fix="`sbft init --data YOUR_DATA -o recipe.yaml` writes one for your data, and "
            "`sbft init --task pair-score -o recipe.yaml` a template.",
        )
    for override in overrides or []:
        apply_override(raw, override)
    written = dict(_texts(raw, ()))
    used: dict[str, str] = {}
    raw = _expand_env(raw, "", variables or {}, used)
    recipe = _build(Recipe, raw, "")
    recipe.source, recipe.written, recipe.variables = path.resolve(), written, used
    check_recipe(recipe)
    _resolve_paths(recipe, path.resolve().parent)
    return recipe


def _yaml_where(path: Path, mark: yaml.Mark | None) -> str:
    return f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)


def parse_assignment(text: str, where: str, example: str) -> tuple[str, Any]:
    """`key=value` -> (key, value parsed as YAML: 3e-5, true, [1, 2]); for overrides and loader options."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise SbftError(f"'{text}' is not of the form key=value", where=where, fix=f"For example: {example}")
    try:
        parsed = parse_yaml(value)
    except StrictYamlError as exc:
        raise SbftError(exc.problem, where=key.strip(), fix=exc.fix) from None
    except yaml.YAMLError:
        parsed = value
    return key.strip(), parsed


def apply_override(raw: dict[str, Any], override: str) -> None:
    """Apply one `key.path=value` override (`--set`) to the raw recipe."""
    key, parsed = parse_assignment(override, "overrides", "training.learning_rate=3e-5")
    *parents, last = key.split(".")
    node = raw
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise SbftError(f"cannot set '{key}': '{part}' is not a mapping in the recipe", where="overrides")
        node = child
    node[last] = parsed


def _texts(value: Any, key: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], str]]:
    """Every string of the raw recipe by its key path (list items by index)."""
    if isinstance(value, dict):
        for child_key, child in value.items():
            yield from _texts(child, (*key, str(child_key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _texts(child, (*key, str(index)))
    elif isinstance(value, str):
        yield key, value


def _expand_env(value: Any, where: str, given: Mapping[str, str], used: dict[str, str]) -> Any:
    """Expand ${VAR} and ${VAR:-default} in strings; `given` values win over the environment's,
    and `used` collects the (non-secret) values read.

    A variable at the start of a string that holds a relative path is taken relative to the
    working directory (where the user set it), not to the recipe's folder.
    """
    if isinstance(value, dict):
        return {k: _expand_env(v, join_key(where, k), given, used) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, f"{where}[{i}]", given, used) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value
    secret = False

    def substitute(match: re.Match[str]) -> str:
        nonlocal secret
        name, default = match.group(1), match.group(2)
        secret = secret or bool(_SECRET_VARIABLE.search(name))
        found = given.get(name, os.environ.get(name))
        if found is None:
            if default is None:
                raise SbftError(
                    f"environment variable {name} is not set",
                    where=where,
                    fix=f"Set it (export {name}=...) or give a default: ${{{name}:-value}}.",
                )
            return default
        if match.start() == 0 and found and not secret and not os.path.isabs(found):
            found = os.path.abspath(found)
        if not secret:
            used[name] = found
        return found

    expanded = _ENV_VAR.sub(substitute, value)
    return EnvSecret(expanded, reference=value) if secret else expanded


class EnvSecret(str):
    """Text expanded from a secret-looking environment variable (`hub_token: ${HF_TOKEN}`).

    It is the secret for every use, but `redact` writes it back as the reference it came from
    (so a saved recipe re-reads the variable on --resume), and its repr, which error messages
    show, is that reference too.
    """

    reference: str

    def __new__(cls, text: str, reference: str) -> EnvSecret:
        secret = super().__new__(cls, text)
        secret.reference = reference
        return secret

    def __deepcopy__(self, memo: dict[int, Any]) -> EnvSecret:  # copies (dataclasses.asdict) stay secrets
        return self

    def __copy__(self) -> EnvSecret:
        return self

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        """Pickled (the trainer's training_args.bin in every checkpoint), it is its reference:
        a file never holds the secret."""
        return str, (self.reference,)

    def __repr__(self) -> str:
        return repr(self.reference)


def _build(cls: type, raw: Any, where: str) -> Any:
    """Build dataclass `cls` from raw YAML data, checking keys and types."""
    if cls in _SHORTHAND and isinstance(raw, str):
        raw = {_SHORTHAND[cls]: raw}
    if not isinstance(raw, dict):
        raise SbftError(
            f"expected a mapping, got {_describe(raw)}",
            where=where or "recipe",
            fix=f"Write '{where or 'recipe'}' as 'key: value' lines.",
        )
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    for key in raw:
        if key not in known:
            raise SbftError(
                f"unknown key '{key}'",
                where=join_key(where, key),
                fix=did_you_mean(str(key), known),
            )
    values = {}
    for name, f in known.items():
        if name in raw:
            values[name] = _coerce(raw[name], hints[name], join_key(where, name))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise SbftError(
                f"the required key '{name}' is missing",
                where=where or "recipe",
                fix=f"Add '{name}:' to the recipe (`sbft init --task pair-score -o example.yaml` writes a "
                "complete one to compare with).",
            )
    return cls(**values)


def check_type(value: Any, hint: Any, where: str) -> Any:
    """Check a value against a plain type hint (str, int, float, bool, lists, unions of them).

    Hints with other types in them (enums, callables) are not checked here: their owner does.
    """
    simple = {str, int, float, bool, type(None)}
    parts = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    for part in parts:
        if part not in simple and not (
            typing.get_origin(part) is list and typing.get_args(part)[0] in simple
        ):
            return value
    return _coerce(value, hint, where)


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Check `value` against a type hint, converting where YAML is loose (int -> float)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        candidates = [a for a in args if a is not type(None)]
        errors = []
        for candidate in candidates:
            try:
                return _coerce(value, candidate, where)
            except SbftError as exc:
                errors.append(exc)
        if len(candidates) == 1:
            raise errors[0]
        shaped = [e for c, e in zip(candidates, errors, strict=True) if _same_shape(value, c)]
        if len(shaped) == 1:  # a list where a list may go: its own error names the wrong item
            raise shaped[0]
        raise SbftError(
            f"expected {' or '.join(_type_name(c) for c in candidates)}, got {_describe(value)}",
            where=where,
        )
    if origin is Literal:
        if value not in args:
            raise SbftError(f"'{value}' is not allowed", where=where, fix=did_you_mean(str(value), args))
        return value
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    if origin is list:
        if not isinstance(value, list):
            raise SbftError(f"expected a list, got {_describe(value)}", where=where)
        return [_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise SbftError(f"expected a mapping, got {_describe(value)}", where=where)
        return {_coerce(k, args[0], where): _coerce(v, args[1], join_key(where, k)) for k, v in value.items()}
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise SbftError(f"expected {_type_name(hint)}, got {_describe(value)}", where=where)
    return value


def _same_shape(value: Any, hint: Any) -> bool:
    """`value` is the container `hint` asks for (a list for list[float]), whatever its items."""
    origin = typing.get_origin(hint)
    return (origin is list and isinstance(value, list)) or (origin is dict and isinstance(value, dict))


def _type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is list:
        item = _type_name(typing.get_args(hint)[0]) if typing.get_args(hint) else ""
        plural = {"a number": "numbers", "a string": "strings", "an integer": "integers"}.get(item)
        return f"a list of {plural}" if plural else "a list"
    if origin is dict or dataclasses.is_dataclass(hint):
        return "a mapping"
    if origin is Literal:
        return " or ".join(repr(choice) for choice in typing.get_args(hint))
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(hint, str(hint))


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    kind = {dict: "a mapping", list: "a list", str: "the string", bool: "the boolean"}.get(
        type(value), type(value).__name__
    )
    return kind if isinstance(value, (dict, list)) else f"{kind} {value!r}"


def _resolve_paths(recipe: Recipe, base: Path) -> None:
    """Relative data paths are relative to the recipe's folder, so recipes are portable."""
    for dataset in recipe.datasets.values():
        dataset.files = {
            split: str(path if Path(path).is_absolute() else _absolute(base / path))
            for split, path in dataset.files.items()
        }
        if dataset.beir:
            dataset.beir = str(_absolute(base / dataset.beir))
        mine = dataset.negatives.mine if dataset.negatives else None
        for field_name in ("model", "rescore_with") if mine else ():
            name = getattr(mine, field_name)
            if name is not None and not _is_hub_id_like(name, base):
                setattr(mine, field_name, str((base / name).resolve()))
    if not _is_hub_id_like(recipe.model.name, base):
        recipe.model.name = str((base / recipe.model.name).resolve())


def _absolute(path: Path) -> Path:
    """`path` resolved; a symlink loop, which resolve() refuses, is left for the data check to name."""
    try:
        return path.resolve()
    except RuntimeError:  # Python < 3.13 on a symlink loop
        return Path(os.path.abspath(path))


def _is_hub_id_like(name: str, base: Path) -> bool:
    """A model name stays as written unless it is a relative path that exists next to the recipe."""
    return Path(name).is_absolute() or not (base / name).exists()
