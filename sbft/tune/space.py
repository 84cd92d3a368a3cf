"""The search space of a recipe's `tune:` section: what a trial draws, and the recipe it trains.

A trial's values reach its recipe as `--set` overrides of the recipe file (sbft.recipe.tune.override),
so a trial reads its recipe exactly as `sbft train RECIPE --set PATH=VALUE` would.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sbft.errors import SbftError
from sbft.recipe import Recipe
from sbft.recipe.tune import Dimension, dimensions, override


def tune_metric(recipe: Recipe) -> str:
    """The dev metric trials are compared on: tune.metric, else evaluation.metric, else the dev score."""
    from sbft.training_args import DEV_SCORE

    assert recipe.tune is not None
    return (recipe.tune.metric or recipe.evaluation.metric or DEV_SCORE).removeprefix("eval_")


def direction(recipe: Recipe) -> str:
    """tune.direction, else minimize a loss and maximize anything else."""
    assert recipe.tune is not None
    return recipe.tune.direction or ("minimize" if tune_metric(recipe).endswith("loss") else "maximize")


def suggest(trial: Any, space: list[Dimension]) -> dict[str, Any]:
    """The trial's value for each dimension, drawn by the study's sampler (or enqueued)."""
    values = {}
    for dimension in space:
        low, high = (*dimension.values, None, None)[:2]
        if dimension.kind == "choice":
            values[dimension.path] = trial.suggest_categorical(dimension.path, list(dimension.values))
        elif dimension.kind == "int":
            values[dimension.path] = trial.suggest_int(dimension.path, int(low), int(high))
        else:
            log = dimension.kind == "log_uniform"
            values[dimension.path] = trial.suggest_float(dimension.path, float(low), float(high), log=log)
    return values


def untuned_values(recipe: Recipe) -> dict[str, Any]:
    """What the recipe itself trains with at each searched path (training defaults filled in): the
    first trial's values, so that the report compares the search with the recipe as written.
    A path the recipe leaves unset and that has no default is left out (the sampler draws it)."""
    from sbft.training_args import resolve_training

    assert recipe.tune is not None
    data = recipe.to_dict()
    data["training"] = resolve_training(recipe)
    found = {}
    for dimension in dimensions(recipe.tune):
        value: Any = data
        for part in dimension.path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None and _fits(value, dimension):
            found[dimension.path] = value
    return found


def _fits(value: Any, dimension: Dimension) -> bool:
    """Optuna takes an enqueued number outside its range (with a warning), not a choice outside its list."""
    if dimension.kind == "choice":
        return value in dimension.values
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return dimension.kind != "int" or float(value).is_integer()


def overrides(values: dict[str, Any]) -> list[str]:
    return [override(path, value) for path, value in values.items()]


def recipe_hash(recipe: Recipe) -> str:
    """What makes two recipes one study: every field but where the runs go and how long the study
    runs (tune.trials, tune.timeout), so a study can be resumed with more trials or more time."""
    data = recipe.to_dict()
    data.pop("output_dir", None)
    if data.get("tune"):
        data["tune"] = {k: v for k, v in data["tune"].items() if k not in ("trials", "timeout")}
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def require_tune(recipe: Recipe) -> None:
    if recipe.tune is None:
        raise SbftError(
            "the recipe has no tune: section, so there is nothing to search",
            where="tune",
            fix="Add one, e.g.\ntune:\n  trials: 12\n  space:\n"
            "    training.learning_rate: {log_uniform: [1.0e-5, 1.0e-4]}\n"
            "    training.num_train_epochs: {int: [1, 4]}",
        )
