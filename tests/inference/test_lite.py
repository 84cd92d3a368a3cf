"""The torch-free fast start (sbft.inference.lite, declared): the same embeddings as sentence-transformers.

Equality only, never speed (scripts/bench.py's startup section times the commands). Each
saved model gets its own folder, so its ONNX export and record stay in that test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sbft.errors import SbftError
from sbft.inference.declared import Unsupported, read_declared
from sbft.inference.encoder import token_counts
from sbft.inference.lite import LiteEncoder, pool
from sbft.inference.loading import load_any
from sbft.inference.search import top_cosine
from tests.helpers import sentences

TEXTS = [
    *sentences(6, 50),
    "",
    "Ünïcödé ÀCCENTS and CAPITALS!",
    " ".join(sentences(40, 51)),
]  # long: truncated
PROMPTS = {"query": "query: ", "document": "passage: "}
MODES = ("mean", "cls", "max", "mean_sqrt_len_tokens", "weightedmean", "lasttoken")


def save_bi_encoder(tiny_model: Path, folder: Path, modes, include_prompt=True, normalize=False) -> Path:
    """The tiny BERT saved as a SentenceTransformer with the given pooling, prompts and Normalize."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    transformer = Transformer(str(tiny_model))
    modules = [
        transformer,
        Pooling(transformer.get_embedding_dimension(), modes, include_prompt=include_prompt),
    ]
    SentenceTransformer(modules=modules + [Normalize()] * normalize, prompts=PROMPTS).save(str(folder))
    return folder


@pytest.mark.parametrize("mode", [*MODES, ("cls", "max", "mean")])
def test_every_pooling_mode_embeds_as_torch(tiny_model, tmp_path, mode):
    include_prompt = mode not in ("cls", "weightedmean", "mean")  # prompt tokens left out of those
    folder = save_bi_encoder(tiny_model, tmp_path / "model", mode, include_prompt, normalize=mode == "max")
    torch_model = load_any(str(folder))
    exported = load_any(str(folder), backend="onnx")  # exported now, and the fast start checked
    assert not isinstance(exported, LiteEncoder)
    record = json.loads((folder / "onnx" / "sbft-export.json").read_text())
    assert record["fast-start"]["equal"], record

    lite = load_any(str(folder), backend="onnx", threads=1)
    assert isinstance(lite, LiteEncoder) and lite.onnx_backend == "onnx"
    assert lite.max_seq_length == torch_model.max_seq_length and lite.prompts == torch_model.prompts
    assert lite.get_embedding_dimension() == torch_model.get_embedding_dimension()
    for method in ("encode", "encode_query", "encode_document"):
        expected = getattr(torch_model, method)(TEXTS, batch_size=4)
        np.testing.assert_allclose(getattr(lite, method)(TEXTS, batch_size=4), expected, atol=1e-5)
    options = {"prompt": "search: ", "truncate_dim": 16, "normalize_embeddings": True}
    np.testing.assert_allclose(lite.encode(TEXTS, **options), torch_model.encode(TEXTS, **options), atol=1e-5)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("prompt_length", [None, 3])
@pytest.mark.parametrize("side", ["right", "left"])
def test_pooling_arithmetic_is_sentence_transformers(mode, prompt_length, side):
    from sentence_transformers.sentence_transformer.modules import Pooling

    generator = np.random.default_rng(0)
    tokens = generator.normal(size=(5, 9, 4)).astype(np.float32)
    lengths = [9, 7, 4, 1, 6]
    mask = np.zeros((5, 9), dtype=np.int64)
    for row, length in enumerate(lengths):
        mask[row, slice(9 - length, None) if side == "left" else slice(0, length)] = 1
    module = Pooling(4, mode, include_prompt=prompt_length is None)
    features = {"token_embeddings": torch.from_numpy(tokens), "attention_mask": torch.from_numpy(mask)}
    if prompt_length:
        features["prompt_length"] = prompt_length
    expected = module(features)["sentence_embedding"].numpy()
    np.testing.assert_allclose(pool(tokens, mask, (mode,), prompt_length), expected, atol=1e-6)


def test_fast_start_only_on_a_current_checked_export(model_copy):
    folder = str(model_copy)
    assert not isinstance(load_any(folder, backend="onnx"), LiteEncoder)  # nothing exported yet
    assert isinstance(load_any(folder, backend="onnx"), LiteEncoder)
    assert not isinstance(load_any(folder, backend="onnx", fast_start=False), LiteEncoder)
    assert not isinstance(load_any(folder, backend="onnx-int8"), LiteEncoder)  # int8 made now
    assert isinstance(load_any(folder, backend="onnx-int8"), LiteEncoder)
    assert not isinstance(load_any(folder), LiteEncoder)  # torch is torch

    record_file = model_copy / "onnx" / "sbft-export.json"
    record = json.loads(record_file.read_text())
    record_file.write_text(json.dumps({**record, "fast-start": {**record["fast-start"], "equal": False}}))
    assert not isinstance(load_any(folder, backend="onnx"), LiteEncoder)  # checked and found different

    (model_copy / "config.json").write_text((model_copy / "config.json").read_text() + "\n")
    assert not isinstance(load_any(folder, backend="onnx"), LiteEncoder)  # the model changed: export again
    assert isinstance(load_any(folder, backend="onnx"), LiteEncoder)


