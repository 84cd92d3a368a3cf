"""sbft.inference in-process: reading, encoding windows, writing, the search cache."""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from sbft import inference
from sbft.errors import SbftError
from sbft.inference import EmbeddingWriter, EncodeOptions, Encoder, TextSource, decoded_lines
from tests.helpers import sentences, write_jsonl


@pytest.fixture(scope="session")
def model(tiny_model):
    return inference.load_encoder(str(tiny_model))


def lines(data: bytes, replace: bool = False) -> list[tuple[int, str]]:
    return list(decoded_lines(io.BytesIO(data), "input", replace))


# --- reading -------------------------------------------------------------------------------


def test_lines_split_on_newline_only():
    data = "\ufeffone\r\n\r\ntwo\x0bstill two\u2028and this\rtoo\nthree".encode()
    assert lines(data) == [(1, "one"), (2, ""), (3, "two\x0bstill two\u2028and this\rtoo"), (4, "three")]
    assert lines(b"a\n") == [(1, "a")]  # a final newline ends a line, it does not start one
    assert lines(b"") == []
    assert lines(b"\n\n") == [(1, ""), (2, "")]


def test_invalid_utf8_names_the_line_or_is_replaced():
    with pytest.raises(SbftError, match=r"line 3 is not valid UTF-8 \(byte 0xff at byte 5") as error:
        lines(b"ok\nfine\nabc \xff\n")
    assert "--replace-errors" in str(error.value)
    assert lines(b"ok\nabc \xff\n", replace=True) == [(1, "ok"), (2, "abc \ufffd")]


def test_structured_sources(tmp_path):
    write_jsonl(tmp_path / "t.jsonl", [{"id": 1, "text": "a b"}, {"id": 2, "text": "c\nd"}])
    (tmp_path / "t.jsonl").write_text((tmp_path / "t.jsonl").read_text() + "\n\n", encoding="utf-8")
    assert list(TextSource(str(tmp_path / "t.jsonl"), "text").texts()) == ["a b", "c\nd"]

    (tmp_path / "t.csv").write_text('id,text\n1,"x, y"\n2,"multi\nline"\n3,\n', encoding="utf-8")
    assert list(TextSource(str(tmp_path / "t.csv"), "text").texts()) == ["x, y", "multi\nline", ""]
    (tmp_path / "t.tsv").write_text("text\nonly one column\n", encoding="utf-8")
    assert list(TextSource(str(tmp_path / "t.tsv")).texts()) == ["only one column"]  # the only column

    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"n": [1, 2], "body": ["p", "q"]}), tmp_path / "t.parquet")
    assert list(TextSource(str(tmp_path / "t.parquet"), "body").texts()) == ["p", "q"]


@pytest.mark.parametrize(
    ("name", "content", "column", "message"),
    [
        ("a.jsonl", '{"text": "x"}\n{"other": "y"}\n', "text", "line 2: there is no column 'text'"),
        ("a.jsonl", '{"text": "x"}\n{"text": null}\n', "text", "line 2: column 'text' holds None"),
        ("a.jsonl", '{"text": "x"}\nnot json\n', "text", "line 2: this line is not JSON"),
        ("a.jsonl", '{"a": "x", "b": "y"}\n', None, "which column holds the texts"),
        ("a.csv", "a,b\nx,y\n", "c", "there is no column 'c'"),
        ("a.csv", "a,b\nx,y,z\n", "a", "line 2: this row has 3 fields"),
        ("a.txt", "x\n", "text", "--column applies to jsonl"),
        ("a.json", "[]", "text", "cannot be streamed"),
    ],
)
def test_source_errors(tmp_path, name, content, column, message):
    (tmp_path / name).write_text(content, encoding="utf-8")
    with pytest.raises(SbftError, match=re.escape(message)):
        list(TextSource(str(tmp_path / name), column).texts())


def test_missing_input(tmp_path):
    with pytest.raises(SbftError, match="does not exist"):
        TextSource(str(tmp_path / "nope.txt")).check()


