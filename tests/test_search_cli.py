"""`sbft search` and `sbft similarity` through the CLI."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from sbft.cli import app
from tests.helpers import run_sbft, sentences

CORPUS = sentences(30, 40)


def invoke(*args: str, input: bytes | None = None):
    return CliRunner().invoke(app, list(args), input=input, catch_exceptions=False)


@pytest.fixture()
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(CORPUS) + "\n", encoding="utf-8")
    return path


def test_search_table_json_and_cache(tiny_model, corpus, tmp_path):
    table = invoke("search", str(tiny_model), "--corpus", str(corpus), CORPUS[4], "--top-k", "3")
    assert table.exit_code == 0, table.output
    assert f"query: {CORPUS[4]}" in table.stdout and CORPUS[4] in table.stdout.split("query:")[1]

    cache = tmp_path / "corpus.npy"
    args = ["search", str(tiny_model), "--corpus", str(corpus), "--json", "--corpus-embeddings", str(cache)]
    first = invoke(*args, CORPUS[4], CORPUS[9])
    assert first.exit_code == 0, first.output
    results = [json.loads(line) for line in first.stdout.splitlines()]
    assert [r["query"] for r in results] == [CORPUS[4], CORPUS[9]]
    assert [r["hits"][0]["id"] for r in results] == [4, 9]
    assert results[0]["hits"][0] == {
        "rank": 1,
        "id": 4,
        "score": pytest.approx(1, abs=1e-4),
        "text": CORPUS[4],
    }
    assert len(results[0]["hits"]) == 10
    assert "no cache yet" in first.stderr

    again = invoke(*args, CORPUS[4], CORPUS[9])
    assert "reusing" in again.stderr and again.stdout == first.stdout
    corpus.write_text("\n".join(CORPUS[:20]) + "\n", encoding="utf-8")
    changed = invoke(*args, CORPUS[4])
    assert "corpus changed" in changed.stderr
    assert max(hit["id"] for hit in json.loads(changed.stdout)["hits"]) < 20


def test_queries_from_stdin_in_a_real_process(tiny_model, corpus):
    result = run_sbft(
        "search",
        str(tiny_model),
        "--corpus",
        str(corpus),
        "--json",
        "--top-k",
        "1",
        input=f"{CORPUS[2]}\n{CORPUS[7]}\n",
    )
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["hits"][0]["id"] for line in result.stdout.splitlines()] == [2, 7]


def test_similarity(tiny_model, tmp_path):
    same = invoke("similarity", str(tiny_model), CORPUS[0], CORPUS[0])
    assert same.exit_code == 0 and same.stdout.strip() == "1.0000"
    other = float(invoke("similarity", str(tiny_model), CORPUS[0], CORPUS[1]).stdout)
    assert -1 <= other < 1


def test_errors_exit_2(tiny_model, corpus, tmp_path):
    for command in (
        ["similarity", str(tmp_path / "nope"), "a", "b"],
        ["search", str(tmp_path / "nope"), "--corpus", str(corpus), "q"],
    ):
        result = run_sbft(*command)
        assert result.returncode == 2 and "does not exist" in result.stderr, result.stderr
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\n\xff\n")
    result = invoke("search", str(tiny_model), "--corpus", str(bad), "q")
    assert result.exit_code == 2 and "line 2 is not valid UTF-8" in result.stderr
    foreign = tmp_path / "mine.npy"
    foreign.write_bytes(b"not ours")
    result = invoke(
        "search", str(tiny_model), "--corpus", str(corpus), "q", "--corpus-embeddings", str(foreign)
    )
    assert result.exit_code == 2 and foreign.read_bytes() == b"not ours"
