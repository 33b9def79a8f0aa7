"""lra.engine.predictions: the packed per-sample correctness the store keeps for paired tests."""
import numpy as np
import pytest

from lra.engine.predictions import accuracy, pack, unpack


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 500, 10_000])
def test_round_trip(n):
    bits = np.random.default_rng(n).random(n) < 0.7
    text = pack(bits)
    print(f"{n} samples -> {len(text)} characters: {text[:24]}...")
    assert text.startswith(f"{n}:") and np.array_equal(unpack(text), bits)
    if n:
        assert accuracy(text) == bits.mean()


def test_missing_values_read_as_none():
    assert unpack("") is None and unpack(None) is None and unpack(float("nan")) is None


@pytest.mark.parametrize("bad", ["20:AAA=", "x:AA==", "9:!!", "3:/w==", "nocolon"])
def test_malformed_values_are_refused(bad):
    # wrong byte count, bad length, bad base64, bits set past the length, no separator
    with pytest.raises(ValueError):
        unpack(bad)
