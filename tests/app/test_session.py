"""Session: handshake, credit window, matching by seq under reordering, timeouts, retries, reconnect."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from edgeloop.app.link.session import (
    DeviceError,
    LinkState,
    RequestTimeout,
    Session,
    UnsupportedVersion,
    failure_of,
)
from edgeloop.app.link.transport import NotAnEdgeloopBoard, PortNotFound
import time

from edgeloop.protocol import DescribeModel, Error, ErrorCode, Infer, Ping, Pong, Result, encode_message

pytestmark = pytest.mark.timeout(60)


def _session(kit, port, **kw) -> Session:
    kw.setdefault("hello_timeout", 1.0)
    return Session("scripted://", opener=kit.opener_for(port), **kw)


def test_handshake_reads_info_and_credit(kit) -> None:
    port = kit.ScriptedPort(credit=3)
    with _session(kit, port) as session:
        info = session.connect()
        assert session.state is LinkState.CONNECTED
        assert info.board == "scripted" and session.credit == 3 and session.max_payload == 4096
        first_seq, first = port.requests[0]
        assert first_seq == 1 and first.host_version == 1


def test_loop_url_is_not_an_edgeloop_board() -> None:
    # loop:// echoes our own HELLO back: frames arrive, but never an INFO.
    session = Session("loop://", hello_timeout=0.6)
    with pytest.raises(NotAnEdgeloopBoard, match="does not speak the edgeloop protocol"):
        session.connect()
    assert session.state is LinkState.FAILED
    session.close()


def test_missing_socket_says_start_the_board() -> None:
    with pytest.raises(PortNotFound, match="start the board"):
        Session("socket://127.0.0.1:9", hello_timeout=0.5).connect()


def test_newer_major_version_is_refused_with_both_versions(kit) -> None:
    port = kit.ScriptedPort(proto_major=2)
    with pytest.raises(UnsupportedVersion, match="protocol 2.*speaks protocol version 1"):
        _session(kit, port).connect()


def test_credit_window_is_never_exceeded_and_results_match_by_seq(kit) -> None:
    port = kit.ScriptedPort(credit=2)
    port.reorder = True  # replies come back pairwise in reverse order
    with _session(kit, port) as session:
        session.connect()
        model = port.models[0]
        inputs = [bytes([v]) * model.input.nbytes for v in (0x80, 0xC0, 0x00, 0x7F, 0x90, 0x10)]
        futures = [session.infer(data) for data in inputs]
        replies = [f.result(timeout=5) for f in futures]
        assert port.max_in_flight_seen <= 2
        for data, reply in zip(inputs, replies):
            assert isinstance(reply.request, Infer) and reply.request.input == data
            assert reply.message.output == kit.fake_classify(model, data)
        # Arrival order was reversed in pairs, yet every future got its own request's reply.
        seqs = [reply.seq for reply in replies]
        assert seqs == sorted(seqs)
        assert session.stats().replies == 6


def test_reordered_replies_fed_straight_into_the_decoder(kit) -> None:
    port = kit.ScriptedPort(credit=4)
    with _session(kit, port) as session:
        session.connect()
        port.mute = True  # from now on the test plays the board
        futures = [session.request(Ping(bytes([i]))) for i in range(4)]
        sent = [seq for seq, msg in port.requests if isinstance(msg, Ping)]
        for seq, payload in reversed(list(zip(sent, range(4)))):
            session.feed(encode_message(Pong(bytes([payload])), seq))
        assert [f.result(timeout=2).message.data for f in futures] == [bytes([i]) for i in range(4)]


def test_timeout_retries_with_new_seq_and_discards_late_reply(kit) -> None:
    port = kit.ScriptedPort()
    first_infer: list[int] = []

    def drop_first_infer(seq, msg):
        if isinstance(msg, Infer) and not first_infer:
            first_infer.append(seq)
            return True
        return False

    port.drop = drop_first_infer
    with _session(kit, port, base_timeout=0.15) as session:
        session.connect()
        data = bytes(port.models[0].input.nbytes)
        reply = session.infer(data).result(timeout=5)
        infer_seqs = [seq for seq, msg in port.requests if isinstance(msg, Infer)]
        assert len(infer_seqs) == 2 and infer_seqs[0] != infer_seqs[1]
        assert reply.attempts == 2 and reply.seq == infer_seqs[1]
        # The board answers the retired seq late: counted, dropped, no crash.
        session.feed(encode_message(Result(0, 1, 0, 0, 0, 0, reply.message.output), infer_seqs[0]))
        stats = session.stats()
        assert stats.retries == 1 and stats.late_replies == 1 and stats.timeouts == 0


def test_request_fails_after_retries_then_link_is_lost_and_reconnected(kit) -> None:
    port = kit.ScriptedPort()
    states: list[LinkState] = []
    with _session(kit, port, base_timeout=0.1, retries=1,
                  on_state=lambda state, detail: states.append(state)) as session:
        session.connect()
        port.drop = lambda seq, msg: isinstance(msg, Infer)
        data = bytes(port.models[0].input.nbytes)
        for _ in range(3):
            with pytest.raises(RequestTimeout, match="after 2 attempts"):
                session.infer(data).result(timeout=5)
        assert kit.wait_for(lambda: LinkState.RECONNECTING in states)
        port.drop = lambda seq, msg: False
        assert kit.wait_for(lambda: session.state is LinkState.CONNECTED and session.stats().reconnects == 1)
        assert session.infer(data).result(timeout=5).message.output


def test_device_error_is_raised_with_its_code(kit) -> None:
    port = kit.ScriptedPort()
    with _session(kit, port) as session:
        session.connect()
        with pytest.raises(DeviceError) as err:
            session.infer(b"\x01\x02").result(timeout=5)
        assert err.value.error.code == ErrorCode.BAD_INPUT_SIZE
        assert session.select_model(0) == 0
        with pytest.raises(DeviceError, match="UNKNOWN_MODEL"):
            session.select_model(7)
        # The board keeps serving after errors.
        assert session.ping() < 1.0


def test_unplug_fails_in_flight_and_reconnects_with_backoff(kit) -> None:
    port = kit.ScriptedPort()
    port.reorder = True  # hold the reply so the request is in flight when the board goes away
    seen: list[tuple[LinkState, str]] = []
    with _session(kit, port, on_state=lambda s, d: seen.append((s, d))) as session:
        session.connect()
        future = session.infer(bytes(port.models[0].input.nbytes))
        port.fail_reads = True
        with pytest.raises(OSError, match="lost"):
            future.result(timeout=5)
        assert kit.wait_for(lambda: session.state is LinkState.CONNECTED and session.stats().reconnects >= 1)
        assert any(state is LinkState.RECONNECTING for state, _ in seen)
        port.reorder = False
        assert session.ping() < 1.0


def test_reconnect_gives_up_after_max_attempts_and_recovers_on_demand(kit) -> None:
    port = kit.ScriptedPort()
    with _session(kit, port, max_reconnects=2, hello_timeout=0.3, max_backoff=0.2) as session:
        session.connect()
        port.mute = True
        port.fail_reads = True
        assert kit.wait_for(lambda: session.state is LinkState.FAILED, timeout=10)
        assert "gave up after 2 attempts" in session.state_detail
        port.mute = False
        session.reconnect()
        assert kit.wait_for(lambda: session.state is LinkState.CONNECTED, timeout=10)


def test_requests_from_many_threads_share_the_credit(kit) -> None:
    port = kit.ScriptedPort(credit=2)
    with _session(kit, port) as session:
        session.connect()
        results: list[bytes] = []

        def worker(i: int) -> None:
            for j in range(10):
                payload = bytes([i, j])
                assert session.request(Ping(payload)).result(timeout=5).message.data == payload
                results.append(payload)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert len(results) == 40 and session.in_flight == 0


def test_stats_and_in_flight_do_not_wait_for_a_slow_write(kit) -> None:
    port = kit.ScriptedPort()
    with _session(kit, port) as session:
        session.connect()
        port.write_delay = 1.0  # every frame takes a second on the wire
        data = bytes(port.models[0].input.nbytes)
        sender = threading.Thread(target=lambda: session.infer(data))
        sender.start()
        time.sleep(0.3)  # the frame is on the wire now
        start = time.monotonic()
        session.stats()
        in_flight = session.in_flight
        assert time.monotonic() - start < 0.2, "stats() and in_flight waited for the frame's wire time"
        assert in_flight == 1
        sender.join()


def test_writes_from_many_threads_go_out_whole_and_in_order(kit) -> None:
    port = kit.ScriptedPort(credit=8)
    with _session(kit, port) as session:
        session.connect()
        port.write_delay = 0.01
        futures: list = []
        lock = threading.Lock()

        def send(tag: int) -> None:
            for i in range(10):
                future = session.request(Ping(bytes([tag, i])))
                with lock:
                    futures.append(future)

        threads = [threading.Thread(target=send, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        replies = [f.result(timeout=10) for f in futures]
        assert all(r.message == Pong(r.request.data) for r in replies)  # every frame arrived intact
        pings = [seq for seq, msg in port.requests if isinstance(msg, Ping)]
        assert pings == sorted(pings), "frames reached the board in the order their seqs were given"


def test_a_later_reply_proves_an_earlier_request_lost(kit) -> None:
    port = kit.ScriptedPort(proto_minor=1)
    dropped: list[int] = []
    port.drop = lambda seq, msg: isinstance(msg, Infer) and not dropped and not dropped.append(seq)
    with _session(kit, port, base_timeout=5.0) as session:
        session.connect()
        data = bytes(port.models[0].input.nbytes)
        start = time.monotonic()
        first, second = session.infer(data), session.infer(data)
        assert second.result(timeout=5).attempts == 1
        reply = first.result(timeout=5)
        assert time.monotonic() - start < 1.0, "the loss was repaired without waiting for the 5 s timeout"
        assert reply.attempts == 2 and reply.seq != dropped[0]
        assert session.stats().lost_by_order == 1


def test_a_1_0_board_is_not_assumed_to_answer_in_order(kit) -> None:
    port = kit.ScriptedPort(credit=2)
    port.reorder = True
    with _session(kit, port) as session:
        session.connect()
        data = bytes(port.models[0].input.nbytes)
        replies = [f.result(timeout=5) for f in [session.infer(data) for _ in range(4)]]
        assert [r.attempts for r in replies] == [1, 1, 1, 1] and session.stats().lost_by_order == 0


def test_round_trip_timeouts_replace_the_fixed_base(kit) -> None:
    port = kit.ScriptedPort(proto_minor=1)
    with _session(kit, port, base_timeout=3.0) as session:
        session.connect()
        data = bytes(port.models[0].input.nbytes)
        for _ in range(10):
            session.infer(data).result(timeout=5)
        dropped: list[int] = []
        port.drop = lambda seq, msg: isinstance(msg, Infer) and not dropped and not dropped.append(seq)
        start = time.monotonic()
        reply = session.infer(data).result(timeout=5)  # the last request in flight: only a timeout can tell
        assert reply.attempts == 2
        assert time.monotonic() - start < 1.0, "the timeout came from round trips of ms, not the 3 s base"


def test_failed_requests_carry_their_real_seq_and_attempts(kit) -> None:
    port = kit.ScriptedPort()
    with _session(kit, port, base_timeout=0.1, retries=1, reconnect=False) as session:
        session.connect()
        port.drop = lambda seq, msg: isinstance(msg, Infer)
        future = session.infer(bytes(port.models[0].input.nbytes))
        with pytest.raises(RequestTimeout) as caught:
            future.result(timeout=5)
        infer_seqs = [seq for seq, msg in port.requests if isinstance(msg, Infer)]
        assert failure_of(caught.value) == (infer_seqs[-1], 2)


def test_an_error_with_seq_0_fails_no_request(kit) -> None:
    port = kit.ScriptedPort()
    logs: list = []
    with _session(kit, port, on_log=logs.append) as session:
        session.connect()
        port.mute = True
        future = session.request(Ping(b"x"), timeout=5.0)
        (seq,) = [s for s, m in port.requests if isinstance(m, Ping)]
        session.feed(encode_message(Error(ErrorCode.FRAME_TOO_LARGE, f"claimed seq {seq}"), 0))
        assert not future.done() and session.stats().device_notices == 1
        assert "FRAME_TOO_LARGE" in logs[-1].text
        session.feed(encode_message(Pong(b"x"), seq))
        assert future.result(timeout=2).message == Pong(b"x")


def test_abridged_descriptors_are_completed_with_describe_model(kit) -> None:
    model = dataclasses.replace(kit.image_model(), input_norm=tuple((i * 0.5, 1.0 + i) for i in range(64)))
    port = kit.ScriptedPort((model,), proto_minor=1, abridge=True)
    assert port.info().models[0].abridged and not port.info().models[0].input_norm
    with _session(kit, port) as session:
        info = session.connect()
        assert info.models[0].encode_body() == port.models[0].encode_body() and not info.models[0].abridged
        assert sum(isinstance(m, DescribeModel) for _, m in port.requests) >= 1


def test_map_yields_outcomes_in_item_order_within_the_credit(kit) -> None:
    port = kit.ScriptedPort(credit=2)
    port.reorder = True
    with _session(kit, port) as session:
        session.connect()
        size = port.models[0].input.nbytes
        items = [bytes([v]) * size for v in (0x80, 0xC0, 0x00, 0x7F, 0x90)]
        outcomes = list(session.map(items, lambda data: Infer(0xFF, data)))
        port.flush_held()
        assert [o.item for o in outcomes] == items and all(o.ok for o in outcomes[:4])
        assert port.max_in_flight_seen <= 2
        assert [o.reply.message.output for o in outcomes if o.ok] == [
            kit.fake_classify(port.models[0], d) for d in items[: sum(o.ok for o in outcomes)]]


def test_map_reports_failures_in_place_and_raises_item_errors_after(kit) -> None:
    port = kit.ScriptedPort()
    size = port.models[0].input.nbytes

    def items():
        yield bytes(size)
        yield bytes(3)  # wrong size: the board refuses it
        yield bytes(size)
        raise ValueError("source broke")

    with _session(kit, port) as session:
        session.connect()
        seen = []
        with pytest.raises(ValueError, match="source broke"):
            for outcome in session.map(items(), lambda data: Infer(0xFF, data)):
                seen.append(outcome)
        assert [o.ok for o in seen] == [True, False, True]
        assert isinstance(seen[1].error, DeviceError) and seen[1].seq > 0 and seen[1].attempts == 1


def test_a_late_reply_to_a_retired_attempt_completes_its_request(kit) -> None:
    port = kit.ScriptedPort()
    with _session(kit, port) as session:
        session.connect()
        port.mute = True  # the test plays a board that answers too slowly for the timeout
        future = session.request(Ping(b"slow"), timeout=0.1)
        assert kit.wait_for(lambda: sum(isinstance(m, Ping) for _, m in port.requests) == 2)
        first, second = [s for s, m in port.requests if isinstance(m, Ping)]
        session.feed(encode_message(Pong(b"slow"), first))  # the first attempt's reply, late
        reply = future.result(timeout=2)
        assert (reply.seq, reply.attempts) == (first, 2) and session.in_flight == 0
        session.feed(encode_message(Pong(b"slow"), second))  # the duplicate's reply: late, dropped
        stats = session.stats()
        assert stats.late_accepted == 1 and stats.late_replies == 1
