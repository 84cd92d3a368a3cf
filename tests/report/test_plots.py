"""The PNG plots of a report: one per curve there is data for, each a real picture."""

from __future__ import annotations

import pytest

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


def test_base_vs_tuned_shows_each_change_labelled(finished_run):
    """Bars from zero to tuned - base, green up and red down, each labelled with both values."""
    from sbft.report.plots import _comparison_figure

    dev, test = _comparison_figure(read_run(finished_run)).axes
    bars = {
        label.get_text(): patch.get_width()
        for label, patch in zip(dev.get_yticklabels(), dev.patches, strict=True)
    }
    assert bars == pytest.approx(
        {"sts spearman cosine": -0.05, "sts pearson cosine": -0.04, "qa cosine ndcg@10": 0.15}
    )
    texts = [text.get_text() for text in dev.texts]
    assert "+0.1500 (0.5000 → 0.6500)" in texts and "-0.0500 (0.8000 → 0.7500)" in texts
    assert dev.get_xlim()[0] < 0 < dev.get_xlim()[1] and dev.get_title() == "dev: fine-tuned - base"
    assert dev.get_xlim() == test.get_xlim()  # one scale: a small change looks small everywhere
    assert test.get_title() == "test: fine-tuned - base"


def test_training_and_dev_loss_on_their_own_labelled_axes(finished_run):
    from sbft.report.plots import _loss_figure

    training, dev = _loss_figure(read_run(finished_run)).axes
    assert training.get_ylabel() == "training loss" and "batches of 16" in training.get_title()
    assert dev.get_ylabel() == "dev loss"
    assert {line.get_label() for line in dev.lines} == {"dev loss (qa)", "dev loss (sts)"}


def test_dev_metrics_start_at_the_base_model_and_mark_the_kept_step(finished_run):
    from sbft.report.plots import _metrics_figure

    record = read_run(finished_run)
    record.kept_step = 20
    axes = _metrics_figure(record, "sts", ["sts_spearman_cosine"]).axes[0]
    curve = next(line for line in axes.lines if line.get_label() == "spearman_cosine")
    assert list(curve.get_xdata()) == [0, 20, 40] and list(curve.get_ydata()) == [0.80, 0.79, 0.75]
    assert "kept: step 20" in [line.get_label() for line in axes.lines]
