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


def test_check_prints_a_time_estimate_unless_told_not_to(cli, recipe_file):
    path = recipe_file()
    shown = cli("check", path)
    assert shown.exit_code == 0, shown.output
    assert "estimated time on this machine" in shown.stdout and "  total " in shown.stdout
    quiet = cli("check", path, "--no-estimate")
    assert quiet.exit_code == 0 and "estimated time" not in quiet.stdout


def test_check_smoke_estimates_from_the_smoke_runs_model(cli, recipe_file):
    shown = cli("check", recipe_file(), "--smoke")
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    smoke = next(i for i, line in enumerate(lines) if line.startswith("smoke run: ok"))
    assert "estimated time on this machine" in lines[smoke + 1]
    assert "done" in next(line for line in lines if line.strip().startswith("smoke run  "))