# --- encoding ------------------------------------------------------------------------------


def test_encoder_matches_model_encode(model):
    texts = [*sentences(40, 1), "", "", sentences(1, 1)[0], " ".join(sentences(30, 2))]  # blank, dup, long
    expected = model.encode(texts)
    encoder = Encoder(model, EncodeOptions(batch_size=4), step=8)  # several encode calls per window
    np.testing.assert_allclose(encoder.encode(texts), expected, atol=1e-5)
    assert encoder.count == len(texts)


def test_batches_are_sorted_by_tokens_not_characters(model, monkeypatch):
    """A batch is padded to its most tokens, so sbft sorts by tokens (model.encode sorts by characters)."""
    texts = ["yesterday yesterday", "a a a a a a a"]  # more characters, fewer tokens
    encoder = Encoder(model, EncodeOptions(batch_size=1), step=1)
    assert encoder._token_counts(texts) == [2, 7]
    calls: list[list[str]] = []
    monkeypatch.setattr(encoder, "_encode", lambda batch, **_: calls.append(batch) or model.encode(batch))
    encoder.encode(texts)
    assert calls == [["a a a a a a a"], ["yesterday yesterday"]]  # most tokens first


@pytest.mark.parametrize("precision", ["int8", "uint8", "binary", "ubinary"])
def test_quantized_equals_model_encode_within_a_window(model, precision):
    texts = sentences(30, 3)
    expected = model.encode(texts, precision=precision)
    result = Encoder(model, EncodeOptions(precision=precision)).encode(texts)
    assert result.dtype == expected.dtype
    assert (np.abs(result.astype(int) - expected.astype(int)) <= 1).all()  # float noise at bucket edges
    assert (result == expected).mean() > 0.99


def test_int8_ranges_come_from_the_first_window(model):
    from sentence_transformers.util import quantize_embeddings

    texts = sentences(30, 4)
    floats = model.encode(texts)
    encoder = Encoder(model, EncodeOptions(precision="int8"))
    parts = [encoder.encode(texts[:10]), encoder.encode(texts[10:])]
    expected = quantize_embeddings(floats, "int8", calibration_embeddings=floats[:10])
    assert (np.abs(np.concatenate(parts).astype(int) - expected.astype(int)) <= 1).all()
    with pytest.raises(SbftError, match="at least 2 texts"):
        Encoder(model, EncodeOptions(precision="int8")).encode(["alone"])


def test_encode_options(model):
    texts = sentences(6, 5)
    assert Encoder(model, EncodeOptions(truncate_dim=8)).encode(texts).shape == (6, 8)
    normalized = Encoder(model, EncodeOptions(normalize=True)).encode(texts)
    np.testing.assert_allclose(np.linalg.norm(normalized, axis=1), 1, atol=1e-5)
    prompted = Encoder(model, EncodeOptions(prompt="query: ")).encode(texts)
    np.testing.assert_allclose(prompted, model.encode(texts, prompt="query: "), atol=1e-5)
    assert Encoder(model, EncodeOptions(precision="binary")).encode([]).shape == (0, 4)
    for options, message in [
        (EncodeOptions(truncate_dim=64), "larger than the model's 32"),
        (EncodeOptions(prompt_name="passage"), "no prompt named 'passage'"),
        (EncodeOptions(precision="int4"), "unknown precision"),
        (EncodeOptions(prompt="a", prompt_name="b"), "both give a prompt"),
        (EncodeOptions(batch_size=0), "must be positive"),
    ]:
        with pytest.raises(SbftError, match=message):
            Encoder(model, options)


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
    inference.encode_texts(Encoder(model, EncodeOptions()), source(), str(output), window=10)
    assert written_after == [10, 20, 25]
    np.testing.assert_allclose(np.load(output), model.encode(texts), atol=1e-5)


