"""The live path feeds an imported model as its NAME.preprocess.json says (issue 17: "imported models carry what
the live path needs"): a Keras model compiled with --color-order bgr --pixel-range -1,1 gets BGR pixels scaled to
[-1, 1] from make_preprocessor (run, GUI, validate) and from `edgeloop run --model-dir` on the host board, equal to
TFLite Micro on the hand-made input; a model without the file keeps RGB and the range its quantization implies."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgeloop.app.live.input_spec import InputSpecError, parse_image_spec
from edgeloop.app.live.preprocess import make_preprocessor, pixel_range
from edgeloop.models.importers.quant_error import int8_io
from edgeloop.models.reference import run_reference_batch

LABELS = ["a", "b", "c", "d"]
N_IMAGES = 6


def _cli(capsys, *args: str) -> tuple[int, str]:
    from edgeloop.app.cli import main

    capsys.readouterr()
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out + out.err


def _hand_quantized(rgb: np.ndarray, tflite: bytes, lo: float, hi: float, bgr: bool) -> np.ndarray:
    """The int8 input built by hand: channel order, then pixel -> [lo, hi], then the input's scale/zero point."""
    (scale, zero), _ = int8_io(tflite)
    pixels = rgb[..., ::-1] if bgr else rgb
    real = lo + pixels.astype(np.float64) * (hi - lo) / 255.0
    return np.clip(np.round(real / scale) + zero, -128, 127).astype(np.int8)


@pytest.fixture(scope="module")
def bgr_model(sources, tmp_path_factory):
    """(build folder, int8 .tflite bytes, RGB test images, image folder) of net.keras compiled for BGR in [-1, 1]."""
    from edgeloop.app.cli import main

    cv2 = pytest.importorskip("cv2")

    root = tmp_path_factory.mktemp("live-bgr")
    with np.load(sources["calib"]) as calib:
        np.savez(root / "calib_pm1.npz", x=calib["x"] * 2.0 - 1.0, y=calib["y"])  # trained on [-1, 1]
    build = root / "build"
    code = main(["compile", str(sources["keras"]), "--calib", str(root / "calib_pm1.npz"), "--out", str(build),
                 "--name", "bgrnet", "--labels", ",".join(LABELS), "--color-order", "bgr", "--pixel-range=-1,1"])
    assert code == 0
    pre_json = json.loads((build / "bgrnet.preprocess.json").read_text())
    assert pre_json["color_order"] == "bgr" and pre_json["pixel_range"] == [-1.0, 1.0], pre_json
    rng = np.random.default_rng(17)
    images = rng.integers(0, 256, (N_IMAGES, 12, 12, 3), dtype=np.uint8)
    images[..., 0] //= 3  # red dim, blue bright: RGB and BGR orders give clearly different inputs
    folder = root / "images"
    folder.mkdir()
    for i, rgb in enumerate(images):
        cv2.imwrite(str(folder / f"img{i}.png"), np.ascontiguousarray(rgb[..., ::-1]))  # cv2 writes BGR
    return build, (build / "bgrnet.tflite").read_bytes(), images, folder


@pytest.fixture(scope="module")
def host_board(bgr_model):
    from edgeloop.app.link.boards import start_board

    with start_board("host", models=[bgr_model[0] / "bgrnet.c"]) as board:
        yield board


@pytest.fixture(scope="module")
def descriptor(host_board):
    from edgeloop.app.link.session import Session

    with Session(host_board.url) as session:
        return session.connect().models[0]


def test_live_preprocessor_feeds_bgr_in_the_models_range(bgr_model, descriptor):
    build, tflite, images, _ = bgr_model
    pre = make_preprocessor(descriptor, model_dirs=[build])
    assert (pre.color_order, pre.pixel_range) == ("bgr", (-1.0, 1.0))
    for rgb in images:
        view = pre.model_view(rgb)
        assert np.array_equal(view, rgb)  # what the GUI shows stays RGB
        want = _hand_quantized(rgb, tflite, -1.0, 1.0, bgr=True)
        assert pre.encode(view) == want.tobytes()
        assert pre.encode(view) != _hand_quantized(rgb, tflite, -1.0, 1.0, bgr=False).tobytes()


def test_model_folder_from_the_environment(bgr_model, descriptor, monkeypatch):
    """The GUI builds its pipeline without --model-dir: EDGELOOP_MODEL_PATH names the user's folders."""
    build, tflite, images, _ = bgr_model
    monkeypatch.setenv("EDGELOOP_MODEL_PATH", str(build))
    pre = make_preprocessor(descriptor)
    assert pre.encode(images[0]) == _hand_quantized(images[0], tflite, -1.0, 1.0, bgr=True).tobytes()


