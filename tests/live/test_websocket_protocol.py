"""The server's WebSocket protocol (``live.websocket_protocol``) under a real uvicorn on loopback:
the direct path hands messages to a callback and writes frames itself, the plain ASGI path still
works, and a client that breaks RFC 6455 is closed with the right code while others go on."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import threading
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import pytest
import websockets

from vatel.server.live.socket import DIRECT_FRAMES, DirectFrames
from vatel.server.live.websocket_protocol import server_frame
from vatel.server.runner import ServerThread

pytestmark = pytest.mark.loopback

TIMEOUT = 10.0


@dataclass
class Seen:
    """What the app saw, across the server's thread and the test's."""

    messages: list[bytes] = field(default_factory=list)
    gone: threading.Event = field(default_factory=threading.Event)
    direct: bool = False
    queued_max: int = 0


def echo_app(seen: Seen, *, direct: bool = True, close_after: int | None = None) -> Any:
    """Echoes each message as a text frame: on the direct path (when offered and ``direct``), else
    through ASGI receive/send. ``close_after``: the app closes with 4000 after that many messages."""

    async def app(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        path: DirectFrames | None = scope["extensions"].get(DIRECT_FRAMES)
        if path is not None and direct:
            seen.direct = True
            done = asyncio.Event()

            def on_message(message: bytes) -> None:
                seen.messages.append(message)
                if message.startswith(b"flood"):  # answer with 1 MB frames until the client must read
                    for n in range(int(message[5:])):
                        path.send_text(b"%08d" % n + b"x" * (1 << 20))
                        seen.queued_max = max(seen.queued_max, path.queued)
                else:
                    path.send_text(b"echo:" + message)
                if close_after is not None and len(seen.messages) >= close_after:
                    done.set()

            def on_gone() -> None:
                seen.gone.set()
                done.set()

            path.attach(on_message, on_gone)
            await done.wait()
            path.detach()
            if close_after is not None:
                await send({"type": "websocket.close", "code": 4000})
            return
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                seen.gone.set()
                return
            data = message.get("bytes") or message.get("text", "").encode()
            seen.messages.append(data)
            await send({"type": "websocket.send", "text": "echo:" + data.decode(errors="replace")})
            if close_after is not None and len(seen.messages) >= close_after:
                await send({"type": "websocket.close", "code": 4000})
                return

    return app


@pytest.fixture
def seen() -> Seen:
    return Seen()


@pytest.fixture
def served(seen: Seen) -> Iterator[str]:
    with ServerThread(echo_app(seen), ws_max_size=1 << 16) as server:
        yield server.url.replace("http://", "ws://")


def masked(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0, mask: bool = True) -> bytes:
    """A client's frame, built by hand so it can break the rules."""
    first = (0x80 if fin else 0) | rsv | opcode
    size = len(payload)
    if size < 126:
        head = bytes((first, (0x80 if mask else 0) | size))
    elif size < 65536:
        head = struct.pack("!BBH", first, (0x80 if mask else 0) | 126, size)
    else:
        head = struct.pack("!BBQ", first, (0x80 if mask else 0) | 127, size)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(byte ^ key[i % 4] for i, byte in enumerate(payload))


