"""`sbft mine` wiring: files in, a JSON Lines file out, the summary printed, errors with their flag."""

from __future__ import annotations

import json

from tests.helpers import sentences, write_jsonl


def write_inputs(tmp_path):
    queries = sentences(10, 31)
    pairs = write_jsonl(
        tmp_path / "pairs.jsonl", [{"id": i, "q": q, "a": f"{q} today"} for i, q in enumerate(queries)]
    )
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(sentences(30, 32)) + "\n", encoding="utf-8")
    return pairs, corpus


def test_mine_writes_rows_and_prints_the_statistics(cli, tiny_model, tmp_path):
    pairs, corpus = write_inputs(tmp_path)
    output = tmp_path / "triplets.jsonl"
    options = "--num 2 --range-min 1 --range-max 20 --relative-margin 0 --sampling random --no-faiss"
    result = cli(
        "mine", tiny_model, pairs, "--corpus", corpus, "-o", output, "--columns", "q,a", *options.split()
    )
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert rows and all(list(row) == ["query", "positive", "negative_1", "negative_2"] for row in rows)
    summary = " ".join(result.stdout.split())
    assert "mined 2 negatives for" in summary and "of 10 rows" in summary and str(output) in summary


def test_mine_refuses_to_overwrite_and_names_the_flag(cli, tiny_model, tmp_path):
    pairs, corpus = write_inputs(tmp_path)
    output = tmp_path / "triplets.jsonl"
    output.write_text("mine\n", encoding="utf-8")
    args = ["mine", tiny_model, pairs, "--corpus", corpus, "-o", output, "--columns", "q,a"]
    result = cli(*args)
    assert result.exit_code == 2 and "already exists" in result.stderr and "--overwrite" in result.stderr
    assert output.read_text(encoding="utf-8") == "mine\n"
    assert cli(*args, "--overwrite").exit_code == 0
    assert json.loads(output.read_text(encoding="utf-8").splitlines()[0])["negative_3"]


def test_mine_errors_name_the_flag(cli, tiny_model, tmp_path):
    pairs, corpus = write_inputs(tmp_path)
    output = tmp_path / "out.jsonl"
    for extra, flag in [
        (["--columns", "q,a", "--num", "0"], "--num"),
        (["--columns", "q,a", "--range-min", "5", "--range-max", "6"], "--range-max"),
        ([], "--columns"),  # three columns: which two?
    ]:
        result = cli("mine", tiny_model, pairs, "--corpus", corpus, "-o", output, *extra)
        assert result.exit_code == 2 and result.stderr.startswith(f"error: {flag}:"), result.stderr
        assert not output.exists()
