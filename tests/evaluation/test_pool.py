"""evaluation.pool: the pooled dev corpus (judged documents, base model's and BM25's top-k, a seeded
random sample), its cache, the auto threshold, the plan's line and the recipe's checks."""

from __future__ import annotations

import numpy as np
import pytest

from sbft.beir import RetrievalSplit
from sbft.data import load_prepared
from sbft.errors import SbftError
from sbft.evaluation import pool
from sbft.inference.corpus import CorpusCache
from sbft.models import load_model
from sbft.recipe import DatasetSpec, load_recipe
from sbft.recipe.schema import PoolSpec
from tests.helpers import sentences

TEXTS = sentences(200, 7)
IDS = [f"doc{i}" for i in range(200)]
JUDGED = RetrievalSplit(
    queries={"q1": TEXTS[3], "q2": TEXTS[150]},
    qrels={"q1": {"doc3": 1, "doc77": 0}, "q2": {"doc150": 2, "doc199": 1}},
)


def no_base(k: int) -> np.ndarray:
    return np.zeros((2, 0), dtype=np.int64)


def test_the_pool_holds_every_judged_document_and_is_the_same_for_the_same_seed():
    spec = PoolSpec(top_k=0, bm25_top_k=5, random=20)
    rows = pool.build_pool(TEXTS, IDS, JUDGED, spec, seed=3, base_top=no_base)
    assert {IDS.index(doc) for doc in ("doc3", "doc77", "doc150", "doc199")} <= set(rows)  # grade 0 too
    assert rows == sorted(set(rows)) and len(rows) <= 4 + 2 * 5 + 20
    assert pool.build_pool(TEXTS, IDS, JUDGED, spec, seed=3, base_top=no_base) == rows
    assert pool.build_pool(TEXTS, IDS, JUDGED, spec, seed=4, base_top=no_base) != rows  # the random part


def test_each_source_adds_its_documents():
    judged_only = {3, 77, 150, 199}
    base = pool.build_pool(
        TEXTS,
        IDS,
        JUDGED,
        PoolSpec(top_k=2, bm25_top_k=0, random=0),
        1,
        base_top=lambda k: np.array([[10, 11], [12, 3]]),
    )
    assert set(base) == judged_only | {10, 11, 12}
    bm25 = pool.build_pool(TEXTS, IDS, JUDGED, PoolSpec(top_k=0, bm25_top_k=1, random=0), 1, base_top=no_base)
    assert set(bm25) == judged_only  # each query's own text is its best BM25 match: a judged document
    sampled = pool.build_pool(
        TEXTS, IDS, JUDGED, PoolSpec(top_k=0, bm25_top_k=0, random=30), 1, base_top=no_base
    )
    assert len(set(sampled) - judged_only) >= 26


def test_the_auto_threshold(beir_folder, monkeypatch):
    prepared = load_prepared("wiki", DatasetSpec(beir=str(beir_folder)))
    assert pool.pooled_datasets({"wiki": prepared}, "auto") == {}
    assert pool.pool_line(prepared, "auto") == "dev: whole corpus, 30 documents"
    monkeypatch.setattr(pool, "AUTO_THRESHOLD", 29)  # a corpus of 30 documents is then large
    assert pool.pooled_datasets({"wiki": prepared}, "auto") == {"wiki": PoolSpec()}
    assert pool.pool_line(prepared, "auto").startswith("dev: pooled, at most 30 of 30 documents")
    assert pool.pooled_datasets({"wiki": prepared}, None) == {}  # pool: false
    line = pool.pool_line(prepared, PoolSpec(top_k=2, bm25_top_k=1, random=3))
    assert line.startswith("dev: pooled, at most 15 of 30 documents")  # 3 judged + 3 queries x 3 + 3


