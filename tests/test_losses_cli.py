"""`sbft losses`: the catalogue shown is exactly what recipe validation accepts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sbft.cli.losses import _arguments, _example, _loss_class
from sbft.errors import SbftError
from sbft.losses import MODEL_TYPES, LossInfo, catalogue
from sbft.recipe import load_recipe
from tests.helpers import run_sbft

ALL = [(model_type, info) for model_type in MODEL_TYPES for info in catalogue(model_type).values()]


def minimal_recipe(path: Path, model_type: str, loss: str | dict, info: LossInfo) -> Path:
    """The smallest recipe that uses `loss`, shaped from its catalogue entry alone."""
    dataset = {
        "files": {"train": "train.jsonl"},
        "columns": [f"c{i}" for i in range(info.min_inputs)],
        "loss": loss,
    }
    if info.label is not None:
        dataset["label"] = "y"
    recipe = {"model": {"name": "some-model", "type": model_type}, "datasets": {"d": dataset}}
    path.write_text(yaml.safe_dump(recipe))
    return path


def test_the_list_shows_every_loss_with_inputs_and_label():
    result = run_sbft("losses")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for model_type, info in ALL:
        assert f"{model_type} losses" in result.stdout
        shown = [line for line in lines if line.startswith(f"  {info.name} · ")]
        assert shown, info.name
        assert any(info.inputs in line and "label: " in line for line in shown), info.name
        assert f"      {info.summary}" in lines
    assert "\x1b" not in result.stdout


@pytest.mark.parametrize(("model_type", "info"), ALL, ids=[f"{t}:{i.name}" for t, i in ALL])
def test_every_listed_loss_is_accepted_by_recipe_validation(tmp_path, model_type, info):
    inner = next(name for name, other in catalogue(model_type).items() if not other.wrapper)
    loss = {"name": info.name, "inner": inner} if info.wrapper else info.name
    shape = catalogue(model_type)[inner] if info.wrapper else info
    recipe = load_recipe(minimal_recipe(tmp_path / "recipe.yaml", model_type, loss, shape))
    assert recipe.datasets["d"].loss.name == info.name


def test_a_loss_outside_the_catalogue_is_rejected(tmp_path):
    info = catalogue("bi-encoder")["CoSENTLoss"]
    with pytest.raises(SbftError, match="unknown loss"):
        load_recipe(minimal_recipe(tmp_path / "recipe.yaml", "bi-encoder", "DenoisingAutoEncoderLoss", info))


def test_every_detail_example_is_a_valid_recipe(tmp_path):
    """The example of `sbft losses NAME`, built from the real signature, passes validation."""
    from rich.console import Console

    console = Console(quiet=True)
    for model_type, info in ALL:
        loss_class, error = _loss_class(model_type, info.name, console)
        assert error is None, error
        example = yaml.safe_load("\n".join(_example(model_type, info, _arguments(loss_class))))
        path = tmp_path / f"{model_type}-{info.name}.yaml"
        path.write_text(yaml.safe_dump(example))
        assert load_recipe(path).datasets["my_data"].loss.name == info.name


def test_one_loss_in_detail_and_a_typo():
    result = run_sbft("losses", "cosentloss")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("CoSENTLoss (bi-encoder loss)")
    assert "scale" in result.stdout and "= 20.0" in result.stdout  # from the real signature
    assert "columns: [sentence1, sentence2]" in result.stdout and "loss: CoSENTLoss" in result.stdout

    result = run_sbft("losses", "CosentLos")
    assert result.returncode == 2 and "Did you mean 'CoSENTLoss'?" in result.stderr
    assert "Traceback" not in result.stderr
