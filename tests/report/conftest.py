"""Hand-written run folders for the report tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.report.runs import write_cut_short_run, write_finished_run


@pytest.fixture()
def finished_run(tmp_path: Path) -> Path:
    return write_finished_run(tmp_path / "run")


@pytest.fixture()
def cut_short_run(tmp_path: Path) -> Path:
    return write_cut_short_run(tmp_path / "cut-short")
