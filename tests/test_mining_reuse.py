"""mined/ in a run folder is a cache of this run's mined rows: read back by a resumed run only when
the rows file is the one its record describes (issue 25, 'every cache sbft reads is validated')."""

from __future__ import annotations

import json

import pytest

from sbft import mining
from sbft.check import preflight
from sbft.mining.run import ROWS_DIGEST, mine_datasets
from sbft.models import build_model
from sbft.recipe import load_recipe
from tests.train.test_mined_negatives import qa_recipe


@pytest.fixture()
def mined(recipe_file, pair_files, tmp_path, monkeypatch):
    """Mine once into a run folder; return a function that mines again and counts the mining."""
    recipe = load_recipe(qa_recipe(recipe_file, pair_files))
    plan = preflight(recipe)
    model = build_model(recipe.model)
    run = tmp_path / "run"
    run.mkdir()
    mine_datasets(plan.datasets, model, run, progress=False)
    calls = []
    real = mining.run.mine_negatives
    monkeypatch.setattr(mining.run, "mine_negatives", lambda *a, **k: calls.append(1) or real(*a, **k))

    def again():
        return mine_datasets(plan.datasets, model, run, progress=False)[1]["qa"], calls

    return run / "mined", again


def test_whole_rows_are_read_back(mined):
    folder, again = mined
    record, calls = again()
    assert record["reused"] is True and calls == []
    assert json.loads((folder / "qa.json").read_text())[ROWS_DIGEST] == record[ROWS_DIGEST]


@pytest.mark.parametrize(
    "damage",
    [
        lambda folder: (folder / "qa.jsonl").write_text((folder / "qa.jsonl").read_text()[:-40]),  # cut short
        lambda folder: (folder / "qa.jsonl").write_text(
            (folder / "qa.jsonl").read_text().replace("negative_1", "negative_9", 1)
        ),  # edited
        lambda folder: (folder / "qa.json").write_text("{not json"),
        lambda folder: (folder / "qa.json").write_text("[]"),
        lambda folder: (folder / "qa.jsonl").unlink(),
    ],
    ids=["rows cut short", "rows edited", "record not JSON", "record a list", "rows missing"],
)
def test_damaged_rows_are_mined_again_with_a_warning(mined, capsys, damage):
    folder, again = mined
    damage(folder)
    record, calls = again()
    assert calls == [1] and "reused" not in record
    assert "mining again" in capsys.readouterr().err
    assert json.loads((folder / "qa.json").read_text())[ROWS_DIGEST] == record[ROWS_DIGEST]
