"""sbft.sampling: length-grouped batches hold every row once, rows of one length, no duplicate texts.

Correctness only; scripts/bench.py's train section measures what they save.
"""

from __future__ import annotations

import json
import random
import statistics

import pytest
import torch
from datasets import Dataset

from sbft.sampling import LengthGrouped, LengthGroupedBatchSampler
from tests.cli.test_train import write_recipe
from tests.helpers import sentences


def dataset(rows: int, seed: int = 0, duplicates: int = 0) -> Dataset:
    rng = random.Random(seed)
    first = [" ".join(["word"] * rng.randint(1, 60)) + f" {i}" for i in range(rows)]
    second = sentences(rows, seed)
    for row in range(duplicates):  # the same answer in several rows
        second[row * 7 % rows] = "the same answer"
    return Dataset.from_dict({"anchor": first, "positive": second, "label": [1.0] * rows})


def sampler(data: Dataset, batch_size: int = 16, **options) -> LengthGroupedBatchSampler:
    options = {
        "drop_last": False,
        "valid_label_columns": ["label"],
        "generator": torch.Generator(),
        **options,
    }
    return LengthGroupedBatchSampler(data, batch_size, seed=options.pop("seed", 42), **options)


def spread(batches: list[list[int]], lengths: list[int]) -> float:
    """The mean difference between the longest and the shortest row of a batch."""
    return statistics.mean(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches)


@pytest.mark.parametrize("rows", [1000, 1024, 37, 5])
def test_every_row_once_in_as_many_batches_as_announced(rows):
    batches = list(grouped := sampler(dataset(rows)))
    assert sorted(i for b in batches for i in b) == list(range(rows))
    assert len(batches) == len(grouped)
    assert sum(len(b) < 16 for b in batches) <= 1


def test_batches_hold_rows_of_one_length_in_a_random_order():
    data = dataset(1000)
    grouped = sampler(data)
    lengths = grouped.lengths
    batches = list(grouped)
    generator = torch.Generator().manual_seed(42)
    random_batches = torch.randperm(1000, generator=generator).split(16)
    assert spread(batches, lengths) < spread([b.tolist() for b in random_batches], lengths) / 4
    assert batches == list(sampler(data))  # the same seed, the same batches
    first_lengths = [max(lengths[i] for i in b) for b in batches]
    assert first_lengths != sorted(first_lengths, reverse=True)  # batches shuffled, not longest first
    grouped.set_epoch(1)
    assert list(grouped) != batches  # another epoch, another order
    assert list(sampler(data, seed=7)) != batches


def test_no_duplicates_keeps_a_text_out_of_a_batch_that_has_it():
    data = dataset(400, duplicates=40)
    batches = list(sampler(data, no_duplicates=True))
    assert sorted(i for b in batches for i in b) == list(range(400))
    for batch in batches:
        texts = [text for i in batch for text in (data[i]["anchor"], data[i]["positive"])]
        assert len(texts) == len(set(texts))
    plain = list(sampler(data))
    assert any(sum(data[i]["positive"] == "the same answer" for i in b) > 1 for b in plain)


def test_drop_last_keeps_full_batches_only():
    batches = list(grouped := sampler(dataset(1000), drop_last=True))
    assert all(len(b) == 16 for b in batches) and len(batches) == len(grouped) == 62


def test_the_training_argument_names_itself():
    assert str(LengthGrouped()) == "length_grouped"
    assert str(LengthGrouped(no_duplicates=True)) == "length_grouped_no_duplicates"
    made = LengthGrouped(True)(dataset(40), batch_size=8, drop_last=False, seed=1)
    assert isinstance(made, LengthGroupedBatchSampler) and made.no_duplicates


def test_train_with_length_grouped_batches(cli, tmp_path, tiny_model, pair_score_files, pair_files):
    """Two datasets (a score loss and an in-batch-negatives loss), each batched by length."""
    path = write_recipe(tmp_path / "recipe.yaml", tiny_model, pair_score_files, pair_files)
    run_dir = tmp_path / "run"
    sampler_name = "length_grouped_no_duplicates"
    result = cli(
        "train", path, "-o", run_dir, "--no-smoke", "--set", f"training.batch_sampler={sampler_name}"
    )
    assert result.exit_code == 0, result.stderr + result.stdout
    assert json.loads((run_dir / "training_args.json").read_text())["batch_sampler"] == sampler_name
    assert "batch_sampler: length_grouped_no_duplicates" in (run_dir / "recipe.yaml").read_text()


@pytest.mark.parametrize(
    ("loss", "expected"),
    [
        ("CosineSimilarityLoss", "length_grouped"),  # measured by scripts/bench.py: no quality lost
        ("CoSENTLoss", "batch_sampler"),  # not measured: random batches
        ("MultipleNegativesRankingLoss", "no_duplicates"),  # in-batch negatives
    ],
)
def test_default_batch_sampler(recipe_file, loss, expected):
    from sbft.recipe import load_recipe
    from sbft.training_args import resolve_training

    changes = {"datasets__sts__loss": loss}
    if loss == "MultipleNegativesRankingLoss":
        changes["datasets__sts__label"] = None
        changes["datasets__sts__label_range"] = None
    assert resolve_training(load_recipe(recipe_file(**changes)))["batch_sampler"] == expected


def test_rows_are_measured_by_their_longest_text_in_the_models_tokens(tiny_model):
    from sentence_transformers import SentenceTransformer

    from sbft.sampling import bind_tokenizer

    model = SentenceTransformer(str(tiny_model))
    argument = LengthGrouped()
    bind_tokenizer(argument, model)
    data = Dataset.from_dict({"a": ["a dog", "the man plays the guitar"], "b": ["a man sings today", "x"]})
    made = argument(data, batch_size=2, drop_last=False, seed=1)
    tokens = [
        len(model.tokenizer(text, add_special_tokens=False)["input_ids"])
        for text in ("a man sings today", "the man plays the guitar")
    ]
    assert made.lengths == tokens
    bind_tokenizer("batch_sampler", model)  # other samplers: nothing to bind
