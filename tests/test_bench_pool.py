"""scripts/bench_pool.py's corpus: WikiQA-shaped BEIR data grown with word-shuffled filler (seeded), or
cut to its judged documents first; never written into the repository. The runs are the lead's."""

from __future__ import annotations

import json
import sys

import pytest

from tests.helpers import REPO

sys.path.insert(0, str(REPO / "scripts"))
import bench_pool


def corpus(folder):
    return [json.loads(line) for line in (folder / "corpus.jsonl").read_text().splitlines()]


def test_filler_grows_the_corpus_with_shuffled_real_sentences(beir_folder, tmp_path):
    size = bench_pool.build_folder(tmp_path / "big", 80, source=beir_folder)
    rows = corpus(tmp_path / "big")
    assert size == len(rows) == 80 and [row["_id"] for row in rows[:30]] == [
        r["_id"] for r in corpus(beir_folder)
    ]
    originals = {" ".join(sorted(row["text"].split())) for row in rows[:30]}
    assert all(" ".join(sorted(row["text"].split())) in originals for row in rows[30:])  # same words
    assert (tmp_path / "big" / "qrels" / "dev.tsv").read_text() == (
        beir_folder / "qrels" / "dev.tsv"
    ).read_text()
    again = bench_pool.build_folder(tmp_path / "again", 80, source=beir_folder)
    assert again == 80 and corpus(tmp_path / "again") == rows  # seeded


def test_a_smaller_corpus_keeps_the_judged_documents(beir_folder, tmp_path):
    bench_pool.build_folder(tmp_path / "small", 14, source=beir_folder)
    ids = {row["_id"] for row in corpus(tmp_path / "small")}
    judged = {line.split("\t")[1] for qrels in (beir_folder / "qrels").glob("*.tsv") for line in qrels.open()}
    assert len(ids) == 14 and (judged - {"corpus-id"}) <= ids


def test_never_into_the_repository(beir_folder):
    with pytest.raises(SystemExit, match="inside the repository"):
        bench_pool.build_folder(REPO / "benchmarks" / "corpus", 40, source=beir_folder)
