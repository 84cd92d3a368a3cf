"""Retrieval evaluation over a whole corpus: graded nDCG, distractors count, prompts, truncated sizes."""

from __future__ import annotations

import pytest

from sbft.data import load_prepared
from sbft.errors import SbftError
from sbft.evaluation import build_evaluator, check_metric_name, evaluate
from sbft.families.retrieval import CorpusRetrievalEvaluator
from sbft.models import load_model
from sbft.recipe import DatasetSpec


def hits(*ranked: str) -> list[dict]:
    return [{"corpus_id": doc, "score": 1.0 - rank / 10} for rank, doc in enumerate(ranked)]


def test_ndcg_gains_are_the_grades_as_in_beir():
    evaluator = CorpusRetrievalEvaluator(
        {"q": "query"}, {"a": "A", "b": "B", "c": "C"}, {"q": {"a": 1, "b": 2, "c": 0}}
    )
    metrics = evaluator.compute_metrics([hits("a", "b", "c")])
    # DCG 1/log2(2) + 2/log2(3); ideal 2/log2(2) + 1/log2(3)
    assert metrics["ndcg@k"][10] == pytest.approx((1 + 2 / 1.5849625) / (2 + 1 / 1.5849625))
    assert metrics["mrr@k"][10] == 1.0  # a grade above 0 is relevant; grade 0 is not
    assert metrics["recall@k"][10] == 1.0
    binary = CorpusRetrievalEvaluator({"q": "query"}, {"a": "A", "b": "B"}, {"q": {"a": 1, "b": 1}})
    assert binary.compute_metrics([hits("a", "b")])["ndcg@k"][10] == pytest.approx(1.0)


def test_the_whole_corpus_is_searched(tiny_model, beir_folder):
    """Distractors rank: a copy of each dev query, put in the corpus, comes before its answer."""
    prepared = load_prepared("wiki", DatasetSpec(beir=str(beir_folder)), splits=("dev",))
    model = load_model(str(tiny_model))
    evaluator = build_evaluator({"wiki": prepared}, "dev")
    assert len(evaluator.corpus) == 30 and evaluator.queries_ids == ["q8", "q9", "q10"]
    clean = evaluate(evaluator, model)
    assert {
        "wiki_cosine_ndcg@10",
        "wiki_cosine_mrr@10",
        "wiki_cosine_recall@100",
        "wiki_cosine_map@100",
    } <= set(clean)
    for query, text in prepared.retrieval["dev"].queries.items():
        prepared.corpus[f"copy-of-{query}"] = text
    distracted = evaluate(build_evaluator({"wiki": prepared}, "dev"), model)
    assert distracted["wiki_cosine_accuracy@1"] == 0.0 and distracted["wiki_cosine_mrr@10"] <= 0.5


def test_prompts_go_to_the_retrieval_evaluator_and_before_other_texts(beir_folder, pair_score_files):
    prompts = {"query": "query: ", "document": "passage: "}
    wiki = load_prepared("wiki", DatasetSpec(beir=str(beir_folder)), splits=("dev",))
    retrieval = build_evaluator({"wiki": wiki}, "dev", prompts=prompts)
    assert (retrieval.query_prompt, retrieval.corpus_prompt) == ("query: ", "passage: ")
    sts_spec = DatasetSpec(
        columns=["sentence1", "sentence2"], label="score", files={"dev": str(pair_score_files["dev"])}
    )
    sts = load_prepared("sts", sts_spec, splits=("dev",))
    similarity = build_evaluator({"sts": sts}, "dev", prompts={**prompts, "sentence2": "other: "})
    assert similarity.sentences1[0].startswith("query: ") and similarity.sentences2[0].startswith("other: ")


def test_truncated_sizes_are_reported_with_a_suffix(tiny_model, beir_folder):
    """The tiny model makes 32 dimensions: 16 and 8 are computed, 32 is the full size."""
    prepared = load_prepared("wiki", DatasetSpec(beir=str(beir_folder)), splits=("dev",))
    evaluator = build_evaluator({"wiki": prepared}, "dev", dims=[32, 16, 8])
    model = load_model(str(tiny_model))
    calls = []
    encode = model.encode
    model.encode = lambda *args, **kwargs: calls.append(kwargs.get("truncate_dim")) or encode(*args, **kwargs)
    metrics = evaluate(evaluator, model)
    assert evaluator.primary_metric == "wiki_cosine_ndcg@10"
    for dim in (32, 16, 8):
        assert f"wiki_cosine_ndcg@10_dim{dim}" in metrics
    assert metrics["wiki_cosine_ndcg@10_dim32"] == metrics["wiki_cosine_ndcg@10"]
    assert calls == [None, None]  # queries and corpus encoded once, at full size, for every size


def test_a_size_above_the_models_is_refused_not_made_up(tiny_model, beir_folder):
    """Issue 25, case 5: _dim64 of a 32-dim model was the full size's metrics under another name."""
    prepared = load_prepared("wiki", DatasetSpec(beir=str(beir_folder)), splits=("dev",))
    evaluator = build_evaluator({"wiki": prepared}, "dev", dims=[64, 16])
    with pytest.raises(SbftError, match="32 dimensions, fewer than 64") as caught:
        evaluate(evaluator, load_model(str(tiny_model)))
    assert caught.value.where == "evaluation.dims"


def test_the_deciding_metric_must_exist():
    check_metric_name(None, ["a"])
    check_metric_name("eval_wiki_cosine_ndcg@10", ["wiki_cosine_ndcg@10"])
    check_metric_name("anything", [])  # nothing evaluated yet: nothing to say
    with pytest.raises(SbftError, match="Did you mean 'wiki_cosine_ndcg@10'") as caught:
        check_metric_name("wiki_cosine_ndcg@100", ["wiki_cosine_ndcg@10", "wiki_cosine_ndcg@10_dim8"])
    assert caught.value.where == "evaluation.metric" and "_dim8" not in caught.value.fix
