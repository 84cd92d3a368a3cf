"""The PNG plots of a report: one per curve there is data for, each a real picture."""

from __future__ import annotations

from sbft.report import PLOTS, read_run, write_plots
from tests.report.runs import assert_real_png


def test_plots_of_a_finished_run(finished_run):
    written = write_plots(read_run(finished_run), finished_run / PLOTS)
    assert sorted(path.name for path in written.values()) == [
        "base-vs-tuned.png",
        "dev-qa.png",
        "dev-sts.png",
        "loss.png",
    ]
    assert sorted(p.name for p in (finished_run / "plots").iterdir()) == sorted(
        path.name for path in written.values()
    )
    assert "Dev metrics of 'sts' during training" in written and "Base vs fine-tuned" in written
    for path in written.values():
        assert_real_png(path)


def test_plots_of_a_run_cut_short(cut_short_run):
    written = write_plots(read_run(cut_short_run), cut_short_run / PLOTS)
    assert sorted(path.name for path in written.values()) == [
        "base-vs-tuned.png",
        "dev-qa.png",
        "dev-sts.png",
        "loss.png",
    ]
    for path in written.values():
        assert_real_png(path)


def test_no_data_no_plot(cut_short_run):
    """Without evaluations or baselines only the loss curve can be drawn."""
    record = read_run(cut_short_run)
    record.evaluations, record.baseline_dev = [], {}
    written = write_plots(record, cut_short_run / PLOTS)
    assert [path.name for path in written.values()] == ["loss.png"]
