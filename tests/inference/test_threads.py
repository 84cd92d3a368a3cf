"""sbft.inference.threads: one thread per physical core unless told otherwise."""

from __future__ import annotations

import os

import pytest

from sbft.errors import SbftError
from sbft.inference.threads import physical_cores, thread_count


def test_threads(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert 1 <= physical_cores() <= (os.cpu_count() or 1)
    assert thread_count() == physical_cores() and thread_count(3) == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    assert thread_count() == 5 and thread_count(2) == 2
    with pytest.raises(SbftError, match="--threads must be positive") as error:
        thread_count(0)
    assert error.value.where == "threads"
