"""`sbft report RUN_DIR`: (re)write a run's report.md and plots from what the run logged."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sbft.cli import app, user_errors


@app.command()
@user_errors
def report(
    run_dir: Annotated[
        Path, typer.Argument(help="The run folder written by `sbft train`.", show_default=False)
    ],
) -> None:
    """Write report.md and plots/ for a run, also one that was interrupted."""
    from rich.console import Console

    from sbft.report import PLOTS, read_run, regressions, write_report

    path = write_report(run_dir)
    console = Console(highlight=False)
    for warning in regressions(read_run(run_dir)):
        console.print(f"[bold yellow]warning:[/] {warning}", soft_wrap=True)
    console.print(f"wrote {path} and its plots in {path.parent / PLOTS}", soft_wrap=True)
