"""`sbft losses [NAME]`: the supported losses, rendered from the catalogue that validates recipes.

The list reads only the families' catalogues (instant); `sbft losses NAME` also reads the loss
class's source to show its real arguments and their documentation (sbft.losses.describe), without
importing torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from sbft.cli import app, user_errors

if TYPE_CHECKING:
    from rich.console import Console

    from sbft.losses.describe import LossDescription


@app.command()
@user_errors
def losses(
    name: Annotated[
        str | None,
        typer.Argument(help="Show one loss in detail: arguments and an example.", show_default=False),
    ] = None,
    model_type: Annotated[
        str | None,
        typer.Option("--type", help="Only the losses of this model type (bi-encoder, cross-encoder)."),
    ] = None,
) -> None:
    """List the losses a recipe accepts: inputs, label, and when to use each."""
    from rich.console import Console

    from sbft.families import FAMILIES, family
    from sbft.losses.describe import describe, find_losses

    console = Console(highlight=False)
    families = tuple(FAMILIES) if model_type is None else (family(model_type, where="type").name,)
    if name is None:
        for family_name in families:
            _print_catalogue(console, family_name)
        console.print(
            "In a recipe: 'loss: NAME', or 'loss: {name: NAME, args: {...}}'. "
            "`sbft losses NAME` shows a loss's arguments and an example.",
            soft_wrap=True,
        )
        return
    for family_name, loss_name in find_losses(name, families):
        description = describe(loss_name, family_name)
        _print_detail(console, description)


def _print_catalogue(console: Console, family_name: str) -> None:
    """Two lines a loss (name and data; then when to use): readable at any terminal width."""
    from rich.markup import escape

    from sbft.families import FAMILIES
    from sbft.losses.describe import data_text

    console.print(f"[bold underline]{family_name} losses[/] (model.type: {family_name})\n")
    for info in FAMILIES[family_name].losses.values():
        console.print(f"  [bold]{info.name}[/] · {escape(data_text(info))}", soft_wrap=True)
        _say(console, f"      {info.summary}")
    console.print()


def _print_detail(console: Console, loss: LossDescription) -> None:
    console.print(f"[bold]{loss.name}[/] ({loss.family} loss)")
    for line in (f"input columns: {loss.inputs}", f"when to use: {loss.summary}", *loss.notes):
        _say(console, f"  {line}")
    if loss.unavailable is not None:
        _say(console, f"\n  (arguments unavailable: {loss.unavailable})")
        return
    if loss.doc:
        _say(console, f"\n  {loss.doc}")
    if loss.arguments:
        console.print("\n  [bold]arguments[/] (under 'args:' in the recipe):")
        width = max(len(arg.name) for arg in loss.arguments)
        for arg in loss.arguments:
            note = " (filled in by sbft)" if arg.filled else ""
            _say(console, f"    {arg.name:<{width}}  = {arg.default}{note}  {arg.doc}".rstrip())
    console.print("\n  [bold]example[/]:")
    for line in loss.example:
        _say(console, f"    {line}")
    console.print()


def _say(console: Console, text: str) -> None:
    """Text from the catalogue or docstrings: brackets in it are data, not rich markup."""
    console.print(text, markup=False, soft_wrap=True)
