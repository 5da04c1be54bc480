"""The session report (``report.json``): what a recorded session did, computed from its log alone.

Fed one :class:`~vatel.app.session_log.LogEntry` at a time (while recording, or from a log read
back by ``vatel replay``), so the recorded run and a replay are measured the same way.

**Turn latency** is measured on the client, from what it sent and received: the end of the last
*voiced* microphone frame sent (RMS above :data:`VOICED_DBFS`) before the first audio of an agent
turn, to the arrival of that first audio. It counts only when the user spoke since the previous
agent turn began and had stopped (the last frame sent before it was quiet): a greeting, a second turn
in a row or an agent that talks over the user has none. It is the server's response time
plus the network both ways, without the playout buffer and the device (it is not "at the ear");
20 ms frame resolution. Anything loud enough in the microphone counts as voice, an echo of the
agent included.

Also: message counts each way, agent turns (first audio, audio seconds, final text, interrupted
or not), the user's final transcripts, interruptions, tool calls with the time to their output,
and the shell's counters (underruns of the playout buffer, device underflows) when it has them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from vatel.app.session_log import LogEntry

__all__ = ["VOICED_DBFS", "ReportBuilder", "summarize_latencies"]

VOICED_DBFS = -45.0
"""Frames sent louder than this (RMS) count as the user speaking."""
RATE = 24_000


@dataclass
class _Turn:
    turn_id: str
    t: float
    latency: float | None
    samples: int = 0
    text: str = ""
    final_audio: bool = False
    interrupted: bool = False
    chunks_not_played: int = 0


@dataclass
class _ToolCall:
    call_id: str
    name: str
    t: float
    arguments: Any
    output: str | None = None
    seconds: float | None = None


@dataclass
class ReportBuilder:
    counts: dict[str, Counter[str]] = field(default_factory=lambda: {"in": Counter(), "out": Counter()})
    session_id: str | None = None
    started: float | None = None
    ended: float | None = None
    last_t: float = 0.0
    turns: list[_Turn] = field(default_factory=list)
    user_transcripts: list[tuple[float, str]] = field(default_factory=list)
    interruptions: list[float] = field(default_factory=list)
    tool_calls: list[_ToolCall] = field(default_factory=list)
    sent_seconds: float = 0.0
    voiced_seconds: float = 0.0
    _voiced_end: float | None = None
    _spoke_since_turn: bool = False
    _speaking: bool = False
    """The last frame sent was voiced: the user had not finished speaking."""
    _by_turn: dict[str, _Turn] = field(default_factory=dict)
    _by_call: dict[str, _ToolCall] = field(default_factory=dict)

    def add(self, entry: LogEntry) -> None:
        self.counts[entry.dir][entry.type] += 1
        self.last_t = max(self.last_t, entry.t)
        data = entry.fields
        if entry.dir == "out":
            if entry.type == "input_audio" and entry.audio is not None:
                self._sent(entry)
            elif entry.type == "tool_call_output":
                call = self._by_call.get(str(data.get("toolCallId")))
                if call is not None and call.output is None:
                    call.output = str(data.get("output"))
                    call.seconds = entry.t - call.t
            return
        if entry.type == "response_audio":
            self._agent_audio(entry, data)
        elif entry.type == "response_text" and data.get("is_final", True):
            turn = self._by_turn.get(str(data.get("turn_id", "")))
            if turn is not None:
                turn.text = str(data.get("text", ""))
            else:  # text with no audio (yet): a turn of its own
                self._new_turn(str(data.get("turn_id", "")), entry.t).text = str(data.get("text", ""))
        elif entry.type == "input_audio_transcript" and data.get("is_final", True):
            self.user_transcripts.append((entry.t, str(data.get("transcript", ""))))
        elif entry.type == "interruption":
            self.interruptions.append(entry.t)
            for turn in self.turns:
                if not turn.final_audio and turn.samples:
                    turn.interrupted = True
        elif entry.type == "tool_call":
            call_id = str(data.get("toolCallId", data.get("tool_call_id", "")))
            if call_id not in self._by_call:
                name = str(data.get("toolName", data.get("tool_name", "")))
                call = _ToolCall(call_id, name, entry.t, data.get("arguments"))
                self._by_call[call_id] = call
                self.tool_calls.append(call)
        elif entry.type == "session_started" and self.started is None:
            self.started = entry.t
            self.session_id = str(data.get("id")) if data.get("id") is not None else None
        elif entry.type == "session_ended" and self.ended is None:
            self.ended = entry.t

    def _sent(self, entry: LogEntry) -> None:
        assert entry.audio is not None
        seconds = entry.audio.samples / RATE
        self.sent_seconds += seconds
        self._speaking = entry.audio.dbfs is not None and entry.audio.dbfs > VOICED_DBFS
        if self._speaking:
            self.voiced_seconds += seconds
            self._voiced_end = entry.t
            self._spoke_since_turn = True

    def _agent_audio(self, entry: LogEntry, data: dict[str, Any]) -> None:
        turn_id = str(data.get("turn_id", ""))
        audio = entry.audio
        samples = audio.samples if audio is not None else 0
        turn = self._by_turn.get(turn_id)
        if turn is None:
            if not samples:
                return  # an empty chunk: no audio, no turn
            turn = self._new_turn(turn_id, entry.t)
        if not turn.samples and not turn.chunks_not_played and samples:
            self._audio_starts(turn, entry.t)
        if audio is not None and audio.offset is None and samples:
            turn.chunks_not_played += 1
        else:
            turn.samples += samples
        if data.get("is_final"):
            turn.final_audio = True

    def _new_turn(self, turn_id: str, t: float) -> _Turn:
        turn = _Turn(turn_id, t, None)
        self._by_turn[turn_id] = turn
        self.turns.append(turn)
        return turn

    def _audio_starts(self, turn: _Turn, t: float) -> None:
        """The first audio of a turn: its time, and its latency when the user spoke before it."""
        turn.t = t
        if self._spoke_since_turn and not self._speaking and self._voiced_end is not None:
            turn.latency = round(t - self._voiced_end, 4)
        self._spoke_since_turn = False

    def report(self, stats: dict[str, Any] | None = None, *, complete: bool = True) -> dict[str, Any]:
        """The report as JSON-ready data; ``stats`` are the shell's counters, ``complete`` false
        while the session is still running (a report written along the way)."""
        latencies = [turn.latency for turn in self.turns if turn.latency is not None]
        speaker = (stats or {}).get("speaker") or {}
        start = self.started or 0.0
        return {
            "complete": complete,
            "session_id": self.session_id,
            "started_at": None if self.started is None else round(self.started, 4),
            "ended_at": None if self.ended is None else round(self.ended, 4),
            "ended_by_server": self.ended is not None,
            "duration": round(self.last_t - start, 3),
            "messages": {side: dict(sorted(counts.items())) for side, counts in self.counts.items()},
            "audio_sent_seconds": round(self.sent_seconds, 3),
            "voiced_seconds": round(self.voiced_seconds, 3),
            "turns": [
                {
                    "turn_id": turn.turn_id,
                    "at": round(turn.t - start, 4),
                    "latency": turn.latency,
                    "audio_seconds": round(turn.samples / RATE, 3),
                    "text": turn.text,
                    "interrupted": turn.interrupted,
                    "chunks_not_played": turn.chunks_not_played,
                }
                for turn in self.turns
            ],
            "latency": summarize_latencies(latencies),
            "user_transcripts": [text for _, text in self.user_transcripts],
            "interruptions": len(self.interruptions),
            "interruption_times": [round(t - start, 4) for t in self.interruptions],
            "underruns": speaker.get("underruns"),
            "device_underflows": speaker.get("device_underflows"),
            "tool_calls": [
                {
                    "id": call.call_id,
                    "name": call.name,
                    "at": round(call.t - start, 4),
                    "arguments": call.arguments,
                    "output": call.output,
                    "seconds": None if call.seconds is None else round(call.seconds, 4),
                }
                for call in self.tool_calls
            ],
            "latency_measure": "client side: end of the last voiced frame sent -> first agent audio received",
            "stats": stats,
        }


def summarize_latencies(latencies: list[float]) -> dict[str, Any]:
    if not latencies:
        return {"count": 0, "mean": None, "p50": None, "max": None}
    ordered = sorted(latencies)
    middle = len(ordered) // 2
    p50 = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return {
        "count": len(ordered),
        "mean": round(sum(ordered) / len(ordered), 4),
        "p50": round(p50, 4),
        "max": round(ordered[-1], 4),
    }
