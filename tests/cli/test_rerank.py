"""`sbft rerank`: the wiring (the ordering itself: tests/inference/test_search.py)."""

from __future__ import annotations

import json

import pytest


@pytest.fixture()
def candidates(tmp_path):
    path = tmp_path / "candidates.txt"
    path.write_text("the dog runs in the park\na man plays guitar\nthe sun is big\nthe dog runs\n")
    return path


def test_rerank_json_and_table(cli, tiny_cross_encoder, candidates):
    args = ("rerank", tiny_cross_encoder, "--query", "dog runs", "--candidates", candidates)
    result = cli(*args, "--json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["query"] == "dog runs" and sorted(hit["id"] for hit in answer["hits"]) == [0, 1, 2, 3]
    assert set(answer["hits"][0]) == {"rank", "id", "score", "text"}  # no rerank_score: it is the score
    assert len(json.loads(cli(*args, "--json", "--top-k", "2").stdout)["hits"]) == 2
    table = cli(*args)
    assert table.exit_code == 0 and "query: dog runs" in table.stdout


def test_structured_candidates_with_column(cli, tiny_cross_encoder, tmp_path):
    path = tmp_path / "candidates.jsonl"
    path.write_text('{"id": 1, "body": "a dog"}\n{"id": 2, "body": "a cat"}\n', encoding="utf-8")
    result = cli("rerank", tiny_cross_encoder, "--query", "dog", "--candidates", path, "--column", "body")
    assert result.exit_code == 0, result.output


def test_errors_exit_2(cli, tiny_model, tiny_cross_encoder, candidates, tmp_path):
    result = cli("rerank", tiny_model, "--query", "q", "--candidates", candidates)
    assert result.exit_code == 2 and "reranking needs a cross-encoder" in result.stderr
    missing = cli("rerank", tiny_cross_encoder, "--query", "q", "--candidates", tmp_path / "nope.txt")
    assert missing.exit_code == 2 and "does not exist" in missing.stderr
    zero = cli("rerank", tiny_cross_encoder, "--query", "q", "--candidates", candidates, "--top-k", "0")
    assert zero.exit_code == 2 and "error: --top-k:" in zero.stderr
