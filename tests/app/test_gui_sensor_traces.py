"""The GUI's sensor traces draw any channel count (1-64) with the names the window carries (issue 14)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from edgeloop.app.gui import theme
from edgeloop.app.gui.widgets import QtImuView
from edgeloop.app.live.preprocess import ImuPreprocessor
from edgeloop.app.live.sources.base import IMU_CHANNELS

pytestmark = pytest.mark.timeout(60)


def _titles(view: QtImuView) -> list[str]:
    return [plot.titleLabel.text for plot in view.plots]


def _key(title: str) -> list[tuple[str, str]]:
    """(colour, name) pairs of a title's channel key."""
    return re.findall(r"<span style='color:(#[0-9a-f]+)'>([^<]+)</span>", title)


@pytest.mark.parametrize("names", [("left", "right", "z"), tuple(f"emg{i}" for i in range(9))])
def test_an_n_channel_window_draws_every_curve_named_in_one_plot(qtbot, names):
    view = QtImuView()
    qtbot.addWidget(view)
    samples = np.random.default_rng(0).normal(size=(50, len(names))).astype(np.float32)
    view.set_samples(samples, 25.0, names)
    assert len(view.plots) == 1 and len(view.curves) == len(names)
    assert [c.name() for c in view.curves] == list(names)
    for i, curve in enumerate(view.curves):
        x, y = curve.getData()
        np.testing.assert_allclose(y, samples[:, i])
        assert x[-1] == pytest.approx(49 / 25.0)
    # The key is in the title (outside the plot area), each name in its curve's colour.
    key = _key(_titles(view)[0])
    assert [n for _, n in key] == list(names)
    assert [c for c, _ in key] == [c.opts["pen"].color().name() for c in view.curves]
    assert view.plots[0].legend is None  # no legend box over the traces
    assert len(set(c for c, _ in key)) == min(len(names), len(theme.SERIES))


def test_the_classic_six_keep_the_accelerometer_and_gyroscope_plots(qtbot):
    view = QtImuView()
    qtbot.addWidget(view)
    view.set_samples(np.arange(60, dtype=np.float32).reshape(10, 6))
    assert len(view.plots) == 2 and [c.name() for c in view.curves] == list(IMU_CHANNELS)
    accel, gyro = _titles(view)
    assert accel.startswith("accelerometer (g)") and [n for _, n in _key(accel)] == ["ax", "ay", "az"]
    assert gyro.startswith("gyroscope (dps)") and [n for _, n in _key(gyro)] == ["gx", "gy", "gz"]
    np.testing.assert_allclose(view.curves[5].getData()[1], np.arange(10) * 6 + 5)
    # Switching to another channel set and back rebuilds the plots each time.
    view.set_samples(np.zeros((10, 3)), channels=("a", "b", "c"))
    assert len(view.plots) == 1 and len(view.curves) == 3
    view.set_samples(np.zeros((10, 6)), channels=IMU_CHANNELS)
    assert len(view.plots) == 2 and len(view.curves) == 6


def test_unnamed_and_out_of_range_windows(qtbot):
    view = QtImuView()
    qtbot.addWidget(view)
    view.set_samples(np.zeros((8, 4)))
    assert [c.name() for c in view.curves] == ["ch0", "ch1", "ch2", "ch3"]
    view.set_samples(np.zeros((8, 64)))
    assert len(view.curves) == 64
    with pytest.raises(ValueError, match="1 to 64 channels"):
        view.set_samples(np.zeros((8, 65)))


def test_the_preprocessor_names_the_columns_of_its_windows():
    """The names the GUI draws are the model's channels picked out of the source's, in the model's order."""
    import hashlib

    from edgeloop.app.live.sources.base import ImuSamples
    from edgeloop.protocol import DType, InputKind, ModelDescriptor, TensorDesc

    model = ModelDescriptor(
        name="two", hash=hashlib.sha256(b"two").digest(), macc=10, flash_bytes=64, ram_bytes=64,
        input_kind=InputKind.IMU_WINDOW, input=TensorDesc(DType.INT8, (1, 4, 2), 1 / 32, 0),
        output=TensorDesc(DType.INT8, (1, 2), 1 / 256, -128), labels=("x", "y"), sample_rate_hz=25, window=4, hop=4)
    pre = ImuPreprocessor(model, channel_names=("c", "a"))
    assert pre.view_channels is None
    out = pre.process(ImuSamples(np.arange(24, dtype=np.float32).reshape(8, 3), 0.0, 0, rate_hz=25.0,
                                 channels=("a", "b", "c")))
    assert pre.view_channels == ("c", "a") and out[0].view.shape == (4, 2)
    np.testing.assert_allclose(out[0].view[:, 0], np.arange(24).reshape(8, 3)[:4, 2])
