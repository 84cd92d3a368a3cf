"""A run folder read back, and the metric-name helpers the report and tables rely on."""

from __future__ import annotations

import pytest

from sbft.errors import SbftError
from sbft.report import headline_metrics, main_metric, quality_metrics, read_run, split_metric


def test_a_finished_run(finished_run):
    record = read_run(finished_run)
    assert record.finished and record.name == "demo" and record.selected == "fine-tuned"
    assert (
        sorted(record.dataset_names) == ["qa", "sts"] and record.max_steps == 40 and len(record.losses) == 40
    )
    assert record.tuned_label == "fine-tuned" and record.tuned_dev["sts_spearman_cosine"] == 0.75
    assert record.comparisons["test"][1] == {"sts_spearman_cosine": 0.74, "qa_cosine_ndcg@10": 0.62}
    assert record.run_info == {"wall_time_s": 30.2}


def test_a_run_cut_short_reads_the_log(cut_short_run):
    record = read_run(cut_short_run)
    assert record.status == "training" and record.max_steps == 40 and len(record.losses) == 27
    assert record.dataset_names == ["qa", "sts"]  # from the per-set dev losses
    assert record.training["steps"] == 27
    assert record.tuned_label == "step 20" and record.tuned_dev["sts_spearman_cosine"] == 0.85


def test_a_line_cut_short_by_a_kill_is_left_out(cut_short_run):
    assert (cut_short_run / "metrics.jsonl").read_text().endswith('{"step": 28, "lo')
    record = read_run(cut_short_run)
    assert max(record.losses) == 27 and 28 not in record.losses


def test_folders_that_are_no_run(tmp_path):
    with pytest.raises(SbftError, match="does not exist"):
        read_run(tmp_path / "missing")
    with pytest.raises(SbftError, match=r"no \.sbft-run marker"):
        read_run(tmp_path)
    (tmp_path / ".sbft-run").write_text("{}")
    with pytest.raises(SbftError, match="neither"):
        read_run(tmp_path)


def test_metric_names():
    assert split_metric("sts_spearman_cosine", ["sts", "s"]) == ("sts", "spearman_cosine")
    assert split_metric("spearman_cosine", ["sts"]) == ("", "spearman_cosine")
    keys = [
        "sts_spearman_cosine",
        "sts_runtime",
        "qa_cosine_recall@10",
        "qa_cosine_ndcg@10",
        "qa_loss",
        "step",
    ]
    assert headline_metrics(keys) == ["sts_spearman_cosine", "qa_cosine_ndcg@10", "qa_loss"]
    assert quality_metrics(keys) == ["sts_spearman_cosine", "qa_cosine_ndcg@10"]
    assert main_metric(["sts_pearson_cosine", "sts_spearman_cosine"]) == "sts_spearman_cosine"
    assert main_metric(["qa_cosine_mrr@10", "qa_cosine_ndcg@10"]) == "qa_cosine_ndcg@10"
    assert main_metric(["loss"]) is None


def test_a_file_given_for_the_run_folder_is_named_a_file(finished_run, tmp_path):
    with pytest.raises(SbftError, match=r"metrics\.json' is a file, not a run folder") as error:
        read_run(finished_run / "metrics.json")
    assert f"'{finished_run}'" in error.value.fix  # the run folder that holds it
    other = tmp_path / "notes.txt"
    other.write_text("", encoding="utf-8")
    with pytest.raises(SbftError, match=r"notes\.txt' is a file, not a run folder"):
        read_run(other)
