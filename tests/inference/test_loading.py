"""sbft.inference.loading and locations: what a model name loads, on which device, how long a text."""

from __future__ import annotations

import shutil

import pytest

from sbft.errors import SbftError
from sbft.inference.loading import load_encoder, load_reranker
from sbft.inference.locations import model_folder, model_location


def test_run_folder_stands_for_its_model(tmp_path, tiny_model):
    run = tmp_path / "run"
    shutil.copytree(tiny_model, run / "model")
    (run / "metrics.json").write_text("{}")
    assert model_location(str(run)) == str(run / "model")
    assert model_location(str(tiny_model)) == str(tiny_model)
    assert model_location("sentence-transformers/all-MiniLM-L6-v2").startswith("sentence")
    interrupted = tmp_path / "interrupted"  # killed during the baseline: a marker, no checkpoint
    interrupted.mkdir()
    (interrupted / ".sbft-run").write_text('{"status": "training"}')
    with pytest.raises(SbftError, match="holds no model: its training was interrupted") as caught:
        model_location(str(interrupted))
    assert f"sbft train --resume {interrupted}" in str(caught.value) and "checkpoint" not in str(caught.value)
    step = interrupted / "checkpoints" / "checkpoint-4"  # a complete checkpoint to load instead
    shutil.copytree(tiny_model, step)
    (step / "trainer_state.json").write_text('{"global_step": 4}')
    with pytest.raises(SbftError, match="or load its last checkpoint"):
        model_location(str(interrupted))


def test_bad_device_and_length(tiny_model):
    with pytest.raises(SbftError, match="not a device"):
        load_encoder(str(tiny_model), device="gpu0")
    with pytest.raises(SbftError, match="longer than the model's 64 positions"):
        load_encoder(str(tiny_model), max_seq_length=65)


def test_errors_name_the_parameter(tiny_model):
    for options, where in [
        ({"device": "gpu0"}, "device"),
        ({"max_seq_length": 0}, "max_seq_length"),
        ({"threads": 0}, "threads"),
        ({"backend": "onnxx"}, "backend"),
    ]:
        with pytest.raises(SbftError) as error:
            load_encoder(str(tiny_model), **options)
        assert error.value.where == where


def test_the_kind_of_model_is_checked(tiny_model, tiny_cross_encoder):
    with pytest.raises(SbftError, match="reranking needs a cross-encoder"):
        load_reranker(str(tiny_model))
    with pytest.raises(SbftError, match="is a cross-encoder: it scores text pairs"):
        load_encoder(str(tiny_cross_encoder))


def test_model_folder(tiny_model):
    assert model_folder(str(tiny_model)) == tiny_model
    assert model_folder("some-org/not-in-the-cache") is None
