"""The command line: thin typed functions that call the library and print its results.

Heavy libraries (torch, transformers, sentence-transformers) are imported inside commands,
so `sbft --help` stays instant.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated

import typer

from sbft.errors import SbftError

app = typer.Typer(
    name="sbft",
    help="Fine-tune, evaluate and use sentence-embedding models from one YAML recipe.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def user_errors(command):
    """Print an SbftError as one paragraph on stderr and exit with code 2, no traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except SbftError as error:
            from rich.console import Console

            Console(stderr=True, highlight=False).print(f"[bold red]error:[/] {error}", soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper


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


@app.command()
def version() -> None:
    """Print the sbft version."""
    from sbft import __version__

    typer.echo(__version__)


def main() -> None:
    app(prog_name="sbft")


if __name__ == "__main__":
    sys.exit(main())
