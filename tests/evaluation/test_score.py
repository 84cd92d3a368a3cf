"""sbft.evaluation.score in-process: what DATA means, and scores from the train pipeline's evaluators."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from sbft.errors import SbftError
from sbft.evaluation.data import DataOptions, EvalData, resolve_data
from sbft.evaluation.score import score_models
from tests.helpers import STSB_DIR, sentences, wikiqa_tsv, write_jsonl


@pytest.fixture(scope="session")
def tiny_cross_encoder(tiny_model, tmp_path_factory) -> Path:
    from sentence_transformers import CrossEncoder

    path = tmp_path_factory.mktemp("tiny-cross-encoder")
    CrossEncoder(str(tiny_model), num_labels=1).save(str(path))
    return path


def recipe_file(folder: Path, sts: dict[str, Path], qa: dict[str, Path]) -> Path:
    recipe = {
        "model": {"name": "sentence-transformers/all-MiniLM-L6-v2"},
        "datasets": {
            "sts": {
                "files": {split: str(path) for split, path in sts.items()},
                "columns": ["sentence1", "sentence2"],
                "label": "score",
                "loss": "CoSENTLoss",
            },
            "qa": {
                "files": {"train": str(qa["train"]), "test": str(qa["test"])},
                "columns": ["query", "answer"],
                "loss": "MultipleNegativesRankingLoss",
            },
        },
    }
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
    return path


# --- DATA ----------------------------------------------------------------------------------


def test_a_file_with_guessed_columns(pair_score_files):
    data = resolve_data(str(pair_score_files["test"]), DataOptions())
    ((name, spec),) = data.specs.items()
    assert (name, data.split) == ("sts", "test")
    assert (spec.columns, spec.label) == (["sentence1", "sentence2"], "score")
    assert any("guessed" in note for note in data.notes)


def test_named_columns_and_loader_options(pair_score_files):
    options = DataOptions(
        columns=["sentence2", "sentence1"], label="score", label_range=[0, 5], loader_args={"sep": ","}
    )
    (spec,) = resolve_data(str(pair_score_files["test"]), options).specs.values()
    assert (spec.columns, spec.label_range, spec.loader_args) == (
        ["sentence2", "sentence1"],
        [0, 5],
        {"sep": ","},
    )


@pytest.mark.skipif(not STSB_DIR.is_dir(), reason="needs ../shared/data/stsb")
def test_raw_stsb_reads_as_sbft_init_would():
    (spec,) = resolve_data(str(STSB_DIR / "sts-test.csv"), DataOptions()).specs.values()
    assert spec.label is not None and len(spec.columns) == 2
    assert spec.loader_args["quoting"] == 3 and spec.loader_args["header"] is None


def test_a_folder_picks_its_file_by_split(tmp_path):
    for name in ("train.jsonl", "validation.jsonl", "test.jsonl", "notes.md"):
        write_jsonl(tmp_path / name, [{"a": "x", "b": "y"}])
    name = tmp_path.name  # files named only by their split: the dataset is named for the folder
    assert (
        resolve_data(str(tmp_path), DataOptions(columns=["a", "b"]))
        .specs[name]
        .files["test"]
        .endswith("test.jsonl")
    )
    dev = resolve_data(str(tmp_path), DataOptions(columns=["a", "b"], split="dev"))
    assert dev.specs[name].files["test"].endswith("validation.jsonl")

    single = tmp_path / "single"
    single.mkdir()
    write_jsonl(single / "anything.jsonl", [{"a": "x", "b": "y"}])
    assert "anything" in resolve_data(str(single), DataOptions(columns=["a", "b"])).specs

    write_jsonl(tmp_path / "more-test.jsonl", [{"a": "x", "b": "y"}])
    with pytest.raises(SbftError, match=r"which file .* test split \(more-test.jsonl, test.jsonl\)"):
        resolve_data(str(tmp_path), DataOptions(columns=["a", "b"]))


def test_recipe_datasets(tmp_path, pair_score_files, pair_files):
    recipe = recipe_file(tmp_path, pair_score_files, pair_files)
    both = resolve_data(str(recipe), DataOptions())
    assert (list(both.specs), both.split) == (["sts", "qa"], "test")
    dev = resolve_data(f"{recipe}#:dev", DataOptions(max_samples=5))
    assert list(dev.specs) == ["sts"] and dev.specs["sts"].max_samples == 5
    assert dev.notes == ["skipped qa: no dev split"]
    assert list(resolve_data(f"{recipe}#qa", DataOptions()).specs) == ["qa"]
    for reference, options, message in [
        (f"{recipe}#st", DataOptions(), "no dataset 'st'. Did you mean 'sts'"),
        (f"{recipe}#qa:dev", DataOptions(), "no dataset named 'qa' in the recipe has a dev split"),
        (f"{recipe}#sts:valid", DataOptions(), "unknown split 'valid'"),
        (str(recipe), DataOptions(columns=["a", "b"]), "--columns describe a data file"),
    ]:
        with pytest.raises(SbftError, match=message):
            resolve_data(reference, options)


@pytest.mark.parametrize(
    ("data", "options", "message"),
    [
        ("./missing.csv", DataOptions(), "the data './missing.csv' does not exist"),
        ("org/some-dataset", DataOptions(), "name the input columns of the hub dataset"),
        ("x.csv", DataOptions(columns=["a"], label="a"), "also listed as an input column"),
        ("x.csv", DataOptions(columns=["a"], label_range=[5, 0]), r"\[low, high\] with low < high"),
        ("x.csv", DataOptions(format="xlsx"), "unknown format 'xlsx'"),
    ],
)
def test_data_errors(data, options, message):
    with pytest.raises(SbftError, match=message):
        resolve_data(data, options)


def test_a_hub_dataset_becomes_a_hub_spec():
    data = resolve_data("org/sts", DataOptions(columns=["s1", "s2"], label="y", split="validation"))
    assert data.specs["sts"].hub == "org/sts" and data.specs["sts"].splits == {"test": "validation"}


# --- scores --------------------------------------------------------------------------------


def test_scores_are_those_of_the_train_pipeline(tiny_model, tmp_path, pair_score_files):
    """One implementation: the same numbers as load_prepared + build_evaluator + evaluate."""
    from sentence_transformers import SentenceTransformer

    from sbft.data import load_prepared
    from sbft.evaluation import build_evaluator, evaluate

    run = tmp_path / "run"
    shutil.copytree(tiny_model, run / "model")
    data = resolve_data(str(pair_score_files["test"]), DataOptions())
    results = score_models([str(tiny_model), str(run), str(tiny_model)], data)
    assert list(results) == [str(tiny_model), str(run), f"{tiny_model} (2)"]

    prepared = {"sts": load_prepared("sts", data.specs["sts"], splits=("test",))}
    direct = evaluate(build_evaluator(prepared, "test"), SentenceTransformer(str(tiny_model)))
    assert "sts_spearman_cosine" in direct
    for metrics in results.values():
        assert metrics == pytest.approx(direct, abs=1e-6)


def test_task_overrides_the_shape(tiny_model, tmp_path):
    rows = [
        {"anchor": a, "positive": p, "negative": n}
        for a, p, n in zip(sentences(12, 30), sentences(12, 31), sentences(12, 32), strict=True)
    ]
    data = resolve_data(str(write_jsonl(tmp_path / "triplets.jsonl", rows)), DataOptions())
    (auto,) = score_models([str(tiny_model)], data).values()
    assert "triplets_cosine_accuracy" in auto
    (retrieval,) = score_models([str(tiny_model)], data, task="information-retrieval").values()
    assert "triplets_cosine_ndcg@10" in retrieval
    with pytest.raises(SbftError, match=r"unknown task 'tripplet'\. Did you mean 'triplet'"):
        score_models([str(tiny_model)], data, task="tripplet")
    with pytest.raises(SbftError, match="embedding-similarity evaluator needs"):
        score_models([str(tiny_model)], data, task="embedding-similarity")


def test_bi_and_cross_encoders_side_by_side(tiny_model, tiny_cross_encoder, pair_score_files):
    data = resolve_data(str(pair_score_files["test"]), DataOptions(label_range=[0, 5]))
    results = score_models([str(tiny_model), str(tiny_cross_encoder)], data)
    assert "sts_spearman_cosine" in results[str(tiny_model)]
    assert "sts_spearman" in results[str(tiny_cross_encoder)]


def test_missing_models_fail_before_any_evaluation(tiny_model, tmp_path):
    data = EvalData({}, "test")
    with pytest.raises(SbftError, match="does not exist"):
        score_models([str(tiny_model), str(tmp_path / "nope")], data)


def test_labelled_candidates_are_scored_as_labelled_pairs(tmp_path):
    """A WikiQA-shaped file (ids, question, candidate, 0/1): the texts and the label, never the ids."""
    data = resolve_data(str(wikiqa_tsv(tmp_path / "wikiqa-test.tsv", 30, 1)), DataOptions())
    (spec,) = data.specs.values()
    assert (spec.columns, spec.label) == (["Question", "Sentence"], "Label")


def test_a_beir_folder_is_searched_over_its_corpus(tiny_model, beir_folder):
    data = resolve_data(str(beir_folder), DataOptions())
    assert data.split == "test" and not data.notes  # the folder has test qrels
    (beir_folder / "qrels" / "test.tsv").unlink()
    data = resolve_data(str(beir_folder), DataOptions(max_samples=2))
    assert data.split == "dev" and "has no qrels/test.tsv" in data.notes[0]
    assert resolve_data(f"{beir_folder}#train", DataOptions()).split == "train"
    scores = score_models([str(tiny_model)], data)[str(tiny_model)]
    assert f"{beir_folder.parent.name}_cosine_ndcg@10" in scores  # a folder named beir: its parent's name
    with pytest.raises(SbftError, match=r"no qrels/test\.tsv"):
        resolve_data(f"{beir_folder}#test", DataOptions())
    with pytest.raises(SbftError, match="--columns describe a data file"):
        resolve_data(str(beir_folder), DataOptions(columns=["a", "b"]))


def test_a_corpus_is_encoded_once_with_a_progress_report_and_scores_as_before(
    tiny_model, beir_folder, capsys
):
    """sbft eval encodes a corpus as `sbft encode` does (token-sorted), once per evaluation, with a
    labelled report on stderr; the scores are sentence-transformers' own encode's."""
    from sentence_transformers import SentenceTransformer

    from sbft.evaluation.score import build_data_evaluator
    from sbft.families import FAMILIES

    data = resolve_data(str(beir_folder), DataOptions())
    name = beir_folder.parent.name
    scores = score_models([str(tiny_model)], data)[str(tiny_model)]
    lines = [line for line in capsys.readouterr().err.splitlines() if "documents encoded" in line]
    assert lines and all(line.startswith(f"evaluating test ({name}): ") for line in lines)
    assert lines[-1].startswith(f"evaluating test ({name}): 30 of 30 documents encoded")

    model = SentenceTransformer(str(tiny_model), device="cpu")
    family = FAMILIES["bi-encoder"]
    plain = build_data_evaluator(data, family, None, 32)(model)  # no document_encoder: model.encode
    for metric, value in plain.items():
        assert abs(scores[metric] - float(value)) < 1e-6, metric
