"""A small corpus file and its exact search results, shared by the index tests."""

from __future__ import annotations

import json

import pytest

from tests.helpers import sentences

CORPUS = sentences(300, 7)
QUERIES = [CORPUS[3], CORPUS[150], "a question about none of them", CORPUS[299]]


@pytest.fixture()
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(CORPUS) + "\n", encoding="utf-8")
    return path


@pytest.fixture()
def search_json(cli, tiny_model):
    """`sbft search --json` with any arguments: the results as [(query, [(id, score, text)])]."""

    def run(*args: str) -> list[tuple[str, list[tuple[int, float, str]]]]:
        result = cli("search", tiny_model, "--json", *args, *QUERIES, "--top-k", "10")
        assert result.exit_code == 0, result.output
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        return [(line["query"], [(h["id"], h["score"], h["text"]) for h in line["hits"]]) for line in lines]

    return run
