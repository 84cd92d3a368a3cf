"""`sbft train RECIPE`: run a recipe end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sbft.cli import app, user_errors

RecipeArg = Annotated[Path, typer.Argument(help="The recipe YAML file.", show_default=False)]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a recipe field: key.path=value (repeatable).", show_default=False),
]


@app.command()
@user_errors
def train(
    recipe: RecipeArg,
    output_dir: Annotated[
        Path | None, typer.Option("--output-dir", "-o", help="Run folder (overrides the recipe's).")
    ] = None,
    overrides: SetOption = None,
    overwrite: Annotated[bool, typer.Option(help="Replace a run already in the output folder.")] = False,
) -> None:
    """Fine-tune a model as the recipe says: baseline, train, test, save."""
    from sbft.recipe import load_recipe
    from sbft.training import train as run_training

    loaded = load_recipe(recipe, overrides)
    if output_dir is not None:
        loaded.output_dir = str(output_dir)
    run_training(loaded, overwrite=overwrite)
