"""Printing for several commands: search and rerank hits (a table per query for people, JSON lines
for programs), and the short names of the models or runs that head table columns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer


def hit_json(hit: Any) -> dict[str, Any]:
    """A hit as JSON; `rerank_score` only when there is one."""
    return {key: value for key, value in vars(hit).items() if key != "rerank_score" or value is not None}


def echo_hits_json(query: str, hits: list[Any]) -> None:
    """One line: {"query": ..., "hits": [...]}."""
    typer.echo(json.dumps({"query": query, "hits": [hit_json(hit) for hit in hits]}, ensure_ascii=False))


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


def short_names(names: list[str]) -> list[str]:
    """The shortest path ending of each name that still tells them apart, to keep tables narrow."""
    parts = [Path(name).parts or (name,) for name in names]
    for keep in range(1, max(len(p) for p in parts) + 1):
        short = [str(Path(*p[-keep:])) for p in parts]
        if len(set(short)) == len(short):
            return short
    return names
