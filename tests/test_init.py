"""`sbft init`'s library: from a data file of each task shape to a recipe that `sbft check` accepts."""

from __future__ import annotations

import csv
import io
import random
import re
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from sbft.check import preflight
from sbft.errors import SbftError
from sbft.init import DEFAULT_MODEL, find_splits, recipe_from_data, run_name, template, write_recipe
from sbft.inspection import inspect_file
from sbft.proposal import TASKS, propose
from sbft.recipe import load_recipe
from tests.helpers import REPO, sentences, wikiqa_tsv, write_jsonl

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


def init_and_check(data: Path, tmp_path: Path, task: str | None = None, model: Path | None = None):
    """Write a recipe for `data` and run the pre-flight of `sbft check` on it (`model` edited in)."""
    output = tmp_path / "recipes" / "recipe.yaml"
    written = recipe_from_data(data, output, task)
    text = written.text
    write_recipe(text.replace(f"name: {DEFAULT_MODEL}", f"name: {model}") if model else text, output, False)
    plan = preflight(load_recipe(output))
    return written.proposal, plan, text


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
    todo = "TODO/beir" if task == "retrieval" else "TODO/train.jsonl"  # retrieval: a BEIR folder
    assert text.startswith(f"# TEMPLATE written by `sbft init --task {task}`") and todo in text
    recipe = load_recipe(output)
    assert next(iter(recipe.datasets.values())).loss.name == TASKS[task].loss
    with pytest.raises(SbftError, match=rf"{re.escape(todo)}' does not exist"):  # what `sbft check` says
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


WIKIQA_DIR = REPO.parent / "shared" / "data" / "wikiqa"
WIKIQA_PROPOSAL = {"query": "Question", "document": "Sentence", "label": "Label", "hard_negatives": 1}


def candidates_by_question(path: Path) -> dict[str, dict[str, int]]:
    rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()[1:]]
    found: dict[str, dict[str, int]] = {}
    for _, question, _, sentence, label in rows:
        found.setdefault(question, {})[sentence] = int(label)
    return found


def test_labelled_candidates_become_a_retrieval_recipe(tmp_path, tiny_model):
    """Raw WikiQA: the IDs are never texts; answers are positives, the other candidates hard negatives."""
    train = wikiqa_tsv(tmp_path / "WikiQA-train.tsv", 30, 1)
    wikiqa_tsv(tmp_path / "WikiQA-dev.tsv", 24, 2)
    proposal, plan, text = init_and_check(train, tmp_path, model=tiny_model)
    assert proposal.task.name == "retrieval" and proposal.loss == "MultipleNegativesRankingLoss"
    assert proposal.pairs_from_labels == WIKIQA_PROPOSAL and proposal.label is None
    assert (
        proposal.inputs == ["query", "positive", "negative"] and "Not used: QuestionID, SentenceID." in text
    )
    dataset = yaml.safe_load(text)["datasets"]["wikiqa"]
    assert dataset["loader_args"] == {"quoting": 3} and dataset["evaluator"] == "information-retrieval"
    assert "negatives" not in dataset and "#     relative_margin: 0.05" in text  # mining: commented out
    prepared = plan.datasets["wikiqa"]
    assert set(prepared.splits) == {"train", "dev"} and not [w for w in plan.warnings if "ID" in w]
    candidates = candidates_by_question(train)
    rows = prepared.splits["train"]
    with_negatives = [labels for labels in candidates.values() if 0 in labels.values()]
    assert len(rows) == sum(label for labels in with_negatives for label in labels.values())
    for query, positive, negative in zip(rows["query"], rows["positive"], rows["negative"], strict=True):
        assert '"' in positive and candidates[query][positive] == 1
        assert candidates[query][negative] == 0  # a candidate of the same question, never another's
    assert "2 dropped: their query has fewer than 1 label-0 candidate of its own" in prepared.notes["train"]


def test_labelled_candidates_as_pair_classification_on_request(tmp_path, tiny_model):
    train = wikiqa_tsv(tmp_path / "wikiqa.tsv", 30, 1)
    proposal, plan, text = init_and_check(train, tmp_path, "pair-class", tiny_model)
    assert proposal.inputs == ["Question", "Sentence"] and proposal.label.name == "Label"
    assert proposal.loss == "OnlineContrastiveLoss" and "pairs_from_labels" not in text
    assert plan.datasets["wikiqa"].inputs == ["Question", "Sentence"]


def test_headerless_labelled_candidates_get_role_names(tmp_path, tiny_model):
    with_header = wikiqa_tsv(tmp_path / "with-header.tsv", 30, 1)
    lines = with_header.read_text(encoding="utf-8").splitlines()[1:]
    data = tmp_path / "qa.tsv"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    proposal, plan, text = init_and_check(data, tmp_path, model=tiny_model)
    assert proposal.pairs_from_labels == {
        "query": "query",
        "document": "document",
        "label": "label",
        "hard_negatives": 1,
    }
    assert yaml.safe_load(text)["datasets"]["qa"]["loader_args"]["names"] == [
        "column1",
        "query",
        "column3",
        "document",
        "label",
    ]
    candidates = candidates_by_question(with_header)
    rows = plan.datasets["qa"].splits["train"]
    assert len(rows) and all(
        candidates[q][n] == 0 for q, n in zip(rows["query"], rows["negative"], strict=True)
    )


