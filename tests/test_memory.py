"""The plan's step-memory estimate: token lengths of the train columns, the typical and the worst
step, and the warning (with its fixes) when one long row makes a step far heavier than the rest."""

from __future__ import annotations

import numpy as np
import yaml

from sbft.check import preflight
from sbft.memory import MemoryEstimate, Shape
from sbft.recipe import load_recipe
from tests.helpers import sentences, write_jsonl

MINI_LM = Shape(hidden=384, layers=6, heads=12, max_seq_length=256)


def write_recipe(tmp_path, tiny_model, rows: list[dict], loss="MultipleNegativesRankingLoss", **model):
    write_jsonl(tmp_path / "train.jsonl", rows)
    recipe = {
        "model": {"name": str(tiny_model), **model},
        "datasets": {"qa": {"files": {"train": "train.jsonl"}, "columns": ["query", "answer"], "loss": loss}},
        "training": {"per_device_train_batch_size": 8},
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return path


def pairs(count: int = 200) -> list[dict]:
    return [{"query": q, "answer": a} for q, a in zip(sentences(count, 1), sentences(count, 2), strict=True)]


def test_one_very_long_row_draws_a_warning_with_the_fixes(tmp_path, tiny_model, cli):
    """The tiny BERT has 64 positions: a 300-word answer is cut to 64 tokens and pads its batch."""
    rows = pairs()
    rows[57]["answer"] = " ".join(sentences(40, 3))
    result = cli("check", write_recipe(tmp_path, tiny_model, rows), "--no-estimate")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "qa: tokens (99th percentile / longest) query " in text and "1 row cut to 64" in text
    assert "worst" in text and "(train row 58)" in text
    assert "one training step may need about" in text and "train row 58's answer has" in text
    assert "cut to 64), against a 99th percentile of" in text
    assert "model.max_seq_length: 32 truncates 1 row and saves about" in text
    assert "or loss CachedMultipleNegativesRankingLoss with mini_batch_size: 8" in text


def test_even_lengths_draw_no_warning_and_the_numbers_are_in_the_plan(tmp_path, tiny_model):
    plan = preflight(load_recipe(write_recipe(tmp_path, tiny_model, pairs())))
    assert not [w for w in plan.warnings if "training step" in w]
    [estimate] = plan.memory
    assert estimate.dataset == "qa" and estimate.columns == ["query", "answer"] and estimate.batch == 8
    assert estimate.shape == Shape(hidden=32, layers=2, heads=2, max_seq_length=64)
    assert estimate.lengths.shape == (200, 2) and estimate.lengths.min() >= 6  # [CLS] 4+ words [SEP]
    typical, worst, _ = estimate.step_bytes()
    assert typical <= worst < 2 * typical
    assert "step memory (activations) typical" in estimate.plan_line()


def test_a_cached_loss_keeps_a_mini_batch_of_texts(tmp_path, tiny_model):
    rows = pairs()
    rows[3]["query"] = " ".join(sentences(40, 3))
    cached = write_recipe(
        tmp_path,
        tiny_model,
        rows,
        loss={"name": "CachedMultipleNegativesRankingLoss", "args": {"mini_batch_size": 2}},
        max_seq_length=48,
    )
    [estimate] = preflight(load_recipe(cached)).memory
    assert estimate.mini_batch == 2 and estimate.shape.max_seq_length == 48
    _, worst, row = estimate.step_bytes()
    assert row == 3 and worst == 2 * estimate.shape.text_bytes(48)
    assert "CachedMultipleNegativesRankingLoss with" not in (estimate.warning() or "")


def test_the_estimate_grows_faster_than_the_length():
    """Fitted to all-MiniLM-L6-v2 (scripts/measure_step_memory.py): within 10% of the measured peak
    of one MNRL step of 32 rows x 3 columns at 32 tokens, and with one column at 256."""
    for lengths, measured_mb in (((32, 32, 32), 727), ((32, 256, 32), 7362)):
        estimate = MemoryEstimate("m", 32, MINI_LM, ["a", "b", "c"], np.array([lengths] * 10), "X")
        assert abs(estimate.step_bytes()[1] / 2**20 - measured_mb) < 0.1 * measured_mb
    assert MINI_LM.text_bytes(256) > 2.5 * MINI_LM.text_bytes(128)


def test_many_texts_are_sampled_and_the_longest_counted_exactly(tiny_model, monkeypatch):
    """Beyond EXACT_TEXTS distinct texts: the longest exactly, the rest from their characters."""
    from transformers import AutoTokenizer

    from sbft import memory

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model))
    texts = [[f"{text} {i}" for i, text in enumerate(sentences(400, 5))]]
    texts[0][123] = " ".join(sentences(30, 6))
    exact = memory.token_lengths(tokenizer, texts)
    monkeypatch.setattr(memory, "EXACT_TEXTS", 100)
    monkeypatch.setattr(memory, "SAMPLED_TEXTS", 50)
    sampled = memory.token_lengths(tokenizer, texts)
    assert sampled[123, 0] == exact[123, 0] == exact.max()
    assert abs(np.percentile(sampled, 99) - np.percentile(exact, 99)) <= 0.2 * np.percentile(exact, 99)
