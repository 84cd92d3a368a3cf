"""Memory does not grow with the number of trials: each trial trains in a child process, which gives
back everything it allocated when it ends (transformers#31923 is what one process per study would
keep). The process that runs the study must stay flat: RSS after 20 tiny trials <= after 2 + 200 MB."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

pytest.importorskip("optuna")

GROWTH_MB = 200


def resident_mb() -> float:
    """This process's resident set now (not its peak): what it still holds after the trials."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    pytest.skip("no /proc/self/status on this platform")


@pytest.mark.slow
def test_rss_after_20_trials_stays_within_200_mb_of_rss_after_2(recipe_file, tmp_path):
    from sbft.tune import tune

    space = {"training.learning_rate": {"log_uniform": [1.0e-5, 1.0e-3]}}
    recipe = recipe_file(training__num_train_epochs=1, tune={"trials": 20, "space": space})
    out = tmp_path / "study"

    first = tune(recipe, out, trials=2)
    gc.collect()
    after_two = resident_mb()
    rest = tune(recipe, out, trials=18)
    gc.collect()
    after_twenty = resident_mb()

    assert first.summary["trials"] == 2 and rest.summary["trials"] == 20
    assert after_twenty <= after_two + GROWTH_MB, (after_two, after_twenty)
