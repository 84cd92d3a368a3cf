"""`sbft report RUN_DIR`: the wiring (the report itself is tested in tests/report/)."""

from __future__ import annotations

from tests.report.runs import write_finished_run


def test_sbft_report_regenerates_and_explains_errors(cli, tmp_path):
    run_dir = write_finished_run(tmp_path / "run")
    result = cli("report", run_dir)
    assert result.exit_code == 0, result.stderr
    assert "warning:" in result.stdout and "sts_spearman_cosine" in result.stdout
    assert (run_dir / "report.md").is_file() and (run_dir / "plots" / "loss.png").is_file()

    empty = tmp_path / "empty"
    empty.mkdir()
    for folder, message in ((tmp_path / "missing", "does not exist"), (empty, "neither")):
        result = cli("report", folder)
        assert result.exit_code == 2 and message in result.stderr
