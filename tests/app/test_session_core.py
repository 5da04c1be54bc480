"""The session core on scripted timelines: a virtual clock that moves only when the script says.

Each test reads as a timeline (``at(0.0, received(...))``); the expected actions, and when, are
written next to it. No asyncio, no sockets, no devices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from vatel.app.core import SessionCore, SessionState
from vatel.app.events import (
    Action,
    Close,
    Disconnected,
    Event,
    Flush,
    InputEnded,
    KeyPress,
    Line,
    MicFrame,
    Play,
    PlaybackFinished,
    Received,
    Record,
    RunTool,
    Send,
    Show,
    StopRequested,
    Tick,
    ToolDone,
)
from vatel.protocol import InputAudio, ToolCallOutput, decode_server_message, encode_pcm

pytestmark = pytest.mark.unit

FRAME = bytes(range(256)) * 3 + bytes(192)  # 960 bytes: one 20 ms frame


def received(type: str, data: Any = None) -> Received:
    frame = orjson.dumps({"type": type, "data": {} if data is None else data})
    return Received(decode_server_message(frame))


def audio(turn_id: str, pcm: bytes = FRAME, final: bool = False) -> Received:
    return received("response_audio", {"turn_id": turn_id, "audio": encode_pcm(pcm), "is_final": final})


STARTED = received("session_started", {"id": "call-1"})


@dataclass
class Timeline:
    """Feeds events at given times; keeps every action with the time it came out."""

    core: SessionCore
    log: list[tuple[float, Action]]

    def at(self, now: float, *events: Event) -> list[Action]:
        out: list[Action] = []
        for event in events:
            out += self.core.handle(event, now)
        self.log += [(now, action) for action in out]
        return out

    def of(self, kind: type[Any]) -> list[tuple[float, Any]]:
        return [(t, a) for t, a in self.log if isinstance(a, kind)]


def timeline(**options: Any) -> Timeline:
    return Timeline(SessionCore(**options), [])


def sent_audio(actions: list[Action]) -> list[bytes]:
    return [a.message.data.pcm for a in actions if isinstance(a, Send) and isinstance(a.message, InputAudio)]


class TestMicrophone:
    def test_nothing_is_sent_before_session_started(self) -> None:
        t = timeline()
        assert t.at(0.00, MicFrame(FRAME)) == []
        assert t.core.state is SessionState.CONNECTING
        t.at(0.10, STARTED)
        assert sent_audio(t.at(0.12, MicFrame(FRAME))) == [FRAME]
        assert t.core.stats.mic_frames_dropped == 1
        assert t.core.stats.mic_frames_sent == 1

    def test_muting_stops_the_microphone_and_unmuting_resumes(self) -> None:
        t = timeline()
        t.at(0.0, STARTED)
        t.at(1.0, KeyPress("m"))
        assert sent_audio(t.at(1.02, MicFrame(FRAME))) == []
        t.at(2.0, KeyPress("m"))
        assert sent_audio(t.at(2.02, MicFrame(FRAME))) == [FRAME]

    def test_nothing_is_sent_after_the_session_ended(self) -> None:
        t = timeline()
        t.at(0.0, STARTED)
        t.at(5.0, received("session_ended"))
        assert t.at(5.02, MicFrame(FRAME)) == []


class TestAgentAudio:
    def test_chunks_are_played_and_recorded_per_turn(self) -> None:
        t = timeline()
        t.at(0.0, STARTED)
        out = t.at(0.5, audio("t1"), audio("t1", final=True))
        assert out == [Play("t1", FRAME, False), Record(FRAME), Play("t1", FRAME, True), Record(FRAME)]

    def test_empty_chunks_are_ignored_but_an_empty_final_ends_the_turn(self) -> None:
        t = timeline()
        t.at(0.0, STARTED)
        assert t.at(0.5, audio("t1", b"")) == []
        assert t.at(0.6, audio("t1", b"", final=True)) == [Play("t1", b"", True)]

    def test_bad_base64_skips_the_chunk_and_says_so(self) -> None:
        t = timeline()
        t.at(0.0, STARTED)
        bad = received("response_audio", {"turn_id": "t1", "audio": "@@@", "is_final": False})
        out = t.at(0.5, bad)
        assert [type(a) for a in out] == [Show]
        assert t.at(0.6, audio("t1")) == [Play("t1", FRAME, False), Record(FRAME)]


class TestInterruption:
    def test_barge_in_flushes_the_playing_turn_and_drops_its_late_chunks(self) -> None:
        # agent speaks from 1.0 s; the user barges in at 3.0 s; chunks of t1 still arrive at 3.1 s;
        # the agent's next turn t2 starts at 4.0 s and plays.
        t = timeline()
        t.at(0.0, STARTED)
        t.at(1.0, audio("t1"), audio("t1"))
        out = t.at(3.0, received("interruption"))
        assert out[0] == Flush("t1")
        assert t.at(3.1, audio("t1"), audio("t1", final=True)) == []
        assert t.core.stats.late_chunks_dropped == 2
        assert t.at(4.0, audio("t2")) == [Play("t2", FRAME, False), Record(FRAME)]
        assert [when for when, _ in t.of(Flush)] == [3.0]
        assert all(a.turn_id == "t2" for when, a in t.of(Play) if when > 3.0)

    def test_every_queued_turn_is_flushed(self) -> None:
        t = timeline()
        t.at(0.0, STARTED)
        t.at(1.0, audio("t1", final=True), audio("t2"))
        flushed = [a for a in t.at(2.0, received("interruption")) if isinstance(a, Flush)]
        assert flushed == [Flush("t1"), Flush("t2")]

    def test_a_turn_that_finished_playing_is_not_flushed(self) -> None:
        t = timeline()
        t.at(0.0, STARTED)
        t.at(1.0, audio("t1", final=True))
        t.at(2.0, PlaybackFinished("t1"))
        assert [a for a in t.at(3.0, received("interruption")) if isinstance(a, Flush)] == []


class TestText:
    def test_interim_and_final_lines_share_a_key_per_turn(self) -> None:
        t = timeline()
        t.at(0.0, STARTED)
        out = t.at(
            1.0,
            received("response_text", {"turn_id": "t1", "text": "Hel", "is_final": False}),
            received("response_text", {"turn_id": "t1", "text": "Hello", "is_final": True}),
        )
        assert out == [
            Show(Line("agent", "Hel", key="agent:t1", final=False)),
            Show(Line("agent", "Hello", key="agent:t1", final=True)),
        ]

    def test_user_utterances_without_turn_id_get_a_key_each(self) -> None:
        t = timeline()
        t.at(0.0, STARTED)
        lines = [
            a.line
            for a in t.at(
                1.0,
                received("input_audio_transcript", {"transcript": "hi", "is_final": False}),
                received("input_audio_transcript", {"transcript": "hi there", "is_final": True}),
                received("input_audio_transcript", {"transcript": "and", "is_final": False}),
            )
            if isinstance(a, Show)
        ]
        assert [line.key for line in lines] == ["user#0", "user#0", "user#1"]

    def test_unknown_messages_are_counted_and_ignored(self) -> None:
        t = timeline()
        t.at(0.0, STARTED)
        assert t.at(1.0, received("agent_mood", {"mood": "cheerful"})) == []
        assert t.core.stats.unknown_messages == 1


class TestTools:
    CALL = received(
        "tool_call",
        {"toolCallId": "c1", "toolName": "lookup", "arguments": [{"name": "city", "value": "Oslo"}]},
    )

    @staticmethod
    def outputs(actions: list[tuple[float, Action]]) -> list[tuple[float, str, str]]:
        return [
            (when, a.message.data.toolCallId, a.message.data.output)
            for when, a in actions
            if isinstance(a, Send) and isinstance(a.message, ToolCallOutput)
        ]

    def test_a_call_runs_the_tool_and_its_output_is_sent(self) -> None:
        t = timeline()
        t.at(0.0, STARTED)
        out = t.at(1.0, self.CALL)
        assert RunTool("c1", "lookup", {"city": "Oslo"}) in out
        t.at(1.2, ToolDone("c1", "sunny"))
        assert self.outputs(t.log) == [(1.2, "c1", "sunny")]
        assert t.core.pending_tools == []

    def test_a_slow_tool_is_answered_with_an_error_at_the_timeout_and_its_late_output_dropped(self) -> None:
        # call at 1.0 s, timeout 10 s: nothing at 10.9 s, the error at the tick of 11.0 s.
        t = timeline(tool_timeout=10.0)
        t.at(0.0, STARTED)
        t.at(1.0, self.CALL)
        t.at(10.9, Tick())
        assert self.outputs(t.log) == []
        t.at(11.0, Tick())
        t.at(12.0, ToolDone("c1", "too late"))
        [(when, call_id, output)] = self.outputs(t.log)
        assert (when, call_id) == (11.0, "c1")
        assert orjson.loads(output) == {"error": "timeout: no output within 10 s", "tool": "lookup"}
        assert t.core.stats.tool_timeouts == 1

    def test_a_repeated_call_id_is_answered_once(self) -> None:
        t = timeline()
        t.at(0.0, STARTED)
        t.at(1.0, self.CALL, self.CALL)
        t.at(1.1, ToolDone("c1", "a"), ToolDone("c1", "b"))
        assert self.outputs(t.log) == [(1.1, "c1", "a")]


class TestEnding:
    def test_session_ended_closes_with_1000(self) -> None:
        t = timeline()
        t.at(0.0, STARTED)
        out = t.at(9.0, received("session_ended"))
        assert out == [Show(Line("info", "Session ended.")), Close(1000)]
        assert t.core.ended_by_server and not t.core.stop_requested
        t.at(9.1, Disconnected(1000))
        assert t.core.state is SessionState.CLOSED
        assert t.at(9.2, audio("t9"), STARTED, Tick()) == []

    def test_the_users_stop_closes_once_and_ignores_the_rest(self) -> None:
        t = timeline()
        t.at(0.0, STARTED)
        assert Close(1000) in t.at(2.0, StopRequested())
        assert t.core.stop_requested
        assert t.at(2.1, StopRequested(), KeyPress("q"), audio("t1"), MicFrame(FRAME)) == []
        assert t.at(2.2, received("session_ended")) == [Show(Line("info", "Session ended."))]

    def test_q_is_a_stop(self) -> None:
        t = timeline()
        t.at(0.0, STARTED)
        assert Close(1000) in t.at(1.0, KeyPress("q"))

    def test_a_bad_timeout_is_refused(self) -> None:
        with pytest.raises(ValueError, match="tool_timeout"):
            SessionCore(tool_timeout=0)


class TestInputEnd:
    """Rule 6: after the input file or the typed lines, the session closes once the agent is done."""

    @staticmethod
    def closes(t: Timeline) -> list[float]:
        return [when for when, action in t.of(Close)]

    def test_closes_after_the_grace_once_the_agents_answer_has_played(self) -> None:
        t = timeline(input_end_grace=5.0)
        t.at(0.0, STARTED)
        assert Show(Line("status", "Input ended: the session closes once the agent has finished.")) in t.at(
            3.0, InputEnded()
        )
        t.at(4.0, audio("t1"), Tick())
        t.at(4.5, audio("t1", final=True), Tick())
        t.at(9.4, Tick())  # 4.9 s since the server's last message
        assert self.closes(t) == []
        t.at(9.6, Tick())  # quiet long enough, but the answer is still playing
        assert self.closes(t) == []
        t.at(12.0, PlaybackFinished("t1"), Tick())
        assert self.closes(t) == [12.0]
        assert t.core.state is SessionState.CLOSING and not t.core.stop_requested
        t.at(12.1, Tick())
        assert self.closes(t) == [12.0]

    def test_a_pending_tool_call_holds_the_close_until_it_is_answered(self) -> None:
        t = timeline(input_end_grace=1.0, tool_timeout=30.0)
        t.at(0.0, STARTED, InputEnded())
        t.at(0.5, TestTools.CALL)
        t.at(5.0, Tick())
        assert self.closes(t) == []
        t.at(6.0, ToolDone("c1", "ok"), Tick())
        assert self.closes(t) == [6.0]

    def test_without_the_input_ending_a_quiet_session_stays_open(self) -> None:
        t = timeline(input_end_grace=1.0)
        t.at(0.0, STARTED)
        t.at(100.0, Tick())
        assert self.closes(t) == []

    def test_input_end_before_the_session_starts_counts_from_the_start(self) -> None:
        t = timeline(input_end_grace=2.0)
        t.at(0.0, InputEnded())
        t.at(3.0, STARTED)
        t.at(4.9, Tick())
        assert self.closes(t) == []
        t.at(5.0, Tick())
        assert self.closes(t) == [5.0]

    def test_a_second_input_end_and_an_end_after_closing_are_ignored(self) -> None:
        t = timeline()
        t.at(0.0, STARTED, InputEnded())
        assert t.at(0.1, InputEnded()) == []
        t.at(0.2, StopRequested())
        assert t.at(0.3, InputEnded()) == []

    def test_a_negative_grace_is_refused(self) -> None:
        with pytest.raises(ValueError, match="input_end_grace"):
            SessionCore(input_end_grace=-1)