def test_dev_pool_of_the_tiny_model_is_cached(tiny_model, beir_folder, tmp_path, monkeypatch):
    prepared = load_prepared("wiki", DatasetSpec(beir=str(beir_folder)))
    model = load_model(str(tiny_model))
    cache = CorpusCache(tmp_path / "cache", say=lambda line: None)
    spec = PoolSpec(top_k=2, bm25_top_k=2, random=3)
    options = {"prompts": None, "batch_size": 8, "seed": 5, "say": lambda line: None}
    first = pool.dev_pool(prepared, spec, model, cache, **options)
    ids = list(prepared.corpus)
    assert {"d10", "d11", "d12"} <= {ids[row] for row in first.rows}
    assert first.record()["documents"] == len(first.rows) and first.record()["corpus"] == 30
    assert list(first.corpus(prepared.corpus)) == [ids[row] for row in first.rows]

    monkeypatch.setattr(pool, "build_pool", lambda *a, **k: pytest.fail("built again"))
    assert pool.dev_pool(prepared, spec, model, cache, **options).rows == first.rows  # read back
    (entry,) = (tmp_path / "cache" / pool.CACHE_FOLDER).iterdir()
    entry.write_text('{"key": "x", "rows": [1]}')  # another key: never used
    with pytest.raises(pytest.fail.Exception, match="built again"):
        pool.dev_pool(prepared, spec, model, cache, **options)


@pytest.mark.parametrize(
    ("value", "where", "message"),
    [
        ({"top_k": -1}, "evaluation.pool.top_k", "whole number"),
        ({"top_k": "many"}, "evaluation.pool.top_k", "whole number"),
        ({"topk": 5}, "evaluation.pool.topk", "unknown key"),
        ({"top_k": 0, "bm25_top_k": 0, "random": 0}, "evaluation.pool", "judged documents only"),
        ("sometimes", "evaluation.pool", "expected auto, true, false or a mapping"),
        (3, "evaluation.pool", "expected auto"),
    ],
)
def test_bad_pool_values_are_refused(recipe_file, value, where, message):
    with pytest.raises(SbftError, match=message) as caught:
        load_recipe(recipe_file(evaluation__pool=value))
    assert caught.value.where == where


def test_pool_values_read(recipe_file, tmp_path):
    assert load_recipe(recipe_file()).evaluation.pool_spec == "auto"
    assert load_recipe(recipe_file(evaluation__pool=True)).evaluation.pool_spec == PoolSpec()
    assert load_recipe(recipe_file(evaluation__pool={"top_k": 7})).evaluation.pool_spec == PoolSpec(top_k=7)
    off = recipe_file()
    off.write_text(off.read_text() + "evaluation:\n  pool: off\n")  # YAML's bare off is false
    assert load_recipe(off).evaluation.pool_spec is None


def test_a_negative_top_k_exits_2(cli, recipe_file):
    result = cli("check", recipe_file(evaluation__pool={"top_k": -1}))
    assert result.exit_code == 2
    assert "evaluation.pool.top_k" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_the_base_models_embeddings_stand_in_for_its_corpus_encode(tiny_model, beir_folder, monkeypatch):
    """A pooled dev evaluator (truncated sizes too) scores the base model from its whole-corpus
    embeddings, rows picked by id, as if it had encoded the pooled documents itself."""
    from sbft.evaluation import build_evaluator, evaluate
    from sbft.evaluation.evaluators import given_corpus_embeddings
    from sbft.families.retrieval import CorpusRetrievalEvaluator

    prepared = load_prepared("wiki", DatasetSpec(beir=str(beir_folder)))
    model = load_model(str(tiny_model))
    pooled = pool.DevPool([0, 5, 10, 11, 12, 29], 30, PoolSpec(), 0).corpus(prepared.corpus)
    evaluator = build_evaluator({"wiki": prepared}, "dev", 8, corpora={"wiki": pooled}, dims=[16])
    assert list(evaluator.inner.corpus_ids) == list(pooled)
    encoded_before = evaluate(evaluator, model)

    embeddings = model.encode_document(list(prepared.corpus.values()), convert_to_numpy=True)
    roles: list[str | None] = []
    embed = CorpusRetrievalEvaluator.embed_inputs

    def spying(self, model, texts, encode_fn_name=None, **options):
        roles.append(encode_fn_name)
        return embed(self, model, texts, encode_fn_name, **options)

    monkeypatch.setattr(CorpusRetrievalEvaluator, "embed_inputs", spying)
    with given_corpus_embeddings(evaluator, {"wiki": pool.rows_of(prepared, embeddings)}):
        given = evaluate(evaluator, model)
    assert roles and "document" not in roles  # only the queries were encoded
    assert given == pytest.approx(encoded_before, abs=1e-6)
