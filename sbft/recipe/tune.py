"""The recipe's `tune:` section: the search space of `sbft tune` and the study's settings.

Pure Python, like the rest of the schema. What can be said from the recipe alone is checked at
load time (the space's syntax, ranges, and that each dotted path names a recipe field of the
right type); what needs the trainer's or a loss's signature, or the dev evaluators' metric names,
is checked by `sbft check` (check.preflight), on the recipe read with each probe value set.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from sbft.errors import SbftError, did_you_mean

if TYPE_CHECKING:
    from sbft.recipe.schema import Recipe

KINDS = ("log_uniform", "uniform", "int", "choice")
"""How a dimension is searched: {log_uniform: [a, b]}, {uniform: [a, b]}, {int: [a, b]}, {choice: [...]}."""
_NOT_TUNED = ("tune", "name", "output_dir")
"""Top-level keys that are no training setting: the study's own section, the run's name and folder."""
_EXAMPLE = "For example: training.learning_rate: {log_uniform: [1.0e-5, 1.0e-4]}."


@dataclass
class TuneSpec:
    """`sbft tune`: which recipe fields to search, how many trials, and what decides."""

    space: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Dotted recipe paths (as `--set` names them) -> {log_uniform|uniform|int: [a, b]} or {choice: [...]}."""
    trials: int = 20
    """The study's number of trials (COMPLETE or PRUNED); running again finishes the rest."""
    timeout: float | None = None
    """Seconds for one `sbft tune` run: no new trial starts after it."""
    metric: str | None = None
    """The dev metric that trials are compared on; None: evaluation.metric, else sequential_score."""
    direction: Literal["maximize", "minimize"] | None = None
    """None: minimize a loss, maximize anything else."""
    sampler: Literal["tpe", "random"] = "tpe"
    pruner: Literal["median", "hyperband", "none"] = "median"
    """Stops a trial whose dev evaluations fall behind the others' at the same evaluation."""
    seed: int | None = None
    """The sampler's seed; None: training.seed, else 42."""


@dataclass(frozen=True)
class Dimension:
    """One searched field: its dotted path, how it is searched, and the range or choices."""

    path: str
    kind: str
    values: tuple[Any, ...]

    def probes(self) -> list[Any]:
        """Values that stand for the whole dimension in checks: both ends of a range, every choice."""
        if self.kind == "choice":
            return list(self.values)
        if self.kind == "int":
            return [int(v) for v in self.values]
        return [float(v) for v in self.values]


def dimensions(tune: TuneSpec) -> list[Dimension]:
    """The space as dimensions, in the recipe's order (the table's and the report's columns)."""
    found = []
    for path, spec in tune.space.items():
        kind = next(iter(spec))
        found.append(Dimension(path, kind, tuple(spec[kind])))
    return found


def override(path: str, value: Any) -> str:
    """A trial's value as a `--set` override (JSON is YAML, and parses back to the same value)."""
    return f"{path}={json.dumps(value)}"


def check_tune(recipe: Recipe) -> None:
    """The rules of the tune section that need nothing but the recipe."""
    tune = recipe.tune
    if tune is None:
        return
    if tune.trials < 1:
        raise SbftError(f"trials must be at least 1, not {tune.trials}", where="tune.trials")
    if tune.timeout is not None and not (math.isfinite(tune.timeout) and tune.timeout > 0):
        raise SbftError(
            f"timeout must be a positive number of seconds, not {tune.timeout}", where="tune.timeout"
        )
    if tune.metric is not None and not tune.metric.strip():
        raise SbftError("the metric name is empty", where="tune.metric")
    if not tune.space:
        raise SbftError("the search space is empty", where="tune.space", fix=_EXAMPLE)
    for path, spec in tune.space.items():
        _check_dimension(path, spec)
        hint = field_hint(recipe, path)
        if hint is not Any:  # the probes' types are checked as the recipe is read with each (check.py)
            _fits(hint, path, next(iter(spec)))


def _fits(hint: Any, path: str, kind: str) -> None:
    """A range searches numbers: it cannot fill a field of text or flags."""
    if kind == "choice":
        return
    parts = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    if not {int, float} & set(parts):
        raise SbftError(
            f"{path} is not a number, and {kind} searches numbers",
            where=f"tune.space.{path}",
            fix="Search it with {choice: [...]} instead.",
        )
    if kind != "int" and int in parts and float not in parts:
        raise SbftError(
            f"{path} takes whole numbers, and {kind} draws fractional ones",
            where=f"tune.space.{path}",
            fix=f"Use {{int: [a, b]}} (or {{choice: [...]}}) for {path}.",
        )


