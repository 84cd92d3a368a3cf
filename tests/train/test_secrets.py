"""Secrets read from the environment never reach a file of the run folder (issue 25, case 7): the
recipe, run.json and stdout were redacted, but tensorboard's event files, the checkpoints'
trainer_state.json and training_args.bin, and the model card held the token in clear."""

from __future__ import annotations

import pytest

SECRET = "secret-value-123"
LITERAL = "hf_literal_in_the_recipe"


def test_no_file_of_the_run_folder_holds_a_secret(cli, recipe_file, tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    monkeypatch.setenv("HF_TOKEN", SECRET)
    recipe = recipe_file(
        training__run_name="run-${HF_TOKEN}",
        training__hub_model_id="org/${HF_TOKEN}",
        training__hub_token=LITERAL,
        training__report_to="tensorboard",
        training__max_steps=4,
        training__logging_steps=1,
        training__eval_strategy="steps",
        training__eval_steps=2,
    )
    run = tmp_path / "run"
    result = cli("train", recipe, "-o", run, "--no-smoke", "--keep-checkpoints")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert list((run / "checkpoints").glob("checkpoint-*/training_args.bin"))
    assert SECRET not in result.stdout + result.stderr
    files = [path for path in run.rglob("*") if path.is_file()]
    assert len(files) > 20
    leaks = [
        f"{path.relative_to(run)}: {secret}"
        for path in files
        for secret in (SECRET, LITERAL)
        if secret.encode() in path.read_bytes()
    ]
    assert leaks == [], "\n".join(leaks)


@pytest.mark.parametrize("hub_token", ["${HF_TOKEN}", SECRET])
def test_the_trainers_arguments_keep_the_token_for_use_and_never_write_it(
    recipe_file, monkeypatch, hub_token
):
    """The trainer gets the token to use (hub_token), while what it saves or tracks holds none."""
    import pickle

    from sbft.check import preflight
    from sbft.recipe import load_recipe

    monkeypatch.setenv("HF_TOKEN", SECRET)
    recipe = recipe_file(training__run_name="run-${HF_TOKEN}", training__hub_token=hub_token)
    args = preflight(load_recipe(recipe)).args
    assert args.hub_token == SECRET and args.run_name == "run-${HF_TOKEN}"
    for written in (
        pickle.dumps(args),
        args.to_json_string().encode(),
        str(args.to_sanitized_dict()).encode(),
    ):
        assert SECRET.encode() not in written
    assert pickle.loads(pickle.dumps(args)).hub_token in ("${HF_TOKEN}", "<redacted>")
