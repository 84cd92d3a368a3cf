"""pairs_from_labels: candidates labelled 1/0 per query as (query, positive, negative...) rows, with
each row's negatives drawn at random (seeded) from its own query's label-0 candidates."""

from __future__ import annotations

import random

import pytest
import yaml

from sbft.data import load_prepared
from sbft.errors import SbftError
from sbft.recipe import DatasetSpec, LossSpec, PairsFromLabels
from tests.helpers import wikiqa_tsv, write_jsonl

ROWS = [("a", "a1", 1), *((("a", f"a0-{i}", 0)) for i in range(8)), ("a", "a2", 1), ("a", "a3", 1)]
ROWS += [("b", "b1", 1), ("b", "b2", 1)]  # b has no label-0 candidate
ROWS += [("c", "c0", 0), ("c", "c9", 0)]  # c has no answer
ROWS += [("d", "d1", 1), ("d", "d0", 0)]  # d has one label-0 candidate


def made(tmp_path, negatives: int = 1, seed: int | None = None, rows=ROWS):
    files = {
        "train": str(write_jsonl(tmp_path / "qa.jsonl", [dict(zip("qdy", r, strict=True)) for r in rows]))
    }
    source = PairsFromLabels(query="q", document="d", label="y", hard_negatives=negatives)
    if seed is not None:
        source.seed = seed
    spec = DatasetSpec(
        columns=source.columns,
        loss=LossSpec("MultipleNegativesRankingLoss"),
        files=files,
        pairs_from_labels=source,
    )
    prepared = load_prepared("qa", spec)
    return prepared.splits["train"].to_dict(), prepared.notes["train"]


def test_negatives_are_the_querys_own_drawn_at_random_and_seeded(tmp_path):
    """Not the first label-0 candidate in file order (a paragraph's first sentence, often a
    near-answer): the draw of the plain script (random.Random(42).choice per row), the same each run."""
    rows, note = made(tmp_path)
    assert rows["query"] == ["a", "a", "a", "d"] and rows["positive"] == ["a1", "a2", "a3", "d1"]
    pool = [f"a0-{i}" for i in range(8)]
    rng = random.Random(42)
    assert rows["negative"] == [rng.choice(pool) for _ in range(3)] + ["d0"]
    assert rows["negative"][:3] != ["a0-0"] * 3
    assert made(tmp_path)[0] == rows  # seeded: the same rows every time
    assert made(tmp_path, seed=7)[0]["negative"] != rows["negative"]
    assert "4 rows from 6 label-1 candidates" in note and "(seed 42)" in note


def test_rows_without_a_negative_of_their_own_are_dropped_and_counted(tmp_path):
    """b's answers are dropped, not given another query's negatives (easy ones, and not b's)."""
    rows, note = made(tmp_path)
    assert "b" not in rows["query"] and "c0" not in rows["negative"] and "c9" not in rows["negative"]
    assert note.endswith("; 2 dropped: their query has fewer than 1 label-0 candidate of its own")
    two, note = made(tmp_path, negatives=2)
    assert two["query"] == ["a", "a", "a"]  # d has one label-0 candidate: too few for two
    assert all(n1 != n2 for n1, n2 in zip(two["negative_1"], two["negative_2"], strict=True))
    assert "3 dropped: their query has fewer than 2 label-0 candidates" in note
    pairs, note = made(tmp_path, negatives=0)
    assert pairs == {"query": ["a"] * 3 + ["b"] * 2 + ["d"], "positive": ["a1", "a2", "a3", "b1", "b2", "d1"]}
    assert "dropped" not in note


def test_no_query_with_enough_negatives_is_an_error(tmp_path):
    with pytest.raises(
        SbftError, match=r"no query with a label-1 candidate has 2 label-0 candidates"
    ) as error:
        made(
            tmp_path,
            negatives=2,
            rows=[("b", "b1", 1), ("c", "c0", 0), ("c", "c1", 0), ("d", "d1", 1), ("d", "d0", 0)],
        )
    assert "hard_negatives" in error.value.fix


def test_check_prints_the_rows_dropped(tmp_path, tiny_model, cli):
    """The plan says how many rows the labelled file made and how many it dropped, and why."""
    wikiqa_tsv(tmp_path / "wikiqa.tsv", 30, 1)  # question 1: two answers, no label-0 candidate
    recipe = {
        "model": {"name": str(tiny_model)},
        "datasets": {
            "wikiqa": {
                "files": {"train": "wikiqa.tsv"},
                "loader_args": {"quoting": 3},
                "pairs_from_labels": {
                    "query": "Question",
                    "document": "Sentence",
                    "label": "Label",
                    "seed": 3,
                },
                "columns": ["query", "positive", "negative"],
                "loss": "MultipleNegativesRankingLoss",
            }
        },
        "training": {"per_device_train_batch_size": 4},
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    result = cli("check", path)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "train: 19 rows from 21 label-1 candidates, 1 negative each drawn at random (seed 3)" in text
    assert "2 dropped: their query has fewer than 1 label-0 candidate of its own" in text


def test_a_label_other_than_0_or_1_is_an_error(tmp_path):
    with pytest.raises(SbftError, match=r"row 2 of 'y' holds 2") as error:
        made(tmp_path, rows=[("a", "a1", 1), ("a", "a2", 2)])
    assert error.value.where == "datasets.qa (train split)"
