"""`sbft tune RECIPE -o DIR`: hyperparameter search over the recipe's `tune:` space (optuna)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sbft.cli import app, user_errors


@app.command()
@user_errors
def tune(
    recipe: Annotated[
        Path, typer.Argument(help="The recipe YAML file, with a tune: section.", show_default=False)
    ],
    output_dir: Annotated[
        Path,
        typer.Option(
            "--output-dir",
            "-o",
            metavar="DIR",
            help="The study's folder: study.db, trials/, trials.jsonl, best.yaml, report.md.",
            show_default=False,
        ),
    ],
    trials: Annotated[
        int | None,
        typer.Option(
            help="Run this many more trials (default: until the study holds tune.trials).", show_default=False
        ),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            metavar="SECONDS",
            help="Start no trial after this many seconds (default: tune.timeout).",
            show_default=False,
        ),
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="Keep the study in this database instead of DIR/study.db: any URL of optuna's RDB "
            "storage (postgresql://user@host/db lets several machines run trials of one study).",
            show_default=False,
        ),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="Replace the study in DIR (only what sbft tune wrote there)."),
    ] = False,
) -> None:
    """Search the recipe's tune: space, each trial a `sbft train` run chosen on dev; the best and the
    untuned recipe are then scored on test once.

    Running it again resumes the study. Ctrl-C stops the running trial (marked failed) and exits 130;
    the study keeps every finished trial.
    """
    from rich.console import Console

    from sbft.tune import tune as run_tune

    console = Console()
    result = run_tune(
        recipe, output_dir, trials=trials, timeout=timeout, storage=storage, overwrite=overwrite
    )
    if result.interrupted:
        raise typer.Exit(130)
    summary = result.summary
    metric = summary["metric"]
    for label in ("untuned", "best"):
        row = summary.get(label)
        if row:
            dev, test = (("-" if v is None else f"{v:.4f}") for v in (row["dev"], row["test"]))
            console.print(f"{label}: trial {row['number']}, dev {metric} {dev}, test {test}", highlight=False)
    console.print(f"best recipe: {summary['best_yaml']}\nreport: {summary['report']}", highlight=False)
