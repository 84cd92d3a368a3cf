"""Reranking through the real CLI: sbft rerank, and sbft search --rerank with a bi-encoder."""

from __future__ import annotations

import json

import pytest

from tests.helpers import run_sbft


@pytest.fixture(scope="module")
def tiny_cross_encoder(tiny_model, tmp_path_factory):
    """The tiny BERT with a fresh 1-output head, saved as a cross-encoder."""
    from sentence_transformers import CrossEncoder

    path = tmp_path_factory.mktemp("tiny-cross")
    CrossEncoder(str(tiny_model), num_labels=1).save(str(path))
    return path


@pytest.fixture()
def candidates(tmp_path):
    path = tmp_path / "candidates.txt"
    path.write_text("the dog runs in the park\na man plays guitar\nthe sun is big\nthe dog runs\n")
    return path


def test_rerank_orders_every_candidate(tiny_cross_encoder, candidates):
    result = run_sbft(
        "rerank", str(tiny_cross_encoder), "--query", "dog runs", "--candidates", str(candidates), "--json"
    )
    assert result.returncode == 0, result.stderr
    hits = json.loads(result.stdout)["hits"]
    assert sorted(hit["id"] for hit in hits) == [0, 1, 2, 3]
    scores = [hit["score"] for hit in hits]
    assert scores == sorted(scores, reverse=True)

    from sentence_transformers import CrossEncoder

    expected = CrossEncoder(str(tiny_cross_encoder)).predict([("dog runs", "a man plays guitar")])[0]
    assert next(h["score"] for h in hits if h["id"] == 1) == pytest.approx(float(expected), abs=1e-5)


def test_search_then_rerank_shows_both_scores(tiny_model, tiny_cross_encoder, candidates):
    result = run_sbft(
        "search",
        str(tiny_model),
        "--corpus",
        str(candidates),
        "--top-k",
        "3",
        "--rerank",
        str(tiny_cross_encoder),
        "--json",
        "dog runs",
    )
    assert result.returncode == 0, result.stderr
    hits = json.loads(result.stdout)["hits"]
    assert len(hits) == 3 and all(hit["rerank_score"] is not None for hit in hits)
    rerank_scores = [hit["rerank_score"] for hit in hits]
    assert rerank_scores == sorted(rerank_scores, reverse=True)


def test_rerank_with_a_bi_encoder_is_a_clear_error(tiny_model, candidates):
    result = run_sbft("rerank", str(tiny_model), "--query", "q", "--candidates", str(candidates))
    assert result.returncode == 2 and "reranking needs a cross-encoder" in result.stderr
    assert "Traceback" not in result.stderr
