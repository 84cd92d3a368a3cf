"""`sbft search MODEL --corpus FILE [QUERY...]`: the corpus entries closest to each query."""

from __future__ import annotations

import sys
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
from sbft.errors import SbftError


@app.command()
@user_errors
def search(
    model: ModelArg,
    queries: Annotated[
        list[str] | None,
        typer.Argument(
            help="Queries; without any, they come from --queries, else stdin (one per line).",
            show_default=False,
        ),
    ] = None,
    corpus: Annotated[
        str | None,
        typer.Option(
            help="The texts to search: a text file (one per line) or jsonl/csv/tsv/parquet with --column.",
            show_default=False,
        ),
    ] = None,
    index: Annotated[
        str | None,
        typer.Option(
            metavar="DIR",
            help="Search an index of `sbft index` instead of --corpus (approximate; built by MODEL).",
            show_default=False,
        ),
    ] = None,
    rescore: Annotated[
        int | None,
        typer.Option(
            help="With --index: candidates rescored with float32 (default: the index's).", show_default=False
        ),
    ] = None,
    column: Annotated[
        str | None, typer.Option(help="The text column of a structured corpus file.", show_default=False)
    ] = None,
    queries_file: Annotated[
        str | None,
        typer.Option("--queries", help="A file of queries, one per line (- for stdin).", show_default=False),
    ] = None,
    top_k: Annotated[int, typer.Option(help="Results per query.")] = 10,
    corpus_embeddings: Annotated[
        str | None,
        typer.Option(
            help="A .npy cache of the corpus embeddings: reused while corpus and model are unchanged "
            "(rows, corpus hash and checksum are checked), written (with a .npy.json sidecar) otherwise. "
            "Or a folder of `sbft encode --shard` .npy outputs: read in row order, never written.",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per query per line: query and hits.")
    ] = False,
    rerank: Annotated[
        str | None,
        typer.Option(
            help="A cross-encoder (run folder, saved folder or hub id) that reorders each query's top-k "
            "hits; both scores are shown.",
            show_default=False,
        ),
    ] = None,
    batch_size: BatchSizeOption = 32,
    device: DeviceOption = None,
    backend: BackendOption = "torch",
    threads: ThreadsOption = None,
    max_seq_length: MaxSeqLengthOption = None,
    trust_remote_code: TrustOption = False,
    replace_errors: ReplaceErrorsOption = False,
) -> None:
    """The corpus entries closest to each query by cosine similarity.

    Queries are embedded with the model's query prompt and the corpus with its document prompt,
    when the model defines them. Hit ids are 0-based corpus rows.

    Faster: with --backend torch each call loads torch (5-16 s on a busy 2-core machine); with
    --backend onnx it starts in under a second and embeds as torch does (within 1e-5). For many
    calls, export once (`sbft export MODEL`; the first --backend onnx call also does it).
    """
    from rich.console import Console

    from sbft.cli.output import echo_hits_json, print_hits
    from sbft.files import refuse_input_as_output, refuse_output_in_folders
    from sbft.inference import EncodeOptions, TextSource, search_corpus
    from sbft.inference.locations import local_model_folders

    _check_sources(corpus, index, column, corpus_embeddings, rescore)
    refuse_input_as_output(corpus_embeddings, [corpus, queries_file], where="--corpus-embeddings")
    refuse_output_in_folders(corpus_embeddings, local_model_folders([model]), where="--corpus-embeddings")
    texts = _queries(queries, queries_file, replace_errors)
    errors = Console(stderr=True, highlight=False)
    common = {
        "options": EncodeOptions(batch_size=batch_size),
        "say": lambda message: errors.print(f"[dim]{message}[/]"),
        "reranker": rerank,
        "device": device,
        "backend": backend,
        "threads": threads,
        "trust_remote_code": trust_remote_code,
        "max_seq_length": max_seq_length,
    }
    if index is not None:
        from sbft.index.query import search_index

        results = search_index(model, index, texts, top_k=top_k, rescore=rescore, **common)
    else:
        source = TextSource(corpus, column, replace_errors)
        results = search_corpus(model, source, texts, top_k=top_k, cache=corpus_embeddings, **common)
    if as_json:
        for query, hits in results:
            echo_hits_json(query, hits)
    else:
        print_hits(results)


def _check_sources(
    corpus: str | None, index: str | None, column: str | None, cache: str | None, rescore: int | None
) -> None:
    """Exactly one of --corpus and --index; the options of the other are refused, not ignored."""
    if (corpus is None) == (index is None):
        raise SbftError(
            "search needs --corpus FILE (exact) or --index DIR (an index of `sbft index`)"
            + (", not both" if corpus is not None else ""),
            fix="Give one of them.",
        )
    if index is not None and (column is not None or cache is not None):
        raise SbftError(
            "--column and --corpus-embeddings go with --corpus; an index holds its texts and embeddings",
            where="index",
        )
    if index is None and rescore is not None:
        raise SbftError(
            "--rescore goes with --index (an exact search has nothing to rescore)", where="rescore"
        )


def _queries(arguments: list[str] | None, path: str | None, replace_errors: bool) -> list[str]:
    from sbft.inference import STDIN, TextSource

    if arguments and path:
        raise SbftError("queries come both as arguments and from --queries", fix="Give them one way.")
    if arguments:
        return arguments
    if path is None:
        if sys.stdin.isatty():
            raise SbftError(
                "no queries", fix="Give them as arguments, with --queries FILE, or on stdin (one per line)."
            )
        path = STDIN
    queries = list(TextSource(path, replace_errors=replace_errors).texts())
    if not queries:
        source = "standard input" if path == STDIN else f"'{path}'"
        raise SbftError(
            f"there was no query: {source} held no lines",
            where="queries",
            fix="Give queries as arguments, with --queries FILE, or on stdin (one per line).",
        )
    return queries
