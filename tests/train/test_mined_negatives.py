"""Recipes' `negatives.mine` end to end: shown in the plan, mined before training (smoke run
included), kept in the run folder and metrics.json, and read back by --resume, never mined twice."""

from __future__ import annotations

import json

import pytest

from sbft import mining, run_folder
from sbft import train as train_module
from tests.helpers import sentences, write_beir

MINE = {"num": 2, "relative_margin": 0.0}


def qa_recipe(recipe_file, pair_files, **changes):
    dataset = {
        "files": {split: path.name for split, path in pair_files.items()},
        "columns": ["query", "answer"],
        "loss": "MultipleNegativesRankingLoss",
        "negatives": {"mine": MINE},
    }
    return recipe_file(datasets={"qa": dataset}, evaluation__test=False, **changes)


def test_train_mines_before_training_and_keeps_the_rows(cli, recipe_file, pair_files, tmp_path):
    recipe = qa_recipe(recipe_file, pair_files, training__max_steps=2)
    plan = " ".join(cli("check", recipe).stdout.split())
    assert "qa: before training, 2 negatives per train row mined by the base model" in plan
    assert "over its train positives (48 documents)" in plan and "relative_margin 0" in plan

    run_dir = tmp_path / "run"
    result = cli("train", recipe, "-o", run_dir)  # with its smoke run, which mines a few rows
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "negatives qa: mined 2 negatives for" in " ".join(result.stdout.split())
    rows = [json.loads(line) for line in (run_dir / run_folder.MINED / "qa.jsonl").read_text().splitlines()]
    assert rows and all(list(row) == ["query", "answer", "negative_1", "negative_2"] for row in rows)
    assert all(row["answer"] not in (row["negative_1"], row["negative_2"]) for row in rows)
    record = json.loads((run_dir / run_folder.MINED / "qa.json").read_text())
    assert record["rows_in"] == 48 and record["rows_kept"] == len(rows) and record["settings"]["num"] == 2
    metrics = json.loads((run_dir / run_folder.METRICS).read_text())
    assert metrics["mining"]["qa"] == record and metrics["status"] == "finished"


def test_resume_reads_the_mined_rows_back(cli, recipe_file, pair_files, tmp_path, monkeypatch):
    recipe = qa_recipe(recipe_file, pair_files, training__max_steps=4, training__save_steps=2)
    stop_at_step = train_module.GracefulStop.on_step_end

    def stopped_after_two_steps(self, args, state, control, **kwargs):
        self.stopped = self.stopped or state.global_step >= 2
        return stop_at_step(self, args, state, control, **kwargs)

    run_dir = tmp_path / "run"
    with monkeypatch.context() as patch:
        patch.setattr(train_module.GracefulStop, "on_step_end", stopped_after_two_steps)
        first = cli("train", recipe, "-o", run_dir, "--no-smoke")
    assert first.exit_code == 130, first.stdout + first.stderr
    mined = (run_dir / run_folder.MINED / "qa.jsonl").read_bytes()

    def mined_again(*args, **kwargs):
        raise AssertionError("a resumed run mines again")

    monkeypatch.setattr(mining.run, "mine_negatives", mined_again)
    resumed = cli("train", "--resume", run_dir)
    assert resumed.exit_code == 0, resumed.stdout + resumed.stderr
    assert "negatives qa: " in resumed.stdout and "read back from mined/qa.jsonl" in resumed.stdout
    assert (run_dir / run_folder.MINED / "qa.jsonl").read_bytes() == mined
    metrics = json.loads((run_dir / run_folder.METRICS).read_text())
    assert metrics["status"] == "finished" and metrics["training"]["steps"] == 4
    assert metrics["mining"]["qa"]["reused"] is True and metrics["mining"]["qa"]["rows_in"] == 48


def test_a_beir_dataset_mines_over_its_corpus_never_a_copy_of_the_positive(
    cli, recipe_file, tmp_path, monkeypatch
):
    queries = sentences(16, 41)
    corpus = {f"d{i}": text for i, text in enumerate(sentences(40, 42))}
    for i, query in enumerate(queries):
        corpus[f"p{i}"] = f"{query} today"
        corpus[f"copy{i}"] = f"  {query.upper()}   TODAY"  # the same document under another id
    folder = write_beir(
        tmp_path / "beir",
        corpus,
        {f"q{i}": text for i, text in enumerate(queries)},
        {
            "train": [(f"q{i}", f"p{i}", 1) for i in range(12)],
            "dev": [(f"q{i}", f"p{i}", 1) for i in range(12, 16)],
        },
    )
    dataset = {
        "beir": str(folder),
        "columns": ["query", "document"],
        "loss": "MultipleNegativesRankingLoss",
        "negatives": {"mine": {"num": 3, "relative_margin": None}},
    }
    recipe = recipe_file(datasets={"wiki": dataset}, evaluation__test=False, training__max_steps=1)
    assert "over its corpus (72 documents)" in " ".join(cli("check", recipe).stdout.split())
    from sbft.inference.corpus import CorpusCache

    shared, embeddings = [], CorpusCache.embeddings

    def spied(self, model, texts, *args, **kwargs):
        shared.append((len(texts), bool(self._memory)))
        return embeddings(self, model, texts, *args, **kwargs)

    monkeypatch.setattr(CorpusCache, "embeddings", spied)
    run_dir = tmp_path / "run"
    result = cli("train", recipe, "-o", run_dir)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert (72, True) in shared  # the baseline asked the run's cache, which held mining's encode
    # One encode of the corpus per run (issue 21): mining's; the baseline evaluation reuses it.
    assert "mining hard negatives: 72 of 72 documents encoded in" in result.stderr
    base_encodes = [line for line in result.stderr.split("\n") if "documents encoded" in line]
    assert len([line for line in base_encodes if "evaluating dev (wiki)" not in line]) == 1, result.stderr
    record = json.loads((run_dir / run_folder.MINED / "wiki.json").read_text())
    assert record["duplicates_dropped"] == 16 and record["documents"] == 40 + 16 and record["rows_kept"] == 12
    for line in (run_dir / run_folder.MINED / "wiki.jsonl").read_text().splitlines():
        row = json.loads(line)
        own = " ".join(row["document"].split()).casefold()
        assert all(" ".join(row[f"negative_{i}"].split()).casefold() != own for i in (1, 2, 3))


@pytest.mark.parametrize(
    ("dataset", "message"),
    [
        ({"loss": "CoSENTLoss", "label": "score"}, "exactly those two columns and no label"),
        (
            {"loss": "MultipleNegativesSymmetricRankingLoss"},
            "mined rows are (query, positive, 2 negatives)",
        ),
        ({"negatives": {"mine": {**MINE, "num": 0}}}, "num must be at least 1"),
        ({"negatives": {"mine": {**MINE, "samples": 3}}}, "unknown key 'samples'"),
        ({"loss": None}, "negatives are mined for training, and this dataset has no loss"),
        ({"negatives": {"mine": {**MINE, "relative_margin": None, "rescore_with": "x"}}}, "needs a margin"),
    ],
)
def test_mining_is_checked_with_the_recipe(cli, recipe_file, pair_files, dataset, message):
    recipe = qa_recipe(recipe_file, pair_files)
    import yaml

    raw = yaml.safe_load(recipe.read_text())
    raw["datasets"]["qa"].update(dataset)
    recipe.write_text(yaml.safe_dump(raw))
    result = cli("check", recipe)
    assert result.exit_code == 2 and message in " ".join(result.stderr.split()), result.stderr
    assert "datasets.qa." in result.stderr
