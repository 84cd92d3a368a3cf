"""sbft train on a full or read-only disk (issue 25, case 9): refused before any work, and a run
that fails while saving says so in one paragraph, gives the replaced run back (or says where it
waits), and is never marked finished.

Simulated (the tests run as root, and no small tmpfs is at hand): os.access saying no for the run
folder's parent, and the model or report writer raising the errors a full disk gives.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

import sbft.run_folder
from sbft.report import read_run

NO_CHECKPOINTS = {"training__eval_strategy": "no", "training__save_strategy": "no"}


class SafetensorError(Exception):
    """What safetensors raises when the disk fills up while it writes (not an OSError)."""


def fills_up(*args, **kwargs):
    raise SafetensorError(
        "Error while serializing: IoError(Os { code: 28, kind: StorageFull, "
        'message: "No space left on device" })'
    )


def train(cli, recipe: Path, run: Path, *options: str):
    result = cli("train", recipe, "-o", run, "--no-smoke", *options)
    assert "Traceback" not in result.stdout + result.stderr
    return result


def test_a_read_only_destination_is_refused_before_any_work(cli, recipe_file, tmp_path, monkeypatch):
    import sbft.models

    real = os.access
    monkeypatch.setattr(
        os,
        "access",
        lambda p, m, *a, **k: False if Path(p) == tmp_path and m & os.W_OK else real(p, m, *a, **k),
    )
    monkeypatch.setattr(sbft.models, "build_model", lambda *a, **k: pytest.fail("the model was loaded"))
    result = train(cli, recipe_file(), tmp_path / "run")
    assert result.exit_code == 2 and "cannot write in" in result.stderr and "--output-dir" in result.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("changes", [{}, NO_CHECKPOINTS], ids=["with checkpoints", "without"])
def test_overwrite_on_a_full_disk_keeps_the_old_run(cli, recipe_file, tmp_path, monkeypatch, changes):
    recipe, run = recipe_file(**changes), tmp_path / "run"
    assert train(cli, recipe, run).exit_code == 0
    weights = (run / "model" / "model.safetensors").read_bytes()
    monkeypatch.setattr(sbft.run_folder, "save_model_atomically", fills_up)

    result = train(cli, recipe, run, "--overwrite")
    said = " ".join(result.stderr.split())
    assert result.exit_code == 2 and "the disk is full" in said and "Free some space" in said
    if changes:  # nothing to resume: the old run is back in place
        assert "the previous run in" in said and "is back in place" in said
        assert (run / "model" / "model.safetensors").read_bytes() == weights
        assert sbft.run_folder.read_marker(run)["status"] == "finished"
    else:  # the attempt can be resumed; the old run waits aside, and the message says where
        aside = run / ".sbft-replaced"
        assert f"The run it replaces waits in '{aside}'" in said and "--resume" in said
        assert (aside / "model" / "model.safetensors").read_bytes() == weights


def test_a_run_that_fails_writing_its_report_is_not_finished(cli, recipe_file, tmp_path, monkeypatch):
    import sbft.report

    def report_on_a_full_disk(run_dir):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(Path(run_dir) / "report.md"))

    monkeypatch.setattr(sbft.report, "write_report", report_on_a_full_disk)
    run = tmp_path / "run"
    result = train(cli, recipe_file(**NO_CHECKPOINTS), run)
    assert result.exit_code == 2 and "report.md': the disk is full" in " ".join(result.stderr.split())
    assert sbft.run_folder.read_marker(run)["status"] != "finished"
    assert json.loads((run / "metrics.json").read_text())["status"] == "finished"  # written before
    assert read_run(run).status != "finished"  # what sbft report and compare show
    assert "--overwrite" in result.stderr  # the attempt's model is there: the same command needs it
