"""`sbft search --index`: another model refused, a damaged folder refused in one paragraph, recall on
real data (WikiQA's sentences), and the library call POST /search uses."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from sbft.errors import SbftError
from sbft.index import open_index, search
from tests.helpers import REPO
from tests.index.conftest import CORPUS, QUERIES

pytest.importorskip("faiss")
WIKIQA_CORPUS = REPO.parent / "shared" / "data" / "wikiqa" / "beir" / "corpus.jsonl"
WIKIQA_QUERIES = REPO.parent / "shared" / "data" / "wikiqa" / "beir" / "queries.jsonl"


@pytest.fixture()
def built(cli, tiny_model, corpus, tmp_path):
    folder = tmp_path / "index"
    result = cli("index", tiny_model, corpus, "-o", folder)
    assert result.exit_code == 0, result.output
    return folder


@pytest.fixture()
def other_model(tiny_model, tmp_path):
    """The tiny model with one weight changed: the same architecture, other embeddings."""
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(tiny_model), device="cpu")
    with torch.no_grad():
        next(model.parameters())[0, 0] += 1.0
    model.save(str(tmp_path / "other"))
    return tmp_path / "other"


def test_another_model_is_refused(cli, tiny_model, built, other_model):
    result = cli("search", other_model, "--index", built, "q")
    assert result.exit_code == 2 and result.stdout == ""
    message = " ".join(result.stderr.split())
    assert f"was built with the model '{tiny_model}'" in message and "its weights differ" in message
    assert "Traceback" not in result.stderr
    shorter = cli("search", tiny_model, "--index", built, "q", "--max-seq-length", "8")
    assert shorter.exit_code == 2 and "its max_seq_length differ" in " ".join(shorter.stderr.split())


def damage_truncate(folder):
    path = folder / "vectors.npy"
    path.write_bytes(path.read_bytes()[:-100])


def damage_flip(folder):
    path = folder / "index.faiss"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def damage_record(folder):
    (folder / "index.json").write_text("{not json")


def damage_unfinished(folder):
    (folder / "index.json").unlink()


def damage_texts_missing(folder):
    (folder / "texts.jsonl").unlink()


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (damage_truncate, "vectors.npy holds"),
        (damage_flip, "the content of index.faiss does not match its checksum"),
        (damage_record, "index.json is not readable JSON"),
        (damage_unfinished, "it has no index.json (its build did not finish)"),
        (damage_texts_missing, "texts.jsonl is missing"),
    ],
)
def test_a_damaged_index_is_one_paragraph(cli, tiny_model, built, damage, reason):
    damage(built)
    result = cli("search", tiny_model, "--index", built, "q")
    assert result.exit_code == 2 and result.stdout == ""
    message = " ".join(result.stderr.split())
    assert f"the index '{built}' cannot be used: {reason}" in message and "--overwrite" in message


def test_not_an_index_and_wrong_options(cli, tiny_model, corpus, built, tmp_path):
    (tmp_path / "empty").mkdir()
    empty = cli("search", tiny_model, "--index", tmp_path / "empty", "q")
    assert empty.exit_code == 2 and "holds no index" in empty.stderr
    both = cli("search", tiny_model, "--index", built, "--corpus", corpus, "q")
    assert both.exit_code == 2 and "not both" in both.stderr
    neither = cli("search", tiny_model, "q")
    assert neither.exit_code == 2 and "--corpus FILE (exact) or --index DIR" in " ".join(
        neither.stderr.split()
    )
    column = cli("search", tiny_model, "--index", built, "--column", "text", "q")
    assert column.exit_code == 2 and "go with --corpus" in column.stderr
    rescore = cli("search", tiny_model, "--corpus", corpus, "--rescore", "5", "q")
    assert rescore.exit_code == 2 and "--rescore goes with --index" in rescore.stderr


def test_library_search_for_the_server(tiny_model, built):
    """search(index_dir, queries, top_k): the model the record names, or one loaded once."""
    from sbft.inference import load_encoder

    results = search(built, QUERIES, top_k=3)
    assert [query for query, _ in results] == QUERIES
    assert results[0][1][0].id == 3 and results[0][1][0].text == CORPUS[3]
    assert results[0][1][0].score == pytest.approx(1.0, abs=1e-5)
    opened = open_index(built)
    model = load_encoder(str(tiny_model))
    again = search(opened, QUERIES, top_k=3, model=model, name=str(tiny_model))
    assert [[hit.id for hit in hits] for _, hits in again] == [
        [hit.id for hit in hits] for _, hits in results
    ]
    with pytest.raises(SbftError, match="top-k must be positive"):
        search(opened, QUERIES, top_k=0, model=model)


def test_without_faiss_the_error_says_how_to_install(monkeypatch):
    import builtins

    from sbft.index import backend

    real_import = builtins.__import__

    def no_faiss(name, *args, **kwargs):
        if name == "faiss":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_faiss)
    with pytest.raises(SbftError, match=r"need faiss.*pip install 'sbft\[faiss\]'"):
        backend.faiss_module()


@pytest.mark.skipif(not WIKIQA_CORPUS.is_file(), reason="needs ../shared/data/wikiqa")
def test_index_finds_95_percent_of_exact_top_10_on_wikiqa(cli, tiny_model, tmp_path):
    """18,821 real sentences, 200 real questions: the int8 index's top 10 against exact search's."""
    questions = [json.loads(line)["text"] for line in WIKIQA_QUERIES.read_text().splitlines()[:200]]
    queries = tmp_path / "queries.txt"
    queries.write_text("\n".join(questions) + "\n", encoding="utf-8")
    folder = tmp_path / "index"
    built = cli("index", tiny_model, WIKIQA_CORPUS, "--column", "text", "-o", folder, "--batch-size", "256")
    assert built.exit_code == 0, built.output
    common = ["search", tiny_model, "--json", "--queries", queries, "--batch-size", "256"]
    exact = cli(*common, "--corpus", WIKIQA_CORPUS, "--column", "text")
    found = cli(*common, "--index", folder, "--rescore", "100")
    assert exact.exit_code == 0 and found.exit_code == 0, found.output
    exact_ids = [{hit["id"] for hit in json.loads(line)["hits"]} for line in exact.stdout.splitlines()]
    found_ids = [{hit["id"] for hit in json.loads(line)["hits"]} for line in found.stdout.splitlines()]
    assert len(exact_ids) == len(found_ids) == 200 and all(len(ids) == 10 for ids in exact_ids)
    recall = np.mean([len(a & b) / 10 for a, b in zip(found_ids, exact_ids, strict=True)])
    assert recall >= 0.95, recall
    shutil.rmtree(folder)


def test_rerank_and_the_onnx_backend_search_an_index(cli, model_copy, corpus, tmp_path, tiny_cross_encoder):
    """--rerank reorders the index's hits; a torch-built index answers the same model on ONNX."""
    folder = tmp_path / "index"
    assert cli("index", model_copy, corpus, "-o", folder).exit_code == 0
    common = ["search", model_copy, "--index", folder, "--json", "--top-k", "5", CORPUS[10]]
    torch_hits = json.loads(cli(*common).stdout)["hits"]
    onnx = cli(*common, "--backend", "onnx")
    assert onnx.exit_code == 0, onnx.output
    onnx_hits = json.loads(onnx.stdout)["hits"]
    assert [h["id"] for h in onnx_hits] == [h["id"] for h in torch_hits]
    np.testing.assert_allclose([h["score"] for h in onnx_hits], [h["score"] for h in torch_hits], atol=1e-4)
    reranked = cli(*common, "--rerank", tiny_cross_encoder)
    assert reranked.exit_code == 0, reranked.output
    hits = json.loads(reranked.stdout)["hits"]
    assert sorted(h["id"] for h in hits) == sorted(h["id"] for h in torch_hits)
    assert all("rerank_score" in h for h in hits)
