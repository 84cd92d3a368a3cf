"""The recipe: a YAML file validated into typed objects before anything heavy is imported.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from sbft.errors import SbftError, did_you_mean
from sbft.families import FAMILIES, Family, family
from sbft.files import FILE_FORMATS
from sbft.strict_yaml import StrictYamlError, parse_yaml

SPLITS = ("train", "dev", "test")
POOLING_MODES = ("mean", "cls", "max", "mean_sqrt_len_tokens", "weightedmean", "lasttoken")


@dataclass
class ModelSpec:
    """The base model: a hub id, a saved sentence-transformers folder, or a plain transformer."""

    name: str
    type: str = "bi-encoder"
    """The model family: bi-encoder embeds each text alone (retrieval); cross-encoder scores a pair
    (reranking). See sbft.families."""
    pooling: str | None = None
    """Bi-encoder pooling for a plain transformer; None keeps a saved model's own (mean otherwise)."""
    normalize: bool | None = None
    """Add (true) or remove (false) a Normalize module; None keeps the model's own choice."""
    max_seq_length: int | None = None
    num_labels: int | None = None
    """Cross-encoder outputs; None: the number of classes for CrossEntropyLoss, else 1."""
    trust_remote_code: bool = False

    @property
    def family(self) -> Family:
        return family(self.type)


@dataclass
class LossSpec:
    """A sentence-transformers loss by class name; wrappers (MatryoshkaLoss...) take an inner loss."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)
    inner: LossSpec | None = None


@dataclass
class DatasetSpec:
    """One dataset, its splits, the columns the loss sees (in order) and its loss."""

    columns: list[str] | dict[str, str]
    """Input columns in the order the loss expects; a mapping renames source -> new name."""
    loss: LossSpec | None = None
    """Required to train on the dataset; a dataset without one is only evaluated."""
    files: dict[str, str] = field(default_factory=dict)
    """Local files per split (train/dev/test): csv, tsv, json, jsonl or parquet."""
    hub: str | None = None
    subset: str | None = None
    splits: dict[str, str] = field(
        default_factory=lambda: {"train": "train", "dev": "validation", "test": "test"}
    )
    """For hub datasets: sbft split -> the hub's split name."""
    format: str | None = None
    loader_args: dict[str, Any] = field(default_factory=dict)
    """Passed straight to datasets.load_dataset (sep, names, quoting, header...)."""
    label: str | None = None
    label_range: list[float] | None = None
    """[low, high]: rescale the label linearly to 0..1 (e.g. [0, 5] for STS scores)."""
    max_samples: int | None = None
    """Keep at most this many rows of each split (the first ones)."""
    evaluator: str = "auto"

    @property
    def input_columns(self) -> list[str]:
        return list(self.columns)

    @property
    def renames(self) -> dict[str, str]:
        return dict(self.columns) if isinstance(self.columns, dict) else {}

    def check_reading(self, where: str = "", columns_given: bool = True) -> None:
        """The rules on how the data is read: shared by recipes and `sbft eval`'s options.

        `columns_given` False: the columns and label are still to be guessed from the data.
        """
        if columns_given and not self.columns:
            raise SbftError(
                "no input columns given",
                where=_join(where, "columns"),
                fix="List the text columns in the order the loss expects, e.g. [sentence1, sentence2].",
            )
        repeated = sorted({c for c in self.input_columns if self.input_columns.count(c) > 1})
        if repeated:
            raise SbftError(
                f"column(s) {', '.join(repeated)} are listed more than once",
                where=_join(where, "columns"),
                fix="List each input column once, in the order the loss reads them.",
            )
        if self.label is not None and self.label in self.input_columns:
            raise SbftError(
                f"the label column '{self.label}' is also listed as an input column",
                where=_join(where, "columns"),
                fix="Inputs are the text columns only; name the label column separately.",
            )
        if self.label_range is not None:
            if len(self.label_range) != 2 or not self.label_range[0] < self.label_range[1]:
                raise SbftError(
                    "label_range must be [low, high] with low < high",
                    where=_join(where, "label_range"),
                    fix="For STS scores from 0 to 5: [0, 5].",
                )
            if self.label is None:
                raise SbftError(
                    "label_range is set but no label column is named", where=_join(where, "label")
                )
        if self.format is not None and self.format not in set(FILE_FORMATS.values()):
            raise SbftError(
                f"unknown format '{self.format}'",
                where=_join(where, "format"),
                fix=did_you_mean(self.format, set(FILE_FORMATS.values())),
            )
        if self.max_samples is not None and self.max_samples <= 0:
            raise SbftError("max_samples must be positive", where=_join(where, "max_samples"))

    def check(self, where: str, model_family: Family) -> None:
        """Every rule of a recipe's dataset: its source, splits, reading, evaluator and loss."""
        from sbft.losses import check_loss_spec

        if bool(self.files) == bool(self.hub):
            raise SbftError(
                "give either 'files' (local files per split) or 'hub' (a hub dataset id)",
                where=where,
                fix="For local data: files: {train: train.csv, dev: dev.csv, test: test.csv}.",
            )
        for split in [*self.files, *(self.splits if self.hub else ())]:
            if split not in SPLITS:
                raise SbftError(
                    f"unknown split '{split}'",
                    where=f"{where}.{'files' if self.files else 'splits'}.{split}",
                    fix=f"Splits are {', '.join(SPLITS)}. " + did_you_mean(split, SPLITS),
                )
        self.check_reading(where)
        if self.evaluator not in model_family.evaluator_names:
            raise SbftError(
                f"'{self.evaluator}' is not a {model_family.name} evaluator",
                where=f"{where}.evaluator",
                fix=did_you_mean(self.evaluator, model_family.evaluator_names),
            )
        if self.loss is None:
            raise SbftError(
                "no loss is given for this dataset",
                where=f"{where}.loss",
                fix="Name one, e.g. 'loss: CoSENTLoss' for scored pairs (`sbft losses` lists them).",
            )
        check_loss_spec(self.loss, self, where, model_family)


