"""What `sbft losses` shows: the catalogue recipes are validated against, each loss's real arguments
and an example that passes validation (the library, without the CLI)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sbft.errors import SbftError
from sbft.families import FAMILIES, Family, LossInfo
from sbft.losses import describe as describe_module
from sbft.losses.describe import data_text, describe, find_losses
from sbft.recipe import load_recipe

ALL = [(family.name, info) for family in FAMILIES.values() for info in family.losses.values()]
IDS = [f"{family}:{info.name}" for family, info in ALL]


def minimal_recipe(path: Path, family: str, loss: str | dict, info: LossInfo) -> Path:
    """The smallest recipe that uses `loss`, shaped from its catalogue entry alone."""
    dataset = {
        "files": {"train": "train.jsonl"},
        "columns": [f"c{i}" for i in range(info.min_inputs)],
        "loss": loss,
    }
    if info.label is not None:
        dataset["label"] = "y"
    recipe = {"model": {"name": "some-model", "type": family}, "datasets": {"d": dataset}}
    path.write_text(yaml.safe_dump(recipe))
    return path


@pytest.mark.parametrize(("family", "info"), ALL, ids=IDS)
def test_every_listed_loss_is_accepted_by_recipe_validation(tmp_path, family, info):
    losses = FAMILIES[family].losses
    inner = next(name for name, other in losses.items() if not other.wrapper)
    loss = {"name": info.name, "inner": inner} if info.wrapper else info.name
    shape = losses[inner] if info.wrapper else info
    recipe = load_recipe(minimal_recipe(tmp_path / "recipe.yaml", family, loss, shape))
    assert recipe.datasets["d"].loss.name == info.name


def test_a_loss_outside_the_catalogue_is_rejected(tmp_path):
    info = FAMILIES["bi-encoder"].losses["CoSENTLoss"]
    with pytest.raises(SbftError, match="unknown loss"):
        load_recipe(minimal_recipe(tmp_path / "recipe.yaml", "bi-encoder", "DenoisingAutoEncoderLoss", info))


def test_data_text_says_the_label_once():
    bi, cross = FAMILIES["bi-encoder"].losses, FAMILIES["cross-encoder"].losses
    assert data_text(bi["CoSENTLoss"]) == "(sentence1, sentence2) + score"
    assert data_text(bi["CosineSimilarityLoss"]) == "(sentence1, sentence2) + score in 0..1"
    assert data_text(bi["ContrastiveLoss"]) == "(sentence1, sentence2) + 0/1 label"
    assert data_text(cross["BinaryCrossEntropyLoss"]) == "(query, passage) + score in 0..1"
    assert data_text(bi["MatryoshkaLoss"]) == "as the inner loss"


def test_every_example_is_a_valid_recipe(tmp_path):
    """The example, built from the real signature, passes validation."""
    for family, info in ALL:
        description = describe(info.name, family)
        assert description.unavailable is None, description.unavailable
        path = tmp_path / f"{family}-{info.name}.yaml"
        path.write_text(yaml.safe_dump(yaml.safe_load("\n".join(description.example))))
        assert load_recipe(path).datasets["my_data"].loss.name == info.name


def test_one_loss_in_detail():
    loss = describe("CoSENTLoss", "bi-encoder")
    assert loss.family == "bi-encoder" and loss.inputs == "(sentence1, sentence2) + score  (2 columns)"
    assert loss.summary.startswith("Ranks pairs") and loss.doc
    scale = next(arg for arg in loss.arguments if arg.name == "scale")  # from the real signature
    assert scale.default == "20.0" and scale.doc.endswith(".") and not scale.filled
    assert "    columns: [sentence1, sentence2]" in loss.example and "    loss: CoSENTLoss" in loss.example

    softmax = describe("SoftmaxLoss", "bi-encoder")
    assert "filled in by sbft: embedding_dimension, num_labels" in softmax.notes
    assert {arg.name for arg in softmax.arguments if arg.filled} == {"embedding_dimension", "num_labels"}
    assert "args:" not in "\n".join(softmax.example)  # the required ones are filled in
    matryoshka = describe("MatryoshkaLoss", "bi-encoder")
    assert "      args: {matryoshka_dims: TODO}  # required: see above" in matryoshka.example
    assert "      inner: MultipleNegativesRankingLoss" in matryoshka.example
    assert "  type: cross-encoder" in describe("LambdaLoss", "cross-encoder").example


def test_arguments_and_docs_come_from_the_class(monkeypatch):
    class Documented:
        def __init__(self, model, margin: float = 0.5, *, mode=str, **kwargs):
            """Uses :class:`~sentence_transformers.losses.CoSENTLoss` and ``margin``.

            Second paragraph, not shown.

            Args:
                model: the model.
                margin (float): How far apart, e.g. 0.5 or
                    more. Then more words.
                mode: A class.

            References:
                somewhere.
            """

    monkeypatch.setattr(Family, "loss_class", lambda self, name: Documented)
    monkeypatch.setattr(describe_module, "_from_source", lambda module, name: None)  # the import path
    loss = describe("CoSENTLoss", "bi-encoder")
    assert loss.doc == "Uses CoSENTLoss and margin."
    assert [(arg.name, arg.default, arg.doc) for arg in loss.arguments] == [
        ("margin", "0.5", "How far apart, e.g. 0.5 or more."),
        ("mode", "str", "A class."),
    ]


def test_a_class_that_cannot_be_read(monkeypatch):
    def missing(self, name):
        raise ImportError("no such module")

    monkeypatch.setattr(Family, "loss_class", missing)
    monkeypatch.setattr(describe_module, "_from_source", lambda module, name: None)
    loss = describe("CoSENTLoss", "bi-encoder")
    assert loss.unavailable == "no such module" and loss.arguments == () and loss.example == ()
    assert loss.inputs.startswith("(sentence1, sentence2)")  # the catalogue still speaks


def test_finding_a_loss_by_name():
    both = ("bi-encoder", "cross-encoder")
    assert find_losses("cosentloss", both) == [("bi-encoder", "CoSENTLoss")]
    assert find_losses("MarginMSELoss", both) == [
        ("bi-encoder", "MarginMSELoss"),
        ("cross-encoder", "MarginMSELoss"),
    ]
    assert find_losses("MarginMSELoss", ("cross-encoder",)) == [("cross-encoder", "MarginMSELoss")]
    with pytest.raises(SbftError, match="Did you mean 'CoSENTLoss'"):
        find_losses("CosentLos", both)
    with pytest.raises(SbftError, match="Did you mean one of: CachedGISTEmbedLoss, "):
        find_losses("cached", both)
    with pytest.raises(SbftError, match="Valid choices: AdaptiveLayerLoss, "):
        find_losses("xyzzy", both)
    with pytest.raises(SbftError, match="unknown loss 'LambdaLoss'"):
        find_losses("LambdaLoss", ("bi-encoder",))


def test_every_loss_is_read_from_its_source_as_the_imported_class_says():
    """`sbft losses NAME` reads the source (no torch); the arguments are the real signature's."""
    for family, info in ALL:
        owner = FAMILIES[family]
        read = describe_module._from_source(owner.loss_module, info.name)
        assert read is not None, (family, info.name)
        imported = describe_module._signature(owner.loss_class(info.name))
        assert list(read[0]) == list(imported), (family, info.name)
        for argument, default in read[0].items():
            if imported[argument] in ("required", "None", "True", "False") or imported[argument][0].isdigit():
                assert default == imported[argument], (family, info.name, argument)


def test_describing_a_loss_imports_neither_torch_nor_sentence_transformers():
    import subprocess
    import sys

    code = (
        "import sys; from sbft.losses.describe import describe; d = describe('CoSENTLoss', 'bi-encoder'); "
        "assert d.arguments and d.doc; "
        "print(sorted(m for m in ('torch', 'sentence_transformers') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
