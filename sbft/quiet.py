"""Keep the terminal for sbft's own output: no loader progress bars or library chatter."""

from __future__ import annotations

import sys


def no_progress_bars_in_logs() -> None:
    """No tqdm bar when stderr is a log or a pipe: its carriage returns leave fragments there
    ("Computing widget examples: 0%|" glued to the next line).

    tqdm reads TQDM_DISABLE once, when it is first imported: the program sets it at start-up.
    """
    import os

    if not sys.stderr.isatty():
        os.environ.setdefault("TQDM_DISABLE", "1")


def quiet_libraries() -> None:
    """Keep the terminal for sbft's own output: no loader progress bars or info chatter."""
    import warnings

    no_progress_bars_in_logs()  # for library callers that have not imported tqdm yet
    import datasets
    import transformers

    warnings.filterwarnings("ignore", message=".*'pin_memory' argument is set as true.*")
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
