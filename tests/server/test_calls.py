"""``GET /v1/calls`` filters and pages, ``GET /v1/calls/{id}`` with its transcript, and recordings.

Calls are written through the store (the live session writes them the same way, issue 5).
"""

from __future__ import annotations

import asyncio
import io
import uuid
import wave
from pathlib import Path
from typing import Any

import pytest

import vatel
from support.live_server import LiveServer
from support.schema import errors
from vatel.server.store import calls as call_store
from vatel.server.store.database import open_engine
from vatel.server.store.organizations import first_start

pytestmark = pytest.mark.loopback

AGENT_A, AGENT_B = str(uuid.UUID(int=0xA)), str(uuid.UUID(int=0xB))


def make_wav(path: Path, seconds: float = 0.5) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(24_000)
        out.writeframes(b"\x01\x00\x02\x00" * int(24_000 * seconds))
    path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


def seed_calls(
    live: LiveServer, rows: list[dict[str, Any]], entries: dict[str, list[dict[str, Any]]]
) -> None:
    async def write() -> None:
        engine = open_engine(live.settings.resolved_database_url)
        org, _ = await first_start(engine)
        async with engine.begin() as conn:
            for row in rows:
                await call_store.insert_call(conn, organization_id=org.id, **row)
            for call_id, items in entries.items():
                for entry in items:
                    await call_store.add_transcript_entry(conn, call_id, entry)
        await engine.dispose()

    asyncio.run(write())


def call_row(number: int, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": str(uuid.UUID(int=0x1000 + number)),
        "agent_id": AGENT_A,
        "party_number": f"+1415555{number:04d}",
        "status": "ended",
        "source": "api",
        "outbound": False,
        "created_at": f"2026-11-{1 + number:02d}T10:00:00.000000Z",
        "started_at": f"2026-11-{1 + number:02d}T10:00:01.000000Z",
        "ended_at": f"2026-11-{1 + number:02d}T10:01:31.000000Z",
        "tags": [],
    }
    row.update(overrides)
    return row


@pytest.fixture
def calls_log(live: LiveServer) -> list[dict[str, Any]]:
    rows = [
        call_row(0, tags=["vip", "billing"], outcome="ended_by_user"),
        call_row(1, agent_id=AGENT_B, source="sip", outbound=True, outcome="transferred"),
        call_row(2, status="in_progress", ended_at=None, tags=["100%_sure"]),
        call_row(3, party_number="+442071838750", outcome="ended_by_agent", termination_reason="agent ended"),
        call_row(4, agent_id=AGENT_B, tags=["vip"]),
    ]
    seed_calls(live, rows, {})
    return rows


def ids(result: vatel.PaginatedCallsResponse) -> list[int]:
    return [int(uuid.UUID(call.id or "")) - 0x1000 for call in result.calls]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, [4, 3, 2, 1, 0]),  # newest first
        ({"agent_ids": [AGENT_B]}, [4, 1]),
        ({"agent_ids": [AGENT_A, AGENT_B]}, [4, 3, 2, 1, 0]),
        ({"status": "in_progress"}, [2]),
        ({"source": "sip"}, [1]),
        ({"outbound": True}, [1]),
        ({"outbound": False}, [4, 3, 2, 0]),
        ({"search": "4420718"}, [3]),
        ({"search": "%"}, []),  # LIKE wildcards are literal
        ({"tag": "vip"}, [4, 0]),
        ({"tag": "100%_sure"}, [2]),
        ({"tag": "vi"}, []),  # whole tags only
        ({"outcome": "transferred"}, [1]),
        ({"date_from": "2026-11-03T00:00:00Z"}, [4, 3, 2]),
        ({"date_to": "2026-11-02T10:00:00Z"}, [1, 0]),  # inclusive
        ({"date_from": "2026-11-02T12:00:00+02:00", "date_to": "2026-11-04T10:00:00Z"}, [3, 2, 1]),
    ],
)
def test_filters(
    client: vatel.Client, calls_log: list[dict[str, Any]], filters: Any, expected: list[int]
) -> None:
    result = client.calls.list(**filters)
    assert ids(result) == expected
    assert result.pagination.total == len(expected)


