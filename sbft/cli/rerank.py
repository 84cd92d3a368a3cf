"""`sbft rerank MODEL --query Q --candidates FILE`: a cross-encoder orders candidate texts."""

from __future__ import annotations

from typing import Annotated

import typer

from sbft.cli import app, user_errors
from sbft.cli.options import DeviceOption, ModelArg, ReplaceErrorsOption, TrustOption


@app.command()
@user_errors
def rerank(
    model: ModelArg,
    query: Annotated[
        str, typer.Option(help="The query to score every candidate against.", show_default=False)
    ],
    candidates: Annotated[
        str,
        typer.Option(
            help="The texts to order: a text file (one per line, - for stdin) or jsonl/csv/tsv/parquet "
            "with --column.",
            show_default=False,
        ),
    ],
    column: Annotated[
        str | None, typer.Option(help="The text column of a structured file.", show_default=False)
    ] = None,
    top_k: Annotated[int | None, typer.Option(help="Keep only the best K.", show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object: query and ranked hits.")] = False,
    device: DeviceOption = None,
    trust_remote_code: TrustOption = False,
    replace_errors: ReplaceErrorsOption = False,
) -> None:
    """Score each candidate with a cross-encoder against the query, best first (ids are 0-based rows)."""
    from sbft.cli.output import echo_hits_json, print_hits
    from sbft.inference import TextSource, rerank_candidates

    source = TextSource(candidates, column, replace_errors)
    hits = rerank_candidates(model, query, source, top_k, device=device, trust_remote_code=trust_remote_code)
    if as_json:
        echo_hits_json(query, hits)
    else:
        print_hits([(query, hits)])