@dataclass
class EvaluationSpec:
    """What gets evaluated outside of training itself."""

    baseline: bool = True
    """Evaluate the base model on dev (and test) before training."""
    test: bool = True
    keep: Literal["best", "last"] = "best"
    """best: save the model with the best dev score, the base model included; last: the last one."""


@dataclass
class Recipe:
    model: ModelSpec
    datasets: dict[str, DatasetSpec]
    name: str = "run"
    output_dir: str | None = None
    """Run folder, relative to the working directory; default runs/<name>."""
    training: dict[str, Any] = field(default_factory=dict)
    """Any field of SentenceTransformerTrainingArguments."""
    evaluation: EvaluationSpec = field(default_factory=EvaluationSpec)
    source: Path | None = field(default=None, metadata={"internal": True})

    @property
    def family(self) -> Family:
        return self.model.family

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir or f"runs/{self.name}")

    def to_dict(self) -> dict[str, Any]:
        """The resolved recipe, every default filled in, as plain YAML-able data."""
        data = dataclasses.asdict(self)
        data.pop("source")
        return data


# --- loading -------------------------------------------------------------------------------


_SHORTHAND = {LossSpec: "name"}  # `loss: CoSENTLoss` means `loss: {name: CoSENTLoss}`
_ENV_VAR = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Read, override (`--set a.b=c`), expand environment variables, and validate a recipe."""
    path = Path(path)
    if not path.is_file():
        raise SbftError(
            f"recipe file '{path}' does not exist",
            fix="Check the path, or start from one of the recipes in configs/.",
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
            fix="See configs/quickstart.yaml for a complete example.",
        )
    for override in overrides or []:
        apply_override(raw, override)
    raw = _expand_env(raw, "")
    recipe = _build(Recipe, raw, "")
    recipe.source = path.resolve()
    _check_semantics(recipe)
    _resolve_paths(recipe, path.resolve().parent)
    return recipe


def _yaml_where(path: Path, mark: yaml.Mark | None) -> str:
    return f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)


def _yaml_where(path: Path, mark: yaml.Mark | None) -> str:
    return f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)


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


def _yaml_where(path: Path, mark: yaml.Mark | None) -> str:
    return f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)


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


def _expand_env(value: Any, where: str) -> Any:
    """Expand ${VAR} and ${VAR:-default} in strings.

    A variable at the start of a string that holds a relative path is taken relative to the
    working directory (where the user set it), not to the recipe's folder.
    """
    if isinstance(value, dict):
        return {k: _expand_env(v, _join(where, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value
    secret = False

    def substitute(match: re.Match[str]) -> str:
        nonlocal secret
        name, default = match.group(1), match.group(2)
        secret = secret or bool(_SECRET_VARIABLE.search(name))
        found = os.environ.get(name)
        if found is None:
            if default is None:
                raise SbftError(
                    f"environment variable {name} is not set",
                    where=where,
                    fix=f"Set it (export {name}=...) or give a default: ${{{name}:-value}}.",
                )
            return default
        if match.start() == 0 and found and not secret and not os.path.isabs(found):
            return os.path.abspath(found)
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

    def __getnewargs__(self) -> tuple[str, str]:  # copies (dataclasses.asdict) stay secrets
        return str(self), self.reference

    def __repr__(self) -> str:
        return repr(self.reference)


def _join(where: str, key: Any) -> str:
    return f"{where}.{key}" if where else str(key)


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
                where=_join(where, key),
                fix=did_you_mean(str(key), known),
            )
    values = {}
    for name, f in known.items():
        if name in raw:
            values[name] = _coerce(raw[name], hints[name], _join(where, name))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise SbftError(
                f"the required key '{name}' is missing",
                where=where or "recipe",
                fix=f"Add '{name}:' to the recipe (see configs/quickstart.yaml).",
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
        return {_coerce(k, args[0], where): _coerce(v, args[1], _join(where, k)) for k, v in value.items()}
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise SbftError(f"expected {_type_name(hint)}, got {_describe(value)}", where=where)
    return value


def _type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is list:
        return "a list"
    if origin is dict or dataclasses.is_dataclass(hint):
        return "a mapping"
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(hint, str(hint))


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    kind = {dict: "a mapping", list: "a list", str: "the string", bool: "the boolean"}.get(
        type(value), type(value).__name__
    )
    return kind if isinstance(value, (dict, list)) else f"{kind} {value!r}"


def _check_semantics(recipe: Recipe) -> None:
    """Rules that span fields: what the type hints alone cannot say."""
    _check_name(recipe.name)
    model_family = _check_model(recipe.model)
    if not recipe.datasets:
        raise SbftError("the recipe names no datasets", where="datasets", fix="Add at least one dataset.")
    for name, dataset in recipe.datasets.items():
        dataset.check(f"datasets.{name}", model_family)


def _check_name(name: str) -> None:
    """The run's name becomes a folder under runs/: a name, never a path."""
    if not name.strip() or name in (".", "..") or any(sep in name for sep in ("/", "\\", "\0")):
        raise SbftError(
            f"the name {name!r} is not a plain name",
            where="name",
            fix="Use letters, digits, '-' or '_'; the run folder itself is set by 'output_dir' (-o).",
        )


