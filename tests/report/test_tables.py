"""One number format and one base-vs-tuned comparison, in the terminal and in report.md alike."""

from __future__ import annotations

import io
import math

from rich.console import Console

from sbft.report import comparison_table, format_number, metrics_table
from sbft.report.tables import comparison_markdown, comparison_rows

BASE = {"sts_spearman_cosine": 0.8, "sts_runtime": 0.1}
TUNED = {"sts_spearman_cosine": 0.85, "sts_loss": 2.0, "sts_runtime": 0.2}


def rendered(table) -> str:
    console = Console(file=io.StringIO(), width=120)
    console.print(table)
    return console.file.getvalue()


def test_format_number():
    assert format_number(0.123456) == "0.1235"
    assert format_number(2e-5) == "2.00e-05"  # a learning rate stays readable
    assert format_number(0) == "0.0000"
    assert format_number(None) == "n/a"
    assert format_number(math.nan) == "nan" and format_number(-math.inf) == "-inf"  # undefined, not missing


def test_comparison_rows_leave_out_detail_and_blank_what_is_missing():
    assert comparison_rows(BASE, TUNED) == [
        ("sts_spearman_cosine", "0.8000", "0.8500", "+0.0500"),
        ("sts_loss", "", "2.0000", ""),
    ]


def test_terminal_and_markdown_show_the_same_rows():
    assert comparison_markdown(BASE, TUNED, "step 20") == [
        "| metric | base | step 20 | change |",
        "|---|---:|---:|---:|",
        "| sts_spearman_cosine | 0.8000 | 0.8500 | +0.0500 |",
        "| sts_loss |  | 2.0000 |  |",
    ]
    text = rendered(comparison_table("dev", BASE, TUNED, tuned_label="now"))
    assert "now" in text and "+0.0500" in text and "sts_loss" in text and "runtime" not in text


def test_metrics_table_has_a_column_per_source():
    text = rendered(metrics_table("scores", {"base": BASE, "tuned": TUNED}))
    assert "base" in text and "tuned" in text and "0.8500" in text and "runtime" not in text
    row = next(line for line in text.splitlines() if "sts_loss" in line)
    assert row.count("2.0000") == 1