def test_windowed_output_equals_one_window(model, tmp_path):
    texts = sentences(23, 7)
    for window in (5, 100):
        stats = inference.encode_texts(
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
            inference.encode_texts(Encoder(model, EncodeOptions()), texts(), str(tmp_path / name), window=5)
    assert list(tmp_path.iterdir()) == []


def test_output_checks(tmp_path):
    (tmp_path / "taken.npy").write_bytes(b"precious")
    with pytest.raises(SbftError, match="already exists"):
        inference.check_output(str(tmp_path / "taken.npy"), overwrite=False)
    inference.check_output(str(tmp_path / "taken.npy"), overwrite=True)
    with pytest.raises(SbftError, match="output format"):
        inference.output_format("out.txt")
    with pytest.raises(SbftError, match="does not exist"):
        inference.check_output(str(tmp_path / "no" / "out.npy"), overwrite=False)
    assert (tmp_path / "taken.npy").read_bytes() == b"precious"


# --- models --------------------------------------------------------------------------------


def test_run_folder_stands_for_its_model(tmp_path, tiny_model):
    run = tmp_path / "run"
    shutil.copytree(tiny_model, run / "model")
    (run / "metrics.json").write_text("{}")
    assert inference.model_location(str(run)) == str(run / "model")
    assert inference.model_location(str(tiny_model)) == str(tiny_model)
    assert inference.model_location("sentence-transformers/all-MiniLM-L6-v2").startswith("sentence")
    interrupted = tmp_path / "interrupted"
    (interrupted / "checkpoints").mkdir(parents=True)
    with pytest.raises(SbftError, match="holds no model yet"):
        inference.model_location(str(interrupted))


def test_bad_device_and_length(tiny_model):
    with pytest.raises(SbftError, match="not a device"):
        inference.load_encoder(str(tiny_model), device="gpu0")
    with pytest.raises(SbftError, match="longer than the model's 64 positions"):
        inference.load_encoder(str(tiny_model), max_seq_length=65)


# --- search --------------------------------------------------------------------------------


def test_search_finds_the_same_text_first(model):
    corpus = sentences(20, 9)
    vectors = inference.corpus_embeddings(model, "tiny", corpus, EncodeOptions())
    results = inference.search(model, corpus, vectors, [corpus[7], corpus[3]], EncodeOptions(), top_k=3)
    assert [hits[0].id for hits in results] == [7, 3]
    assert results[0][0].text == corpus[7] and results[0][0].score == pytest.approx(1.0, abs=1e-4)
    assert [len(hits) for hits in results] == [3, 3]
    assert inference.similarity(model, corpus[0], corpus[0]) == pytest.approx(1.0, abs=1e-5)


def test_corpus_cache_is_reused_until_corpus_or_model_change(model, tiny_model, tmp_path):
    cache = str(tmp_path / "corpus.npy")
    corpus = sentences(10, 10)
    said = []
    first = inference.corpus_embeddings(model, str(tiny_model), corpus, EncodeOptions(), cache, said.append)
    again = inference.corpus_embeddings(model, str(tiny_model), corpus, EncodeOptions(), cache, said.append)
    np.testing.assert_array_equal(first, again)
    inference.corpus_embeddings(model, str(tiny_model), [*corpus, "new"], EncodeOptions(), cache, said.append)
    inference.corpus_embeddings(
        model, str(tiny_model), [*corpus, "new"], EncodeOptions(truncate_dim=8), cache, said.append
    )
    assert len(said) == 4
    assert "no cache yet" in said[0] and "reusing" in said[1]
    assert "corpus changed" in said[2] and "model or its settings changed" in said[3]
    assert np.load(cache).shape == (11, 8)
    sidecar = json.loads(Path(cache + ".json").read_text())
    assert sidecar["corpus"]["rows"] == 11 and sidecar["model"]["files"]


def test_cache_never_overwrites_a_foreign_file(tmp_path):
    foreign = tmp_path / "mine.npy"
    np.save(foreign, np.zeros((2, 2)))
    with pytest.raises(SbftError, match="not written by sbft search"):
        inference.check_cache(str(foreign))
    with pytest.raises(SbftError, match=r"must end with \.npy"):
        inference.check_cache(str(tmp_path / "cache.bin"))