def _check_model(model: ModelSpec) -> Family:
    model_family = family(model.type)
    for key in sorted(
        {key for f in FAMILIES.values() for key in f.model_fields} - set(model_family.model_fields)
    ):
        if getattr(model, key) is not None:
            owners = [f.name for f in FAMILIES.values() if key in f.model_fields]
            raise SbftError(
                f"'{key}' applies to {' and '.join(owners)}s only, and model.type is {model_family.name}",
                where=f"model.{key}",
                fix=f"Remove '{key}', or set 'model.type: {owners[0]}'.",
            )
    if model.pooling is not None and model.pooling not in POOLING_MODES:
        raise SbftError(
            f"unknown pooling '{model.pooling}'",
            where="model.pooling",
            fix=did_you_mean(model.pooling, POOLING_MODES),
        )
    if model.max_seq_length is not None and model.max_seq_length <= 0:
        raise SbftError("max_seq_length must be positive", where="model.max_seq_length")
    return model_family


def _resolve_paths(recipe: Recipe, base: Path) -> None:
    """Relative data paths are relative to the recipe's folder, so recipes are portable."""
    for dataset in recipe.datasets.values():
        dataset.files = {
            split: str(path if Path(path).is_absolute() else _absolute(base / path))
            for split, path in dataset.files.items()
        }
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


def dump_recipe(recipe: Recipe) -> str:
    """The recipe as YAML, with secrets (tokens, passwords) redacted."""
    return yaml.safe_dump(redact(recipe.to_dict()), sort_keys=False, allow_unicode=True)


SECRET_FIELDS = frozenset(
    {"token", "hub_token", "push_to_hub_token", "use_auth_token", "auth_token", "access_token"}
    | {"api_key", "password"}
)
"""Options whose value is a secret: hub tokens in model, loader and training options, passwords."""
_SECRET_VARIABLE = re.compile(r"token|passw|secret|api_?key|credential", re.I)
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
