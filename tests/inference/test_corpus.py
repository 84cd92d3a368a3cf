"""sbft.inference.corpus: corpus embeddings' keys, the cache and its checks, progress, chunked top-k."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from sbft.inference.corpus import (
    CorpusCache,
    CorpusProgress,
    EmbeddingFile,
    StaleEntry,
    corpus_key,
    encode_corpus,
    top_k_cosine,
)
from sbft.inference.encoder import EncodeOptions
from tests.helpers import sentences


@pytest.fixture()
def cache(tmp_path):
    said: list[str] = []
    return CorpusCache(tmp_path / "cache", say=said.append), said


def test_key_changes_with_weights_corpus_prompt_and_length(model):
    import torch

    texts = sentences(6, 1)
    base = corpus_key(model, texts).digest
    assert corpus_key(model, list(texts)).digest == base  # same content, another list
    assert corpus_key(model, [*texts[:-1], texts[-1] + "!"]).digest != base
    assert corpus_key(model, texts[::-1]).digest != base  # row order is part of the corpus
    assert corpus_key(model, texts, EncodeOptions(prompt="passage: ")).digest != base
    assert corpus_key(model, texts, EncodeOptions(truncate_dim=8)).digest != base
    assert corpus_key(model, texts, EncodeOptions(normalize=True)).digest != base
    length = model.max_seq_length
    try:
        model.max_seq_length = 16
        assert corpus_key(model, texts).digest != base
    finally:
        model.max_seq_length = length
    weight = next(model.parameters())
    with torch.no_grad():
        weight[0, 0] += 1.0
        try:
            assert corpus_key(model, texts).digest != base
        finally:
            weight[0, 0] -= 1.0
    assert corpus_key(model, texts).digest == base


def test_cache_reads_back_what_it_encoded(model, cache):
    store, said = cache
    texts = sentences(9, 2)
    first = store.embeddings(model, texts, label="evaluating dev")
    assert not said and len(list(store.folder.glob("*.npy"))) == 1
    store.forget()
    again = store.embeddings(model, texts, label="evaluating dev")
    np.testing.assert_array_equal(first, again)
    assert said == ["evaluating dev: corpus embeddings read from the cache (9 documents)"]
    np.testing.assert_allclose(first, model.encode_document(texts), atol=1e-5)


def test_memory_shares_one_encode_without_the_disk(model, tmp_path):
    store = CorpusCache(tmp_path / "off", read=False, write=False)
    texts = sentences(5, 3)
    assert store.embeddings(model, texts) is store.embeddings(model, texts)
    assert not (tmp_path / "off").exists()


def test_default_cache_honours_no_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("SBFT_CACHE", str(tmp_path))
    monkeypatch.setenv("SBFT_NO_CACHE", "1")
    assert not CorpusCache.default().read and not CorpusCache.default().write
    monkeypatch.setenv("SBFT_NO_CACHE", "0")
    on = CorpusCache.default()
    assert on.read and on.write and on.folder == tmp_path / "corpus"
    assert not CorpusCache.default(use_disk=False).write


def _flip(path, offset=-5):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def _truncate(path):
    path.write_bytes(path.read_bytes()[:-7])


def _wrong_shape(path):
    np.save(path, np.zeros((3, 4), np.float32))


def _bad_sidecar(path):
    path.with_name(path.name + ".json").write_text("{not json")


def _no_sidecar(path):
    path.with_name(path.name + ".json").unlink()


def _other_checksum(path):
    sidecar = path.with_name(path.name + ".json")
    record = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps({**record, "blake2b": "0" * 32}))


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (_flip, "does not match its checksum"),
        (_truncate, "truncated"),
        (_wrong_shape, "not (7, 32) float32"),
        (_bad_sidecar, "unreadable"),
        (_no_sidecar, "missing"),
        (_other_checksum, "does not match its checksum"),
    ],
)
def test_a_damaged_entry_is_encoded_again_with_a_warning(model, cache, damage, reason):
    store, said = cache
    texts = sentences(7, 4)
    first = store.embeddings(model, texts, label="mining hard negatives", keep=False)
    (entry,) = store.folder.glob("*.npy")
    damage(entry)
    again = store.embeddings(model, texts, label="mining hard negatives", keep=False)
    np.testing.assert_array_equal(first, again)
    assert len(said) == 1 and reason in said[0] and "encoding again" in said[0]
    assert said[0].startswith("mining hard negatives: the cached corpus embeddings")
    EmbeddingFile(entry).load(corpus_key(model, texts))  # rewritten whole


def test_entry_of_another_corpus_is_refused(model, tmp_path):
    file = EmbeddingFile(tmp_path / "e.npy")
    texts = sentences(4, 5)
    file.save(encode_corpus(model, texts, progress=False), corpus_key(model, texts), "test")
    with pytest.raises(StaleEntry, match="corpus changed"):
        file.load(corpus_key(model, [*texts, "more"]))
    with pytest.raises(StaleEntry, match="prompt changed"):
        file.load(corpus_key(model, texts, EncodeOptions(prompt="q: ")))


def test_chunked_top_k_equals_exact_top_k():
    generator = np.random.default_rng(0)
    corpus = generator.normal(size=(1000, 24)).astype(np.float32)
    queries = generator.normal(size=(37, 24)).astype(np.float32)
    unit = corpus / np.linalg.norm(corpus, axis=1, keepdims=True)
    exact = (queries / np.linalg.norm(queries, axis=1, keepdims=True)) @ unit.T
    expected_rows = np.argsort(-exact, axis=1, kind="stable")[:, :10]
    for chunk in (7, 10, 64, 1000, 5000):
        scores, rows = top_k_cosine(queries, corpus, 10, chunk_rows=chunk)
        np.testing.assert_array_equal(rows, expected_rows)
        np.testing.assert_allclose(scores, np.take_along_axis(exact, expected_rows, 1), atol=1e-5)
    scores, rows = top_k_cosine(queries, corpus[:4], 10)
    assert rows.shape == (37, 4)
    assert top_k_cosine(queries[:0], corpus, 3)[1].shape == (0, 3)


def test_top_k_ties_go_to_the_lower_row():
    corpus = np.array([[1, 0], [0, 1], [1, 0], [1, 0]], np.float32)
    _, rows = top_k_cosine(np.array([[1, 0]], np.float32), corpus, 2, chunk_rows=1)
    assert rows.tolist() == [[0, 2]]


def test_progress_in_a_pipe_is_plain_lines_every_tenth():
    stream = io.StringIO()
    with CorpusProgress("evaluating dev", 18_821, enabled=False, stream=stream) as progress:
        for _ in range(18):
            progress.advance(1000)
        progress.advance(821)
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert 9 <= len(lines) <= 11
    assert lines[0].startswith("evaluating dev: 2,000 of 18,821 documents encoded, ") and "left" in lines[0]
    assert lines[-1].startswith("evaluating dev: 18,821 of 18,821 documents encoded in ")


def test_encode_corpus_reports_in_a_pipe(model, capsys):
    texts = sentences(300, 6)
    encode_corpus(model, texts, label="mining hard negatives", progress=False)
    err = capsys.readouterr().err
    assert "\r" not in err and "mining hard negatives: 300 of 300 documents encoded in" in err
    assert "it/s" not in err  # no tqdm bar of sentence-transformers
