"""The call's raw ASGI socket (``live.socket.CallSocket``): frames go out in order with no task per
frame when the server's send does not suspend, and still in order when it does."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

import pytest

from vatel.server.live.socket import CallSocket

pytestmark = pytest.mark.unit


class Server:
    """An ASGI server side whose ``send`` suspends while ``gate`` is closed, or raises once
    ``broken`` (as uvicorn does when the client has gone)."""

    def __init__(self) -> None:
        self.sent: list[Any] = []
        self.gate: asyncio.Event | None = None
        self.broken = False
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def receive(self) -> dict[str, Any]:
        return await self.inbox.get()

    async def send(self, message: MutableMapping[str, Any]) -> None:
        if self.broken:
            raise OSError("client gone")
        if self.gate is not None:
            await self.gate.wait()
        self.sent.append(message.get("text", message))


async def test_a_send_that_does_not_suspend_is_done_when_send_returns() -> None:
    server = Server()
    socket = CallSocket(server.receive, server.send)
    socket.send(b'{"n":1}')
    socket.send(b'{"n":2}')
    assert server.sent == ['{"n":1}', '{"n":2}']  # no await in between: no task was needed
    assert socket.queued == 0


async def test_frames_behind_a_suspended_send_wait_and_go_out_in_order() -> None:
    server = Server()
    server.gate = asyncio.Event()
    socket = CallSocket(server.receive, server.send)
    for n in range(5):
        socket.send(f'{{"n":{n}}}'.encode())
    assert server.sent == []
    assert socket.queued == 4
    server.gate.set()
    await asyncio.sleep(0)
    for _ in range(10):
        await asyncio.sleep(0)
    assert server.sent == [f'{{"n":{n}}}' for n in range(5)]
    socket.send(b'{"n":5}')  # the queue is empty again: straight through
    assert server.sent[-1] == '{"n":5}'


async def test_close_waits_for_the_queued_frames_then_closes_with_the_code() -> None:
    server = Server()
    server.gate = asyncio.Event()
    socket = CallSocket(server.receive, server.send)
    socket.send(b"a")
    socket.send(b"b")
    closing = asyncio.ensure_future(socket.close(1000))
    await asyncio.sleep(0.01)
    assert not closing.done()
    server.gate.set()
    await asyncio.wait_for(closing, 5)
    assert server.sent == ["a", "b", {"type": "websocket.close", "code": 1000}]
    socket.send(b"late")  # after close: dropped, not an error
    assert len(server.sent) == 3


async def test_a_send_that_fails_marks_the_client_gone_and_drops_the_rest() -> None:
    server = Server()
    server.broken = True
    socket = CallSocket(server.receive, server.send)
    socket.send(b"a")
    assert socket.gone
    socket.send(b"b")
    await socket.close(1000)  # nothing to send to: returns at once
    assert server.sent == []


async def test_receive_gives_text_bytes_and_none_when_the_client_leaves() -> None:
    server = Server()
    socket = CallSocket(server.receive, server.send)
    for message in (
        {"type": "websocket.receive", "text": '{"type":"x"}'},
        {"type": "websocket.receive", "bytes": b"\x00\x01"},
        {"type": "websocket.receive"},
        {"type": "websocket.disconnect", "code": 1001},
    ):
        server.inbox.put_nowait(message)
    assert await socket.receive() == '{"type":"x"}'
    assert await socket.receive() == b"\x00\x01"
    assert await socket.receive() == b""  # neither text nor bytes: an empty frame, counted as malformed
    assert await socket.receive() is None
    assert socket.gone


async def test_a_client_that_stops_reading_is_closed_with_1008(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's send stalls (uvicorn's does once the transport is full): the call's frames
    queue behind it, and past ``SEND_QUEUE`` the call ends with 1008 instead of growing."""
    from vatel.server.engines.brain import AgentSetup
    from vatel.server.engines.scripted_brain import ScriptedBrain
    from vatel.server.engines.tones import tone_engines
    from vatel.server.live import session as session_module
    from vatel.server.live.core import CallConfig
    from vatel.server.live.services import LiveServices

    monkeypatch.setattr(session_module, "SEND_QUEUE", 30)
    server = Server()
    stalled = asyncio.Event()

    async def send(message: MutableMapping[str, Any]) -> None:
        if len(server.sent) >= 15:  # the client stopped reading: nothing more gets through
            stalled.set()
            await asyncio.Event().wait()
        server.sent.append(message.get("text", message))

    words = " ".join(["la"] * 60) + "."
    call = session_module.CallSession(
        CallSocket(server.receive, send),
        LiveServices(tone_engines(), {"vatel/scripted": ScriptedBrain()}, audio_chunk_seconds=0.02),
        config=CallConfig(session_id="slow", first_message=words, silence_timeout_secs=600),
        agent=AgentSetup(prompt="default: ok.", first_message=words),
        llm="vatel/scripted",
        voice=None,
        recorder=None,
        on_record=lambda _entry: asyncio.sleep(0),
    )
    outcome = await asyncio.wait_for(call.run(), 30)
    assert stalled.is_set()
    assert (outcome.close_code, outcome.reason) == (1008, "client too slow")
    assert len(server.sent) == 15


async def test_closing_a_socket_whose_sends_stall_gives_up_after_close_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("vatel.server.live.socket.CLOSE_WAIT", 0.2)
    server = Server()
    server.gate = asyncio.Event()  # never opened: the client does not read
    socket = CallSocket(server.receive, server.send)
    socket.send(b"a")
    socket.send(b"b")
    await asyncio.wait_for(socket.close(1008), 5)  # the queue's wait, then the close's, both bounded
    assert server.sent == []
    assert socket.gone