def test_pages(live: LiveServer, client: vatel.Client, calls_log: list[dict[str, Any]]) -> None:
    first = client.calls.list(page_size=2)
    assert ids(first) == [4, 3]
    assert first.pagination.model_dump() == {
        "page": 1, "page_size": 2, "total": 5, "total_pages": 3, "has_next": True, "has_prev": False
    }  # fmt: skip
    last = client.calls.list(page=3, page_size=2)
    assert ids(last) == [0] and last.pagination.has_next is False and last.pagination.has_prev is True
    beyond = client.calls.list(page=9, page_size=2)
    assert beyond.calls == [] and beyond.pagination.total == 5
    assert [int(uuid.UUID(c.id or "")) - 0x1000 for c in client.calls.iter(page_size=2)] == [4, 3, 2, 1, 0]
    with live.http() as http:
        body = http.get("/v1/calls").json()
    assert body["pagination"]["page_size"] == 20
    assert errors(body, "PaginatedCallsResponse") == []


def test_one_call_with_its_transcript(live: LiveServer, client: vatel.Client) -> None:
    row = call_row(7, tags=["demo"], summary="Booked a table")
    transcript: list[dict[str, Any]] = [
        {
            "role": "assistant",
            "message": "Hello!",
            "type": "message",
            "turnId": "t1",
            "createdAt": "2026-11-08T10:00:01Z",
        },
        {"role": "user", "message": "Book a table", "type": "message", "turnId": "u1"},
        {
            "type": "tool_call",
            "toolCall": {"callId": "c1", "toolName": "book", "arguments": '{"people": 2}', "output": "ok"},
        },
        {"type": "interruption", "turnId": "t2"},
    ]
    seed_calls(live, [row], {row["id"]: transcript})
    call = client.calls.get(row["id"])
    assert call.duration_seconds == 90 and call.summary == "Booked a table" and call.tags == ["demo"]
    assert call.transcript is not None
    assert [entry.index for entry in call.transcript.entries] == [0, 1, 2, 3]
    assert [entry.type for entry in call.transcript.entries] == [
        "message",
        "message",
        "tool_call",
        "interruption",
    ]
    assert call.transcript.entries[2].toolCall is not None
    assert call.transcript.entries[2].toolCall.toolName == "book"
    with live.http() as http:
        body = http.get(f"/v1/calls/{row['id']}").json()
    assert errors(body, "Call") == []


def test_recording_download(live: LiveServer, client: vatel.Client, tmp_path: Path) -> None:
    recordings = live.settings.recordings_dir
    recordings.mkdir(parents=True, exist_ok=True)
    with_file, without_file = call_row(8), call_row(9)
    wav = make_wav(recordings / f"{with_file['id']}.wav")
    with_file["recording_path"] = f"recordings/{with_file['id']}.wav"
    without_file["recording_path"] = "recordings/missing.wav"
    seed_calls(live, [with_file, without_file], {})

    assert client.calls.download_recording(with_file["id"]) == wav
    saved = client.calls.download_recording(with_file["id"], to=tmp_path)
    assert saved.read_bytes() == wav
    with live.http() as http:
        response = http.get(f"/v1/calls/{with_file['id']}/recording")
        assert response.headers["content-type"] == "audio/wav"
        assert response.headers["content-length"] == str(len(wav))
        assert f'filename="{with_file["id"]}.wav"' in response.headers["content-disposition"]
        assert response.headers["content-disposition"].startswith("attachment")
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            refused = http.request(method, f"/v1/calls/{with_file['id']}/recording")
            assert refused.status_code == 405 and refused.json()["error"]
    for missing in (without_file["id"], str(uuid.uuid4())):
        with pytest.raises(vatel.NotFoundError):
            client.calls.download_recording(missing)
