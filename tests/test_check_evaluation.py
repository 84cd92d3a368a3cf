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


def _class_files(tmp_path: Path) -> dict[str, str]:
    """(a, b, label 0/1) csv files, train and dev, beside the recipe."""
    from tests.helpers import sentences

    files = {}
    for split, (count, seed) in {"train": (24, 41), "dev": (12, 42)}.items():
        rows = zip(sentences(count, seed), sentences(count, seed + 100), strict=True)
        lines = ["a,b,label", *(f"{a},{b},{i % 2}" for i, (a, b) in enumerate(rows))]
        (tmp_path / f"cls-{split}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        files[split] = f"cls-{split}.csv"
    return files


def _pairs(pair_files: dict[str, Path], loss: str | None) -> dict:
    return {
        "files": {split: str(path) for split, path in pair_files.items() if split != "test"},
        "columns": ["query", "answer"],
        **({"loss": loss} if loss else {}),
    }


def _triplets(tmp_path: Path) -> dict:
    from tests.helpers import sentences, write_jsonl

    files = {}
    for split, seed in (("train", 51), ("dev", 52)):
        columns = [sentences(12, seed + k) for k in range(3)]
        rows = [
            dict(zip(("anchor", "positive", "negative"), row, strict=True))
            for row in zip(*columns, strict=True)
        ]
        files[split] = str(write_jsonl(tmp_path / f"triplets-{split}.jsonl", rows))
    return {"files": files, "columns": ["anchor", "positive", "negative"], "loss": "TripletLoss"}


def _cases(tmp_path, pair_files, tiny_cross_encoder, tiny_model) -> dict[str, dict]:
    """Per evaluator kind of each family, the recipe changes that make a dev set of that kind."""
    classes = {"files": _class_files(tmp_path), "columns": ["a", "b"], "label": "label"}
    cross = {"model__name": str(tiny_cross_encoder), "model__type": "cross-encoder"}
    return {
        "embedding-similarity": {"evaluation__dims": [16]},
        "binary-classification": {"datasets__sts": {**classes, "loss": "ContrastiveLoss"}},
        "triplet": {"datasets__sts": _triplets(tmp_path)},
        "information-retrieval": {"datasets__sts": _pairs(pair_files, "MultipleNegativesRankingLoss")},
        "correlation": {**cross, "datasets__sts__loss": "BinaryCrossEntropyLoss"},
        "classification": {  # two classes: a new two-logit head on the plain transformer
            **cross,
            "model__name": str(tiny_model),
            "datasets__sts": {**classes, "loss": "CrossEntropyLoss"},
        },
        "classification, one output": {
            **cross,
            "datasets__sts__loss": "BinaryCrossEntropyLoss",
            "datasets__cls": {**classes, "evaluator": "classification"},
        },
        "reranking": {**cross, "datasets__sts": _pairs(pair_files, "MultipleNegativesRankingLoss")},
    }


KINDS = [
    "embedding-similarity",
    "binary-classification",
    "triplet",
    "information-retrieval",
    "correlation",
    "classification",
    "classification, one output",
    "reranking",
]


@pytest.mark.parametrize("kind", KINDS)
def test_check_predicts_the_metric_names_an_evaluation_reports(
    recipe_file, tmp_path, pair_files, tiny_cross_encoder, tiny_model, kind
):
    """Issue 25, case 6: the names check knows (from the family records) are those a real
    evaluation of the built model reports, for every evaluator kind."""
    from sentence_transformers.sentence_transformer.evaluation import SequentialEvaluator

    from sbft.check import _outputs, predicted_metrics
    from sbft.evaluation import build_evaluator, evaluate, evaluator_kind
    from sbft.evaluation.evaluators import mean
    from sbft.models import build_model

    recipe = load_recipe(recipe_file(**_cases(tmp_path, pair_files, tiny_cross_encoder, tiny_model)[kind]))
    plan = preflight(recipe)
    kinds = {evaluator_kind(p, "dev") for p in plan.datasets.values() if "dev" in p.splits}
    assert kind.split(",")[0] in kinds
    model = build_model(recipe.model, num_labels=_outputs(recipe, plan.datasets))
    evaluator = build_evaluator(plan.datasets, "dev", 8, dims=recipe.evaluation_dims)
    reported = evaluate(SequentialEvaluator([evaluator], main_score_function=mean), model)
    losses = {"loss", *(f"{name}_loss" for name in plan.datasets)}
    assert set(predicted_metrics(recipe, plan.datasets)) - losses == set(reported)


@pytest.mark.parametrize(
    ("kind", "metric", "meant"),
    [
        ("information-retrieval", "sts_ndcg@10", "sts_cosine_ndcg@10"),
        ("embedding-similarity", "sts_spearman", "sts_spearman_cosine"),
        ("reranking", "sts_cosine_ndcg@10", "sts_ndcg@10"),
    ],
)
def test_check_refuses_a_metric_training_would_refuse(
    recipe_file, tmp_path, pair_files, tiny_cross_encoder, tiny_model, kind, metric, meant
):
    """`sbft check` said nothing about dev_ndcg@10 on a BEIR dev set whose key is dev_cosine_ndcg@10."""
    changes = {
        **_cases(tmp_path, pair_files, tiny_cross_encoder, tiny_model)[kind],
        "evaluation__metric": metric,
    }
    with pytest.raises(SbftError, match=f"Did you mean '{meant}'") as caught:
        preflight(load_recipe(recipe_file(**changes)))
    assert caught.value.where == "evaluation.metric"
    changes["evaluation__metric"] = meant
    preflight(load_recipe(recipe_file(**changes)))


def test_the_beir_dev_metric_of_the_issue(cli, recipe_file, beir_folder):
    """The issue's case through the CLI: exit 2, one paragraph, before any model loads."""
    dev = {"beir": str(beir_folder), "loss": "MultipleNegativesRankingLoss"}
    result = cli("check", recipe_file(datasets={"dev": dev}, evaluation__metric="dev_ndcg@10"))
    assert result.exit_code == 2 and "Did you mean 'dev_cosine_ndcg@10'" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_hub_model_accepts_every_similarity(recipe_file):
    """A model whose config is not at hand may declare any similarity: none of them is refused."""
    from sbft.check import similarity_function

    assert similarity_function(ModelSpec(name="org/not-here-anywhere")) is None
    shape = load_recipe(recipe_file()).family.evaluators["triplet"]
    assert shape.metric_names("d", None) == [
        f"d_{sim}_accuracy" for sim in ("cosine", "dot", "euclidean", "manhattan")
    ]


def test_the_retrieval_names_follow_the_evaluators_cutoffs():
    from sbft.families import bi_encoder
    from sbft.families.retrieval import RETRIEVAL_CUTOFFS

    declared = {int(name.split("@")[1]) for name in bi_encoder.EVALUATORS["information-retrieval"].metrics}
    assert declared == {k for cuts in RETRIEVAL_CUTOFFS.values() for k in cuts}


def test_without_a_baseline_the_size_is_refused_as_the_model_loads(cli, recipe_file, tmp_path, monkeypatch):
    """No baseline evaluation to meet the sizes first: the loaded model's size is checked at once."""
    import sbft.check

    monkeypatch.setattr(sbft.check, "embedding_dimension", lambda model: None)
    recipe = recipe_file(evaluation__dims=[64], evaluation__baseline=False)
    result = cli("train", recipe, "-o", tmp_path / "run", "--no-smoke")
    assert result.exit_code == 2 and "32 dimensions, fewer than 64" in result.stderr
    log = tmp_path / "run" / "metrics.jsonl"
    assert not log.exists() or '"loss"' not in log.read_text()  # before the first training step
