"""`sbft init`'s library: from a data file of each task shape to a recipe that `sbft check` accepts."""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

import pytest
from rich.console import Console

from sbft.check import preflight
from sbft.errors import SbftError
from sbft.init import find_splits, recipe_from_data, run_name, template, write_recipe
from sbft.inspection import inspect_file
from sbft.proposal import TASKS, propose
from sbft.recipe import load_recipe
from tests.helpers import sentences, write_jsonl

NLI = ("entailment", "neutral", "contradiction")


def write_csv(path: Path, header: list[str], rows: list[list], delimiter: str = ",") -> Path:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def columns(count: int, width: int, seed: int) -> list[list[str]]:
    return [sentences(count, seed + i) for i in range(width)]


def split_files(folder: Path, stem: str, write) -> Path:
    """Write train/dev/test files named alike (STEM-train...), return the train file."""
    for split, (count, seed) in {"train": (40, 1), "dev": (12, 2), "test": (12, 3)}.items():
        write(folder / f"{stem}-{split}", count, seed)
    return next(folder.glob(f"{stem}-train.*"))


def pair_class_jsonl(path: Path, count: int, seed: int) -> None:
    first, second = columns(count, 2, seed)
    rows = [
        {"question1": a, "question2": b, "is_duplicate": i % 2}
        for i, (a, b) in enumerate(zip(first, second, strict=True))
    ]
    write_jsonl(path.with_suffix(".jsonl"), rows)


def nli_csv(path: Path, count: int, seed: int) -> None:
    first, second = columns(count, 2, seed)
    rows = [[a, b, NLI[i % 3]] for i, (a, b) in enumerate(zip(first, second, strict=True))]
    write_csv(path.with_suffix(".csv"), ["premise", "hypothesis", "gold_label"], rows)


def pairs_jsonl(path: Path, count: int, seed: int) -> None:
    first, second = columns(count, 2, seed)
    write_jsonl(
        path.with_suffix(".jsonl"), [{"text1": a, "text2": b} for a, b in zip(first, second, strict=True)]
    )


def triplets_csv(path: Path, count: int, seed: int) -> None:
    anchor, positive, negative = columns(count, 3, seed)
    rows = [[n, a, p, f"id{i}"] for i, (a, p, n) in enumerate(zip(anchor, positive, negative, strict=True))]
    write_csv(path.with_suffix(".csv"), ["negative", "anchor", "positive", "row_id"], rows)


