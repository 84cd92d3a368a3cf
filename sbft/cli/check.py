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
    estimate: Annotated[
        bool,
        typer.Option(
            help="Estimate each stage's time from a few batches timed on the real model (its load and "
            "about 4 s more; with --smoke, timed on the smoke run's model); --no-estimate skips it."
        ),
    ] = True,
) -> None:
    """Validate a recipe against its data without training: exit 0 when the run can start, 2 if not."""
    from rich.console import Console

    from sbft.check import check as run_check
    from sbft.estimate import base_model_pace, print_estimate

    console = Console()
    plan = run_check(recipe, overrides, console)
    if smoke:
        from sbft.train import smoke as run_smoke

        smoked = run_smoke(plan.recipe, plan)
        typer.echo(smoked.line())
        if estimate:
            print_estimate(
                plan, console, smoked.throughput, smoked.why_not_timed, smoke_seconds=smoked.seconds
            )
    elif estimate:
        print_estimate(plan, console, *base_model_pace(plan))
    typer.echo(f"ok: the run can start ({len(plan.warnings)} {noun(len(plan.warnings), 'warning')})")
