"""sbft.inference.pipeline: a stream of texts to an output file, one window at a time."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

from sbft.errors import SbftError
from sbft.inference.encoder import EncodeOptions, Encoder
from sbft.inference.pipeline import encode_file, encode_texts
from sbft.inference.sources import TextSource
from sbft.inference.writers import EmbeddingWriter
from tests.helpers import sentences

# Blank lines, a duplicate, a line far longer than the tiny model's 64 positions.
TEXTS = [*sentences(5, 20), "", sentences(1, 20)[0], " ".join(sentences(40, 21)), "", "last one"]


@pytest.fixture()
def text_file(tmp_path) -> Path:
    """TEXTS with CRLF endings for the first three lines and no final newline."""
    path = tmp_path / "texts.txt"
    path.write_bytes("\r\n".join(TEXTS[:3]).encode() + b"\r\n" + "\n".join(TEXTS[3:]).encode())
    return path


def read_output(path: Path) -> tuple[list[int], list[str], np.ndarray]:
    """ids, texts and embeddings of any output format."""
    if path.suffix == ".npy":
        embeddings = np.load(path)
        return list(range(len(embeddings))), [], embeddings
    if path.suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        return [r["id"] for r in rows], [r["text"] for r in rows], np.array([r["embedding"] for r in rows])
    if path.suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as file:
            rows = list(csv.reader(file))
        assert rows[0][:3] == ["id", "text", "e0"]
        body = rows[1:]
        return (
            [int(r[0]) for r in body],
            [r[1] for r in body],
            np.array([[float(v) for v in r[2:]] for r in body]),
        )
    import pyarrow.parquet as pq

    table = pq.read_table(path).to_pydict()
    return table["id"], table["text"], np.array(table["embedding"])


@pytest.mark.parametrize("suffix", [".npy", ".jsonl", ".csv", ".parquet"])
def test_each_format_equals_model_encode(tiny_model, model, text_file, tmp_path, suffix):
    output = tmp_path / f"out{suffix}"
    stats = encode_file(str(tiny_model), TextSource(str(text_file)), str(output), EncodeOptions())
    assert stats.texts == len(TEXTS) and stats.load_s > 0
    ids, texts, embeddings = read_output(output)
    assert ids == list(range(len(TEXTS)))
    if texts:
        assert texts == TEXTS  # blank lines kept, CRLF stripped, the long line whole
    assert embeddings.shape == (len(TEXTS), 32) and embeddings.dtype.kind == "f"
    np.testing.assert_allclose(embeddings, model.encode(TEXTS), atol=1e-5)
    np.testing.assert_array_equal(embeddings[0], embeddings[6])  # a duplicate: the same row twice
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([text_file.name, output.name])


def test_stdin_to_stdout(tiny_model, model):
    stdout = io.BytesIO()
    data = ("\n".join(TEXTS) + "\n").encode()
    encode_file(
        str(tiny_model), TextSource("-"), None, EncodeOptions(), stdin=io.BytesIO(data), stdout=stdout
    )
    rows = [json.loads(line) for line in stdout.getvalue().decode().splitlines()]
    assert [r["id"] for r in rows] == list(range(len(TEXTS))) and [r["text"] for r in rows] == TEXTS
    np.testing.assert_allclose(np.array([r["embedding"] for r in rows]), model.encode(TEXTS), atol=1e-5)


@pytest.mark.parametrize("suffix", [".npy", ".jsonl", ".csv", ".parquet"])
def test_empty_input_gives_empty_output(model, tmp_path, suffix):
    output = tmp_path / f"out{suffix}"
    encode_texts(Encoder(model, EncodeOptions()), iter([]), str(output))
    assert read_output(output)[0] == []
    if suffix == ".npy":  # the width is there even without rows
        assert np.load(output).shape == (0, 32)
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        assert pq.read_schema(output).field("embedding").type.list_size == 32
    stdout = io.BytesIO()
    encode_texts(Encoder(model, EncodeOptions()), iter([]), None, stdout=stdout)
    assert stdout.getvalue() == b""


def test_checks_come_before_the_model_loads(tmp_path, text_file):
    """A wrong output or option fails at once, before a (here missing) model would load."""
    missing = str(tmp_path / "no-such-model")
    (tmp_path / "taken.npy").write_bytes(b"precious")
    for output, options, message in [
        ("out.txt", EncodeOptions(), "output format"),
        (str(tmp_path / "taken.npy"), EncodeOptions(), "already exists"),
        (str(tmp_path / "out.npy"), EncodeOptions(batch_size=0), "must be positive"),
    ]:
        with pytest.raises(SbftError, match=message):
            encode_file(missing, TextSource(str(text_file)), output, options)
    assert (tmp_path / "taken.npy").read_bytes() == b"precious"


def test_streaming_writes_each_window_before_reading_the_next(model, tmp_path, monkeypatch):
    consumed, written_after = [], []
    texts = sentences(25, 6)

    def source():
        for text in texts:
            consumed.append(text)
            yield text

    write = EmbeddingWriter.write

    def recording_write(self, chunk, embeddings):
        written_after.append(len(consumed))
        write(self, chunk, embeddings)

    monkeypatch.setattr(EmbeddingWriter, "write", recording_write)
    output = tmp_path / "out.npy"
    encode_texts(Encoder(model, EncodeOptions()), source(), str(output), window=10)
    assert written_after == [10, 20, 25]
    np.testing.assert_allclose(np.load(output), model.encode(texts), atol=1e-5)


def test_windowed_output_equals_one_window(model, tmp_path):
    texts = sentences(23, 7)
    for window in (5, 100):
        stats = encode_texts(
            Encoder(model, EncodeOptions()), iter(texts), str(tmp_path / f"w{window}.npy"), window=window
        )
        assert stats.texts == 23 and stats.encode_s > 0
    np.testing.assert_allclose(np.load(tmp_path / "w5.npy"), np.load(tmp_path / "w100.npy"), atol=1e-5)


def test_an_error_mid_stream_leaves_no_file(model, tmp_path):
    def texts():
        yield from sentences(12, 8)
        raise SbftError("line 13 is bad")

    for name in ("out.npy", "out.parquet", "out.jsonl", "out.csv"):
        with pytest.raises(SbftError, match="line 13"):
            encode_texts(Encoder(model, EncodeOptions()), texts(), str(tmp_path / name), window=5)
    assert list(tmp_path.iterdir()) == []  # no output, no partial file