def test_identifiers_are_never_texts(tmp_path):
    """Short codes and row numbers, by name (QuestionID, doc_id) or by value (WIKI-00017), unique or not."""
    questions, answers = sentences(30, 1), sentences(30, 2)
    rows = [
        {"ref": f"WIKI-{i:05d}", "questionId": f"Q{i % 7}", "question": q, "answer": a}
        for i, (q, a) in enumerate(zip(questions, answers, strict=True))
    ]
    inspection = inspect_file(write_jsonl(tmp_path / "qa.jsonl", rows))
    kinds = {column.name: (column.kind, column.detail) for column in inspection.columns}
    assert kinds["ref"] == kinds["questionId"] == ("other", "identifiers")
    assert propose(inspection).inputs == ["question", "answer"]


@pytest.mark.skipif(not (WIKIQA_DIR / "WikiQA-train.tsv").is_file(), reason="no shared WikiQA data")
def test_the_real_wikiqa_file():
    from sbft.data import load_prepared
    from sbft.recipe import DatasetSpec, LossSpec, PairsFromLabels

    inspection = inspect_file(WIKIQA_DIR / "WikiQA-train.tsv")
    assert {c.name: c.kind for c in inspection.columns} == {
        "QuestionID": "other",
        "Question": "text",
        "SentenceID": "other",
        "Sentence": "text",
        "Label": "binary",
    }
    proposal = propose(inspection)
    assert proposal.task.name == "retrieval" and proposal.loss == "MultipleNegativesRankingLoss"
    assert proposal.pairs_from_labels == WIKIQA_PROPOSAL
    asked = propose(inspection, "pair-class")
    assert asked.inputs == ["Question", "Sentence"] and asked.label.name == "Label"
    assert asked.loss == "OnlineContrastiveLoss"
    spec = DatasetSpec(
        columns=proposal.inputs,
        loss=LossSpec(proposal.loss),
        files={"train": str(inspection.path)},
        loader_args=inspection.loader_args,
        pairs_from_labels=PairsFromLabels(**proposal.pairs_from_labels),
    )
    rows = load_prepared("wikiqa", spec).splits["train"]
    assert len(rows) == 1019  # the readme's 1,040 positives less 21 whose question has no label-0 candidate


def test_a_beir_folder_gives_a_retrieval_recipe(tmp_path, beir_folder, tiny_model, monkeypatch):
    monkeypatch.chdir(tmp_path)
    output = Path("recipes") / "recipe.yaml"
    written = recipe_from_data(Path(beir_folder.name), output)  # a relative path, as a user types it
    assert written.proposal.task.name == "retrieval" and "30 documents; train: 8 queries (9 pairs)" in (
        written.text
    )
    recipe = yaml.safe_load(written.text)
    assert recipe["model"]["name"] == DEFAULT_MODEL
    assert list(recipe["datasets"].values()) == [
        {"beir": "../beir", "loss": "MultipleNegativesRankingLoss", "evaluator": "information-retrieval"}
    ]
    assert (
        recipe["training"]["num_train_epochs"] == 2
        and recipe["training"]["per_device_train_batch_size"] == 32
    )
    assert "# Search each dev query among all 30 documents" in written.text
    write_recipe(written.text.replace(DEFAULT_MODEL, str(tiny_model)), output, force=False)
    plan = preflight(load_recipe(output))
    (prepared,) = plan.datasets.values()
    assert set(prepared.splits) == {"train", "dev", "test"} and len(prepared.corpus) == 30
    mining = re.sub(r"(?m)^(\s*)# (negatives:|  mine:|    \w+: )", r"\1\2", written.text)
    write_recipe(mining.replace(DEFAULT_MODEL, str(tiny_model)), output, force=True)
    (dataset,) = load_recipe(output).datasets.values()  # the commented block is a valid one
    assert dataset.negatives.mine.num == 1 and dataset.negatives.mine.range_max == 50


def test_beir_folders_that_cannot_train_are_explained(tmp_path, beir_folder):
    output = tmp_path / "r.yaml"
    with pytest.raises(SbftError, match="a BEIR folder holds retrieval data") as error:
        recipe_from_data(beir_folder, output, "pairs")
    assert error.value.where == "task"
    (beir_folder / "qrels" / "train.tsv").unlink()
    with pytest.raises(SbftError, match=r"no qrels/train\.tsv, so nothing to train on") as error:
        recipe_from_data(beir_folder, output)
    assert error.value.where == "data"
    (beir_folder / "queries.jsonl").unlink()
    with pytest.raises(SbftError, match=r"has no queries\.jsonl"):
        recipe_from_data(beir_folder, output)


def test_a_folder_without_a_train_file_is_named_a_folder(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "notes.csv").write_text("a,b\n", encoding="utf-8")
    (folder / "more.csv").write_text("a,b\n", encoding="utf-8")
    with pytest.raises(SbftError, match=r"'.*data' is neither in BEIR layout nor a folder") as error:
        recipe_from_data(folder, tmp_path / "r.yaml")
    assert error.value.where == "data" and "train.csv" in error.value.fix and "BEIR" in error.value.fix


def test_the_old_wikiqa_recipe_draws_a_warning(tmp_path, tiny_model):
    """What `sbft init` used to write for raw WikiQA: `sbft check` now says the ID is no text."""
    train = wikiqa_tsv(tmp_path / "wikiqa.tsv", 30, 1)
    _, _, text = init_and_check(train, tmp_path, "pair-class", tiny_model)
    old = text.replace("columns: [Question, Sentence]", "columns: [QuestionID, Question]")
    write_recipe(old.replace(DEFAULT_MODEL, str(tiny_model)), tmp_path / "recipes" / "old.yaml", force=False)
    warnings = preflight(load_recipe(tmp_path / "recipes" / "old.yaml")).warnings
    assert "wikiqa: column 'QuestionID' looks like an ID, yet it will be read as text" in warnings
