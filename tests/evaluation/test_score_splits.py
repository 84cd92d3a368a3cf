"""`sbft eval MODEL dev`: a bare split means that split of a run's recipe (or of --recipe), scored
as training scores it, the run's base model beside it; never a hub dataset (issue 15, item 10).
And one naming rule: metrics start with the dataset's name, from a file or through a recipe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sbft.errors import SbftError
from sbft.evaluation.data import DataOptions, dataset_name, resolve_data
from sbft.evaluation.score import score_models
from sbft.recipe import dump_recipe, load_recipe


def finished_run(run: Path, recipe: Path, model: Path) -> Path:
    """A finished run folder as `sbft train` leaves it: marker, recipe.yaml, model/ (`model` as is)."""
    from sentence_transformers import SentenceTransformer

    run.mkdir(parents=True)
    (run / ".sbft-run").write_text(json.dumps({"status": "finished"}))
    (run / "recipe.yaml").write_text(dump_recipe(load_recipe(recipe), run))
    SentenceTransformer(str(model)).save(str(run / "model"))
    return run


@pytest.fixture()
def run_dir(tmp_path: Path, tiny_model: Path, recipe_file) -> Path:
    return finished_run(tmp_path / "runs" / "tiny", recipe_file(), tiny_model)


def test_a_split_of_the_runs_recipe_with_its_base_model_beside(run_dir, tiny_model, recipe_file):
    data = resolve_data("dev", DataOptions(), [str(run_dir)])
    assert (list(data.specs), data.split, data.base_model) == (["sts"], "dev", str(tiny_model))
    results = score_models([str(run_dir)], data)
    assert list(results) == [str(tiny_model), str(run_dir)]  # the base first, then the run
    through_recipe = score_models([str(tiny_model)], resolve_data(f"{recipe_file()}#sts:dev", DataOptions()))
    assert results[str(tiny_model)] == pytest.approx(through_recipe[str(tiny_model)], abs=1e-6)
    assert set(results[str(run_dir)]) == {"sts_pearson_cosine", "sts_spearman_cosine"}  # as in training


def test_any_model_with_a_recipe(tiny_model, recipe_file):
    data = resolve_data("test", DataOptions(recipe=str(recipe_file())), [str(tiny_model)])
    assert (list(data.specs), data.split, data.base_model) == (["sts"], "test", None)


def test_a_bare_split_is_never_a_hub_dataset(tiny_model, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets, "load_dataset", lambda *args, **kwargs: pytest.fail("asked the hub"))
    with pytest.raises(SbftError, match="'dev' names a split, and no recipe says of which data") as error:
        resolve_data("dev", DataOptions(), [str(tiny_model)])
    assert "--recipe" in error.value.fix


def test_a_file_named_like_a_split_is_a_file(tmp_path, tiny_model, pair_score_files, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("dev").write_text(pair_score_files["dev"].read_text())
    options = DataOptions(format="csv", columns=["sentence1", "sentence2"], label="score")
    data = resolve_data("dev", options, [str(tiny_model)])
    assert list(data.specs) == [tmp_path.name]  # a file named only by its split: its folder's name
    assert data.base_model is None and next(iter(data.specs.values())).files == {"test": "dev"}


def test_the_run_reads_its_recipe_with_the_variables_it_started_with(run_dir, tmp_path, monkeypatch):
    """A ${VAR} data path in the run's recipe resolves from run.json, with no variable set."""
    text = (run_dir / "recipe.yaml").read_text().replace("../../sts-dev.csv", "${DATA}/sts-dev.csv")
    (run_dir / "recipe.yaml").write_text(text)
    (run_dir / "run.json").write_text(json.dumps({"variables": {"DATA": str(tmp_path)}}))
    monkeypatch.delenv("DATA", raising=False)
    (spec,) = resolve_data("dev", DataOptions(), [str(run_dir)]).specs.values()
    assert spec.files["dev"] == str(tmp_path / "sts-dev.csv")


def test_options_that_contradict_a_split(run_dir, tiny_model, pair_score_files):
    with pytest.raises(SbftError, match="the split is 'dev' already"):
        resolve_data("dev", DataOptions(split="test"), [str(run_dir)])
    with pytest.raises(SbftError, match=r"'x\.csv' is no split") as error:
        resolve_data("x.csv", DataOptions(recipe="recipe.yaml"), [str(tiny_model)])
    assert error.value.where == "recipe"


@pytest.mark.parametrize(
    ("file", "name"),
    [
        ("sts-test.csv", "sts"),
        ("qa_dev.jsonl", "qa"),
        ("stsb/validation.tsv", "stsb"),
        ("wiki.test.tsv", "wiki"),
        ("sts-dev-v2.csv", "sts-v2"),
        ("my-data.csv", "my-data"),
    ],
)
def test_dataset_names_leave_the_split_out(file, name):
    assert dataset_name(Path(file)) == name


def test_a_file_and_a_recipe_name_the_metrics_alike(tiny_model, recipe_file, pair_score_files):
    """sts-test.csv raw, and the same file as the recipe's dataset 'sts': the same metric names."""
    raw = score_models(
        [str(tiny_model)], resolve_data(str(pair_score_files["test"]), DataOptions(label_range=[0, 5]))
    )
    recipe = score_models([str(tiny_model)], resolve_data(f"{recipe_file()}#sts:test", DataOptions()))
    assert (
        set(raw[str(tiny_model)])
        == set(recipe[str(tiny_model)])
        == {"sts_pearson_cosine", "sts_spearman_cosine"}
    )
