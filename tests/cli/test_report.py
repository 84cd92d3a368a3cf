"""`sbft report RUN_DIR`: the wiring (the report itself is tested in tests/report/)."""

from __future__ import annotations

from tests.report.runs import write_finished_run


def test_sbft_report_regenerates_and_explains_errors(cli, tmp_path):
    run_dir = write_finished_run(tmp_path / "run")
    result = cli("report", run_dir)
    assert result.exit_code == 0, result.stderr
    assert "warning:" in result.stdout and "sts_spearman_cosine" in result.stdout
    assert (run_dir / "report.md").is_file() and (run_dir / "plots" / "loss.png").is_file()

    empty, foreign = tmp_path / "empty", tmp_path / "foreign"
    empty.mkdir()
    foreign.mkdir()
    (empty / ".sbft-run").write_text("{}")
    (foreign / "report.md").write_text("the user's own notes")
    for folder, message in (
        (tmp_path / "missing", "does not exist"),
        (empty, "neither"),
        (foreign, "not a run folder of sbft"),
    ):
        result = cli("report", folder)
        assert result.exit_code == 2 and message in result.stderr
    assert (foreign / "report.md").read_text() == "the user's own notes" and not (foreign / "plots").exists()


def test_sbft_report_on_a_file_says_it_is_a_file(cli, tmp_path):
    run_dir = write_finished_run(tmp_path / "run")
    result = cli("report", run_dir / "metrics.json")
    assert result.exit_code == 2 and "metrics.json' is a file, not a run folder" in result.stderr
