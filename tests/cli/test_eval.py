"""`sbft eval` through the CLI: several models in one table, --json, --output, recipes, errors."""

from __future__ import annotations

import json
import math
import shutil

import pytest

from tests.helpers import run_sbft


def test_compare_models_in_a_real_process(tmp_path, tiny_model, pair_score_files):
    run = tmp_path / "run"  # a run folder of `sbft train`: the model is its model/
    shutil.copytree(tiny_model, run / "model")
    (run / "metrics.json").write_text("{}")
    data = str(pair_score_files["test"])

    table = run_sbft("eval", str(tiny_model), str(run), data)
    assert table.returncode == 0, table.stderr
    header = next(line for line in table.stdout.splitlines() if "metric" in line)
    assert header.split()[3:-1:2] == [tiny_model.name, "run"]  # one column per model: its path's end
    assert "sts_spearman_cosine" in table.stdout  # the dataset's name: the file's stem without "test"
    assert "guessed" in table.stderr  # which columns were used is said, on stderr
    assert "Generating" not in table.stderr and "Loading" not in table.stderr  # no library chatter

    output = tmp_path / "scores.json"
    result = run_sbft("eval", str(tiny_model), str(run), data, "--json", "--output", str(output))
    assert result.returncode == 0, result.stderr
    scores = json.loads(result.stdout)
    assert list(scores) == [str(tiny_model), str(run)]
    assert scores[str(tiny_model)] == scores[str(run)]  # the same weights
    assert set(scores[str(run)]) == {"sts_pearson_cosine", "sts_spearman_cosine"}
    assert json.loads(output.read_text()) == scores


def test_recipe_dataset_and_options(cli, tmp_path, tiny_model, pair_score_files, pair_files):
    import yaml

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "model": {"name": str(tiny_model)},
                "datasets": {
                    "qa": {
                        "files": {s: p.name for s, p in pair_files.items()},
                        "columns": ["query", "answer"],
                        "loss": "MultipleNegativesRankingLoss",
                    }
                },
            }
        )
    )
    result = cli("eval", str(tiny_model), f"{recipe}#qa:dev", "--json", "--max-samples", "5")
    assert result.exit_code == 0, result.output
    (metrics,) = json.loads(result.stdout).values()
    assert "qa_cosine_ndcg@10" in metrics

    options = ["--columns", "sentence1,sentence2", "--label", "score", "--label-range", "0,5"]
    named = cli("eval", str(tiny_model), str(pair_score_files["dev"]), *options, "--loader-arg", "sep=','")
    assert named.exit_code == 0, named.output
    assert "sts_spearman_cosine" in named.stdout


def test_errors_exit_2(cli, tmp_path, tiny_model, pair_score_files):
    data = str(pair_score_files["test"])
    missing = run_sbft("eval", str(tmp_path / "no-model"), data)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr
    for args, message in [
        ([str(tiny_model)], "give at least one model and the data"),
        ([str(tiny_model), str(tmp_path / "none.csv")], "does not exist"),
        ([str(tiny_model), data, "--task", "ir"], "unknown task 'ir'"),
        ([str(tiny_model), data, "--label-range", "0,x"], "not a list of numbers"),
        ([str(tiny_model), data, "--loader-arg", "sep"], "is not of the form key=value"),
        ([str(tiny_model), data, "--columns", "sentence1,nope"], "column nope not found"),
    ]:
        result = cli("eval", *args)
        assert result.exit_code == 2, (args, result.output)
        assert message in " ".join(result.stderr.split()), result.stderr
    taken = tmp_path / "taken.json"
    taken.write_text("precious")
    assert cli("eval", str(tiny_model), data, "-o", str(taken)).exit_code == 2
    assert taken.read_text() == "precious"


def test_onnx_backend_scores_like_torch(cli, model_copy, pair_score_files):
    data = pair_score_files["test"]
    scores = {
        name: json.loads(cli("eval", model_copy, data, "--json", "--backend", name).stdout)[str(model_copy)]
        for name in ("torch", "onnx")
    }
    assert all(abs(scores["onnx"][metric] - value) < 1e-4 for metric, value in scores["torch"].items())


def test_a_split_of_a_runs_recipe(cli, tmp_path, tiny_model, recipe_file):
    """sbft eval RUN_DIR dev: the base model beside the run's, on the recipe's dev split."""
    from tests.evaluation.test_score_splits import finished_run

    run = finished_run(tmp_path / "runs" / "tiny", recipe_file(), tiny_model)
    result = cli("eval", run, "dev")
    assert result.exit_code == 0, result.output
    assert "the dev split of sts (dev)" in result.stdout and "sts_spearman_cosine" in result.stdout
    header = next(line for line in result.stdout.splitlines() if "metric" in line)
    assert header.split()[3:-1:2] == [tiny_model.name, "tiny"]  # the base model, then the run
    assert f"data: the dev split of {run / 'recipe.yaml'}" in result.stderr

    any_model = cli("eval", tiny_model, "test", "--recipe", recipe_file(), "--json")
    assert any_model.exit_code == 0 and list(json.loads(any_model.stdout)) == [str(tiny_model)]
    nowhere = cli("eval", tiny_model, "dev")
    assert nowhere.exit_code == 2 and "no recipe says of which data" in nowhere.stderr


def _broken_model(tiny_model, folder, value: float):
    """The tiny BERT with every weight set to `value` and saved: 0 gives constant embeddings, nan NaN ones."""
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(tiny_model))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.fill_(value)
    model.save(str(folder))
    return folder


@pytest.mark.parametrize("weights", ["zeroed", "nan"])
def test_a_model_with_undefined_scores_is_an_error_not_an_empty_table(
    cli, tmp_path, tiny_model, pair_score_files, weights
):
    """Constant or NaN embeddings make every correlation NaN: the metrics show as nan (table and
    JSON, none dropped), a good model beside it keeps its numbers, and the command exits 2 naming the
    broken model, where it used to print an empty table and exit 0."""
    broken = _broken_model(
        tiny_model, tmp_path / f"broken-{weights}", 0.0 if weights == "zeroed" else math.nan
    )
    data = str(pair_score_files["dev"])
    table = cli("eval", str(tiny_model), str(broken), data)
    assert table.exit_code == 2, table.output
    rows = [line.split() for line in table.stdout.splitlines() if "_cosine" in line]
    assert rows and all(row[3] != "nan" and row[5] == "nan" for row in rows)  # | metric | good | broken |
    message = " ".join(table.stderr.split())
    assert "Traceback" not in table.output and message.count("error:") == 1
    assert f"{broken}: every main score of the model is undefined" in message
    assert "Check the model folder" in message
    output = tmp_path / "scores.json"
    result = cli("eval", str(broken), data, "--json", "-o", str(output))
    assert result.exit_code == 2
    written = json.loads(output.read_text(encoding="utf-8"))  # strict JSON: "nan", not a bare NaN
    assert written == json.loads(result.stdout)
    assert written[str(broken)] and set(written[str(broken)].values()) == {"nan"}
