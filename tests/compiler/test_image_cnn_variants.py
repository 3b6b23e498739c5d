"""Every architecture choice of the image CNN (`build_image_cnn`: stem stride, max/average pooling or strided
convs, flatten or global-average head, plain or depthwise-separable blocks, explicit per-layer widths) lowers to
ops our compiler runs bit-exactly against TFLite Micro (reference and optimized kernels on the host)."""

from __future__ import annotations

import numpy as np
import pytest

from edgeloop.models.compiler import compile_bytes

# Four nets that together take every value of every choice once or more (the defaults are the zoo presets').
VARIANTS = {
    "avg_gap_separable_stem1": dict(stem_stride=1, pool="avg", head="gap", block="separable"),
    "stride_flatten_separable": dict(stem_stride=2, pool="stride", head="flatten", block="separable"),
    "max_gap_plain_rgb": dict(stem_stride=2, pool="max", head="gap", block="plain"),
    "stride_gap_plain_widths": dict(stem_stride=1, pool="stride", head="gap", block="plain", widths=[3, 5, 4]),
}
EXPECTED_OPS = {
    "avg_gap_separable_stem1": {"CONV_2D", "AVERAGE_POOL_2D", "DEPTHWISE_CONV_2D", "MEAN", "FULLY_CONNECTED"},
    "stride_flatten_separable": {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"},
    "max_gap_plain_rgb": {"CONV_2D", "MAX_POOL_2D", "MEAN", "FULLY_CONNECTED"},
    "stride_gap_plain_widths": {"CONV_2D", "MEAN", "FULLY_CONNECTED"},
}


def _variant_tflite(name: str) -> bytes:
    from edgeloop.models.design.deploy import _nonzero_biases
    from edgeloop.models.quantize import to_tflite_int8
    from edgeloop.models.train.common import setup_tensorflow
    from edgeloop.models.train.families import build_image_cnn

    setup_tensorflow(5)
    channels = 3 if name.endswith("rgb") else 1
    model = build_image_cnn(16, channels, 4, width=4, depth=2, max_channels=8, **VARIANTS[name])
    _nonzero_biases(model)  # trained-looking batch norms: folded biases and scales that are not trivial
    rep = np.random.default_rng(5).random((64, 16, 16, channels)).astype(np.float32)
    return to_tflite_int8(model, rep, seed=5)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_image_cnn_variant_is_bit_exact_with_tflm(name: str, bit_exact) -> None:
    tflite = _variant_tflite(name)
    ops = {s.op for s in compile_bytes(tflite, name=name).graph.steps}
    assert EXPECTED_OPS[name] <= ops, ops
    if VARIANTS[name]["pool"] == "stride":
        assert not ops & {"MAX_POOL_2D", "AVERAGE_POOL_2D"}, ops
    report = bit_exact(tflite, count=3, seed=13, name=name)
    assert report["ref"] == 0 and report["opt"] == 0


def test_explicit_widths_set_every_conv() -> None:
    from edgeloop.models.train.common import setup_tensorflow
    from edgeloop.models.train.families import build_image_cnn

    setup_tensorflow(0)
    model = build_image_cnn(16, 1, 3, depth=2, widths=[3, 5, 4], block="separable")
    convs = [layer for layer in model.layers if type(layer).__name__ == "Conv2D"]
    assert [c.filters for c in convs] == [3, 5, 4]
