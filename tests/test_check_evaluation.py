"""sbft.check on the evaluation section: sizes to truncate to (evaluation.dims) and the deciding
metric's name (evaluation.metric), known from the recipe and the model's config, no model loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from sbft.check import embedding_dimension, preflight
from sbft.errors import SbftError
from sbft.recipe import ModelSpec, load_recipe

MATRYOSHKA = {"name": "MatryoshkaLoss", "args": {"matryoshka_dims": [64, 16]}, "inner": "CoSENTLoss"}


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"evaluation__dims": [64, 16]}, "evaluation.dims"),
        ({"datasets__sts__loss": MATRYOSHKA}, "datasets.sts.loss.args.matryoshka_dims"),
    ],
)
def test_sizes_above_the_models_are_refused_at_check(recipe_file, changes, where):
    """Issue 25, case 5: the tiny model makes 32 dimensions; _dim64 would be made up."""
    with pytest.raises(SbftError, match="32 dimensions, fewer than 64") as caught:
        preflight(load_recipe(recipe_file(**changes)))
    assert caught.value.where == where


def test_sizes_up_to_the_models_pass(recipe_file):
    preflight(load_recipe(recipe_file(evaluation__dims=[32, 16])))


def test_a_size_check_cannot_tell_is_refused_when_the_model_loads(cli, recipe_file, tmp_path, monkeypatch):
    """A hub id (no config at hand): `sbft train` refuses once the model is loaded, before training."""
    import sbft.check

    monkeypatch.setattr(sbft.check, "embedding_dimension", lambda model: None)
    result = cli("train", recipe_file(evaluation__dims=[64]), "-o", tmp_path / "run", "--no-smoke")
    assert result.exit_code == 2 and "32 dimensions, fewer than 64" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "run" / "model").exists()


def _saved(tiny_model: Path, tmp_path: Path, pooling: str | None, dense: int | None) -> Path:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dense, Pooling

    model = SentenceTransformer(str(tiny_model))
    modules = list(model)
    if pooling:
        modules[1] = Pooling(32, pooling_mode=pooling)
    if dense:
        modules.append(Dense(modules[1].get_embedding_dimension(), dense))
    folder = tmp_path / f"saved-{pooling}-{dense}"
    SentenceTransformer(modules=modules).save(str(folder))
    return folder


@pytest.mark.parametrize(
    ("pooling", "dense", "pooled"), [(None, None, None), ("cls", 8, None), (None, None, "max")]
)
def test_the_size_from_config_is_the_loaded_models(tiny_model, tmp_path, pooling, dense, pooled):
    """What check reads from config files is what the loaded model makes (plain, saved, dense, pooling)."""
    from sbft.models import build_model

    folder = tiny_model if pooling is None and dense is None else _saved(tiny_model, tmp_path, pooling, dense)
    spec = ModelSpec(name=str(folder), pooling=pooled)
    assert embedding_dimension(spec) == build_model(spec).get_embedding_dimension()
    assert embedding_dimension(ModelSpec(name="org/not-here-anywhere")) is None
