"""The session report from a scripted log: latencies, turns, interruptions, tools, counts."""

from __future__ import annotations

from typing import Any

import pytest

from vatel.app.session_log import AudioRef, LogEntry
from vatel.app.session_report import ReportBuilder, summarize_latencies

pytestmark = pytest.mark.unit

LOUD, QUIET = -20.0, -70.0


def mic(t: float, dbfs: float) -> LogEntry:
    return LogEntry(t, "out", "input_audio", {}, AudioRef("left", round(t * 24000) - 480, 480, dbfs))


def agent(t: float, turn: str, samples: int = 480, *, final: bool = False, played: bool = True) -> LogEntry:
    ref = AudioRef("right", 0 if played else None, samples)
    return LogEntry(t, "in", "response_audio", {"turn_id": turn, "is_final": final}, ref)


def message(t: float, kind: str, direction: str = "in", **data: Any) -> LogEntry:
    return LogEntry(t, direction, kind, data)  # type: ignore[arg-type]


def speak(start: float, end: float, dbfs: float) -> list[LogEntry]:
    return [mic(start + i * 0.02, dbfs) for i in range(round((end - start) / 0.02))]


def build(entries: list[LogEntry], stats: dict[str, Any] | None = None) -> dict[str, Any]:
    builder = ReportBuilder()
    for entry in sorted(entries, key=lambda e: e.t):
        builder.add(entry)
    return builder.report(stats)


def test_latency_runs_from_the_last_voiced_frame_to_the_first_agent_audio() -> None:
    report = build(
        [
            message(0.0, "session_started", id="s1"),
            *speak(0.02, 0.5, QUIET),
            agent(0.3, "greeting", final=True),  # nobody spoke: no latency
            *speak(0.5, 1.5, LOUD),  # the user speaks until 1.48 (the last loud frame's end)
            *speak(1.5, 3.0, QUIET),
            agent(2.2, "answer"),
            agent(2.3, "answer", final=True),
            agent(2.5, "more", final=True),  # a second turn in a row: no latency
        ]
    )
    assert [t["turn_id"] for t in report["turns"]] == ["greeting", "answer", "more"]
    assert [t["latency"] for t in report["turns"]] == [None, pytest.approx(2.2 - 1.48), None]
    assert report["latency"]["count"] == 1
    assert report["voiced_seconds"] == pytest.approx(1.0)
    assert report["audio_sent_seconds"] == pytest.approx(2.98, abs=0.021)
    assert report["session_id"] == "s1" and report["complete"] is True


def test_an_agent_that_starts_while_the_user_still_speaks_has_no_latency() -> None:
    report = build([*speak(0.0, 1.0, LOUD), agent(0.5, "t1", final=True)])
    assert report["turns"][0]["latency"] is None


def test_text_first_then_audio_is_one_turn_timed_by_its_audio() -> None:
    report = build(
        [
            *speak(0.0, 0.5, LOUD),
            *speak(0.5, 1.0, QUIET),
            message(0.7, "response_text", turn_id="t1", text="Hello there.", is_final=True),
            agent(0.9, "t1", final=True),
        ]
    )
    [turn] = report["turns"]
    assert turn["text"] == "Hello there." and turn["latency"] == pytest.approx(0.9 - 0.48)


def test_interruptions_mark_the_unfinished_turn_and_unplayed_chunks_are_counted() -> None:
    report = build(
        [
            message(0.0, "session_started", id="s"),
            agent(0.1, "t1", final=True),
            agent(0.2, "t2"),
            message(0.3, "interruption"),
            agent(0.31, "t2", played=False),
            agent(0.32, "t2", final=True, played=False),
            agent(0.4, "t3", 0, final=True),  # an empty final chunk: no turn
        ],
        {"speaker": {"underruns": 2, "device_underflows": 1}},
    )
    assert [(t["turn_id"], t["interrupted"], t["chunks_not_played"]) for t in report["turns"]] == [
        ("t1", False, 0),
        ("t2", True, 2),
    ]
    assert report["turns"][1]["audio_seconds"] == pytest.approx(0.02)
    assert report["interruptions"] == 1 and report["interruption_times"] == [0.3]
    assert (report["underruns"], report["device_underflows"]) == (2, 1)
    assert report["messages"]["in"] == {"interruption": 1, "response_audio": 5, "session_started": 1}


def test_tool_calls_with_their_outputs_and_durations() -> None:
    report = build(
        [
            message(1.0, "tool_call", toolCallId="c1", toolName="book", arguments=[]),
            message(1.0, "tool_call", toolCallId="c1", toolName="book", arguments=[]),  # repeated id
            message(1.5, "tool_call", toolCallId="c2", toolName="weather", arguments=[]),
            message(1.25, "tool_call_output", "out", toolCallId="c1", output="booked"),
        ]
    )
    calls = [(c["id"], c["name"], c["output"], c["seconds"]) for c in report["tool_calls"]]
    assert calls == [("c1", "book", "booked", 0.25), ("c2", "weather", None, None)]
    assert report["messages"]["out"] == {"tool_call_output": 1}


def test_transcripts_keep_only_finals_and_a_report_along_the_way_says_so() -> None:
    builder = ReportBuilder()
    builder.add(message(1.0, "input_audio_transcript", transcript="hel", is_final=False))
    builder.add(message(1.1, "input_audio_transcript", transcript="hello", is_final=True))
    assert builder.report(complete=False)["user_transcripts"] == ["hello"]
    assert builder.report(complete=False)["complete"] is False


def test_latency_summary() -> None:
    assert summarize_latencies([]) == {"count": 0, "mean": None, "p50": None, "max": None}
    assert summarize_latencies([0.3, 0.1, 0.2, 0.6]) == {"count": 4, "mean": 0.3, "p50": 0.25, "max": 0.6}
