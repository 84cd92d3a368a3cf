"""Running the real CLI in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run_sbft(
    *args: str,
    cwd: Path | None = None,
    timeout: int = 600,
    env: dict | None = None,
    input: str | bytes | None = None,
) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "sbft", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=not isinstance(input, bytes),
        input=input,
        timeout=timeout,
    )
