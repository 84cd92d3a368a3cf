"""`sbft check RECIPE`: the pre-flight check that `sbft train` also runs first."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sbft.cli import app, user_errors
from sbft.cli.options import SetOption
from sbft.wording import noun


@app.command()
@user_errors
def check(
    recipe: Annotated[Path, typer.Argument(help="The recipe YAML file.", show_default=False)],
    overrides: SetOption = None,
    smoke: Annotated[
        bool,
        typer.Option(
            "--smoke",
            help="Then run the real pipeline on a few rows in a temporary folder (model, baseline, "
            "two training steps, an evaluation, save, reload): seconds, and deleted afterwards.",
        ),
    ] = False,
) -> None:
    """Validate a recipe against its data without training: exit 0 when the run can start, 2 if not."""
    from rich.console import Console

    from sbft.check import check as run_check

    plan = run_check(recipe, overrides, Console())
    if smoke:
        from sbft.train import smoke as run_smoke

        typer.echo(run_smoke(plan.recipe, plan).line())
    typer.echo(f"ok: the run can start ({len(plan.warnings)} {noun(len(plan.warnings), 'warning')})")