def headerless_tsv(path: Path, count: int, seed: int) -> None:
    """Raw STSb's layout: no header, genre/file/year/id, score 0-5, two sentences with stray quotes."""
    rng = random.Random(seed)
    first, second = columns(count, 2, seed)
    lines = [
        f'main\tMSRvid\t2012\t{i:04d}\t{rng.randint(0, 50) / 10:.3f}\t"{a}\t{b}'
        + ("\tsource-a\tsource-b" if i == count - 1 else "")  # a wider row at the very end
        for i, (a, b) in enumerate(zip(first, second, strict=True))
    ]
    path.with_suffix(".csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def init_and_check(data: Path, tmp_path: Path, task: str | None = None):
    """Write a recipe for `data` and run the pre-flight of `sbft check` on it."""
    output = tmp_path / "recipes" / "recipe.yaml"
    text, _, proposal, _ = recipe_from_data(data, output, task)
    write_recipe(text, output, force=False)
    plan = preflight(load_recipe(output))
    return proposal, plan, text


@pytest.mark.parametrize(
    ("stem", "write", "task", "inputs", "label", "loss", "evaluator"),
    [
        (
            "quora",
            pair_class_jsonl,
            "pair-class",
            ["question1", "question2"],
            "is_duplicate",
            "OnlineContrastiveLoss",
            "binary-classification",
        ),
        ("nli", nli_csv, "pair-class", ["premise", "hypothesis"], "gold_label", "SoftmaxLoss", "none"),
        (
            "para",
            pairs_jsonl,
            "pairs",
            ["text1", "text2"],
            None,
            "MultipleNegativesRankingLoss",
            "information-retrieval",
        ),
        (
            "trip",
            triplets_csv,
            "triplets",
            ["anchor", "positive", "negative"],
            None,
            "MultipleNegativesRankingLoss",
            "triplet",
        ),
        (
            "raw",
            headerless_tsv,
            "pair-score",
            ["sentence1", "sentence2"],
            "score",
            "CoSENTLoss",
            "embedding-similarity",
        ),
    ],
)
def test_each_task_shape_gives_a_recipe_that_checks(
    tmp_path, stem, write, task, inputs, label, loss, evaluator
):
    train = split_files(tmp_path, stem, write)
    proposal, plan, text = init_and_check(train, tmp_path)
    assert proposal.task.name == task and proposal.inputs == inputs and proposal.loss == loss
    assert (proposal.label.name if proposal.label else None) == label
    prepared = plan.datasets[plan.recipe.name]
    assert set(prepared.splits) == {"train", "dev", "test"}  # siblings found
    assert prepared.inputs == inputs and plan.recipe.datasets[plan.recipe.name].evaluator == evaluator
    assert f"files:\n      train: ../{train.name}" in text  # relative to the recipe's folder
    assert "# Alternatives:" in text


def test_scored_pairs_are_rescaled_and_train_as_written(tmp_path, pair_score_files, tiny_model):
    """The csv fixture of the train tests: scores 0-5 get label_range, and the recipe trains."""
    from sbft.train import train

    proposal, plan, text = init_and_check(pair_score_files["train"], tmp_path)
    assert proposal.task.name == "pair-score" and proposal.label_range == [0, 5]
    assert "label_range: [0, 5]" in text and "loss: CoSENTLoss" in text
    recipe = plan.recipe
    recipe.model.name, recipe.output_dir = str(tiny_model), str(tmp_path / "run")
    result = train(recipe, console=Console(file=io.StringIO()))
    assert result.metrics["status"] == "finished" and "sts_spearman_cosine" in result.metrics["final_dev"]


def test_a_label_column_named_label(tmp_path):
    first, second = columns(12, 2, 5)
    rows = [[a, b, NLI[i % 3]] for i, (a, b) in enumerate(zip(first, second, strict=True))]
    data = write_csv(tmp_path / "nli.csv", ["premise", "hypothesis", "label"], rows)
    proposal, _, _ = init_and_check(data, tmp_path)
    assert proposal.label.name == "label"


def test_query_first_whatever_the_file_order(tmp_path, pair_files):
    proposal, _, _ = init_and_check(pair_files["train"], tmp_path)
    assert proposal.task.name == "query-positive" and proposal.inputs == ["query", "answer"]


def test_a_forced_task_ignores_the_label(tmp_path, pair_score_files):
    proposal, plan, text = init_and_check(pair_score_files["train"], tmp_path, task="pairs")
    assert proposal.loss == "MultipleNegativesRankingLoss" and proposal.label is None
    assert "Not used: score." in text and plan.recipe.datasets["sts"].label is None


def test_data_that_fits_no_task_is_explained(tmp_path):
    single = write_jsonl(
        tmp_path / "one.jsonl", [{"text": s, "label": i % 2} for i, s in enumerate(sentences(10, 1))]
    )
    with pytest.raises(SbftError, match=r"needs 2 text columns, and 'one.jsonl' has 1"):
        recipe_from_data(single, tmp_path / "r.yaml")
    pairs = tmp_path / "para-train"
    pairs_jsonl(pairs, 10, 1)
    with pytest.raises(SbftError, match="needs a numeric score column"):
        recipe_from_data(pairs.with_suffix(".jsonl"), tmp_path / "r.yaml", "pair-score")
    with pytest.raises(SbftError, match="Did you mean 'triplets'"):
        recipe_from_data(pairs.with_suffix(".jsonl"), tmp_path / "r.yaml", "triplet")


@pytest.mark.parametrize("task", list(TASKS))
def test_templates_are_valid_recipes_marked_todo(tmp_path, task):
    output = tmp_path / "template.yaml"
    write_recipe(template(task, output), output, force=False)
    text = output.read_text()
    assert text.startswith(f"# TEMPLATE written by `sbft init --task {task}`") and "TODO/train.jsonl" in text
    recipe = load_recipe(output)
    assert next(iter(recipe.datasets.values())).loss.name == TASKS[task].loss
    with pytest.raises(SbftError, match=r"TODO/train\.jsonl' does not exist"):  # what `sbft check` says
        preflight(recipe)


def test_a_headerless_file_is_read_as_it_will_train(tmp_path):
    """Raw STSb: no header, quotes that are text, a wider row far down; columns get kinds."""
    headerless_tsv(tmp_path / "raw-train", 30, 1)
    inspection = inspect_file(tmp_path / "raw-train.csv")
    assert inspection.loader_args["header"] is None and len(inspection.loader_args["names"]) == 9
    kinds = {column.name: column.kind for column in inspection.columns}
    assert kinds["column4"] == "other" and kinds["column5"] == "score" and kinds["column6"] == "text"
    assert propose(inspection).inputs == ["column6", "column7"]


def test_splits_and_run_names(tmp_path):
    for name in ("sts-train.csv", "sts-validation.csv", "sts-test.csv"):
        (tmp_path / name).write_text("a,b\n")
    assert {split: path.name for split, path in find_splits(tmp_path / "sts-train.csv").items()} == {
        "train": "sts-train.csv",
        "dev": "sts-validation.csv",
        "test": "sts-test.csv",
    }
    assert run_name(tmp_path / "sts-train.csv") == "sts"
    assert run_name(Path("quora") / "train.jsonl") == "quora"


def test_errors_name_the_parameter_at_fault(tmp_path):
    """The CLI turns these names into its flags (--data, --task, --output)."""
    with pytest.raises(SbftError) as error:
        recipe_from_data(tmp_path / "missing.csv", tmp_path / "r.yaml")
    assert error.value.where == "data"
    data = write_jsonl(tmp_path / "qa.jsonl", [{"query": q, "answer": q} for q in sentences(10, 1)])
    with pytest.raises(SbftError) as error:
        recipe_from_data(data, tmp_path / "r.yaml", "triplet")
    assert error.value.where == "task"
    (tmp_path / "r.yaml").write_text("# mine\n")
    with pytest.raises(SbftError, match="already exists") as error:
        write_recipe("", tmp_path / "r.yaml", force=False)
    assert error.value.where == "output" and (tmp_path / "r.yaml").read_text() == "# mine\n"
    write_recipe("name: x\n", tmp_path / "r.yaml", force=True)
    assert (tmp_path / "r.yaml").read_text() == "name: x\n"
