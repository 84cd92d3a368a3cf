"""`sbft check` wiring: exit 0 with the plan, exit 2 with one paragraph; `sbft train` refuses the same
recipe through the real program without a traceback and without writing anything."""

from __future__ import annotations

from tests.helpers import run_sbft


def test_check_prints_the_plan(cli, recipe_file):
    result = cli("check", recipe_file())
    assert result.exit_code == 0, result.stderr
    assert "ok: the run can start" in result.stdout and "epoch" in result.stdout


def test_check_error_is_one_paragraph_with_exit_2(cli, recipe_file):
    result = cli("check", recipe_file(datasets__sts__loss="CosentLoss"))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: datasets.sts.loss.name: unknown loss 'CosentLoss'")
    assert result.stderr.count("\n") == 1


def test_train_refuses_a_bad_recipe_before_writing_anything(recipe_file, tmp_path):
    path = recipe_file(training__learning_rat=1e-5)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = run_sbft("train", str(path), "-o", str(tmp_path / "run"))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "Did you mean 'learning_rate'?" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before
