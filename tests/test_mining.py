"""sbft.mining: negatives mined by sentence-transformers over a tiny corpus with the tiny model.

Each query's positive is the query plus one word, so the positive (and any copy of it) is what the
model ranks first: copies planted in the corpus are the hardest false negatives there can be.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from sbft.errors import SbftError
from sbft.mining import mine_negatives, read_corpus, read_pairs
from sbft.recipe import MineSpec
from tests.helpers import sentences, write_jsonl

QUERIES = sentences(12, 21)
POSITIVES = [f"{query} today" for query in QUERIES]
OTHERS = sentences(40, 22)
needs_faiss = pytest.mark.skipif(importlib.util.find_spec("faiss") is None, reason="faiss is not installed")


@pytest.fixture(scope="module")
def model(tiny_model: Path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(tiny_model), device="cpu")


@pytest.fixture(scope="module")
def pairs():
    from datasets import Dataset

    return Dataset.from_dict({"query": QUERIES, "document": POSITIVES})


def copies(text: str) -> list[str]:
    """The same document as `text` under other ids: verbatim (the positive's own entry, and a
    copy), and up to case and spacing."""
    return [text, text, "  " + text.upper().replace(" ", "   ") + " "]


def negatives_of(rows) -> dict[str, list[str]]:
    return {row["query"]: [row[c] for c in rows.column_names if c.startswith("negative_")] for row in rows}


def ranking(model, query: str, documents: list[str]) -> list[tuple[str, float]]:
    """Documents by the model's cosine score for `query`, best first."""
    scores = model.similarity(model.encode([query]), model.encode(documents))[0].tolist()
    return sorted(zip(documents, scores, strict=True), key=lambda pair: -pair[1])


def test_copies_of_a_positive_are_never_its_negatives(model, pairs):
    from sentence_transformers.util import mine_hard_negatives

    planted = [copy for positive in POSITIVES for copy in copies(positive)]
    corpus = OTHERS + planted
    settings = MineSpec(num=3, relative_margin=None)
    # The control: sentence-transformers alone, which dedupes exact text only, mines the respaced copies.
    alone = mine_hard_negatives(
        pairs, model, corpus=corpus, num_negatives=3, output_format="n-tuple", verbose=False
    )
    assert any(copies(p)[-1] in negatives_of(alone)[q] for q, p in zip(QUERIES, POSITIVES, strict=True))

    rows, stats = mine_negatives(pairs, model, settings, corpus, progress=False)
    mined = negatives_of(rows)
    assert len(mined) == len(QUERIES)
    for query, positive in zip(QUERIES, POSITIVES, strict=True):
        own = {" ".join(c.split()).casefold() for c in copies(positive)}
        assert not own & {" ".join(n.split()).casefold() for n in mined[query]}, query
        assert len(set(mined[query])) == 3
    assert stats.duplicates_dropped == 2 * len(POSITIVES)  # each one's second copy and its variant
    assert stats.documents == len(OTHERS) + len(POSITIVES)


@pytest.mark.parametrize("use_faiss", [False, pytest.param(True, marks=needs_faiss)])
def test_negatives_come_from_the_rank_window(model, pairs, use_faiss):
    settings = MineSpec(num=2, range_min=3, range_max=8, relative_margin=None)
    rows, _ = mine_negatives(pairs, model, settings, OTHERS, use_faiss=use_faiss, progress=False)
    documents = OTHERS + POSITIVES
    for row in rows:
        candidates = [d for d in documents if d != row["document"]]
        ranked = [doc for doc, _ in ranking(model, row["query"], candidates)]
        assert [row["negative_1"], row["negative_2"]] == ranked[3:5]  # top sampling: the window's first


def test_random_sampling_stays_in_the_window_and_is_seeded(model, pairs):
    settings = MineSpec(num=2, range_min=2, range_max=10, relative_margin=None, sampling="random")
    first, _ = mine_negatives(pairs, model, settings, OTHERS, seed=1, progress=False)
    again, _ = mine_negatives(pairs, model, settings, OTHERS, seed=1, progress=False)
    assert first.to_list() == again.to_list()
    for row in first:
        candidates = [d for d in OTHERS + POSITIVES if d != row["document"]]
        window = [doc for doc, _ in ranking(model, row["query"], candidates)][2:10]
        assert {row["negative_1"], row["negative_2"]} <= set(window)


def test_the_margin_keeps_negatives_below_the_positive_and_counts_what_it_skipped(model, pairs):
    margin = 0.02
    rows, stats = mine_negatives(
        pairs, model, MineSpec(num=1, relative_margin=margin), OTHERS, progress=False
    )
    for row in rows:
        scores = dict(ranking(model, row["query"], [row["document"], row["negative_1"]]))
        positive = scores[row["document"]]
        assert scores[row["negative_1"]] <= positive - abs(positive) * margin + 1e-5
    assert stats.likely_false_negatives > 0
    assert stats.margin_min >= -1e-5
    assert stats.margin_mean >= stats.margin_min
    assert stats.positive_score_mean > stats.negative_score_mean
    assert stats.rows_in == len(QUERIES) and stats.rows_kept + stats.rows_dropped == stats.rows_in
    assert stats.queries == len(QUERIES) and stats.seconds >= 0


def test_a_margin_nothing_passes_is_an_error_that_names_the_fix(model, pairs):
    with pytest.raises(SbftError, match="kept none of the 12 rows") as error:
        mine_negatives(pairs, model, MineSpec(relative_margin=0.9), OTHERS, progress=False, where="mine")
    assert error.value.where == "mine" and "margins" in error.value.fix
    skipped = int(error.value.what.split("(")[1].split()[0].replace(",", ""))
    assert skipped > 0 and "within the margins of their positive" in error.value.what