class RawClient:
    """A WebSocket client over a plain socket: the handshake, then whatever bytes a test writes."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("ws://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=TIMEOUT)
        self.sock.sendall(
            b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self.sock.recv(4096)
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head

    def frames(self, count: int | None = None) -> list[tuple[int, bytes]]:
        """The next ``count`` frames (default: every frame up to the server's close of the
        connection), as (first byte, payload)."""
        found: list[tuple[int, bytes]] = []
        chunks = [self.buffer]
        data = self.buffer
        while count is None or len(found) < count:
            data = b"".join(chunks)
            chunks = [data]
            while len(data) >= 2 and (count is None or len(found) < count):
                size, at = data[1] & 0x7F, 2
                if size == 126:
                    size, at = int.from_bytes(data[2:4], "big"), 4
                elif size == 127:
                    size, at = int.from_bytes(data[2:10], "big"), 10
                if len(data) < at + size:
                    break
                found.append((data[0], data[at : at + size]))
                data = data[at + size :]
            chunks = [data]
            if count is not None and len(found) >= count:
                break
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        self.buffer = b"".join(chunks)
        return found

    def close_code(self) -> int | None:
        for first, payload in self.frames():
            if first == 0x88:
                return int.from_bytes(payload[:2], "big") if payload else None
        return None


def test_server_frames_have_the_right_length_encoding() -> None:
    assert server_frame(0x81, b"hi") == b"\x81\x02hi"
    assert server_frame(0x81, b"x" * 200)[:4] == b"\x81\x7e\x00\xc8"
    big = server_frame(0x81, b"x" * 70000)
    assert big[:2] == b"\x81\x7f" and int.from_bytes(big[2:10], "big") == 70000 and len(big) == 70010


async def test_direct_path_echoes_text_binary_and_fragmented_messages(served: str, seen: Seen) -> None:
    async with websockets.connect(served + "/ws", compression="deflate") as ws:
        # The server declines permessage-deflate: its frames after the handshake are read uncompressed.
        assert ws.response is not None and "Sec-WebSocket-Extensions" not in ws.response.headers
        await ws.send('{"type":"input_audio"}')
        assert await ws.recv() == 'echo:{"type":"input_audio"}'
        await ws.send(b"\x00\x01binary")
        assert await ws.recv() == "echo:\x00\x01binary"
        await ws.send(["frag", "mented ", "message"])  # one message in three frames
        assert await ws.recv() == "echo:fragmented message"
        big = "y" * 60000  # a 16-bit length
        await ws.send(big)
        assert await ws.recv() == "echo:" + big
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, TIMEOUT)
    assert seen.direct
    expected = [b'{"type":"input_audio"}', b"\x00\x01binary", b"fragmented message", big.encode()]
    assert seen.messages == expected
    assert await asyncio.to_thread(seen.gone.wait, TIMEOUT)


async def test_a_message_split_into_single_bytes_arrives_whole(served: str, seen: Seen) -> None:
    client = RawClient(served)
    frame = masked(0x1, b"hello") + masked(0x9, b"p") + masked(0x1, b"x" * 300)
    for byte in frame:
        client.sock.sendall(bytes([byte]))
        await asyncio.sleep(0)
    client.sock.sendall(masked(0x8, struct.pack("!H", 1000)))
    frames = await asyncio.to_thread(client.frames)
    assert frames == [
        (0x81, b"echo:hello"),
        (0x8A, b"p"),  # the ping's pong, in order
        (0x81, b"echo:" + b"x" * 300),
        (0x88, struct.pack("!H", 1000)),  # the client's close code, echoed
    ]
    assert await asyncio.to_thread(seen.gone.wait, TIMEOUT)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (masked(0x1, b"not masked", mask=False), 1002),
        (masked(0x1, b"rsv1 with no extension", rsv=0x40), 1002),
        (masked(0x3, b"opcode 3 is reserved"), 1002),
        (masked(0xB, b"control opcode 11 is reserved"), 1002),
        (masked(0x0, b"a continuation of nothing"), 1002),
        (masked(0x9, b"p" * 126), 1002),  # a control frame over 125 bytes
        (masked(0x9, b"ping", fin=False), 1002),  # a fragmented control frame
        (masked(0x1, b"start", fin=False) + masked(0x1, b"again"), 1002),  # a new message mid-message
        (masked(0x8, b"\x03"), 1002),  # a close frame with half a code
        (masked(0x8, struct.pack("!H", 999)), 1002),  # a close code no one may send
        (bytes((0x81, 0xFF)) + (1 << 40).to_bytes(8, "big"), 1009),  # a terabyte, refused before it comes
        (masked(0x1, b"z" * 70000), 1009),  # over ws_max_size (64 KiB here)
        (masked(0x1, b"a" * 40000, fin=False) + masked(0x0, b"b" * 40000), 1009),  # in pieces too
    ],
)
async def test_a_client_that_breaks_the_protocol_is_closed_with_its_code(
    served: str, seen: Seen, frame: bytes, code: int
) -> None:
    client = RawClient(served)
    client.sock.sendall(masked(0x1, b"fine") + frame)
    assert await asyncio.to_thread(client.close_code) == code
    assert await asyncio.to_thread(seen.gone.wait, TIMEOUT)
    assert seen.messages[0] == b"fine"
    # The server serves the next client as before.
    async with websockets.connect(served + "/ws") as ws:
        await ws.send("next")
        assert await ws.recv() == "echo:next"


async def test_a_client_close_without_a_code_is_answered_without_one(served: str, seen: Seen) -> None:
    client = RawClient(served)
    client.sock.sendall(masked(0x8, b""))
    assert await asyncio.to_thread(client.frames) == [(0x88, b"")]
    assert await asyncio.to_thread(seen.gone.wait, TIMEOUT)


async def test_frames_held_while_the_client_does_not_read_go_out_in_order(served: str, seen: Seen) -> None:
    client = RawClient(served)
    client.sock.sendall(masked(0x1, b"flood40"))  # 40 MB: more than the socket buffers hold
    await asyncio.sleep(1.0)  # the client reads nothing meanwhile
    frames = await asyncio.to_thread(client.frames, 40)
    assert [first for first, _ in frames] == [0x81] * 40
    assert [int(payload[:8]) for _, payload in frames] == list(range(40))
    assert seen.queued_max > 0  # some were held, not pushed into an unbounded transport buffer
    client.sock.sendall(masked(0x8, struct.pack("!H", 1000)))
    assert await asyncio.to_thread(client.frames) == [(0x88, struct.pack("!H", 1000))]


async def test_the_app_closes_and_the_closing_handshake_completes(seen: Seen) -> None:
    with ServerThread(echo_app(seen, close_after=1)) as server:
        async with websockets.connect(server.url.replace("http://", "ws://") + "/ws", close_timeout=60) as ws:
            await ws.send("only one")
            assert await ws.recv() == "echo:only one"
            with pytest.raises(websockets.ConnectionClosedError) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4000
            # The server reads the client's answering close and drops the connection (not after its
            # 10 s close timeout, nor the client's 60 s).
            await asyncio.wait_for(ws.wait_closed(), TIMEOUT / 2)


@pytest.mark.parametrize("direct", [True, False], ids=["direct app", "asgi app"])
async def test_the_plain_asgi_path_serves_an_app_that_does_not_take_the_direct_one(
    seen: Seen, direct: bool
) -> None:
    """Under our protocol an ASGI app reads through ``receive`` as under uvicorn's own; and under
    uvicorn's own protocol (no extension) the same app works too."""
    options = {} if direct else {"ws": "websockets-sansio"}
    with ServerThread(echo_app(seen, direct=False), **options) as server:
        async with websockets.connect(server.url.replace("http://", "ws://") + "/ws") as ws:
            for text in ("one", "two", "three"):
                await ws.send(text)
                assert await ws.recv() == "echo:" + text
            await ws.send(b"\xff\xfe")  # bytes: delivered as bytes
            assert await ws.recv() == "echo:\ufffd\ufffd"
    assert await asyncio.to_thread(seen.gone.wait, TIMEOUT)
    assert not seen.direct
    assert seen.messages == [b"one", b"two", b"three", b"\xff\xfe"]


async def test_invalid_utf8_in_a_text_frame_to_an_asgi_app_closes_with_1007(seen: Seen) -> None:
    with ServerThread(echo_app(seen, direct=False)) as server:
        client = RawClient(server.url.replace("http://", "ws://"))
        client.sock.sendall(masked(0x1, b"\xff not utf-8"))
        assert await asyncio.to_thread(client.close_code) == 1007
