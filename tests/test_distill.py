"""sbft.distill: a bi-encoder made static by model2vec, and every input it refuses before loading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sbft.distill import distill
from sbft.errors import SbftError


def test_the_static_model_is_a_sentence_transformers_folder(tiny_static: Path) -> None:
    from sentence_transformers import SentenceTransformer

    from sbft.families import BI_ENCODER, family_of_folder

    model = SentenceTransformer(str(tiny_static), device="cpu")
    assert type(model[0]).__name__ == "StaticEmbedding"
    assert model.get_embedding_dimension() == 16
    embeddings = model.encode(["a man plays the guitar", "a dog runs in the park"])
    assert embeddings.shape == (2, 16) and abs(embeddings).sum() > 0
    assert family_of_folder(tiny_static) is BI_ENCODER  # every command loads it as a bi-encoder
    assert not list(tiny_static.parent.glob(".*partial"))  # written beside, renamed at the end


def test_an_empty_output_folder_is_used(tiny_bi_encoder: Path, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    made = distill(str(tiny_bi_encoder), tmp_path / "out", pca_dims=8)
    assert made.dimensions == 8 and made.vocabulary > 100
    assert (tmp_path / "out" / "modules.json").is_file()


def test_an_output_with_files_is_refused_and_left_alone(tiny_bi_encoder: Path, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(SbftError, match="already holds files"):
        distill(str(tiny_bi_encoder), tmp_path / "out")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["notes.txt"]
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(SbftError, match="is a file"):
        distill(str(tiny_bi_encoder), tmp_path / "file")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("tiny_model", "not a sentence-transformers model"),
        ("tiny_cross_encoder", "is a cross-encoder"),
        ("tiny_static", "already static"),
    ],
)
def test_a_model_that_is_not_a_sentence_transformer_is_refused(
    source: str, message: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    with pytest.raises(SbftError, match=message):
        distill(str(request.getfixturevalue(source)), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_bad_pca_dims_and_an_output_inside_the_model_are_refused(
    tiny_bi_encoder: Path, tmp_path: Path
) -> None:
    with pytest.raises(SbftError, match="positive number"):
        distill(str(tiny_bi_encoder), tmp_path / "out", pca_dims=0)
    with pytest.raises(SbftError, match="inside the model folder"):
        distill(str(tiny_bi_encoder), tiny_bi_encoder / "static")
    assert not (tiny_bi_encoder / "static").exists()


def test_a_missing_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SbftError, match="does not exist"):
        distill(str(tmp_path / "nowhere"), tmp_path / "out")


def test_the_folder_declares_one_static_module(tiny_static: Path) -> None:
    modules = json.loads((tiny_static / "modules.json").read_text(encoding="utf-8"))
    assert [m["type"].rsplit(".", 1)[-1] for m in modules] == ["StaticEmbedding"]
