"""`sbft index`: a corpus built into an index folder, searched by `sbft search --index`, its outputs
guarded, and `sbft encode --shard` outputs indexed without encoding again."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sbft.errors import SbftError
from sbft.index import index_corpus
from sbft.index.record import OWN_FILES
from sbft.inference import TextSource
from tests.index.conftest import CORPUS

pytest.importorskip("faiss")


def assert_same_results(found, exact, atol=1e-5):
    """Same queries, same ids in the same order, same scores and texts."""
    assert [query for query, _ in found] == [query for query, _ in exact]
    for (_, hits), (_, expected) in zip(found, exact, strict=True):
        assert [h[0] for h in hits] == [e[0] for e in expected]
        np.testing.assert_allclose([h[1] for h in hits], [e[1] for e in expected], atol=atol)
        assert [h[2] for h in hits] == [e[2] for e in expected]


@pytest.mark.parametrize("quantization", ["none", "int8", "binary"])
def test_index_then_search_equals_exact_search(cli, tiny_model, corpus, tmp_path, search_json, quantization):
    folder = tmp_path / "index"
    built = cli("index", tiny_model, corpus, "-o", folder, "--quantization", quantization)
    assert built.exit_code == 0, built.output
    assert f"indexed {len(CORPUS)} texts (32 dimensions, {quantization})" in built.stderr
    record = json.loads((folder / "index.json").read_text())
    assert record["rows"] == len(CORPUS) and record["quantization"] == quantization
    assert record["model"]["name"] == str(tiny_model) and record["model"]["identity"]["weights"]
    assert set(record["files"]) <= set(OWN_FILES) and all(e["blake2b"] for e in record["files"].values())
    lines = (folder / "texts.jsonl").read_text().splitlines()
    assert json.loads(lines[5]) == {"id": 5, "text": CORPUS[5]}
    # rescoring 1,000 candidates of 300 rows (or HNSW searching 1,000 wide) is exact at this size
    assert_same_results(search_json("--index", folder), search_json("--corpus", corpus))

    table = cli("search", tiny_model, "--index", folder, CORPUS[8], "--top-k", "2")
    assert table.exit_code == 0 and f"query: {CORPUS[8]}" in table.stdout and CORPUS[8] in table.stdout


def test_few_candidates_are_rescored_to_exact_scores(cli, tiny_model, corpus, tmp_path, search_json):
    """32 bits a row tie often: 12 candidates miss rows, but every score shown is the exact cosine."""
    folder = tmp_path / "index"
    assert cli("index", tiny_model, corpus, "-o", folder, "--quantization", "binary").exit_code == 0
    for query, hits in search_json("--index", folder, "--rescore", "12"):
        assert len(hits) == 10 and [h[1] for h in hits] == sorted((h[1] for h in hits), reverse=True)
        # every score is the exact cosine of its row, whichever rows the 12 candidates held
        full = search_json_all(cli, tiny_model, corpus, query)
        np.testing.assert_allclose([h[1] for h in hits], [full[h[0]] for h in hits], atol=1e-5)


def search_json_all(cli, tiny_model, corpus, query):
    result = cli("search", tiny_model, "--json", "--corpus", corpus, query, "--top-k", str(len(CORPUS)))
    return {hit["id"]: hit["score"] for hit in json.loads(result.stdout)["hits"]}


def test_output_guards(cli, tiny_model, corpus, tmp_path):
    folder = tmp_path / "index"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    foreign = cli("index", tiny_model, corpus, "-o", folder, "--overwrite")
    assert foreign.exit_code == 2 and "holds files sbft index did not write (notes.txt)" in foreign.stderr
    assert (folder / "notes.txt").read_text() == "mine" and sorted(p.name for p in folder.iterdir()) == [
        "notes.txt"
    ]

    fresh = tmp_path / "fresh"
    assert cli("index", tiny_model, corpus, "-o", fresh).exit_code == 0
    again = cli("index", tiny_model, corpus, "-o", fresh)
    assert again.exit_code == 2 and "already holds an index" in again.stderr and "--overwrite" in again.stderr
    before = (fresh / "index.json").read_text()
    replaced = cli("index", tiny_model, corpus, "-o", fresh, "--overwrite", "--quantization", "none")
    assert replaced.exit_code == 0, replaced.output
    assert (fresh / "index.json").read_text() != before and not (fresh / "vectors.npy").exists()

    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert "is a file" in cli("index", tiny_model, corpus, "-o", a_file).stderr
    inside = cli("index", tiny_model, corpus, "-o", tiny_model / "index")
    assert inside.exit_code == 2 and "model folder" in inside.stderr and not (tiny_model / "index").exists()
    bad = cli("index", tiny_model, corpus, "-o", tmp_path / "q", "--quantization", "int4")
    assert bad.exit_code == 2 and "unknown quantization 'int4'" in bad.stderr


def encode_shards(cli, model, corpus, folder, count=3, *extra):
    folder.mkdir()
    for index in range(count):
        output = folder / f"part-{index}.npy"
        result = cli("encode", model, corpus, "-o", output, "--shard", f"{index}/{count}", "-q", *extra)
        assert result.exit_code == 0, result.output


def test_shards_are_indexed_without_encoding_again(
    cli, tiny_model, corpus, tmp_path, search_json, monkeypatch
):
    shards = tmp_path / "shards"
    encode_shards(cli, tiny_model, corpus, shards)
    encoded = tmp_path / "encoded"
    assert cli("index", tiny_model, corpus, "-o", encoded, "--quantization", "binary").exit_code == 0

    import sbft.inference.corpus

    def no_encoding(*args, **kwargs):
        raise AssertionError("the corpus was encoded again")

    monkeypatch.setattr(sbft.inference.corpus, "encode_corpus", no_encoding)
    from_shards = tmp_path / "from-shards"
    said: list[str] = []
    record = index_corpus(
        str(tiny_model),
        TextSource(str(corpus)),
        from_shards,
        quantization="binary",
        embeddings=str(shards),
        say=said.append,
    )
    assert said == [f"indexing the embeddings in {shards} ({len(CORPUS)} rows), no encoding"]
    assert record["corpus"]["embeddings"] == str(shards)
    np.testing.assert_allclose(
        np.load(from_shards / "vectors.npy"), np.load(encoded / "vectors.npy"), atol=1e-6
    )
    monkeypatch.undo()
    assert_same_results(search_json("--index", from_shards), search_json("--index", encoded))


def test_shards_of_another_corpus_or_model_are_refused(cli, tiny_model, corpus, tmp_path):
    shards = tmp_path / "shards"
    encode_shards(cli, tiny_model, corpus, shards, 2, "--max-seq-length", "8")
    other_model = cli("index", tiny_model, corpus, "-o", tmp_path / "a", "--corpus-embeddings", shards)
    assert other_model.exit_code == 2
    assert "cannot be indexed" in other_model.stderr and "max_seq_length changed" in other_model.stderr
    assert not (tmp_path / "a" / "index.json").exists()

    shorter = tmp_path / "shorter.txt"
    shorter.write_text("\n".join(CORPUS[:-1]) + "\n", encoding="utf-8")
    other_corpus = cli(
        "index",
        tiny_model,
        shorter,
        "-o",
        tmp_path / "b",
        "--corpus-embeddings",
        shards,
        "--max-seq-length",
        "8",
    )
    assert other_corpus.exit_code == 2 and "the corpus changed" in other_corpus.stderr

    folder = cli("index", tiny_model, shards, "-o", tmp_path / "c")
    assert folder.exit_code == 2 and "--corpus-embeddings" in folder.stderr


def test_an_empty_corpus_is_refused(tiny_model, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(SbftError, match="nothing to index"):
        index_corpus(str(tiny_model), TextSource(str(empty)), tmp_path / "index")