def test_preprocess_json_wins_over_the_quantization_guess(bgr_model, descriptor, tmp_path):
    """A handwritten range that the quantization would never suggest is applied as written; without the file
    the old behaviour stays: RGB, range inferred from the input quantization."""
    build, tflite, images, _ = bgr_model
    shutil.copy(build / "bgrnet.tflite", tmp_path / "mine.tflite")
    bare = make_preprocessor(descriptor, model_dirs=[tmp_path])
    assert (bare.color_order, bare.pixel_range) == ("rgb", pixel_range(descriptor.input))
    (tmp_path / "mine.preprocess.json").write_text(json.dumps({"pixel_range": [0, 255], "color_order": "rgb"}))
    pre = make_preprocessor(descriptor, model_dirs=[tmp_path])
    assert pre.pixel_range == (0.0, 255.0) != pixel_range(descriptor.input)
    assert pre.encode(images[1]) == _hand_quantized(images[1], tflite, 0.0, 255.0, bgr=False).tobytes()


def test_bad_preprocess_json_is_a_clear_error(tmp_path):
    from edgeloop import EdgeloopError

    with pytest.raises(InputSpecError, match="color_order 'hsv' is not one of rgb, bgr, gray"):
        parse_image_spec({"color_order": "hsv"}, "x.preprocess.json")
    with pytest.raises(InputSpecError, match=r"pixel_range \[1, 0\] needs low < high"):
        parse_image_spec({"pixel_range": [1, 0]}, "x.preprocess.json")
    with pytest.raises(InputSpecError, match="layout 'NCHW'"):
        parse_image_spec({"color_order": "rgb", "layout": "NCHW"}, "x.preprocess.json")
    assert issubclass(InputSpecError, EdgeloopError)
    assert parse_image_spec({"image": {"size": 64, "color": "gray"}}, "zoo") is None  # the zoo's own format


def test_run_on_the_host_board_equals_tflite_micro(bgr_model, host_board, tmp_path, capsys):
    build, tflite, images, folder = bgr_model
    log = tmp_path / "results.csv"
    code, out = _cli(capsys, "run", "--port", host_board.url, "--source", f"images:{folder}?fps=50",
                     "--model-dir", str(build), "--frames", str(N_IMAGES), "--log", str(log), "--quiet")
    assert code == 0, out
    rows = [r for r in csv.DictReader(log.open()) if not r["event"]]
    assert [int(r["capture_index"]) for r in rows] == list(range(N_IMAGES))
    _, (out_scale, out_zero) = int8_io(tflite)
    x = np.stack([_hand_quantized(rgb, tflite, -1.0, 1.0, bgr=True) for rgb in images])
    reference = run_reference_batch(tflite, x).reshape(N_IMAGES, -1)
    want = (reference.astype(np.float64) - out_zero) * out_scale
    got = np.array([[float(r[f"p_{label}"]) for label in LABELS] for r in rows])
    assert np.abs(got - want).max() < 1e-4, (got, want)  # 4 decimals resolve the 1/256 output steps exactly
    assert [int(r["class_index"]) for r in rows] == list(np.argmax(reference, axis=1))


def test_run_names_a_missing_model_folder(tmp_path, capsys):
    code, out = _cli(capsys, "run", "--port", "socket://127.0.0.1:9", "--source", "synthetic:bottles",
                     "--model-dir", str(tmp_path / "nowhere"), "--frames", "1")
    assert code != 0 and "model folder" in out and "nowhere" in out


def test_image_calibration_follows_the_colour_order(tmp_path):
    """Calibrating a BGR model from an image folder quantizes (and scores float vs int8) on BGR pixels, as run
    sends them, not on the RGB order image sets load in."""
    import cv2

    from edgeloop.models.importers.calibration import load_calibration

    rng = np.random.default_rng(5)
    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        for i in range(3):
            cv2.imwrite(str(tmp_path / label / f"{i}.png"), rng.integers(0, 256, (12, 12, 3), dtype=np.uint8))
    rgb = load_calibration(tmp_path, (12, 12, 3), pixel_range=(-1.0, 1.0))
    bgr = load_calibration(tmp_path, (12, 12, 3), pixel_range=(-1.0, 1.0), color_order="bgr")
    assert np.array_equal(bgr.x, rgb.x[..., ::-1]) and not np.array_equal(bgr.x, rgb.x)
    assert list(bgr.y) == list(rgb.y)


def test_validate_reads_images_as_run_feeds_them(bgr_model, descriptor, tmp_path):
    """validate's image data go through the same preprocessor: BGR in [-1, 1] from the file beside --tflite, or
    from the float source's own settings."""
    import cv2

    from edgeloop.app.validate.validator import load_validation_data

    build, tflite, images, _ = bgr_model
    (tmp_path / "a").mkdir()
    for i, rgb in enumerate(images[:3]):
        cv2.imwrite(str(tmp_path / "a" / f"{i}.png"), np.ascontiguousarray(rgb[..., ::-1]))
    want = {f"{i}.png": _hand_quantized(rgb, tflite, -1.0, 1.0, bgr=True).tobytes() for i, rgb in enumerate(images[:3])}
    given = {"color_order": "bgr", "pixel_range": [-1.0, 1.0], "layout": "NHWC"}
    for data in (load_validation_data(tmp_path, descriptor, model_dirs=[build]),
                 load_validation_data(tmp_path, descriptor, preprocess=given)):
        got = {Path(name).name: x for name, x in zip(data.names, data.inputs)}
        assert got == want, sorted(data.names)
