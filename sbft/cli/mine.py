"""`sbft mine MODEL PAIRS --corpus FILE -o triplets.jsonl`: hard negatives for (query, positive) rows."""

from __future__ import annotations

from typing import Annotated

import typer

from sbft.cli import app, user_errors
from sbft.cli.options import BatchSizeOption, DeviceOption, ModelArg, OverwriteOption


@app.command()
@user_errors
def mine(
    model: ModelArg,
    pairs: Annotated[
        str,
        typer.Argument(
            help="(query, positive) rows: csv, tsv, jsonl or parquet with two text columns (or --columns).",
            show_default=False,
        ),
    ],
    corpus: Annotated[
        str,
        typer.Option(
            help="The documents to mine from: a text file (one per line), or jsonl/csv/tsv/parquet with "
            "a 'text' field (a BEIR corpus.jsonl). The positives are added to it.",
            show_default=False,
        ),
    ],
    output: Annotated[
        str,
        typer.Option(
            "--output", "-o", help="JSON Lines: query, positive, negative_1..negative_N.", show_default=False
        ),
    ],
    columns: Annotated[
        str | None,
        typer.Option(help="The query and positive columns, comma-separated: q,p.", show_default=False),
    ] = None,
    num: Annotated[int, typer.Option(help="Negatives per row.")] = 3,
    range_min: Annotated[
        int,
        typer.Option(help="Skip the closest candidates: the very closest are often unlabelled positives."),
    ] = 0,
    range_max: Annotated[
        int | None,
        typer.Option(help="Consider candidates up to this rank (default: as sentence-transformers chooses)."),
    ] = None,
    relative_margin: Annotated[
        float | None,
        typer.Option(
            help="Keep a negative only if its score is this fraction of the positive's below it "
            "(the false-negative filter)."
        ),
    ] = 0.05,
    absolute_margin: Annotated[
        float | None,
        typer.Option(help="Keep a negative only if its score is this much below the positive's."),
    ] = None,
    sampling: Annotated[
        str, typer.Option(help="top: the best-ranked candidates that pass; random: any that pass.")
    ] = "top",
    rescore_with: Annotated[
        str | None,
        typer.Option(help="A cross-encoder that rescores the candidates before the margins apply."),
    ] = None,
    query_prompt: Annotated[
        str | None, typer.Option(help="Text put before each query, e.g. 'query: '.", show_default=False)
    ] = None,
    corpus_prompt: Annotated[
        str | None, typer.Option(help="Text put before each document, e.g. 'passage: '.", show_default=False)
    ] = None,
    use_faiss: Annotated[
        bool | None,
        typer.Option(
            "--faiss/--no-faiss",
            help=(
                "Search with faiss's flat index (faster on large corpora, a second copy of their "
                "embeddings in memory); default: sbft's exact search in blocks."
            ),
            show_default=False,
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of random sampling.")] = 42,
    batch_size: BatchSizeOption = 32,
    device: DeviceOption = None,
    overwrite: OverwriteOption = False,
) -> None:
    """Mine hard negatives for PAIRS over a corpus with sentence-transformers' mine_hard_negatives.

    Each (query, positive) row gets NUM negatives: corpus documents the model ranks between
    RANGE_MIN and RANGE_MAX for the query, except those scored within the margin of the positive
    (likely false negatives) and any copy of the positive (same text up to case and spacing).
    Rows without NUM such negatives are dropped. The statistics say how many.
    """
    from sbft.mining import mine_file
    from sbft.recipe import MineSpec

    settings = MineSpec(
        num=num,
        range_min=range_min,
        range_max=range_max,
        relative_margin=relative_margin,
        absolute_margin=absolute_margin,
        sampling=sampling,
        rescore_with=rescore_with,
    )
    stats = mine_file(
        model,
        pairs,
        corpus,
        output,
        settings,
        columns=[c.strip() for c in columns.split(",")] if columns else None,
        overwrite=overwrite,
        batch_size=batch_size,
        use_faiss=use_faiss,
        query_prompt=query_prompt,
        corpus_prompt=corpus_prompt,
        seed=seed,
        device=device,
    )
    typer.echo(f"{stats.summary(num)}. Written: {output}")
