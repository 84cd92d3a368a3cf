"""sbft.inference.search: search over a cached corpus, reranking with a cross-encoder, similarity."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sbft.errors import SbftError
from sbft.inference.encoder import EncodeOptions
from sbft.inference.search import (
    check_cache,
    compare_texts,
    corpus_embeddings,
    rerank_candidates,
    search,
    search_corpus,
    similarity,
)
from sbft.inference.sources import TextSource
from tests.helpers import sentences


def test_search_finds_the_same_text_first(model):
    corpus = sentences(20, 9)
    vectors = corpus_embeddings(model, "tiny", corpus, EncodeOptions())
    results = search(model, corpus, vectors, [corpus[7], corpus[3]], EncodeOptions(), top_k=3)
    assert [hits[0].id for hits in results] == [7, 3]
    assert results[0][0].text == corpus[7] and results[0][0].score == pytest.approx(1.0, abs=1e-4)
    assert [len(hits) for hits in results] == [3, 3]
    assert similarity(model, corpus[0], corpus[0]) == pytest.approx(1.0, abs=1e-5)


def test_corpus_cache_is_reused_until_corpus_or_model_change(model, tiny_model, tmp_path):
    cache = str(tmp_path / "corpus.npy")
    corpus = sentences(10, 10)
    said = []
    first = corpus_embeddings(model, str(tiny_model), corpus, EncodeOptions(), cache, said.append)
    again = corpus_embeddings(model, str(tiny_model), corpus, EncodeOptions(), cache, said.append)
    np.testing.assert_array_equal(first, again)
    corpus_embeddings(model, str(tiny_model), [*corpus, "new"], EncodeOptions(), cache, said.append)
    corpus_embeddings(
        model, str(tiny_model), [*corpus, "new"], EncodeOptions(truncate_dim=8), cache, said.append
    )
    assert len(said) == 4
    assert "no cache yet" in said[0] and "reusing" in said[1]
    assert "corpus changed" in said[2] and "model's truncate_dim changed" in said[3]
    assert np.load(cache).shape == (11, 8)
    sidecar = json.loads(Path(cache + ".json").read_text())
    assert sidecar["rows"] == 11 and sidecar["identity"]["model"]["files"]


def test_cache_never_overwrites_a_foreign_file(tmp_path):
    foreign = tmp_path / "mine.npy"
    np.save(foreign, np.zeros((2, 2)))
    with pytest.raises(SbftError, match="not written by sbft search"):
        check_cache(str(foreign))
    with pytest.raises(SbftError, match=r"must end with \.npy"):
        check_cache(str(tmp_path / "cache.bin"))


@pytest.fixture()
def candidates(tmp_path):
    path = tmp_path / "candidates.txt"
    path.write_text("the dog runs in the park\na man plays guitar\nthe sun is big\nthe dog runs\n")
    return path


def test_rerank_orders_every_candidate(tiny_cross_encoder, candidates):
    from sentence_transformers import CrossEncoder

    hits = rerank_candidates(str(tiny_cross_encoder), "dog runs", TextSource(str(candidates)))
    assert sorted(hit.id for hit in hits) == [0, 1, 2, 3] and [hit.rank for hit in hits] == [1, 2, 3, 4]
    scores = [hit.score for hit in hits]
    assert scores == sorted(scores, reverse=True)
    expected = CrossEncoder(str(tiny_cross_encoder)).predict([("dog runs", "a man plays guitar")])[0]
    assert next(h.score for h in hits if h.id == 1) == pytest.approx(float(expected), abs=1e-5)
    assert len(rerank_candidates(str(tiny_cross_encoder), "q", TextSource(str(candidates)), top_k=2)) == 2
    with pytest.raises(SbftError) as error:
        rerank_candidates(str(tiny_cross_encoder), "q", TextSource(str(candidates)), top_k=0)
    assert error.value.where == "top_k"


def test_search_then_rerank_keeps_both_scores(tiny_model, tiny_cross_encoder, candidates):
    corpus = TextSource(str(candidates))
    plain = dict(search_corpus(str(tiny_model), corpus, ["dog runs"], top_k=3))["dog runs"]
    results = search_corpus(str(tiny_model), corpus, ["dog runs"], top_k=3, reranker=str(tiny_cross_encoder))
    hits = results[0][1]
    assert len(hits) == 3 and all(hit.rerank_score is not None for hit in hits)
    rerank_scores = [hit.rerank_score for hit in hits]
    assert rerank_scores == sorted(rerank_scores, reverse=True)
    assert {hit.id: hit.score for hit in hits} == {hit.id: hit.score for hit in plain}  # retrieval kept
    with pytest.raises(SbftError, match="reranking needs a cross-encoder"):
        search_corpus(str(tiny_model), corpus, ["q"], reranker=str(tiny_model))


def test_compare_texts(tiny_model, tiny_cross_encoder):
    texts = sentences(2, 9)
    assert compare_texts(str(tiny_model), texts[0], texts[0]) == pytest.approx(1.0, abs=1e-5)
    assert -1 <= compare_texts(str(tiny_model), *texts) < 1
    from sentence_transformers import CrossEncoder

    expected = float(CrossEncoder(str(tiny_cross_encoder)).predict([tuple(texts)])[0])
    assert compare_texts(str(tiny_cross_encoder), *texts) == pytest.approx(expected, abs=1e-5)
