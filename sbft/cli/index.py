"""`sbft index MODEL CORPUS -o DIR`: an approximate index of the corpus, for `sbft search --index`."""

from __future__ import annotations

from typing import Annotated

import typer

from sbft.cli import app, user_errors
from sbft.cli.options import (
    BackendOption,
    BatchSizeOption,
    DeviceOption,
    MaxSeqLengthOption,
    ModelArg,
    ReplaceErrorsOption,
    ThreadsOption,
    TrustOption,
)


@app.command()
@user_errors
def index(
    model: ModelArg,
    corpus: Annotated[
        str,
        typer.Argument(
            help="The texts: a text file (one per line), or jsonl/csv/tsv/parquet (a BEIR corpus.jsonl) "
            "with --column.",
            show_default=False,
        ),
    ],
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            metavar="DIR",
            help="The index folder: new or empty (with --overwrite, one holding an index).",
            show_default=False,
        ),
    ],
    column: Annotated[
        str | None, typer.Option(help="The text column of a structured corpus file.", show_default=False)
    ] = None,
    quantization: Annotated[
        str,
        typer.Option(
            help="none (float32 HNSW), int8 (8-bit HNSW) or binary (an exact scan of one bit per "
            "dimension); int8 and binary rescore their candidates with float32."
        ),
    ] = "int8",
    rescore: Annotated[
        int | None,
        typer.Option(
            help="Candidates per query scored again with float32 (the default for searches; "
            "`sbft search --rescore` overrides it). Default: 1000, binary 3000.",
            show_default=False,
        ),
    ] = None,
    corpus_embeddings: Annotated[
        str | None,
        typer.Option(
            help="A folder of `sbft encode --shard i/N` .npy outputs of CORPUS (or one .npy with its "
            "sidecar): indexed without encoding again, once checked against MODEL and CORPUS.",
            show_default=False,
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the index in DIR (its own files only).")
    ] = False,
    batch_size: BatchSizeOption = 32,
    device: DeviceOption = None,
    backend: BackendOption = "torch",
    threads: ThreadsOption = None,
    max_seq_length: MaxSeqLengthOption = None,
    trust_remote_code: TrustOption = False,
    replace_errors: ReplaceErrorsOption = False,
) -> None:
    """Build an approximate nearest-neighbour index of CORPUS (faiss), with its texts and ids.

    DIR records the model that built it: `sbft search MODEL --index DIR` refuses another model.
    Ids are 0-based corpus rows, as `sbft search` reports them.
    """
    from rich.console import Console

    from sbft.index import index_corpus
    from sbft.inference import EncodeOptions, TextSource

    errors = Console(stderr=True, highlight=False)
    record = index_corpus(
        model,
        TextSource(corpus, column, replace_errors),
        output,
        quantization=quantization,
        rescore=rescore,
        overwrite=overwrite,
        embeddings=corpus_embeddings,
        options=EncodeOptions(batch_size=batch_size),
        say=lambda message: errors.print(f"[dim]{message}[/]"),
        device=device,
        backend=backend,
        threads=threads,
        trust_remote_code=trust_remote_code,
        max_seq_length=max_seq_length,
    )
    size = sum(entry["bytes"] for entry in record["files"].values())
    errors.print(
        f"indexed {record['rows']:,} texts ({record['dim']} dimensions, {record['quantization']}) in "
        f"{output}: {size / 2**20:,.1f} MB, {record['settings']['build_seconds']:.1f} s"
    )
