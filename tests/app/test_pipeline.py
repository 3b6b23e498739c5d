"""Pipeline: records, IMU windows end to end, model switching, failures, live-source dropping."""

from __future__ import annotations

import time

import numpy as np
import pytest

from edgeloop.app.live.pipeline import Pipeline
from edgeloop.app.link.session import Session
from edgeloop.app.live.sources import open_source
from edgeloop.app.live.sources.base import END, Source
from edgeloop.protocol import Infer

pytestmark = pytest.mark.timeout(60)


def _session(kit, port) -> Session:
    session = Session("scripted://", opener=kit.opener_for(port), base_timeout=0.2, retries=0)
    session.connect()
    return session


def test_records_carry_class_timing_and_truth(kit) -> None:
    port = kit.ScriptedPort()
    with _session(kit, port) as session:
        pipe = Pipeline(open_source("synthetic:bottles?fps=0&frames=6"), session)
        records = list(pipe.records(timeout=30))
    assert len(records) == 6 and pipe.stats.results == 6 and pipe.stats.dropped_captures == 0
    for r in records:
        assert r.ok and r.label in kit.LABELS and r.confidence == pytest.approx(0.9, abs=0.01)
        assert sum(r.probabilities) == pytest.approx(1.0, abs=0.02) and r.labels == kit.LABELS
        assert r.ticks["t_infer"] == 250_000 + 10 * r.seq and r.timing_label == "host clock"
        assert r.meta["label"] in ("full", "half", "low", "empty", "no_bottle")
        assert r.frame.shape == (96, 96, 3) and r.view.shape == (8, 8, 1)
    # Brightness decides the scripted class: the record's class is the one of its own frame.
    for r in records:
        mean = r.view.mean() / 255
        assert r.class_index == min(2, int(mean * 3 + 1e-9)) or abs(mean * 3 - round(mean * 3)) < 0.02


class _ImuRamp(Source):
    """Finite IMU source: az = 1 g for the first 200 samples, then 0 g."""

    kind = "imu"

    def __init__(self) -> None:
        super().__init__(name="ramp")
        self.sent = 0

    def _read_internal(self, timeout):
        if self.sent >= 400:
            return END
        az = 1.0 if self.sent < 200 else 0.0
        self.sent += 25
        chunk = np.zeros((25, 6), np.float32)
        chunk[:, 2] = az
        return self._imu(chunk, 50.0)


def test_imu_windows_flow_to_the_board(kit) -> None:
    port = kit.ScriptedPort((kit.imu_model(window=20, hop=10, rate=50),))
    with _session(kit, port) as session:
        records = list(Pipeline(_ImuRamp(), session).records(timeout=30))
    assert len(records) == (400 - 20) // 10 + 1
    assert records[0].label == "high" and records[-1].label == "low"
    assert all(r.view.shape == (20, 6) for r in records)
    sent = [msg for _, msg in port.requests if isinstance(msg, Infer)]
    assert all(len(msg.input) == 120 for msg in sent)


def test_model_switch_between_inputs(kit) -> None:
    port = kit.ScriptedPort((kit.image_model("a"), kit.image_model("b", size=4)))
    with _session(kit, port) as session:
        pipe = Pipeline(open_source("synthetic:bottles?fps=60"), session)
        seen = []
        for record in pipe.records(timeout=30):
            seen.append(record.model_index)
            if len(seen) == 3:
                pipe.select_model("b")
            if len(seen) >= 12:
                break
        pipe.stop()
    assert seen[0] == 0 and seen[-1] == 1
    assert seen == sorted(seen)  # never back to the old model once switched
    with pytest.raises(ValueError, match="has no model 'c'"):
        pipe.select_model("c")


def test_failed_requests_become_error_records(kit) -> None:
    port = kit.ScriptedPort()
    port.drop = lambda seq, msg: isinstance(msg, Infer) and seq % 2 == 0
    with _session(kit, port) as session:
        records = list(Pipeline(open_source("synthetic:bottles?fps=0&frames=6"), session).records(timeout=30))
    failed = [r for r in records if not r.ok]
    assert len(records) == 6 and 1 <= len(failed) <= 3
    assert all("no reply" in r.error and r.class_index == -1 for r in failed)
    # A failed row carries the real attempts and the seq of its last (dropped, so even) attempt.
    assert all(r.attempts == 1 and r.seq > 0 and r.seq % 2 == 0 for r in failed), failed  # retries=0
    assert [r.capture_index for r in records] == sorted(r.capture_index for r in records), "capture order"


def test_source_and_model_kinds_must_match(kit) -> None:
    with _session(kit, kit.ScriptedPort()) as session:
        with pytest.raises(ValueError, match="takes image input but source"):
            Pipeline(open_source("synthetic:imu"), session)
        with pytest.raises(ValueError, match="has no model 5; it has: 0 brightness"):
            Pipeline(open_source("synthetic:bottles"), session, model=5)


class _FastLiveCamera(Source):
    """A live source at ~200 fps: faster than the link below."""

    live = True

    def _read_internal(self, timeout):
        time.sleep(0.005)
        return self._image(np.full((8, 8, 1), 128, np.uint8))


def test_live_source_drops_stale_frames_instead_of_lagging(kit) -> None:
    port = kit.ScriptedPort()
    port.write_delay = 0.03  # about 30 inputs/s over the link, against 200 frames/s from the camera
    with _session(kit, port) as session:
        pipe = Pipeline(_FastLiveCamera(), session)
        records = []
        for record in pipe.records(timeout=1.5):
            records.append(record)
        pipe.stop()
    assert pipe.stats.dropped_captures > pipe.stats.inputs_sent
    # Latency stays bounded: frames are the newest available, not a growing queue.
    assert max(r.latency_s for r in records if r.ok) < 0.5


def test_polling_consumers_get_every_record_then_none(kit) -> None:
    with _session(kit, kit.ScriptedPort()) as session:
        pipe = Pipeline(open_source("synthetic:bottles?fps=0&frames=5"), session).start()
        got, deadline = [], time.monotonic() + 20
        while len(got) < 5 and time.monotonic() < deadline:
            record = pipe.get(timeout=0.2)
            if record is not None:
                got.append(record)
        assert sorted(r.capture_index for r in got) == list(range(5))
        assert kit.wait_for(lambda: pipe.finished, timeout=10)
        assert pipe.get(timeout=0.1) is None and list(pipe.records(timeout=1)) == []


def test_an_unwritable_results_log_is_a_one_line_user_error(kit, tmp_path) -> None:
    from edgeloop import ResourceError
    from edgeloop.app.live.runner import run_headless

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    port = kit.ScriptedPort()
    with _session(kit, port) as session:
        pipe = Pipeline(open_source("synthetic:bottles?fps=0&frames=2"), session)
        with pytest.raises(ResourceError, match="a-file"):
            run_headless(pipe, log_path=blocker / "results.csv")
        pipe.stop()


def test_imu_end_to_end_latency_is_never_negative(kit) -> None:
    """A chunk's last sample is taken when the chunk arrives, not (N-1)/rate later (issue 15, item 6)."""
    port = kit.ScriptedPort((kit.imu_model(window=20, hop=10, rate=50),))
    with _session(kit, port) as session:
        pipe = Pipeline(open_source("synthetic:imu"), session)
        records = list(pipe.records(limit=8, timeout=30))
        pipe.stop()
    assert len(records) == 8
    assert min(r.latency_s for r in records) >= 0, [round(r.latency_s * 1e3, 1) for r in records]
