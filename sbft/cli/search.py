"""`sbft search MODEL --corpus FILE [QUERY...]` and `sbft similarity MODEL TEXT_A TEXT_B`."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from sbft.cli import app, user_errors
from sbft.cli.encode import (
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
        str,
        typer.Option(
            help="The texts to search: a text file (one per line) or jsonl/csv/tsv/parquet with --column.",
            show_default=False,
        ),
    ] = ...,
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
            help="A .npy cache of the corpus embeddings: reused while corpus and model are unchanged, "
            "written (with a .npy.json sidecar) otherwise.",
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
    """
    from rich.console import Console

    from sbft.inference import EncodeOptions, TextSource, load_reranker, rerank_hits, search_corpus

    texts = _queries(queries, queries_file, replace_errors)
    reranker = load_reranker(rerank, device=device, trust_remote_code=trust_remote_code) if rerank else None
    errors = Console(stderr=True, highlight=False)
    results = search_corpus(
        model,
        TextSource(corpus, column, replace_errors),
        texts,
        top_k=top_k,
        cache=corpus_embeddings,
        options=EncodeOptions(batch_size=batch_size),
        say=lambda message: errors.print(f"[dim]{message}[/]"),
        device=device,
        backend=backend,
        threads=threads,
        trust_remote_code=trust_remote_code,
        max_seq_length=max_seq_length,
    )
    if reranker is not None:
        results = [(query, rerank_hits(reranker, query, hits)) for query, hits in results]
    if as_json:
        for query, hits in results:
            typer.echo(
                json.dumps({"query": query, "hits": [hit_json(hit) for hit in hits]}, ensure_ascii=False)
            )
        return
    print_hits(results)


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
    return list(TextSource(path, replace_errors=replace_errors).texts())


def hit_json(hit: Any) -> dict[str, Any]:
    """A hit as JSON; `rerank_score` only when there is one."""
    return {key: value for key, value in vars(hit).items() if key != "rerank_score" or value is not None}


def print_hits(results: list) -> None:
    """One table per query; reranked hits show the cross-encoder's score beside the retrieval one."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for query, hits in results:
        reranked = any(hit.rerank_score is not None for hit in hits)
        table = Table(title=f"query: {query}", title_justify="left")
        columns = ["rank", *(["rerank score"] if reranked else []), "score", "id", "text"]
        for name in columns:
            table.add_column(name, justify="left" if name == "text" else "right")
        for hit in hits:
            rerank_cell = [f"{hit.rerank_score:.4f}"] if reranked else []
            table.add_row(str(hit.rank), *rerank_cell, f"{hit.score:.4f}", str(hit.id), hit.text)
        console.print(table)


@app.command()
@user_errors
def similarity(
    model: ModelArg,
    text_a: Annotated[str, typer.Argument(help="The first text.", show_default=False)],
    text_b: Annotated[str, typer.Argument(help="The second text.", show_default=False)],
    device: DeviceOption = None,
    trust_remote_code: TrustOption = False,
) -> None:
    """Print the cosine similarity of two texts (a cross-encoder prints its score for the pair)."""
    from sbft.inference import load_any
    from sbft.inference import similarity as score

    loaded = load_any(model, device=device, trust_remote_code=trust_remote_code)
    typer.echo(f"{score(loaded, text_a, text_b):.4f}")
