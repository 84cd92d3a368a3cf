"""Data loading: column selection and order, labels, caps, and the raw STS Benchmark files."""

from __future__ import annotations

import pytest

from sbft.data import LABEL, load_prepared
from sbft.errors import SbftError
from sbft.recipe import DatasetSpec, LossSpec
from tests.helpers import STSB_DIR, write_jsonl


def spec(files, columns, label=None, loss="CoSENTLoss", **extra) -> DatasetSpec:
    return DatasetSpec(
        columns=columns, loss=LossSpec(loss) if loss else None, files=files, label=label, **extra
    )


def test_columns_are_selected_in_recipe_order_and_label_renamed(pair_files):
    prepared = load_prepared(
        "qa",
        spec({"train": str(pair_files["train"])}, ["query", "answer"], loss="MultipleNegativesRankingLoss"),
    )
    train = prepared.splits["train"]
    assert train.column_names == ["query", "answer"]  # the file has answer first


def test_rename_mapping_and_label_range(pair_score_files):
    prepared = load_prepared(
        "sts",
        spec(
            {"train": str(pair_score_files["train"])},
            {"sentence1": "anchor", "sentence2": "other"},
            label="score",
            label_range=[0, 5],
            max_samples=10,
        ),
    )
    train = prepared.splits["train"]
    assert train.column_names == ["anchor", "other", LABEL]
    assert len(train) == 10 and all(0 <= v <= 1 for v in train[LABEL])
    assert prepared.label_kind == "score"


def test_missing_column_lists_needed_and_present(pair_score_files):
    with pytest.raises(SbftError) as caught:
        load_prepared("sts", spec({"train": str(pair_score_files["train"])}, ["text1", "sentence2"], "score"))
    message = str(caught.value)
    assert "text1 not found" in message and "sentence1, sentence2, score" in message


def test_label_outside_the_loss_range_suggests_rescaling(pair_score_files):
    files = {"train": str(pair_score_files["train"])}
    with pytest.raises(SbftError, match=r"label_range: \[0"):
        load_prepared("sts", spec(files, ["sentence1", "sentence2"], "score", loss="CosineSimilarityLoss"))


def test_string_class_labels_become_ids_shared_across_splits(tmp_path):
    rows = [{"a": f"t{i}", "b": f"u{i}", "y": y} for i, y in enumerate(["yes", "no", "maybe", "no"])]
    files = {
        "train": str(write_jsonl(tmp_path / "train.jsonl", rows)),
        "dev": str(write_jsonl(tmp_path / "dev.jsonl", rows[:2])),
    }
    prepared = load_prepared("nli", spec(files, ["a", "b"], "y", loss="SoftmaxLoss"))
    assert prepared.class_names == ["maybe", "no", "yes"]
    assert prepared.splits["train"][LABEL] == [2, 1, 0, 1] and prepared.splits["dev"][LABEL] == [2, 1]


def test_string_labels_for_a_score_loss_are_an_error(tmp_path):
    files = {"train": str(write_jsonl(tmp_path / "t.jsonl", [{"a": "x", "b": "y", "s": "high"}]))}
    with pytest.raises(SbftError, match="holds text"):
        load_prepared("sts", spec(files, ["a", "b"], "s"))


def test_missing_text_names_the_row(tmp_path):
    rows = [{"a": "x", "b": "y", "s": 1.0}, {"a": None, "b": "y", "s": 2.0}]
    files = {"train": str(write_jsonl(tmp_path / "t.jsonl", rows))}
    with pytest.raises(SbftError, match="row 2 of column 'a'"):
        load_prepared("sts", spec(files, ["a", "b"], "s"))


def test_missing_file_names_the_split(tmp_path):
    with pytest.raises(SbftError) as caught:
        load_prepared("sts", spec({"train": str(tmp_path / "nope.csv")}, ["a", "b"], "s"))
    assert caught.value.where == "datasets.sts.files.train"


