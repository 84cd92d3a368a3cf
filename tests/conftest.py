"""Fixtures: a tiny BERT built from scratch (no download) and tiny datasets of every shape."""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path

import pytest

from tests.helpers import WORDS, sentences, write_beir, write_jsonl

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The tests' own cache (baselines, ONNX exports of read-only models): never the user's ~/.cache/sbft.
os.environ.setdefault("SBFT_CACHE", tempfile.mkdtemp(prefix="sbft-test-cache-"))
os.environ.setdefault("SBFT_NO_CACHE", "1")  # each test scores its own baseline (no shared cache)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-dim BERT with a WordPiece tokenizer trained on WORDS: a plain transformer."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, BertTokenizerFast

    path = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer.train_from_iterator(
        sentences(500, 0) + WORDS, trainers.WordPieceTrainer(vocab_size=300, special_tokens=specials)
    )
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    BertTokenizerFast(tokenizer_object=tokenizer).save_pretrained(path)
    config = BertConfig(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    import torch

    torch.manual_seed(0)  # the same tiny model in every session: tests stay reproducible
    BertModel(config).save_pretrained(path)
    return path


@pytest.fixture()
def pair_score_files(tmp_path: Path) -> dict[str, Path]:
    """(sentence1, sentence2, score 0-5) as csv files with a header, one per split."""
    files = {}
    for split, (count, seed) in {"train": (48, 1), "dev": (16, 2), "test": (16, 3)}.items():
        rng = random.Random(seed)
        first, second = sentences(count, seed), sentences(count, seed + 100)
        lines = ["sentence1,sentence2,score"]
        lines += [f"{a},{b},{rng.randint(0, 50) / 10}" for a, b in zip(first, second, strict=True)]
        files[split] = tmp_path / f"sts-{split}.csv"
        files[split].write_text("\n".join(lines) + "\n", encoding="utf-8")
    return files


@pytest.fixture()
def pair_files(tmp_path: Path) -> dict[str, Path]:
    """(query, answer) jsonl files: retrieval pairs without a label."""
    files = {}
    for split, (count, seed) in {"train": (48, 11), "dev": (12, 12), "test": (12, 13)}.items():
        rows = [
            {"answer": a, "query": q}  # answer first: the recipe must put query first
            for q, a in zip(sentences(count, seed), sentences(count, seed + 100), strict=True)
        ]
        files[split] = write_jsonl(tmp_path / f"qa-{split}.jsonl", rows)
    return files


@pytest.fixture()
def beir_folder(tmp_path: Path) -> Path:
    """A tiny BEIR folder: 30 documents (two with a title), 12 queries.

    train: q0 has two relevant documents (d0, and d1 at grade 2) and one judged not relevant
    (d2, grade 0); q1..q7 one each. dev: q8, q9 and q10 (grade 2), and q11 judged only with
    grade 0 (skipped). test: q9 again. Each query's relevant document is the query's text with
    a few words added; the other documents are distractors.
    """
    texts = sentences(12, 31)
    corpus: dict[str, str | tuple[str, str]] = {f"d{i}": text for i, text in enumerate(sentences(30, 32))}
    answers = {"q0": "d0", **{f"q{i}": f"d{i + 2}" for i in range(1, 11)}}
    for query, doc in answers.items():
        corpus[doc] = f"{texts[int(query[1:])]} {WORDS[int(query[1:])]} {WORDS[-1]}"
    corpus["d1"] = ("a title", corpus["d1"])
    corpus["d13"] = ("", corpus["d13"])
    train = [
        ("q0", "d0", 1),
        ("q0", "d1", 2),
        ("q0", "d2", 0),
        *((f"q{i}", f"d{i + 2}", 1) for i in range(1, 8)),
    ]
    dev = [("q8", "d10", 1), ("q9", "d11", 1), ("q10", "d12", 2), ("q11", "d20", 0)]
    return write_beir(
        tmp_path / "beir",
        corpus,
        {f"q{i}": text for i, text in enumerate(texts)},
        {"train": train, "dev": dev, "test": [("q9", "d11", 1)]},
    )


@pytest.fixture()
def cli():
    """Run `sbft ARGS...` in this process (typer's runner): exit_code, stdout and stderr apart.

    For wiring tests; tests that need a real process (signals, torchrun) use helpers.run_sbft.
    """
    from typer.testing import CliRunner

    from sbft.cli import app

    def invoke(*args: str, input: str | bytes | None = None):
        return CliRunner().invoke(app, [str(a) for a in args], input=input, catch_exceptions=False)

    return invoke


@pytest.fixture()
def recipe_file(tmp_path: Path, tiny_model: Path, pair_score_files: dict[str, Path]):
    """`recipe_file(**changes)` writes a valid tiny recipe (recipe.yaml beside its data) and returns its path.

    Each keyword replaces one dotted field, given with '__' for '.': `recipe_file(training__seed=-1)`;
    the value None removes the field.
    """
    import yaml

    def write(**changes) -> Path:
        recipe = {
            "name": "tiny",
            "model": {"name": str(tiny_model)},
            "datasets": {
                "sts": {
                    "files": {split: path.name for split, path in pair_score_files.items()},
                    "columns": ["sentence1", "sentence2"],
                    "label": "score",
                    "label_range": [0, 5],
                    "loss": "CoSENTLoss",
                }
            },
            "training": {"per_device_train_batch_size": 8},
        }
        for key, value in changes.items():
            *parents, last = key.split("__")
            node = recipe
            for part in parents:
                node = node.setdefault(part, {})
            if value is None:
                node.pop(last, None)
            else:
                node[last] = value
        path = tmp_path / "recipe.yaml"
        path.write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def tiny_cross_encoder(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny BERT with a fresh 1-output head, saved as a cross-encoder."""
    from sentence_transformers import CrossEncoder

    path = tmp_path_factory.mktemp("tiny-cross")
    CrossEncoder(str(tiny_model), num_labels=1).save(str(path))
    return path


@pytest.fixture()
def model_copy(tiny_model: Path, tmp_path: Path) -> Path:
    """The tiny model copied for one test: ONNX exports written beside it stay in that test."""
    import shutil

    return shutil.copytree(tiny_model, tmp_path / "tiny")


@pytest.fixture(scope="session")
def tiny_bi_encoder(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny BERT saved as a sentence-transformer (mean pooling): what `sbft distill` reads."""
    from sentence_transformers import SentenceTransformer

    path = tmp_path_factory.mktemp("tiny-bi")
    SentenceTransformer(str(tiny_model), device="cpu").save(str(path))
    return path


@pytest.fixture(scope="session")
def tiny_static(tiny_bi_encoder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny bi-encoder distilled by `sbft distill` (model2vec): a StaticEmbedding model, 16 dims."""
    from sbft.distill import distill

    return distill(str(tiny_bi_encoder), tmp_path_factory.mktemp("tiny-static") / "model", pca_dims=16).folder


@pytest.fixture(scope="session")
def tiny_mlm(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer BertForMaskedLM built from scratch with the tiny tokenizer: what SPLADE starts from
    (no masked-language checkpoint is available offline). A plain transformer folder."""
    import shutil

    import torch
    from transformers import BertConfig, BertForMaskedLM

    path = tmp_path_factory.mktemp("tiny-mlm")
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        if (tiny_model / name).exists():
            shutil.copy(tiny_model / name, path / name)
    config = BertConfig.from_pretrained(tiny_model)
    config.architectures = ["BertForMaskedLM"]
    torch.manual_seed(0)
    BertForMaskedLM(config).save_pretrained(path)
    return path
