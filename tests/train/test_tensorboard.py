"""training.report_to: tensorboard: event files in the run folder, kept after the run (issue 15)."""

from __future__ import annotations

import pytest

from sbft.check import preflight
from sbft.errors import SbftError
from sbft.recipe import load_recipe

TINY = {"training__max_steps": 3, "training__logging_steps": 1, "evaluation__test": False}


def test_event_files_land_in_the_run_folder(cli, recipe_file, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    result = cli(
        "train", recipe_file(training__report_to="tensorboard", **TINY), "-o", run, "--no-smoke", "-q"
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert not (run / "checkpoints").exists()  # where transformers would have put them
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    assert {"train/loss", "eval/sts_spearman_cosine"} <= set(events.Tags()["scalars"])


def test_refused_before_the_run_when_tensorboard_is_missing(recipe_file, monkeypatch):
    import transformers.integrations

    monkeypatch.setattr(transformers.integrations, "is_tensorboard_available", lambda: False)
    with pytest.raises(SbftError, match="report_to names tensorboard, which is not installed") as error:
        preflight(load_recipe(recipe_file(training__report_to=["tensorboard"])))
    assert error.value.where == "training.report_to" and "sbft[tracking]" in error.value.fix
