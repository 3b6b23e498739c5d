"""Whole models: the committed corpus of random Keras topologies and fresh conversions, 0 differing elements."""

from __future__ import annotations

import json

import pytest
from conftest import FIXTURES

CORPUS = sorted(FIXTURES.glob("random_*.tflite"))


def test_corpus_is_present_and_covers_the_op_set() -> None:
    manifest = json.loads((FIXTURES / "MANIFEST.json").read_text())
    assert len(CORPUS) >= 20 and set(manifest) == {p.name for p in CORPUS}
    ops = set().union(*(set(v["operators"]) for v in manifest.values()))
    for op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "MAX_POOL_2D", "AVERAGE_POOL_2D", "MEAN",
               "ADD", "MUL", "RESHAPE", "SOFTMAX", "LOGISTIC", "PAD", "CONCATENATION", "QUANTIZE", "DEQUANTIZE"):
        assert op in ops, f"no fixture exercises {op}; regenerate with make_fixtures.py"


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_fixture_model_is_bit_exact_with_tflm(path, bit_exact) -> None:
    report = bit_exact(path.read_bytes(), count=3, seed=len(path.name))
    assert report["ref"] == 0 and report["opt"] == 0


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1001, 1010])
def test_fresh_keras_conversion_is_bit_exact(seed: int, bit_exact) -> None:
    from keras_models import random_tflite

    bit_exact(random_tflite(seed), count=3, seed=seed)
