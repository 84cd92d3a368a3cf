"""`sbft compare RUN_DIR...`: runs side by side, what differs in their recipes and what it did."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from sbft.cli import app, user_errors
from sbft.cli.output import short_names


@app.command()
@user_errors
def compare(
    run_dirs: Annotated[
        list[Path],
        typer.Argument(metavar="RUN_DIR...", help="Run folders of `sbft train`.", show_default=False),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the comparison as JSON instead of a table.")
    ] = False,
) -> None:
    """Compare runs side by side: the recipe keys that differ, main metrics, wall time, size.

    Each dataset's main metric shows as base -> tuned (change), on dev and test. Paths are
    compared as they resolved, so the same data named from two run folders is no difference.
    """
    from rich.console import Console

    from sbft.compare import compare_runs

    comparison = compare_runs(run_dirs)
    if as_json:
        typer.echo(json.dumps(comparison.to_dict()))
    else:
        Console().print(comparison.table(short_names([str(path) for path in run_dirs])))
