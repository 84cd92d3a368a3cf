"""`sbft check RECIPE`: the pre-flight check that `sbft train` also runs first."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sbft.cli import app, user_errors
from sbft.cli.options import SetOption


@app.command()
@user_errors
def check(
    recipe: Annotated[Path, typer.Argument(help="The recipe YAML file.", show_default=False)],
    overrides: SetOption = None,
) -> None:
    """Validate a recipe against its data without training: exit 0 when the run can start, 2 if not."""
    from rich.console import Console

    from sbft.check import check as run_check

    plan = run_check(recipe, overrides, Console())
    typer.echo(f"ok: the run can start ({len(plan.warnings)} warning(s))")
