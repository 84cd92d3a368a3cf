"""`sbft init`: a commented recipe from a data file (or a template for a task), ready to check and train."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sbft.cli import app, user_errors

TASK_HELP = (
    "pair-score, pair-class, pairs, query-positive, triplets or retrieval (default: inferred from the data)."
)


@app.command()
@user_errors
def init(
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="A csv, tsv, jsonl or parquet file to train on, or a folder in BEIR layout "
            "(corpus.jsonl, queries.jsonl, qrels/).",
        ),
    ] = None,
    task: Annotated[str | None, typer.Option("--task", help=TASK_HELP)] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="The recipe file to write.")] = Path(
        "recipe.yaml"
    ),
    model: Annotated[str | None, typer.Option("--model", help="The base model (hub id or folder).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace the output file if it exists.")] = False,
) -> None:
    """Write a starting recipe: from a data file's columns or a BEIR folder, or a template for a task."""
    from rich.console import Console
    from rich.markup import escape

    from sbft.beir import beir_files
    from sbft.errors import SbftError
    from sbft.files import check_writable, refuse_input_as_output, refuse_output_in_folders
    from sbft.inference.locations import local_model_folders
    from sbft.init import DEFAULT_MODEL, recipe_from_data, template, write_recipe
    from sbft.proposal import TASKS

    console = Console(highlight=False)
    refuse_input_as_output(output, [data, *(beir_files(data) if data and data.is_dir() else [])])
    refuse_output_in_folders(output, local_model_folders([model] if model else []), where="--output")
    if output.exists() and not force:  # before reading any data: fail fast
        write_recipe("", output, force)
    check_writable(output.parent)  # a read-only or full disk, before reading any data
    if data is None:
        if task is None:
            raise SbftError(
                "give a data file (--data FILE) or a task (--task NAME) to start from",
                fix=f"Tasks: {', '.join(TASKS)}. For example: sbft init --data train.csv",
            )
        write_recipe(template(task, output, model or DEFAULT_MODEL), output, force)
        console.print(
            f"wrote the {task} template {output}: replace its TODOs, then run sbft check {output}",
            soft_wrap=True,
        )
        return
    written = recipe_from_data(data, output, task, model or DEFAULT_MODEL)
    write_recipe(written.text, output, force)
    for line in written.summary:
        console.print(escape(line), soft_wrap=True)
    console.print(
        f"[bold green]wrote[/] {output}; next: sbft check {output} && sbft train {output}", soft_wrap=True
    )
