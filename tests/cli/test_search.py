"""`sbft search`: the wiring of queries, --json, the cache, --rerank and --backend."""

from __future__ import annotations

import json

import pytest

from tests.helpers import run_sbft, sentences

CORPUS = sentences(30, 40)


@pytest.fixture()
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(CORPUS) + "\n", encoding="utf-8")
    return path


def test_search_table_json_and_cache(cli, tiny_model, corpus, tmp_path):
    table = cli("search", tiny_model, "--corpus", corpus, CORPUS[4], "--top-k", "3")
    assert table.exit_code == 0, table.output
    assert f"query: {CORPUS[4]}" in table.stdout and CORPUS[4] in table.stdout.split("query:")[1]

    cache = tmp_path / "corpus.npy"
    args = ["search", tiny_model, "--corpus", corpus, "--json", "--corpus-embeddings", cache]
    first = cli(*args, CORPUS[4], CORPUS[9])
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

    again = cli(*args, CORPUS[4], CORPUS[9])
    assert "reusing" in again.stderr and again.stdout == first.stdout
    corpus.write_text("\n".join(CORPUS[:20]) + "\n", encoding="utf-8")
    changed = cli(*args, CORPUS[4])
    assert "corpus changed" in changed.stderr
    assert max(hit["id"] for hit in json.loads(changed.stdout)["hits"]) < 20


def test_queries_from_a_file_or_stdin(cli, tiny_model, corpus, tmp_path):
    queries = tmp_path / "queries.txt"
    queries.write_text(f"{CORPUS[2]}\n{CORPUS[7]}\n", encoding="utf-8")
    from_file = cli("search", tiny_model, "--corpus", corpus, "--json", "--top-k", "1", "--queries", queries)
    assert [json.loads(line)["hits"][0]["id"] for line in from_file.stdout.splitlines()] == [2, 7]
    both = cli("search", tiny_model, "--corpus", corpus, "--queries", queries, "q")
    assert both.exit_code == 2 and "queries come both as arguments and from --queries" in both.stderr


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


def test_rerank_shows_both_scores(cli, tiny_model, tiny_cross_encoder, corpus):
    args = ("search", tiny_model, "--corpus", corpus, "--top-k", "3", "--rerank", tiny_cross_encoder)
    result = cli(*args, "--json", CORPUS[4])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)["hits"]
    assert len(hits) == 3 and all(hit["rerank_score"] is not None for hit in hits)
    table = cli(*args, CORPUS[4])
    assert table.exit_code == 0 and "rerank score" in table.stdout


def test_errors_exit_2(cli, tiny_model, corpus, tmp_path):
    result = run_sbft("search", str(tmp_path / "nope"), "--corpus", str(corpus), "q")
    assert result.returncode == 2 and "does not exist" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\n\xff\n")
    result = cli("search", tiny_model, "--corpus", bad, "q")
    assert result.exit_code == 2 and "line 2 is not valid UTF-8" in result.stderr
    foreign = tmp_path / "mine.npy"
    foreign.write_bytes(b"not ours")
    result = cli("search", tiny_model, "--corpus", corpus, "q", "--corpus-embeddings", foreign)
    assert result.exit_code == 2 and foreign.read_bytes() == b"not ours"
    assert "error: --corpus-embeddings:" in result.stderr
    result = cli("search", tiny_model, "--corpus", corpus, "q", "--top-k", "0")
    assert result.exit_code == 2 and "error: --top-k:" in result.stderr


def test_onnx_backend_finds_the_same_hits(cli, model_copy, corpus, tmp_path):
    """--backend and --threads reach the model; a cache written by torch is not reused by onnx."""
    cache = tmp_path / "corpus.npy"
    args = ("search", str(model_copy), "--corpus", str(corpus), "--corpus-embeddings", str(cache), "--json")
    torch_hits = cli(*args, CORPUS[0]).stdout
    onnx_run = run_sbft(*args, CORPUS[0], "--backend", "onnx", "--threads", "1")
    assert onnx_run.returncode == 0, onnx_run.stderr
    said = " ".join(onnx_run.stderr.split())
    assert "the model's" in said and "backend" in said and "changed since it was written" in said
    ids = [[hit["id"] for hit in json.loads(out)["hits"]] for out in (torch_hits, onnx_run.stdout)]
    assert ids[0] == ids[1]


def test_empty_stdin_is_no_query(cli, tiny_model, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("a dog runs\na cat sleeps\n")
    result = cli("search", tiny_model, "--corpus", corpus, input="")
    assert result.exit_code == 2 and "there was no query: standard input held no lines" in result.stderr


def test_corpus_embeddings_are_checked_against_the_corpus(cli, tiny_model, tmp_path):
    """Issue 25, case 4: a cache of 10 of 40 rows, or a truncated one, is never used; no traceback."""
    import numpy as np

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(sentences(40, 41)) + "\n", encoding="utf-8")
    cache = tmp_path / "corpus.npy"
    args = ["search", tiny_model, "--corpus", corpus, "--json", "--top-k", "40", "--corpus-embeddings", cache]
    assert cli(*args, "dog").exit_code == 0
    whole = np.load(cache)
    np.save(cache, whole[:10])  # the sidecar still says 40 rows
    short = cli(*args, "dog")
    said = " ".join(short.stderr.split())  # the console wraps long notes
    assert short.exit_code == 0 and "reusing" not in said and "holds (10, 32) float32, not (40, 32)" in said
    assert len(json.loads(short.stdout)["hits"]) == 40 and np.load(cache).shape == (40, 32)
    cache.write_bytes(cache.read_bytes()[:200])
    truncated = cli(*args, "dog")
    assert truncated.exit_code == 0 and "corpus.npy is truncated" in " ".join(truncated.stderr.split())
    assert "Traceback" not in truncated.output and len(json.loads(truncated.stdout)["hits"]) == 40


def test_corpus_embeddings_folder_of_shards(cli, tiny_model, corpus, tmp_path):
    shards = tmp_path / "shards"
    shards.mkdir()
    for index in range(2):
        result = cli("encode", tiny_model, corpus, "-o", shards / f"{index}.npy", "--shard", f"{index}/2")
        assert result.exit_code == 0, result.output
    found = cli("search", tiny_model, "--corpus", corpus, "--json", "--corpus-embeddings", shards, CORPUS[17])
    assert found.exit_code == 0, found.output
    assert "reusing the corpus embeddings in" in found.stderr
    assert json.loads(found.stdout)["hits"][0]["id"] == 17
