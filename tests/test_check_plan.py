"""`sbft check` in-process: training values and loss arguments refused by name, and the plan's
schedule and warnings saying what will actually run."""

from __future__ import annotations

import io
import json
import math

import pytest
from rich.console import Console

from sbft.check import preflight
from sbft.errors import SbftError
from sbft.plan import Plan, print_plan
from sbft.recipe import load_recipe


def plan_of(recipe_file, **changes) -> Plan:
    return preflight(load_recipe(recipe_file(**changes)))


def printed(plan: Plan) -> str:
    out = io.StringIO()
    print_plan(plan, Console(file=out, width=300))
    return out.getvalue()


@pytest.mark.parametrize(
    ("changes", "where", "message"),
    [
        (
            {"training__learning_rate": -1e-5},
            "training.learning_rate",
            "must be a positive number, not -1e-05",
        ),
        ({"training__learning_rate": 0}, "training.learning_rate", "must be a positive number, not 0.0"),
        (
            {"training__learning_rate": math.nan},
            "training.learning_rate",
            "must be a positive number, not nan",
        ),
        ({"training__num_train_epochs": 0}, "training.num_train_epochs", "would train nothing"),
        ({"training__num_train_epochs": -1}, "training.num_train_epochs", "must be a positive number"),
        ({"training__max_steps": 0}, "training.max_steps", "positive number of optimisation steps, not 0"),
        ({"training__max_steps": -2}, "training.max_steps", "not -2"),
        ({"training__per_device_train_batch_size": 0}, "training.per_device_train_batch_size", "at least 1"),
        ({"training__per_device_eval_batch_size": -1}, "training.per_device_eval_batch_size", "at least 1"),
        ({"training__gradient_accumulation_steps": 0}, "training.gradient_accumulation_steps", "at least 1"),
        (
            {"datasets__sts__loss": {"name": "CoSENTLoss", "args": {"scale": "abc"}}},
            "datasets.sts.loss.args.scale",
            "expected a number, got the string 'abc'",
        ),
        (
            {
                "datasets__sts__loss": {
                    "name": "MatryoshkaLoss",
                    "args": {"matryoshka_dims": [32, 16]},
                    "inner": {"name": "CoSENTLoss", "args": {"scale": [1]}},
                }
            },
            "datasets.sts.loss.inner.args.scale",
            "expected a number",
        ),
        (
            {"model__max_seq_length": 100},
            "model.max_seq_length",
            "100 is longer than the model's 64 positions",
        ),
    ],
    ids=lambda value: None if isinstance(value, dict) else "",
)
def test_a_value_that_cannot_train_is_refused_by_name(recipe_file, changes, where, message):
    with pytest.raises(SbftError) as caught:
        plan_of(recipe_file, **changes)
    assert caught.value.where == where and message in caught.value.what


def test_zero_epochs_are_fine_when_max_steps_decides(recipe_file):
    plan = plan_of(recipe_file, training__num_train_epochs=0, training__max_steps=12)
    assert plan.total_steps == 12


def test_max_seq_length_is_checked_against_a_saved_models_transformer(recipe_file, tmp_path):
    folder = tmp_path / "saved"
    (folder / "0_Transformer").mkdir(parents=True)
    modules = [
        {"idx": 0, "name": "0", "path": "0_Transformer", "type": "sentence_transformers.models.Transformer"}
    ]
    (folder / "modules.json").write_text(json.dumps(modules), encoding="utf-8")
    config = {"model_type": "xlm-roberta", "max_position_embeddings": 514}
    (folder / "0_Transformer" / "config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(
        SbftError, match=r"513 is longer than the model's 512 positions \(max_position_embeddings 514\)"
    ):
        plan_of(recipe_file, model__name=str(folder), model__max_seq_length=513)


def test_the_plan_shows_the_steps_that_max_steps_leaves(recipe_file):
    text = printed(plan_of(recipe_file, training__num_train_epochs=5, training__max_steps=2))
    assert "2 steps in total (max_steps: 0.333 epochs of 6 steps; num_train_epochs 5 does not apply)" in text
    assert "5 epochs of 6 steps" not in text


def test_the_plan_counts_the_epochs_steps(recipe_file):
    plan = plan_of(recipe_file, training__num_train_epochs=2)
    assert "12 steps in total (2 epochs of 6 steps)" in printed(plan)
    assert not [w for w in plan.warnings if "step" in w]  # 12 steps, 2 of warm-up: nothing to say


def test_a_schedule_that_can_hardly_train_is_warned_about(recipe_file):
    plan = plan_of(recipe_file, datasets__sts__max_samples=10, training__per_device_train_batch_size=32)
    warnings = " ".join(plan.warnings)
    assert "only 1 optimisation step: too few to fine-tune" in warnings
    assert "warm-up (1 step) covers all 1 step: the learning rate never reaches 2e-05" in warnings
    assert "(the only step runs at 0)" in warnings


def test_labels_outside_label_range_are_counted(recipe_file, pair_score_files):
    train = pair_score_files["train"]
    train.write_text(
        train.read_text(encoding="utf-8") + "a man,a dog,50\na cat,a bird,-3\n", encoding="utf-8"
    )
    plan = plan_of(recipe_file)
    assert "sts (train): 2 labels outside label_range [0, 5] (from -3 to 50)" in plan.warnings
    assert not [w for w in plan.warnings if "(dev)" in w]


def test_plan_words_agree_with_their_numbers(recipe_file):
    """Issue 15, item 6: "1 epoch", "1 process", and a label named for its kind said once."""
    text = printed(plan_of(recipe_file, training__num_train_epochs=1))
    assert "6 steps in total (1 epoch of 6 steps)" in text and "x 1 process x" in text
    assert "+ label 'score';" in text and "(score)" not in text