def test_max_seq_length_rules_are_the_same(model_copy):
    load_any(str(model_copy), backend="onnx")
    lite = load_any(str(model_copy), backend="onnx", max_seq_length=5)
    torch_model = load_any(str(model_copy), max_seq_length=5)
    assert isinstance(lite, LiteEncoder) and lite.max_seq_length == 5
    np.testing.assert_allclose(lite.encode(TEXTS), torch_model.encode(TEXTS), atol=1e-5)
    for counts in ({}, {"special_tokens": True}, {"truncate": False, "special_tokens": True}):
        assert token_counts(lite, TEXTS, **counts) == token_counts(torch_model, TEXTS, **counts), counts
    for backend in ("onnx", "torch"):
        with pytest.raises(SbftError, match="longer than the model's 64 positions") as error:
            load_any(str(model_copy), backend=backend, max_seq_length=65)
        assert error.value.where == "max_seq_length"


def test_small_commands_import_no_torch(model_copy, tmp_path):
    """encode, similarity and search (cached corpus) with an exported model: tokenizers + onnxruntime."""
    load_any(str(model_copy), backend="onnx")
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(sentences(10, 52)) + "\n", encoding="utf-8")
    cache = tmp_path / "corpus.npy"
    search = ["search", model_copy, "a dog runs", "--corpus", texts, "--corpus-embeddings", cache]
    commands = [
        ["encode", model_copy, texts, "-o", tmp_path / "out.npy"],
        ["similarity", model_copy, "a man plays", "a woman sings"],
        [*search, "--json"],  # writes the cache
        [*search, "--json"],  # reads it
    ]
    probe = (
        "import atexit, sys\n"
        "heavy = ('torch', 'transformers', 'sentence_transformers', 'sklearn')\n"
        "atexit.register(lambda: print('HEAVY', [m for m in heavy if m in sys.modules], file=sys.stderr))\n"
        "from sbft.cli import main\n"
        "sys.argv = ['sbft', *sys.argv[1:]]\n"
        "main()\n"
    )
    outputs = []
    for command in commands:
        args = [str(part) for part in [*command, "--backend", "onnx"]]
        result = subprocess.run(
            [sys.executable, "-c", probe, *args], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stderr
        assert "HEAVY []" in result.stderr, (command[0], result.stderr)
        outputs.append(result.stdout)
    assert outputs[2] == outputs[3]
    torch_hits = subprocess.run(
        [sys.executable, "-m", "sbft", *map(str, search), "--json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert [hit["id"] for hit in json.loads(torch_hits)["hits"]] == [
        hit["id"] for hit in json.loads(outputs[3])["hits"]
    ]


def test_declarations_read_like_sentence_transformers(tiny_model, tmp_path):
    plain = read_declared(tiny_model)  # no modules.json: mean pooling, no Normalize
    assert (plain.pooling, plain.normalize, plain.max_seq_length) == (("mean",), False, 64)
    assert plain.prompts == {"query": "", "document": ""}

    folder = save_bi_encoder(tiny_model, tmp_path / "legacy", "mean", normalize=True)
    pooling = folder / "1_Pooling" / "config.json"
    legacy = {"word_embedding_dimension": 32, "pooling_mode_cls_token": True, "pooling_mode_max_tokens": True}
    pooling.write_text(json.dumps(legacy))
    (folder / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": 12, "do_lower_case": True})
    )
    declared = read_declared(folder)
    assert declared.pooling == ("cls", "max") and declared.embedding_dimension == 64
    assert (declared.normalize, declared.max_seq_length, declared.do_lower_case) == (True, 12, True)
    assert declared.prompts == PROMPTS


@pytest.mark.parametrize(
    "change",
    [
        "dense",
        "cross-encoder",
        "query_length",
        "custom code",
    ],
)
def test_what_only_torch_can_run_is_unsupported(tiny_model, tmp_path, change):
    folder = save_bi_encoder(tiny_model, tmp_path / "model", "mean")
    if change == "dense":
        modules = json.loads((folder / "modules.json").read_text())
        modules.append(
            {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}
        )
        (folder / "modules.json").write_text(json.dumps(modules))
    elif change == "cross-encoder":
        (folder / "config_sentence_transformers.json").write_text(json.dumps({"model_type": "CrossEncoder"}))
    elif change == "query_length":
        (folder / "sentence_bert_config.json").write_text(json.dumps({"query_length": 8}))
    else:
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**config, "auto_map": {"AutoModel": "x.Model"}}))
    with pytest.raises(Unsupported):
        read_declared(folder)


def test_top_cosine_ranks_as_semantic_search():
    from sentence_transformers.util import semantic_search

    generator = np.random.default_rng(1)
    corpus = generator.normal(size=(300, 16)).astype(np.float32)
    corpus[7] = corpus[3]  # a tie: the lower id first
    queries = np.vstack([generator.normal(size=(4, 16)).astype(np.float32), corpus[3:4]])
    expected = semantic_search(torch.from_numpy(queries), torch.from_numpy(corpus), top_k=10)
    got = top_cosine(queries, corpus, 10)
    for hits, reference in zip(got, expected, strict=True):
        np.testing.assert_allclose([s for _, s in hits], [h["score"] for h in reference], atol=1e-6)
        assert {i for i, _ in hits} == {h["corpus_id"] for h in reference}
    assert [i for i, _ in got[-1][:2]] == [3, 7]
    assert len(top_cosine(queries, corpus[:4], 10)[0]) == 4
