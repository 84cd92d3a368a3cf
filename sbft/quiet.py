"""Keep the terminal for sbft's own output: no loader progress bars or library chatter."""

from __future__ import annotations

import sys


def quiet_libraries() -> None:
    """Keep the terminal for sbft's own output: no loader progress bars or info chatter."""
    import os
    import warnings

    if not sys.stderr.isatty():
        os.environ.setdefault("TQDM_DISABLE", "1")  # no carriage-return bars in logs and pipes
    import datasets
    import transformers

    warnings.filterwarnings("ignore", message=".*'pin_memory' argument is set as true.*")
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