def test_without_a_corpus_the_other_positives_are_the_candidates(model, pairs):
    rows, stats = mine_negatives(pairs, model, MineSpec(num=2, relative_margin=None), progress=False)
    assert stats.documents == len(POSITIVES) and stats.duplicates_dropped == 0
    for row in rows:
        assert {row["negative_1"], row["negative_2"]} <= set(POSITIVES) - {row["document"]}


def test_settings_are_checked_before_any_work(model, pairs):
    for settings, where in [
        (MineSpec(num=0), "mine.num"),
        (MineSpec(range_min=-1), "mine.range_min"),
        (MineSpec(num=5, range_min=10, range_max=12), "mine.range_max"),
        (MineSpec(relative_margin=1.5), "mine.relative_margin"),
        (MineSpec(absolute_margin=-0.1), "mine.absolute_margin"),
        (MineSpec(sampling="best"), "mine.sampling"),
        (MineSpec(relative_margin=None, rescore_with="some/cross-encoder"), "mine.rescore_with"),
    ]:
        with pytest.raises(SbftError) as error:
            mine_negatives(pairs, model, settings, OTHERS, where="mine")
        assert error.value.where == where


def test_rescoring_with_a_cross_encoder(model, pairs, tiny_cross_encoder, tiny_model):
    settings = MineSpec(num=1, relative_margin=0.0, rescore_with=str(tiny_cross_encoder))
    rows, stats = mine_negatives(pairs, model, settings, OTHERS, progress=False)
    assert stats.rows_kept == len(rows) > 0 and rows.column_names == ["query", "document", "negative_1"]
    with pytest.raises(SbftError, match="is a bi-encoder") as error:
        mine_negatives(pairs, model, MineSpec(rescore_with=str(tiny_model)), OTHERS, where="mine")
    assert error.value.where == "mine.rescore_with"


def test_reading_pairs_and_corpora(tmp_path):
    both = write_jsonl(tmp_path / "pairs.jsonl", [{"q": "a question", "p": "its answer"}])
    assert read_pairs(str(both))[0] == {"q": "a question", "p": "its answer"}
    wide = write_jsonl(tmp_path / "wide.jsonl", [{"id": "1", "q": "a question", "p": "its answer"}])
    with pytest.raises(SbftError, match="which columns") as error:
        read_pairs(str(wide))
    assert error.value.where == "columns"
    assert read_pairs(str(wide), ["p", "q"]).column_names == ["p", "q"]
    empty = write_jsonl(tmp_path / "empty.jsonl", [{"q": "a question", "p": None}])
    with pytest.raises(SbftError, match="row 1 of column 'p'"):
        read_pairs(str(empty))
    with pytest.raises(SbftError, match="does not exist"):
        read_pairs(str(tmp_path / "missing.csv"))

    lines = tmp_path / "corpus.txt"
    lines.write_text("first document\n\nsecond document\n", encoding="utf-8")
    assert read_corpus(str(lines)) == ["first document", "second document"]
    beir = tmp_path / "corpus.jsonl"
    beir.write_text(
        "".join(json.dumps({"_id": i, "title": "", "text": t}) + "\n" for i, t in enumerate(["one", "two"]))
    )
    assert read_corpus(str(beir)) == ["one", "two"]


def test_mining_and_an_evaluation_share_one_corpus_encode(model, pairs, tmp_path, capsys):
    """The corpus cache: mining's encode is the evaluation's (memory), and the next run's (disk)."""
    from sbft.inference.corpus import CorpusCache
    from sbft.inference.encoder import EncodeOptions

    said: list[str] = []
    memory_only = CorpusCache(read=False, write=False, say=said.append)
    first, _ = mine_negatives(pairs, model, MineSpec(num=1), OTHERS, corpus_cache=memory_only)
    encoded = capsys.readouterr().err
    assert "mining hard negatives: 40 of 40 documents encoded in" in encoded
    assert "mining hard negatives (queries): 12 of 12 queries encoded in" in encoded
    assert "\r" not in encoded and "it/s" not in encoded  # plain lines in a pipe, no tqdm bars
    for_evaluation = memory_only.embeddings(model, OTHERS, EncodeOptions(), label="evaluating dev")
    assert capsys.readouterr().err == "" and not said  # no second encode
    np.testing.assert_allclose(for_evaluation, model.encode_document(OTHERS), atol=1e-5)

    on_disk = CorpusCache(tmp_path / "cache", say=said.append)
    mine_negatives(pairs, model, MineSpec(num=1), OTHERS, corpus_cache=on_disk, progress=False)
    again, _ = mine_negatives(
        pairs, model, MineSpec(num=1), OTHERS, corpus_cache=CorpusCache(tmp_path / "cache", say=said.append)
    )
    assert said == ["mining hard negatives: corpus embeddings read from the cache (40 documents)"]
    assert again["negative_1"] == first["negative_1"]


@needs_faiss
def test_faiss_searches_only_when_asked_even_when_installed(model, pairs, monkeypatch):
    """make install installs faiss (for sbft index): mining still keeps its exact block search,
    whose memory is bounded, unless use_faiss asks for faiss's flat index (a second copy)."""
    import sentence_transformers.util

    asked: list[bool] = []
    mine = sentence_transformers.util.mine_hard_negatives

    def spied(*args, **kwargs):
        asked.append(kwargs["use_faiss"])
        return mine(*args, **kwargs)

    monkeypatch.setattr(sentence_transformers.util, "mine_hard_negatives", spied)
    settings = MineSpec(num=1, range_min=0, range_max=8, relative_margin=None)
    mine_negatives(pairs, model, settings, OTHERS, progress=False)
    mine_negatives(pairs, model, settings, OTHERS, use_faiss=True, progress=False)
    assert asked == [False, True]
