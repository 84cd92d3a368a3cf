"""`sbft compare`: the wiring (what a comparison holds: tests/test_compare.py)."""

from __future__ import annotations

import json

from tests.report.runs import write_finished_run


def test_table_and_json(cli, tmp_path):
    runs = [write_finished_run(tmp_path / "x" / "run"), write_finished_run(tmp_path / "y" / "run")]
    table = cli("compare", *runs)
    assert table.exit_code == 0, table.output
    header = next(line for line in table.stdout.splitlines() if "run" in line and "┃" in line)
    assert "x/run" in header and "y/run" in header  # the shortest endings that tell them apart
    as_json = json.loads(cli("compare", *runs, "--json").stdout)
    assert [run["run"] for run in as_json["runs"]] == [str(run) for run in runs]


def test_a_folder_that_is_no_run(cli, tmp_path):
    result = cli("compare", tmp_path)
    assert result.exit_code == 2 and "not a run folder" in result.stderr
