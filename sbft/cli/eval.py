"""`sbft eval MODEL... DATA`: score one or more models on a dataset, one table column per model."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer

from sbft.cli import app, user_errors
from sbft.cli.options import (
    BackendOption,
    BatchSizeOption,
    DeviceOption,
    OverwriteOption,
    ThreadsOption,
    TrustOption,
)
from sbft.cli.output import short_names
from sbft.errors import SbftError


@app.command(name="eval")
@user_errors
def evaluate(
    arguments: Annotated[
        list[str],
        typer.Argument(
            metavar="MODEL... DATA",
            help="One or more models (run folders of `sbft train`, saved folders, hub ids), then the "
            "data: a csv/tsv/json/jsonl/parquet file, a folder, recipe.yaml[#dataset[:split]], "
            "a BEIR folder[#split] (searched over its whole corpus), a split (train, dev, test) of a "
            "run's recipe or of --recipe, or a hub dataset id.",
            show_default=False,
        ),
    ],
    columns: Annotated[
        str | None,
        typer.Option(
            metavar="A,B",
            help="Input columns in order, comma-separated (default: guessed).",
            show_default=False,
        ),
    ] = None,
    label: Annotated[str | None, typer.Option(help="The label column.", show_default=False)] = None,
    label_range: Annotated[
        str | None,
        typer.Option(metavar="LOW,HIGH", help="Rescale the label to 0..1, e.g. 0,5.", show_default=False),
    ] = None,
    file_format: Annotated[
        str | None, typer.Option("--format", help="csv, json or parquet, when the extension says nothing.")
    ] = None,
    loader_args: Annotated[
        list[str] | None,
        typer.Option(
            "--loader-arg",
            metavar="KEY=VALUE",
            help="An option of datasets.load_dataset, the value read as YAML (repeatable): sep=';'",
            show_default=False,
        ),
    ] = None,
    split: Annotated[
        str | None,
        typer.Option(
            help="The split: a hub split name, a recipe's train/dev/test, or which file of a folder "
            "(default test; a BEIR folder without test qrels: dev).",
            show_default=False,
        ),
    ] = None,
    subset: Annotated[str | None, typer.Option(help="The hub dataset's subset.", show_default=False)] = None,
    recipe: Annotated[
        str | None,
        typer.Option(
            metavar="RECIPE",
            help="With DATA a split (dev): that split of every dataset of this recipe, for a model "
            "that is no run folder (a run folder's own recipe is used otherwise).",
            show_default=False,
        ),
    ] = None,
    max_samples: Annotated[
        int | None, typer.Option(help="Evaluate on the first N rows only.", show_default=False)
    ] = None,
    task: Annotated[
        str | None,
        typer.Option(
            help="The evaluator, instead of the one the data's shape picks: embedding-similarity, "
            "binary-classification, triplet, information-retrieval (bi-encoders); correlation, "
            "classification, reranking (cross-encoders).",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print {model: {metric: value}} as JSON instead of a table.")
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Also write {model: {metric: value}} to this JSON file."),
    ] = None,
    overwrite: OverwriteOption = False,
    batch_size: BatchSizeOption = 32,
    device: DeviceOption = None,
    backend: BackendOption = "torch",
    threads: ThreadsOption = None,
    trust_remote_code: TrustOption = False,
) -> None:
    """Evaluate models on a dataset with the evaluator its shape calls for, as `sbft train` does.

    Several models give one table with a column per model: sbft eval base runs/tuned DATA.

    DATA may be a split: sbft eval runs/tuned dev scores the run's model, and its base model beside
    it, on the dev split of every dataset of the run's recipe, with the evaluators of training;
    sbft eval MODEL dev --recipe recipe.yaml does it for any model.
    """
    from rich.console import Console

    from sbft.beir import beir_files
    from sbft.evaluation.data import DataOptions, resolve_data
    from sbft.evaluation.score import score_models
    from sbft.files import check_output, refuse_output_in_folders
    from sbft.inference.locations import local_model_folders
    from sbft.report import metrics_table
    from sbft.run_folder import write_json

    if len(arguments) < 2:
        raise SbftError("give at least one model and the data", fix="For example: sbft eval MODEL data.csv")
    *models, data = arguments
    if output is not None:
        check_output(str(output), overwrite, inputs=[data.partition("#")[0]])
        refuse_output_in_folders(output, local_model_folders(models))
    options = DataOptions(
        columns=_list(columns, "--columns"),
        label=label,
        label_range=[float(v) for v in _list(label_range, "--label-range", numbers=True) or []] or None,
        format=file_format,
        loader_args=_loader_args(loader_args or []),
        split=split,
        subset=subset,
        max_samples=max_samples,
        recipe=recipe,
    )
    errors = Console(stderr=True, highlight=False)
    resolved = resolve_data(data, options, models)
    if output is not None:  # the files behind DATA (a recipe's or a run's splits, a folder's file)
        read = [p for spec in resolved.specs.values() for p in (*spec.files.values(), *beir_files(spec.beir))]
        check_output(str(output), overwrite, inputs=read)
        refuse_output_in_folders(output, local_model_folders([m for m in [resolved.base_model] if m]))
    for note in resolved.notes:
        errors.print(f"[dim]{note}[/]", soft_wrap=True)
    results = score_models(
        models,
        resolved,
        task=task,
        batch_size=batch_size,
        device=device,
        backend=backend,
        threads=threads,
        trust_remote_code=trust_remote_code,
        say=lambda message: errors.print(f"[dim]{message}[/]", soft_wrap=True),
    )
    if output is not None:
        write_json(output, _as_json(results))
    if as_json:
        typer.echo(json.dumps(_as_json(results)))
    else:
        shown = dict(zip(short_names(list(results)), results.values(), strict=True))
        what = f"the {data} split of {', '.join(resolved.specs)}" if data == resolved.split else data
        Console().print(metrics_table(f"{what} ({resolved.split})", shown))
    _refuse_undefined(results, list(resolved.specs))


def _as_json(results: dict[str, dict[str, float]]) -> dict[str, dict[str, float | str]]:
    """An undefined score is written "nan" ("inf"): strict JSON has no NaN, and dropping it would hide it."""
    return {
        model: {key: value if math.isfinite(value) else str(value) for key, value in metrics.items()}
        for model, metrics in results.items()
    }


def _refuse_undefined(results: dict[str, dict[str, float]], datasets: list[str]) -> None:
    """A model whose every main metric is NaN has constant or NaN embeddings: its scores mean
    nothing, so the run is an error (exit 2) rather than a table of nan that exits 0."""
    from sbft.report.record import by_dataset, main_metric

    for model, metrics in results.items():
        keys = [main_metric(group) for group in by_dataset(list(metrics), datasets).values()]
        keys = [key for key in keys if key is not None] or list(metrics)
        if keys and all(math.isnan(metrics[key]) for key in keys):
            raise SbftError(
                f"every main score of the model is undefined (nan: {', '.join(keys)}): its embeddings "
                "are constant or NaN, so no score can be computed",
                where=model,
                fix="Check the model folder and its weights (a damaged or zeroed model.safetensors, a "
                "model saved after a diverged training); re-download or re-train it.",
            )


def _list(value: str | None, option: str, numbers: bool = False) -> list[str] | None:
    if value is None:
        return None
    items = [item.strip() for item in value.split(",")]
    if any(not item for item in items):
        raise SbftError(f"'{value}' has an empty item", where=option, fix="Separate names with commas: a,b")
    if numbers:
        try:
            [float(item) for item in items]
        except ValueError:
            raise SbftError(
                f"'{value}' is not a list of numbers", where=option, fix="For example: 0,5"
            ) from None
    return items


def _loader_args(pairs: list[str]) -> dict:
    from sbft.recipe import parse_assignment

    return dict(parse_assignment(pair, "loader_args", "sep=';'") for pair in pairs)
