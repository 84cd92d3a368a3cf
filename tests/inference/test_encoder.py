"""sbft.inference.encoder: windows of texts to embeddings, as model.encode would give them."""

from __future__ import annotations

import numpy as np
import pytest

from sbft.errors import SbftError
from sbft.inference.encoder import EncodeOptions, Encoder, token_counts
from tests.helpers import sentences


def test_encoder_matches_model_encode(model):
    texts = [*sentences(40, 1), "", "", sentences(1, 1)[0], " ".join(sentences(30, 2))]  # blank, dup, long
    expected = model.encode(texts)
    encoder = Encoder(model, EncodeOptions(batch_size=4), step=8)  # several encode calls per window
    np.testing.assert_allclose(encoder.encode(texts), expected, atol=1e-5)
    assert encoder.count == len(texts)


def test_batches_are_sorted_by_tokens_not_characters(model, monkeypatch):
    """A batch is padded to its most tokens, so sbft sorts by tokens (model.encode sorts by characters)."""
    texts = ["yesterday yesterday", "a a a a a a a"]  # more characters, fewer tokens
    encoder = Encoder(model, EncodeOptions(batch_size=1), step=1)
    assert encoder._token_counts(texts) == [2, 7]
    calls: list[list[str]] = []
    monkeypatch.setattr(encoder, "_encode", lambda batch, **_: calls.append(batch) or model.encode(batch))
    encoder.encode(texts)
    assert calls == [["a a a a a a a"], ["yesterday yesterday"]]  # most tokens first


def test_token_counts_with_special_tokens_and_before_truncation(model):
    """`sbft serve` counts the forward pass's tokens (usage) and refuses over-long texts (--no-truncate)."""
    long = " ".join(sentences(30, 2))
    assert token_counts(model, ["a a a", long]) == [3, model.max_seq_length]
    assert token_counts(model, ["a a a", long], special_tokens=True) == [5, model.max_seq_length]
    untruncated = token_counts(model, ["a a a", long], truncate=False, special_tokens=True)
    assert untruncated[0] == 5 and untruncated[1] > model.max_seq_length


@pytest.mark.parametrize("precision", ["int8", "uint8", "binary", "ubinary"])
def test_quantized_equals_model_encode_within_a_window(model, precision):
    texts = sentences(30, 3)
    expected = model.encode(texts, precision=precision)
    result = Encoder(model, EncodeOptions(precision=precision)).encode(texts)
    assert result.dtype == expected.dtype
    assert (np.abs(result.astype(int) - expected.astype(int)) <= 1).all()  # float noise at bucket edges
    assert (result == expected).mean() > 0.99


def test_int8_ranges_come_from_the_first_window(model):
    from sentence_transformers.util import quantize_embeddings

    texts = sentences(30, 4)
    floats = model.encode(texts)
    encoder = Encoder(model, EncodeOptions(precision="int8"))
    parts = [encoder.encode(texts[:10]), encoder.encode(texts[10:])]
    expected = quantize_embeddings(floats, "int8", calibration_embeddings=floats[:10])
    assert (np.abs(np.concatenate(parts).astype(int) - expected.astype(int)) <= 1).all()
    with pytest.raises(SbftError, match="at least 2 texts"):
        Encoder(model, EncodeOptions(precision="int8")).encode(["alone"])


def test_encode_options(model):
    texts = sentences(6, 5)
    assert Encoder(model, EncodeOptions(truncate_dim=8)).encode(texts).shape == (6, 8)
    normalized = Encoder(model, EncodeOptions(normalize=True)).encode(texts)
    np.testing.assert_allclose(np.linalg.norm(normalized, axis=1), 1, atol=1e-5)
    prompted = Encoder(model, EncodeOptions(prompt="query: ")).encode(texts)
    np.testing.assert_allclose(prompted, model.encode(texts, prompt="query: "), atol=1e-5)
    assert Encoder(model, EncodeOptions(precision="binary")).encode([]).shape == (0, 4)
    for options, message in [
        (EncodeOptions(truncate_dim=64), "larger than the model's 32"),
        (EncodeOptions(prompt_name="passage"), "no prompt named 'passage'"),
        (EncodeOptions(precision="int4"), "unknown precision"),
        (EncodeOptions(prompt="a", prompt_name="b"), "both give a prompt"),
        (EncodeOptions(batch_size=0), "must be positive"),
    ]:
        with pytest.raises(SbftError, match=message):
            Encoder(model, options)


def test_errors_name_the_parameter(model):
    """The library names its parameters; the CLI turns them into flags."""
    for options, where in [
        (EncodeOptions(truncate_dim=64), "truncate_dim"),
        (EncodeOptions(prompt_name="passage"), "prompt_name"),
        (EncodeOptions(precision="int4"), "precision"),
        (EncodeOptions(batch_size=0), "batch_size"),
    ]:
        with pytest.raises(SbftError) as error:
            Encoder(model, options)
        assert error.value.where == where
