"""`edgeloop dataset import`: every importer on committed fixtures, splits, bad input, sources untouched."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgeloop.models.data.ingest import DataImportError, import_sources
from edgeloop.models.data.recording import Recording, RecordingError, find_recordings, read_recording, write_recording
from edgeloop.models.data.splits import assign_splits

FIX = Path(__file__).parent / "fixtures" / "ingest"


def _digest(root: Path) -> dict[str, str]:
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def _splits(out: Path) -> dict[str, set[str]]:
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    return {s: {r.get("subject") or r["source"] for r in rows if r["split"] == s} for s in ("train", "val", "test")}


@pytest.mark.parametrize("src, kwargs, channels, rate, counts", [
    ("plain_csv", {}, ["acc_x", "acc_y"], 50, {"train": 6, "val": 3, "test": 3}),
    ("edge_impulse", {}, ["accX", "accY", "accZ"], 62.5, None),
    ("wide", {"rate": 20}, ["x", "y"], 20, {"train": 6, "val": 3, "test": 3}),
    ("cases.npz", {"rate": 10}, ["gx", "gy"], 10, {"train": 9, "val": 3, "test": 6}),
    ("uea", {"rate": 10}, ["dim0", "dim1"], 10, {"train": 9, "val": 3, "test": 6}),
])
def test_each_importer_writes_canonical_recordings(src: str, kwargs: dict, channels: list[str], rate: float,
                                                   counts: dict | None, tmp_path: Path) -> None:
    before = _digest(FIX / src)
    summary = import_sources([FIX / src], tmp_path / "out", **kwargs)
    assert _digest(FIX / src) == before, "the importer modified its source"
    assert summary["channels"] == channels and summary["rate_hz"] == rate
    assert summary["labels"] == ["circle", "idle", "wave"] and summary["notes"]
    info = json.loads((tmp_path / "out" / "dataset.json").read_text())
    assert info["format"] == "edgeloop-timeseries-set v1"
    if counts:
        assert {s: sum(c.values()) for s, c in info["counts"].items()} == counts
    recs = [read_recording(p) for p in find_recordings([tmp_path / "out"])]
    assert all(r.channels == tuple(channels) and r.rate_hz == rate and r.meta["split"] in ("train", "val", "test")
               for r in recs)


def test_uea_splits_come_from_file_names_and_val_from_train_only(tmp_path: Path) -> None:
    import_sources([FIX / "uea"], tmp_path / "out", rate=10)
    splits = _splits(tmp_path / "out")
    assert all("Toy_TEST" in s for s in splits["test"]) and len(splits["test"]) == 6
    assert all("Toy_TRAIN" in s for s in splits["val"] | splits["train"])


def test_plain_csv_keeps_subjects_whole(tmp_path: Path) -> None:
    """Cases of one subject never straddle splits; the test folder is exactly the test split."""
    import_sources([FIX / "plain_csv"], tmp_path / "out")
    splits = _splits(tmp_path / "out")
    assert splits["test"] == {"s4"} and len(splits["val"]) == 1 and not splits["val"] & splits["train"]


def test_edge_impulse_label_and_fractional_rate(tmp_path: Path) -> None:
    summary = import_sources([FIX / "edge_impulse"], tmp_path / "out")
    assert summary["rate_hz"] == 62.5
    assert any("label 'wave' for the whole file" in n for n in summary["notes"])
    assert "# rate_hz: 62.5" in next((tmp_path / "out" / "train").glob("*.csv")).read_text()


def test_images_natural_order_and_label_file(tmp_path: Path) -> None:
    summary = import_sources([FIX / "digits"], tmp_path / "out")
    assert summary["labels"] == ["1", "2", "10"] and summary["size"] == [8, 8]
    info = json.loads((tmp_path / "out" / "dataset.json").read_text())
    assert info["labels"] == ["1", "2", "10"]
    order = tmp_path / "order.txt"
    order.write_text("10\n2\n1\n")
    assert import_sources([FIX / "digits"], tmp_path / "o2", label_order=order)["labels"] == ["10", "2", "1"]
    order.write_text("10\n2\n")
    with pytest.raises(DataImportError, match="list every class"):
        import_sources([FIX / "digits"], tmp_path / "o3", label_order=order)


def _rec(label: str, n: int = 40, split: str | None = None, name: str = "r", subject: str | None = None) -> Recording:
    meta = {"file": name}
    if split:
        meta["split"] = split
    if subject:
        meta["subject"] = subject
    return Recording(np.arange(n) / 10, np.random.default_rng(len(name)).normal(size=(n, 2)),
                     np.array([label] * n, dtype=object), 10.0, meta, ("a", "b"))


def test_partial_split_metadata_is_refused_listing_the_files() -> None:
    """Old behaviour: one file without `# split:` made every split line silently ignored and a random split
    mixed test recordings into training."""
    recs = [_rec(c, split="train", name=f"tr_{c}{i}") for c in "xy" for i in range(3)]
    recs += [_rec("x", split="test", name="te_x"), _rec("y", name="te_y_forgot_split")]
    with pytest.raises(RecordingError, match=r"1 of 8 recordings have no split.*te_y_forgot_split.*--ignore-split"):
        assign_splits(recs, seed=0)
    pairs = assign_splits(recs, seed=0, ignore_split=True)
    assert {s for _, s in pairs} == {"train", "val", "test"}


def test_no_leakage_val_from_train_only_and_windows_never_cross(tmp_path: Path) -> None:
    """Train + test without val: val is carved from train recordings (old behaviour: 'record longer
    sessions'), test recordings stay test, and no recording gives windows to two splits."""
    from edgeloop.models.train.timeseries import cut_split
    from edgeloop.models.features import FeatureSet

    recs = [_rec(c, split="train", name=f"tr_{c}{i}") for c in "xy" for i in range(4)]
    recs += [_rec(c, split="test", name=f"te_{c}{i}") for c in "xy" for i in range(2)]
    pairs = assign_splits(recs, seed=1)
    by = {s: {r.name for r, sp in pairs if sp == s} for s in ("train", "val", "test")}
    assert by["test"] == {"te_x0", "te_x1", "te_y0", "te_y1"}
    assert by["val"] and all(n.startswith("tr_") for n in by["val"]) and not by["val"] & by["train"]
    assert {r.meta["file"] for r, _ in pairs if True} == {r.meta["file"] for r in recs}
    groups = {}
    first = 0
    for split in ("train", "val", "test"):
        pieces = [r for r, s in pairs if s == split]
        w = cut_split(pieces, 16, 8, ["x", "y"], lambda s: s or None, FeatureSet(), False, first)
        groups[split] = set(w.group.tolist())
        assert (w.start + 16 <= 40).all()
        first += len(pieces)
    assert not (groups["train"] & groups["val"]) and not (groups["train"] & groups["test"])


def test_cli_import_prints_what_it_inferred(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from edgeloop.app.cli import main

    assert main(["dataset", "import", str(FIX / "uea"), "--rate", "10", "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "inferred: Toy_TRAIN.ts: UEA/UCR .ts" in out and "labels (output order): circle, idle, wave" in out
    assert "test: 6 recordings" in out


def _write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    folder = tmp_path / "src"
    folder.mkdir(exist_ok=True)
    p = folder / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return p


GOOD = "t,a,b,label\n" + "".join(f"{i / 10},{i},{-i},{'x' if i < 5 else 'y'}\n" for i in range(10))


@pytest.mark.parametrize("text, kwargs, match", [
    (GOOD.replace("0.3,3,-3,x", "0.3,3,x"), {}, r"r\.csv:5: 3 fields where the header has 4"),
    (GOOD.replace("0.3,3,-3,x", "0.3,three,-3,x"), {}, r"r\.csv:5: column 'a' holds 'three', not a number"),
    (GOOD.replace("0.3,3,-3,x", "0.3,nan,-3,x"), {}, r"r\.csv:5: column 'a' holds 'nan' \(NaN or infinite\)"),
    (GOOD.replace("0.3,3,-3,x", "0.3,inf,-3,x"), {}, r"NaN or infinite"),
    (GOOD.replace(",label", ",kind"), {}, r"no label column .*\['t', 'a', 'b', 'kind'\].*--label-column"),
    (GOOD.replace("0.3,3", "0.1,3"), {}, r"r\.csv:5: timestamp .* does not increase"),
    (GOOD.replace(",", "~"), {}, r"cannot tell the delimiter.*--delimiter"),
    ("t,a,label\n".encode() + b"0,1,caf\xe9\n", {}, r"r\.csv:2: not UTF-8 text.*--encoding"),
    (GOOD.replace("t,", "q,"), {}, r"no timestamp column .*--rate"),
])
def test_bad_input_names_file_line_and_fix(text: str | bytes, kwargs: dict, match: str, tmp_path: Path) -> None:
    src = _write(tmp_path, "r.csv", text)
    with pytest.raises(DataImportError, match=match):
        import_sources([src], tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_class_counts_and_rates_are_checked(tmp_path: Path) -> None:
    one_class = GOOD.replace(",y", ",x")
    for i in range(3):
        _write(tmp_path, f"r{i}.csv", one_class)
    with pytest.raises(DataImportError, match=r"at least 2 classes to train a classifier, found \['x'\]"):
        import_sources([tmp_path / "src"], tmp_path / "out")
    shutil.rmtree(tmp_path / "src")
    for i in range(3):
        _write(tmp_path, f"r{i}.csv", GOOD.replace(",y", ",x"))
    _write(tmp_path, "lonely.csv", GOOD.replace(",x", ",z").replace(",y", ",z"))
    with pytest.raises(DataImportError, match=r"fewer than 2 recordings: 'z' only in .*lonely\.csv"):
        import_sources([tmp_path / "src"], tmp_path / "out")
    shutil.rmtree(tmp_path / "src")
    for i in range(4):
        _write(tmp_path, f"r{i}.csv", GOOD)
    _write(tmp_path, "fast.csv", "t,a,b,label\n" + "".join(f"{i / 20},{i},{-i},{'x' if i < 5 else 'y'}\n"
                                                           for i in range(10)))
    with pytest.raises(DataImportError, match=r"different sample rates: 20 Hz .*fast.csv.*10 Hz .*--resample"):
        import_sources([tmp_path / "src"], tmp_path / "out")
    summary = import_sources([tmp_path / "src"], tmp_path / "out", resample=10.0)
    assert summary["rate_hz"] == 10.0


def test_v2_recording_round_trip_and_cases(tmp_path: Path) -> None:
    rec = Recording(np.array([0, 0.1, 0.2, 0.0, 0.1]), np.arange(10, dtype=np.float32).reshape(5, 2),
                    np.array(["a", "a", "a", "b", "b"], dtype=object), 10.0, {"subject": "s1"}, ("left", "right"),
                    {"left": "mV"}, np.array(["c1", "c1", "c1", "c2", "c2"], dtype=object))
    write_recording(tmp_path / "r.csv", rec)
    back = read_recording(tmp_path / "r.csv")
    assert back.channels == ("left", "right") and back.units == {"left": "mV"} and back.meta["subject"] == "s1"
    assert [len(c) for c in back.cases()] == [3, 2] and back.cases()[1].meta["case"] == "c2"
    text = (tmp_path / "r.csv").read_text().replace("0.100000,8,9,b,c2", "0.000000,8,9,b,c2")
    (tmp_path / "bad.csv").write_text(text)
    with pytest.raises(RecordingError, match="time does not increase"):
        read_recording(tmp_path / "bad.csv")


def test_train_refuses_partial_split_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`edgeloop train` on v1 files where one lacks `# split:` (old behaviour: the split lines were all ignored
    silently and a random split mixed the test recordings into training)."""
    from edgeloop.app.cli import main
    from edgeloop.models.data.imu_csv import ImuRecording, write_imu_csv

    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i, split in enumerate(["train", "train", "train", "test", None]):
        labels = np.array(["still"] * 300 + ["walking"] * 300, dtype=object)
        meta = {"split": split} if split else {}
        write_imu_csv(data / f"s{i}.csv", ImuRecording(np.arange(600) / 100, rng.normal(size=(600, 6)), labels, 100,
                                                       meta))
    code = main(["train", "--task", "imu", "--data", str(data), "--out", str(tmp_path / "m"), "--no-progress"])
    err = capsys.readouterr().err
    assert code != 0 and "1 of 5 recordings have no split" in err and "s4.csv" in err
