"""evaluation.merge_base's decision, on constructed scores: which ratio of base (0) and fine-tuned (1)
weights ships, and that only the best mix is kept."""

from __future__ import annotations

import math

import pytest

from sbft.evaluation.merge_base import AUTO_RATIOS, BASE, TUNED, choose_model, choose_ratio, merge_ratios


def test_the_best_dev_score_wins():
    assert choose_ratio({0.0: 0.70, 0.25: 0.78, 0.5: 0.81, 0.75: 0.79, 1.0: 0.76}) == 0.5


def test_a_loss_metric_picks_the_lowest():
    scores = {0.0: 0.9, 0.5: 0.4, 1.0: 0.6}
    assert choose_ratio(scores, greater_is_better=False) == 0.5
    assert choose_ratio(scores, greater_is_better=True) == 0.0


def test_a_tie_keeps_the_model_nearest_the_fine_tuned_one():
    assert choose_ratio({0.0: 0.8, 0.5: 0.8, 1.0: 0.8}) == TUNED
    assert choose_ratio({0.0: 0.8, 0.25: 0.8, 0.75: 0.8, 1.0: 0.7}) == 0.75
    assert choose_ratio({0.0: 0.3, 0.5: 0.3, 1.0: 0.5}, greater_is_better=False) == 0.5


def test_a_missing_or_nan_score_never_wins():
    assert choose_ratio({0.0: 0.5, 1.0: None}) == BASE  # training diverged: the base stays
    assert choose_ratio({0.0: None, 0.5: math.nan, 1.0: 0.1}) == TUNED
    assert choose_ratio({0.5: None}) == TUNED  # nothing scored: the fine-tuned model stays


def test_without_mixes_it_is_the_base_or_fine_tuned_rule():
    """No merge_base: the same decision over {0, 1} (fine-tuning made dev worse -> the base)."""
    assert choose_ratio({BASE: 0.8, TUNED: 0.7}) == BASE
    assert choose_ratio({BASE: 0.7, TUNED: 0.8}) == TUNED


def test_the_ratios_asked_for():
    assert merge_ratios(None) == []
    assert merge_ratios("auto") == list(AUTO_RATIOS) == [0.25, 0.5, 0.75]
    assert merge_ratios([0.75, 0.5]) == [0.5, 0.75]


def test_only_the_best_mix_is_kept_and_the_table_has_every_candidate():
    built, seen = [], []

    def build(ratio: float) -> dict:
        built.append(ratio)
        return {"ratio": ratio}

    scores = {0.25: 0.6, 0.5: 0.9, 0.75: 0.7}
    choice = choose_model(
        {TUNED: {"m": 0.8}, BASE: {"m": 0.5}},
        "m",
        True,
        ratios=[0.25, 0.5, 0.75],
        build=build,
        score=lambda model: {"m": scores[model["ratio"]]},
        on_mix=lambda ratio, dev: seen.append(ratio),
    )
    assert built == seen == [0.25, 0.5, 0.75]
    assert choice.chosen == 0.5 and choice.model == {"ratio": 0.5}
    record = choice.record()
    assert list(record["ratios"]) == ["0.0", "0.25", "0.5", "0.75", "1.0"]
    assert record["chosen"] == 0.5 and record["metric"] == "m" and record["greater_is_better"] is True


@pytest.mark.parametrize(("tuned", "chosen"), [(0.95, TUNED), (0.1, BASE)])
def test_no_mix_is_shipped_when_the_base_or_the_fine_tuned_model_wins(tuned, chosen):
    choice = choose_model(
        {TUNED: {"m": tuned}, BASE: {"m": 0.9}},
        "m",
        True,
        ratios=[0.5],
        build=lambda ratio: object(),
        score=lambda model: {"m": 0.2},
    )
    assert choice.chosen == chosen and choice.model is None
