"""The tiny model loaded once for the library tests of sbft.inference."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def model(tiny_model):
    from sbft.inference import load_encoder

    return load_encoder(str(tiny_model))