def _check_dimension(path: Any, spec: Any) -> None:
    """One entry of the space: a dotted path and one kind with a valid range or choice list."""
    where = f"tune.space.{path}"
    if not isinstance(path, str) or not path.strip() or any(not p for p in path.split(".")):
        raise SbftError(f"{path!r} is not a dotted recipe path", where="tune.space", fix=_EXAMPLE)
    if path.split(".")[0] in _NOT_TUNED:
        raise SbftError(f"{path} is not a setting that training reads", where=where, fix=_EXAMPLE)
    if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in KINDS:
        shown = ", ".join(KINDS)
        kind = next(iter(spec)) if isinstance(spec, dict) and len(spec) == 1 else None
        raise SbftError(
            f"expected one of {shown} with its values, got {spec!r}",
            where=where,
            fix=(did_you_mean(str(kind), KINDS) + " " if kind is not None else "") + _EXAMPLE,
        )
    kind, values = next(iter(spec.items()))
    if not isinstance(values, list) or (kind == "choice" and not values):
        raise SbftError(
            f"{kind} needs a non-empty list" if kind == "choice" else f"{kind} needs [low, high]",
            where=f"{where}.{kind}",
            fix="For example: {choice: [16, 32, 64]}." if kind == "choice" else _EXAMPLE,
        )
    if kind != "choice":
        _check_range(kind, values, f"{where}.{kind}")
    elif any(not isinstance(v, (str, int, float, bool)) and v is not None for v in values):
        raise SbftError(
            f"a choice is a number, text, true/false or null, not {values!r}",
            where=f"{where}.{kind}",
            fix="List single values, e.g. {choice: [16, 32, 64]}.",
        )


def _check_range(kind: str, values: list[Any], where: str) -> None:
    number = (int,) if kind == "int" else (int, float)
    if len(values) != 2 or any(isinstance(v, bool) or not isinstance(v, number) for v in values):
        whole = "whole numbers " if kind == "int" else "numbers "
        raise SbftError(f"{kind} needs two {whole}[low, high], got {values!r}", where=where, fix=_EXAMPLE)
    low, high = values
    if not (math.isfinite(low) and math.isfinite(high)):
        raise SbftError(f"the range {values!r} is not finite", where=where)
    if low > high:
        raise SbftError(
            f"the range [{low}, {high}] goes down: low is above high",
            where=where,
            fix=f"Write it as [{high}, {low}].",
        )
    if kind == "log_uniform" and low <= 0:
        raise SbftError(
            f"log_uniform needs values above 0, and the range starts at {low}",
            where=where,
            fix="Use {uniform: [a, b]} for a range that includes 0 or negative numbers.",
        )


def field_hint(recipe: Recipe, path: str) -> Any:
    """The type hint of the recipe field at `path`, walking the schema (and the recipe's own
    dataset names); Any below a free-form mapping (training, a loss's args), whose keys the
    trainer's and the loss's signatures decide, in `sbft check`."""
    parts = path.split(".")
    node: Any = recipe
    hint: Any = type(recipe)
    for index, part in enumerate(parts):
        above = ".".join(parts[:index]) or "the recipe"
        hint = _optional_inner(hint)
        if dataclasses.is_dataclass(hint):
            known = [f.name for f in dataclasses.fields(hint) if not f.metadata.get("internal")]
            if part not in known:
                raise SbftError(
                    f"{path} names no recipe field: {above} has no '{part}'",
                    where=f"tune.space.{path}",
                    fix=did_you_mean(part, known),
                )
            hint = typing.get_type_hints(hint)[part]
            node = getattr(node, part, None)
        elif typing.get_origin(hint) is dict:
            value_hint = typing.get_args(hint)[1]
            if value_hint is Any:
                return Any
            if isinstance(node, dict) and part not in node:
                raise SbftError(
                    f"{path} names no recipe field: {above} has no '{part}'",
                    where=f"tune.space.{path}",
                    fix=did_you_mean(part, node),
                )
            node = node.get(part) if isinstance(node, dict) else None
            hint = value_hint
        elif hint is Any:
            return Any
        else:
            raise SbftError(
                f"{path} names no recipe field: {above} is a single value, with no fields below it",
                where=f"tune.space.{path}",
                fix=f"Search {above} itself.",
            )
    return hint


def _optional_inner(hint: Any) -> Any:
    """X for `X | None` (a section that may be left out), else the hint itself."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(inner) == 1:
            return inner[0]
    return hint
