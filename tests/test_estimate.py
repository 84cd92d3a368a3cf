"""The time estimate: each stage is what the plan counts times the pace timed on the real model."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from sbft.check import preflight
from sbft.estimate import Throughput, about, estimate, measure, measure_base_model, print_estimate
from sbft.recipe import load_recipe


def stages(plan, throughput, **known) -> dict[str, float]:
    return {stage.name: stage.seconds for stage in estimate(plan, throughput, **known).stages}


def test_each_stage_is_what_the_plan_counts_times_the_measured_pace(recipe_file):
    # 48 train rows at batch 8, 1 epoch: 6 steps of 8 rows, two texts a row; dev and test 16 pairs.
    plan = preflight(load_recipe(recipe_file()))
    pace = Throughput(train_text_s=0.5, encode_text_s=0.25, load_s=2.0, timed="t")
    times = stages(plan, pace)
    assert times["training"] == pytest.approx(6 * 8 * 2 * 0.5)
    assert times["baseline evaluation"] == pytest.approx((32 + 32) * 0.25)
    assert times["test"] == pytest.approx(32 * 0.25)
    # One evaluation per epoch (the kept step's score is reused), with the trainer's dev loss (32 texts).
    assert times["evaluations"] == pytest.approx(1 * (32 + 32) * 0.25)
    assert times["loading the model"] == 2.0
    result = estimate(plan, pace)
    assert result.total == pytest.approx(sum(times.values()))


def test_a_smoke_run_that_ran_counts_its_own_time(recipe_file):
    plan = preflight(load_recipe(recipe_file()))
    pace = Throughput(train_text_s=0.1, encode_text_s=0.1)
    assert stages(plan, pace, smoke_seconds=12.5)["smoke run"] == 12.5


def test_stages_the_recipe_does_not_have_are_left_out(recipe_file):
    plan = preflight(load_recipe(recipe_file(evaluation__test=False, evaluation__baseline=False)))
    times = stages(plan, Throughput(train_text_s=0.1, encode_text_s=0.1))
    assert "test" not in times
    assert "baseline evaluation" not in times
    assert "mining hard negatives" not in times


def test_mining_counts_the_corpus_and_the_queries(recipe_file, beir_folder):
    plan = preflight(
        load_recipe(
            recipe_file(
                datasets={
                    "qa": {
                        "beir": str(beir_folder),
                        "loss": "MultipleNegativesRankingLoss",
                        "negatives": {"mine": {"num": 1}},
                    }
                }
            )
        )
    )
    times = stages(plan, Throughput(train_text_s=0.0, encode_text_s=1.0))
    train_rows = len(plan.datasets["qa"].splits["train"])
    assert times["mining hard negatives"] == 30 + train_rows  # 30 documents, the train queries
    # The base model's corpus embeddings from mining serve the baseline: only its 3 dev and 1 test queries.
    assert times["baseline evaluation"] == pytest.approx(3 + 1)
    # The model being trained encodes the whole corpus (and its queries, and the dev loss) each time.
    assert times["evaluations"] == pytest.approx(_evaluation_count(plan) * (30 + 3 + _dev_rows(plan) * 2))


def test_without_mining_the_baseline_encodes_the_corpus_once_for_dev_and_test(recipe_file, beir_folder):
    qa = {"beir": str(beir_folder), "loss": "MultipleNegativesRankingLoss"}
    plan = preflight(load_recipe(recipe_file(datasets={"qa": qa})))
    times = stages(plan, Throughput(train_text_s=0.0, encode_text_s=1.0))
    assert "mining hard negatives" not in times
    assert times["baseline evaluation"] == pytest.approx(30 + 3 + 1)
    assert times["test"] == pytest.approx(30 + 1)  # the fine-tuned model: the corpus again


def _evaluation_count(plan) -> int:
    from sbft.estimate import _evaluations

    return _evaluations(plan)


def _dev_rows(plan) -> int:
    return len(plan.datasets["qa"].splits["dev"])


def test_the_pace_is_timed_on_the_model_and_leaves_its_weights_alone(recipe_file):
    plan = preflight(load_recipe(recipe_file()))
    from sbft.models import build_model

    model = build_model(plan.recipe.model)
    before = {name: value.clone() for name, value in model.state_dict().items()}
    pace = measure(model, plan)
    assert pace.train_text_s > 0 and pace.encode_text_s > 0
    assert "training step" in pace.timed and "texts encoded" in pace.timed
    assert all((model.state_dict()[name] == value).all() for name, value in before.items())
    assert not model.training
    assert all(parameter.grad is None for parameter in model.parameters())


def test_the_printed_estimate_ends_with_a_total_and_says_it_is_one(recipe_file):
    plan = preflight(load_recipe(recipe_file()))
    out = io.StringIO()
    print_estimate(plan, Console(file=out, width=200), measure_base_model(plan))
    text = out.getvalue()
    assert "estimated time on this machine" in text and "rough guide" in text
    assert text.strip().splitlines()[-1].split()[0] == "total"


def test_no_estimate_says_why():
    out = io.StringIO()
    print_estimate(None, Console(file=out, width=200), None, "RuntimeError: no batches")
    assert "no time estimate (RuntimeError: no batches)" in out.getvalue()


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (0.4, "<1 s"),
        (42, "~42 s"),
        (150, "~2.5 min"),
        (120, "~2 min"),
        (1500, "~25 min"),
        (4980, "~1 h 23 min"),
        (3610, "~1 h"),
    ],
)
def test_durations_are_as_precise_as_an_estimate(seconds, said):
    assert about(seconds) == said


def test_train_prints_the_estimate_timed_on_the_smoke_runs_model(cli, recipe_file, tmp_path):
    result = cli("train", recipe_file(), "-o", tmp_path / "run")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    smoke = next(i for i, line in enumerate(lines) if line.startswith("smoke run: ok"))
    assert "estimated time on this machine" in lines[smoke + 1]
    stages = [line.split()[0] for line in lines[smoke + 2 : smoke + 12] if line.startswith("    ")]
    assert stages[0] == "smoke" and "training" in stages and stages[-1] == "total"


def test_a_cross_encoder_is_timed_on_its_pairs(recipe_file):
    plan = preflight(
        load_recipe(recipe_file(model__type="cross-encoder", datasets__sts__loss="BinaryCrossEntropyLoss"))
    )
    from sbft.models import build_model

    pace = measure(build_model(plan.recipe.model, num_labels=1), plan)
    assert pace.train_text_s > 0 and pace.encode_text_s > 0
    # One pair a row for a cross-encoder: dev and test are 16 pairs each.
    assert stages(plan, Throughput(train_text_s=0.0, encode_text_s=1.0))["test"] == 16
