"""sbft.inference.shards, `encode_file(shard=...)`: row ranges, concatenation, search over shards."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from sbft.errors import SbftError
from sbft.inference import EncodeOptions, TextSource, encode_file
from sbft.inference.pipeline import _check_shardable
from sbft.inference.search import corpus_embeddings
from sbft.inference.shards import Shard, parse_devices, parse_shard
from tests.helpers import sentences

TEXTS = sentences(23, 30)


@pytest.fixture()
def text_file(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("text", ["2/2", "3/0", "a/b", "-1/2", "1", "1/2/3", ""])
def test_bad_shards_are_refused(text):
    with pytest.raises(SbftError) as error:
        parse_shard(text)
    assert error.value.where == "shard" and "i/N" in error.value.fix


def test_shards_cover_every_row_once():
    for total in (0, 1, 7, 23, 100):
        for count in (1, 2, 3, 5, 40):
            ranges = [Shard(i, count).rows(total, 4) for i in range(count)]
            assert ranges[0][0] == 0 and ranges[-1][1] == total
            assert all(stop == start for (_, stop), (start, _) in itertools.pairwise(ranges))
            assert all(start % 4 == 0 or start == total for start, _ in ranges)
    assert parse_shard(" 1 / 3 ") == Shard(1, 3)


def _encode(model, text_file, output, shard=None, window=4):
    return encode_file(
        model, TextSource(str(text_file)), str(output), EncodeOptions(), shard=shard, window=window
    )


@pytest.mark.parametrize("count", [2, 3, 7, 40])
def test_npy_and_jsonl_shards_concatenate_to_the_whole(tiny_model, text_file, tmp_path, count):
    model = str(tiny_model)
    _encode(model, text_file, tmp_path / "all.npy")
    _encode(model, text_file, tmp_path / "all.jsonl")
    folder = tmp_path / "shards"
    folder.mkdir()
    for index in range(count):
        shard = Shard(index, count)
        _encode(model, text_file, folder / f"part-{index:03d}.npy", shard)
        _encode(model, text_file, tmp_path / f"part-{index:03d}.jsonl", shard)
    parts = [np.load(folder / f"part-{i:03d}.npy") for i in range(count)]
    if count == 40:
        assert sum(len(part) == 0 for part in parts) > 0  # more shards than windows: empty ones
    np.testing.assert_array_equal(np.concatenate(parts), np.load(tmp_path / "all.npy"))
    joined = b"".join((tmp_path / f"part-{i:03d}.jsonl").read_bytes() for i in range(count))
    assert joined == (tmp_path / "all.jsonl").read_bytes()
    record = json.loads((folder / "part-001.npy.json").read_text())
    assert record["shard"]["index"] == 1 and record["identity"]["corpus"]["rows"] == len(TEXTS)


def test_search_reads_a_folder_of_shards(model, tiny_model, text_file, tmp_path):
    folder = tmp_path / "shards"
    folder.mkdir()
    for index in range(3):
        _encode(str(tiny_model), text_file, folder / f"p{index}.npy", Shard(index, 3))
    said: list[str] = []
    vectors = corpus_embeddings(model, str(tiny_model), TEXTS, EncodeOptions(), str(folder), said.append)
    np.testing.assert_allclose(vectors, model.encode_document(TEXTS), atol=1e-5)
    assert said == [f"reusing the corpus embeddings in {folder} ({len(TEXTS)} rows)"]

    (folder / "p1.npy").unlink()
    (folder / "p1.npy.json").unlink()
    said.clear()
    again = corpus_embeddings(model, str(tiny_model), TEXTS, EncodeOptions(), str(folder), said.append)
    np.testing.assert_allclose(again, vectors, atol=1e-6)
    assert len(said) == 1 and "are not used (rows 8 onwards are missing" in said[0]
    assert sorted(path.name for path in folder.iterdir()) == [
        "p0.npy",
        "p0.npy.json",
        "p2.npy",
        "p2.npy.json",
    ]

    said.clear()
    corpus_embeddings(model, str(tiny_model), TEXTS[:-1], EncodeOptions(), str(folder), said.append)
    assert "corpus changed" in said[0]


def test_shard_of_stdin_and_int8_are_refused(tiny_model, tmp_path):
    with pytest.raises(SbftError, match="standard input"):
        encode_file(
            str(tiny_model), TextSource("-"), str(tmp_path / "o.npy"), EncodeOptions(), shard=Shard(0, 2)
        )
    with pytest.raises(SbftError, match="calibrate"):
        _check_shardable(TextSource("texts.txt"), EncodeOptions(precision="int8"))


def test_devices_are_checked():
    assert parse_devices("cpu, cpu") == ["cpu", "cpu"]
    with pytest.raises(SbftError, match="empty device name"):
        parse_devices("cpu,,cpu")
    with pytest.raises(SbftError, match="not a device"):
        parse_devices("cpu,gpu0")
