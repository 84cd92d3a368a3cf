"""Model families as data: one frozen record per model type, and how to find a model's family.

Adding a family (sparse encoders, say) is a new module here with its record and catalogue,
registered in FAMILIES; recipes, data, training and the CLI ask the record, not a type string.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sbft.errors import SbftError, did_you_mean
from sbft.families.bi_encoder import BI_ENCODER
from sbft.families.cross_encoder import CROSS_ENCODER
from sbft.families.record import EvaluatorShape, Family, LabelKind, LossInfo
from sbft.families.sparse_encoder import SPARSE_ENCODER

__all__ = [
    "BI_ENCODER",
    "CROSS_ENCODER",
    "DEFAULT",
    "FAMILIES",
    "SPARSE_ENCODER",
    "EvaluatorShape",
    "Family",
    "LabelKind",
    "LossInfo",
    "family",
    "family_of",
    "family_of_folder",
]

FAMILIES: dict[str, Family] = {f.name: f for f in (BI_ENCODER, CROSS_ENCODER, SPARSE_ENCODER)}
DEFAULT = BI_ENCODER


def family(name: str, where: str = "model.type") -> Family:
    """The family a recipe names (`model.type`)."""
    if name not in FAMILIES:
        raise SbftError(f"unknown model type '{name}'", where=where, fix=did_you_mean(name, FAMILIES))
    return FAMILIES[name]


def family_of(model: Any) -> Family:
    """The family of a loaded model, by its class (no isinstance, so nothing is imported)."""
    names = {cls.__name__ for cls in type(model).__mro__}
    return next((f for f in FAMILIES.values() if f.model_class in names), DEFAULT)


def family_of_folder(folder: str | Path) -> Family:
    """The family a saved model folder declares; a plain transformer counts as the default family."""
    config = Path(folder) / "config_sentence_transformers.json"
    try:
        saved = json.loads(config.read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError, AttributeError):
        saved = None
    return next((f for f in FAMILIES.values() if f.saved_as == saved), DEFAULT)
