"""Property: whatever recipe it is given, `sbft check` exits 0 or 2, never with a traceback."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from sbft.cli import app

VALID = {
    "name": "fuzz",
    "model": {"name": "sentence-transformers/all-MiniLM-L6-v2"},
    "datasets": {
        "sts": {
            "files": {"train": "sts-train.csv", "dev": "sts-dev.csv"},
            "columns": ["sentence1", "sentence2"],
            "label": "score",
            "label_range": [0, 5],
            "loss": "CoSENTLoss",
        }
    },
    "training": {"per_device_train_batch_size": 8},
}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(
        ["CoSENTLoss", "train", "dev", "sentence1", "score", "mean", "${HOME}", "${NOPE}", "a.b=c"]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
PATHS = [
    ("name",),
    ("model",),
    ("model", "name"),
    ("model", "pooling"),
    ("model", "type"),
    ("datasets",),
    ("datasets", "sts"),
    ("datasets", "sts", "files"),
    ("datasets", "sts", "files", "train"),
    ("datasets", "sts", "columns"),
    ("datasets", "sts", "label"),
    ("datasets", "sts", "label_range"),
    ("datasets", "sts", "loss"),
    ("datasets", "sts", "max_samples"),
    ("datasets", "sts", "evaluator"),
    ("training",),
    ("training", "learning_rate"),
    ("training", "num_train_epochs"),
    ("evaluation",),
]
mutation = st.tuples(st.sampled_from(PATHS), st.sampled_from(["set", "delete"]), values)


def mutate(recipe: dict, path: tuple[str, ...], action: str, value: object) -> dict:
    recipe = copy.deepcopy(recipe)
    node = recipe
    for key in path[:-1]:
        if not isinstance(node, dict) or not isinstance(node.get(key), dict):
            return recipe
        node = node[key]
    if action == "delete":
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    return recipe


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(mutations=st.lists(mutation, min_size=1, max_size=3), raw=st.one_of(st.none(), st.text(max_size=40)))
def test_check_never_crashes(tmp_path: Path, pair_score_files, mutations, raw):
    recipe_path = tmp_path / "recipe.yaml"
    if raw is not None:
        recipe_path.write_text(raw, encoding="utf-8")  # arbitrary text, often not YAML at all
    else:
        recipe = VALID
        for path, action, value in mutations:
            recipe = mutate(recipe, path, action, value)
        try:
            recipe_path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
        except yaml.YAMLError:
            return
    # --no-estimate: the estimate loads the real model and times batches (seconds per example);
    # tests/test_estimate.py covers it.
    result = CliRunner().invoke(app, ["check", str(recipe_path), "--no-estimate"])
    assert result.exit_code in (0, 2), (result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
