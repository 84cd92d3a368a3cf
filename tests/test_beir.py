"""Reading BEIR folders: corpus with titles, graded qrels, which queries a split holds, and the errors."""

from __future__ import annotations

import pytest

from sbft.beir import read_beir
from sbft.errors import SbftError
from tests.helpers import write_beir


def test_corpus_queries_and_graded_qrels(beir_folder):
    beir = read_beir(beir_folder, ("train", "dev", "test"), "where")
    assert len(beir.corpus) == 30
    assert beir.corpus["d1"].startswith("a title ")  # the title goes before the text
    assert not beir.corpus["d13"].startswith(" ")  # an empty title adds nothing
    train, dev = beir.splits["train"], beir.splits["dev"]
    assert train.qrels["q0"] == {"d0": 1, "d1": 2, "d2": 0}  # grades as given, 0 included
    assert train.relevant("q0") == ["d0", "d1"]
    assert list(train.queries) == [f"q{i}" for i in range(8)]
    assert list(dev.queries) == ["q8", "q9", "q10"]  # q11 has no relevant document: skipped
    assert "q0" not in dev.queries and list(beir.splits["test"].queries) == ["q9"]


def test_only_the_splits_asked_for_and_present(beir_folder):
    (beir_folder / "qrels" / "test.tsv").unlink()
    assert list(read_beir(beir_folder, ("dev", "test"), "w").splits) == ["dev"]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: (f / "corpus.jsonl").unlink(), "has no corpus.jsonl"),
        (lambda f: (f / "qrels" / "dev.tsv").write_text("q\td\ts\n"), "not the header"),
        (
            lambda f: (f / "qrels" / "dev.tsv").write_text("query-id\tcorpus-id\tscore\nq8\tnope\t1\n"),
            "'nope'",
        ),
        (
            lambda f: (f / "qrels" / "dev.tsv").write_text("query-id\tcorpus-id\tscore\nq8\td1\thigh\n"),
            "integer",
        ),
        (lambda f: (f / "queries.jsonl").write_text('{"_id": "q0"}\n'), "line 1 of"),
    ],
)
def test_errors_name_the_file_and_line(beir_folder, damage, message):
    damage(beir_folder)
    with pytest.raises(SbftError, match=message) as caught:
        read_beir(beir_folder, ("dev",), "datasets.x.beir")
    assert caught.value.where == "datasets.x.beir"


def test_a_folder_without_the_splits(tmp_path):
    folder = write_beir(tmp_path / "b", {"d0": "text"}, {"q0": "query"}, {})
    with pytest.raises(SbftError, match=r"has none of qrels/dev\.tsv"):
        read_beir(folder, ("dev",), "w")
    with pytest.raises(SbftError, match="does not exist"):
        read_beir(tmp_path / "missing", ("dev",), "w")
