"""Deploying over the GUI's session: Cancel stops queuing chunks and commits nothing; after a refused
commit or an erase the session's INFO (and its listener, the GUI's model list) is read again, so no model
the board has emptied stays listed (issue 19, SPEC §9.8)."""

from __future__ import annotations

import dataclasses

import pytest

import edgeloop
from edgeloop.app.link.deploy import DeployCancelled, DeployError, deploy_over_session, load_container
from edgeloop.app.link.firmware_build import TEST_MODELS
from edgeloop.app.link.session import Session
from edgeloop.app.validate.loop import deploy_container, erase_slot
from edgeloop.protocol import Hello
from edgeloop.protocol.upload import SlotState, UploadChunk, UploadCommit

pytestmark = pytest.mark.timeout(120)

ZOO = edgeloop.PACKAGE_ROOT / "models" / "zoo"
SLOT0_ID, SLOT1_ID = 3, 4  # the test models are 0..2


@pytest.fixture(scope="module")
def board(host_board_factory):
    board = host_board_factory(target="host", models=list(TEST_MODELS))
    try:
        yield board
    finally:
        board.stop()


class _Spy:
    """Wraps a Session's request(): records what is sent, and may corrupt one upload chunk on the way."""

    def __init__(self, session: Session, corrupt_offset: int | None = None) -> None:
        self.sent: list[object] = []
        self.corrupt_offset = corrupt_offset
        self._request = session.request
        session.request = self  # type: ignore[method-assign]

    def __call__(self, message, **kwargs):  # noqa: ANN001, ANN204
        if isinstance(message, UploadChunk) and message.offset == self.corrupt_offset:
            message = dataclasses.replace(message, data=bytes(b ^ 0xFF for b in message.data))
        self.sent.append(message)
        return self._request(message, **kwargs)


def _connected(board, infos: list) -> Session:  # noqa: ANN001
    session = Session(board.url, on_info=infos.append)
    session.connect()
    return session


def test_cancel_stops_queuing_chunks_commits_nothing_and_a_later_upload_resumes(board) -> None:
    container = load_container(ZOO / "bottles_tiny" / "bottles_tiny.tflite")
    acked: list[int] = []
    with _connected(board, []) as session:
        spy = _Spy(session)
        with pytest.raises(DeployCancelled, match="nothing was committed"):
            deploy_over_session(session, container, slot=0, chunk_bytes=1024,
                                progress=lambda done, total: acked.append(done), cancelled=lambda: len(acked) >= 3)
        chunks = [m for m in spy.sent if isinstance(m, UploadChunk)]
        total = -(-len(container) // 1024)
        assert 2 <= len(chunks) < total, "the cancel stopped queuing well before the last chunk"
        assert not any(isinstance(m, UploadCommit) for m in spy.sent)
        assert len(acked) == len(chunks), "every chunk in flight finished and was acknowledged"
        fresh = session.request(Hello()).result().message
        assert fresh.slots[0].state == SlotState.RECEIVING and fresh.model_by_id(SLOT0_ID) is None
        assert fresh.active_model == 0  # the active model was never touched
        # The same upload again resumes with the chunks the board kept.
        result = deploy_over_session(session, container, slot=0, chunk_bytes=1024)
        assert result.resumed_chunks == len(chunks) and result.model_id == SLOT0_ID
        erase_slot(session, 0)


def test_a_refused_commit_and_an_erase_re_read_the_board_info(board) -> None:
    tiny = load_container(ZOO / "bottles_tiny" / "bottles_tiny.tflite")
    infos: list = []
    with _connected(board, infos) as session:
        done = deploy_container(session, tiny, slot=1)
        assert done.model_id == SLOT1_ID and session.info.model_by_id(SLOT1_ID).name == "bottles_tiny"
        assert infos[-1].model_by_id(SLOT1_ID) is not None  # the listener (the GUI's model list) was told
        session.select_model(0)
        # A new upload into slot 1 empties it at UPLOAD_BEGIN; a corrupted chunk makes the commit fail.
        _Spy(session, corrupt_offset=0)
        with pytest.raises(DeployError, match="sha256 of the received bytes differs"):
            deploy_container(session, tiny, slot=1)
        assert session.info.model_by_id(SLOT1_ID) is None, "the emptied slot's model is still listed"
        assert infos[-1].model_by_id(SLOT1_ID) is None and infos[-1].active_model == 0
        # Deploy again (no corruption), then erase: the model leaves the list everywhere.
        session.request = Session.request.__get__(session)  # type: ignore[method-assign]
        deploy_container(session, tiny, slot=1)
        assert session.info.active_model == SLOT1_ID
        info = erase_slot(session, 1)
        assert info is session.info and infos[-1] is info
        assert info.model_by_id(SLOT1_ID) is None and info.active_model == 0


def test_a_select_between_the_slot_choice_and_the_upload_makes_the_deploy_choose_again(board) -> None:
    """The window streams and SELECTs on its own: when a SELECT lands between the INFO a deploy chose its slot
    from and its UPLOAD_BEGIN, that slot may now hold the active model (SLOT_BUSY). A deploy that chose the slot
    itself reads INFO again and takes the other slot, instead of failing; an explicit --slot is refused as
    before."""
    tiny = load_container(ZOO / "bottles_tiny" / "bottles_tiny.tflite")
    with _connected(board, []) as session:
        deploy_container(session, tiny, slot=0)
        deploy_container(session, tiny, slot=1)
        session.select_model(SLOT0_ID)  # slot 0 serves: an automatic deploy chooses slot 1
        original = session.request

        def select_after_hello(message, **kwargs):  # noqa: ANN001, ANN202
            reply = original(message, **kwargs)
            if isinstance(message, Hello) and not selected:
                reply.result()
                selected.append(session.select_model(SLOT1_ID))  # the window's SELECT, just in between
            return reply

        selected: list[int] = []
        session.request = select_after_hello  # type: ignore[method-assign]
        result = deploy_over_session(session, tiny)
        assert selected == [SLOT1_ID] and result.model_id == SLOT0_ID  # slot 0: the one not serving now
        selected.clear()
        session.select_model(SLOT0_ID)
        with pytest.raises(DeployError, match="holds the active model"):
            deploy_over_session(session, tiny, slot=1)  # the user's own slot: no second choice
        session.request = original  # type: ignore[method-assign]
        erase_slot(session, 0)
        erase_slot(session, 1)