def test_empty_split_is_an_error(tmp_path):
    (tmp_path / "empty.csv").write_text("a,b,s\n")
    with pytest.raises(SbftError, match="empty"):
        load_prepared("sts", spec({"train": str(tmp_path / "empty.csv")}, ["a", "b"], "s"))


def test_dataset_without_loss_infers_label_kind(tmp_path):
    rows = [{"a": "x", "b": "y", "y": 1}, {"a": "z", "b": "w", "y": 0}]
    prepared = load_prepared(
        "pairs", spec({"dev": str(write_jsonl(tmp_path / "d.jsonl", rows))}, ["a", "b"], "y", loss=None)
    )
    assert prepared.label_kind == "class"


@pytest.mark.skipif(not STSB_DIR.is_dir(), reason="needs ../shared/data/stsb")
def test_raw_stsb_files_load_with_loader_args_only():
    """No header, 7 or 9 columns, unescaped quotes: read as published, not converted."""
    names = ["genre", "file", "year", "id", "score", "sentence1", "sentence2", "source1", "source2"]
    files = {split: str(STSB_DIR / f"sts-{split}.csv") for split in ("train", "dev", "test")}
    prepared = load_prepared(
        "stsb",
        spec(
            files,
            ["sentence1", "sentence2"],
            "score",
            loss="CosineSimilarityLoss",
            format="csv",
            label_range=[0, 5],
            loader_args={"sep": "\t", "header": None, "quoting": 3, "names": names},
        ),
    )
    sizes = {split: len(data) for split, data in prepared.splits.items()}
    assert sizes == {"train": 5749, "dev": 1500, "test": 1379}
    first = prepared.splits["train"][0]
    assert first["sentence1"] == "A plane is taking off." and first[LABEL] == pytest.approx(1.0)
    assert any('"' in s for s in prepared.splits["train"]["sentence1"])  # quotes kept as text


def test_beir_rows_are_query_and_each_relevant_document(beir_folder):
    prepared = load_prepared(
        "wiki", DatasetSpec(beir=str(beir_folder), loss=LossSpec("MultipleNegativesRankingLoss"))
    )
    train = prepared.splits["train"]
    assert train.column_names == ["query", "document"] and prepared.inputs == ["query", "document"]
    assert len(train) == 9  # q0 has two relevant documents: two rows; its grade-0 one gives none
    assert train["document"][:2] == [prepared.corpus["d0"], prepared.corpus["d1"]]
    assert len(prepared.corpus) == 30 and prepared.label_kind is None
    assert list(prepared.retrieval["dev"].queries) == ["q8", "q9", "q10"]
    assert len(prepared.splits["dev"]) == 3 and len(prepared.splits["test"]) == 1


def test_beir_caps_rows_but_never_the_corpus(beir_folder):
    capped = DatasetSpec(
        beir=str(beir_folder), columns={"query": "anchor", "document": "positive"}, max_samples=2
    )
    prepared = load_prepared("wiki", capped)
    assert prepared.splits["train"].column_names == ["anchor", "positive"]
    assert len(prepared.splits["train"]) == 2 and list(prepared.retrieval["train"].queries) == ["q0"]
    assert list(prepared.retrieval["dev"].queries) == ["q8", "q9"] and len(prepared.corpus) == 30


def test_beir_with_few_rows_searches_a_small_corpus(beir_folder):
    """The smoke run's few rows: their queries, their judged documents and as many others."""
    prepared = load_prepared("wiki", DatasetSpec(beir=str(beir_folder)))
    few = prepared.with_rows({split: data.select([0]) for split, data in prepared.splits.items()})
    assert list(few.retrieval["dev"].queries) == ["q8"] and list(few.retrieval["train"].queries) == ["q0"]
    assert {"d0", "d1", "d2", "d10"} <= set(few.corpus) and len(few.corpus) == 10
