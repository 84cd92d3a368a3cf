"""sbft.inference.writers: embeddings written as they come, in each format, never half a file."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from sbft.errors import SbftError
from sbft.inference.writers import EmbeddingWriter, output_format

TEXTS = ["one", "", 'a "quoted", text\nover two lines']
EMBEDDINGS = np.array([[0.1, -2.5], [3.0, 0.0], [1e-8, 123456.789]], dtype=np.float32)


def test_output_format():
    assert [output_format(name) for name in ("a.npy", "b.JSONL", "c.csv", "d.parquet")] == [
        "npy",
        "jsonl",
        "csv",
        "parquet",
    ]
    assert output_format(None) == output_format("-") == "jsonl"  # stdout
    with pytest.raises(SbftError, match="output format") as error:
        output_format("out.txt")
    assert error.value.where == "output"


def write(path, windows) -> None:
    with EmbeddingWriter(str(path)) as writer:
        for texts, embeddings in windows:
            writer.write(texts, embeddings)
        writer.close(EMBEDDINGS[:0])


def test_each_format_round_trips(tmp_path):
    windows = [(TEXTS[:2], EMBEDDINGS[:2]), (TEXTS[2:], EMBEDDINGS[2:])]  # ids continue across windows
    for suffix in (".npy", ".jsonl", ".csv", ".parquet"):
        write(tmp_path / f"out{suffix}", windows)
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), EMBEDDINGS)

    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(row["id"], row["text"]) for row in rows] == list(enumerate(TEXTS))
    np.testing.assert_array_equal(np.array([row["embedding"] for row in rows], dtype=np.float32), EMBEDDINGS)

    with (tmp_path / "out.csv").open(encoding="utf-8", newline="") as file:
        header, *body = list(csv.reader(file))
    assert header == ["id", "text", "e0", "e1"] and [row[1] for row in body] == TEXTS
    np.testing.assert_array_equal(np.array([row[2:] for row in body], dtype=np.float32), EMBEDDINGS)

    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "out.parquet").to_pydict()
    assert table["id"] == [0, 1, 2] and table["text"] == TEXTS
    np.testing.assert_array_equal(np.array(table["embedding"], dtype=np.float32), EMBEDDINGS)
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        f"out{suffix}" for suffix in (".npy", ".jsonl", ".csv", ".parquet")
    )


def test_integer_embeddings_stay_integers(tmp_path):
    packed = np.array([[0, 255], [7, 128]], dtype=np.uint8)
    write(tmp_path / "out.jsonl", [(["a", "b"], packed)])
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [row["embedding"] for row in rows] == [[0, 255], [7, 128]]
    write(tmp_path / "out.npy", [(["a", "b"], packed)])
    assert np.load(tmp_path / "out.npy").dtype == np.uint8


def test_stdout_gets_jsonl():
    stdout = io.BytesIO()
    with EmbeddingWriter(None, stdout=stdout) as writer:
        writer.write(TEXTS[:1], EMBEDDINGS[:1])
        writer.close(EMBEDDINGS[:0])
    assert json.loads(stdout.getvalue()) == {"id": 0, "text": "one", "embedding": [0.100000001, -2.5]}


def test_an_error_leaves_neither_the_file_nor_a_partial_one(tmp_path):
    for suffix in (".npy", ".jsonl", ".csv", ".parquet"):
        with pytest.raises(RuntimeError), EmbeddingWriter(str(tmp_path / f"out{suffix}")) as writer:
            writer.write(TEXTS, EMBEDDINGS)
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
