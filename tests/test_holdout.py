"""`holdout: 0.1`: dev rows taken out of train, seeded, with no text in both splits."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from sbft.check import preflight
from sbft.errors import SbftError
from sbft.holdout import hold_out
from sbft.plan import print_plan
from sbft.recipe import load_recipe


def _texts(data, columns) -> set[str]:
    return {" ".join(str(text).split()).casefold() for column in columns for text in data[column]}


def test_rows_that_share_a_text_stay_on_one_side():
    from datasets import Dataset

    # Query q0 has three answers, q1 two; the answer "shared" goes with two queries; one row twice.
    rows = [("q0", "a0"), ("q0", "a1"), ("Q0 ", "a2"), ("q1", "shared"), ("q2", "shared"), ("q1", "a5")]
    rows += [(f"q{i}", f"a{i}") for i in range(10, 40)] + [("q10", "a10")]
    data = Dataset.from_dict({"query": [q for q, _ in rows], "answer": [a for _, a in rows]})
    train, dev = hold_out(data, 0.2, ["query", "answer"], "datasets.qa.holdout")
    assert len(train) + len(dev) == len(data)
    assert 0 < len(dev) <= 0.25 * len(data)
    assert not _texts(train, ["query", "answer"]) & _texts(dev, ["query", "answer"])
    _, again_dev = hold_out(data, 0.2, ["query", "answer"], "datasets.qa.holdout")
    assert again_dev["query"] == dev["query"]  # seeded: the same dev rows every time


def test_rows_that_are_all_one_group_cannot_be_split():
    from datasets import Dataset

    data = Dataset.from_dict({"query": ["same"] * 20, "answer": [f"a{i}" for i in range(20)]})
    with pytest.raises(SbftError, match=r"cannot hold out 0\.1 of the 20 train rows") as caught:
        hold_out(data, 0.1, ["query", "answer"], "datasets.qa.holdout")
    assert caught.value.where == "datasets.qa.holdout"


def test_a_recipe_with_holdout_has_a_dev_split_without_leakage(recipe_file):
    path = recipe_file(datasets__sts__files={"train": "sts-train.csv"}, datasets__sts__holdout=0.25)
    plan = preflight(load_recipe(path))
    splits = plan.datasets["sts"].splits
    assert set(splits) == {"train", "dev"}
    assert len(splits["train"]) + len(splits["dev"]) == 48 and len(splits["dev"]) >= 8
    columns = ["sentence1", "sentence2"]
    assert not _texts(splits["train"], columns) & _texts(splits["dev"], columns)
    assert plan.args.eval_strategy == "epoch"  # the held-out dev is evaluated as a dev file would be
    assert not [w for w in plan.warnings if "also appear" in w]
    out = io.StringIO()
    print_plan(plan, Console(file=out, width=300))
    assert (
        f"train {len(splits['train'])}, dev {len(splits['dev'])} rows (dev: 0.25 of train, held out);"
        in out.getvalue()
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"datasets__sts__holdout": 0.1}, "has a dev file"),
        ({"datasets__sts__holdout": 0.9}, "from above 0 to 0.5"),
        ({"datasets__sts__holdout": 0}, "from above 0 to 0.5"),
        ({"datasets__sts__holdout": 0.1, "datasets__sts__files": {"test": "sts-test.csv"}}, "no train split"),
    ],
)
def test_holdout_rules(recipe_file, changes, message):
    with pytest.raises(SbftError, match=message) as caught:
        load_recipe(recipe_file(**changes))
    assert caught.value.where == "datasets.sts.holdout"


def test_holdout_does_not_apply_to_a_beir_folder(recipe_file, beir_folder):
    qa = {"beir": str(beir_folder), "loss": "MultipleNegativesRankingLoss", "holdout": 0.1}
    with pytest.raises(SbftError, match="BEIR dataset's dev split"):
        load_recipe(recipe_file(datasets={"qa": qa}))
