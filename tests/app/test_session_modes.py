"""The session core's keys and modes, the heard/unheard split and the turn latency, on timelines.

Keys: ``m`` mic, ``s`` speaker, ``t`` push-to-talk with ``space`` to talk, ``/`` or Enter to
type a line, ``?`` help, ``q`` quit. Frames are 20 ms; times are on a virtual clock.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from vatel.app.core import KEYS, TYPED_SILENCE, Activity, SessionCore
from vatel.app.events import (
    Action,
    Audible,
    Close,
    Event,
    Flush,
    Heard,
    KeyPress,
    Line,
    MicFrame,
    MuteSpeaker,
    Received,
    Send,
    Show,
    SpeakText,
    Spoken,
    Tick,
)
from vatel.app.heard import split_heard
from vatel.app.latency import percentile
from vatel.audio.speech_end import SpeechEnd, frame_dbfs
from vatel.protocol import InputAudio, decode_server_message, encode_pcm

pytestmark = pytest.mark.unit

RATE = 24_000
FRAME_SECONDS = 0.02


def tone_frame(level: float, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(480) * level * 32767).clip(-32768, 32767).astype("<i2").tobytes()


VOICE = tone_frame(0.2)
QUIET = tone_frame(0.0005, seed=1)
SILENCE = bytes(960)


def received(type: str, data: Any = None) -> Received:
    return Received(decode_server_message(orjson.dumps({"type": type, "data": {} if data is None else data})))


def audio(turn_id: str, seconds: float = 0.5, final: bool = False) -> Received:
    pcm = tone_frame(0.2) * round(seconds / FRAME_SECONDS)
    return received("response_audio", {"turn_id": turn_id, "audio": encode_pcm(pcm), "is_final": final})


def text(turn_id: str, words: str, final: bool = False) -> Received:
    return received("response_text", {"turn_id": turn_id, "text": words, "is_final": final})


def live_core() -> SessionCore:
    core = SessionCore()
    core.handle(received("session_started", {"id": "call-1"}), 0.0)
    return core


def sent(actions: list[Action]) -> list[bytes]:
    return [a.message.data.pcm for a in actions if isinstance(a, Send) and isinstance(a.message, InputAudio)]


def lines(actions: list[Action]) -> list[Line]:
    return [a.line for a in actions if isinstance(a, Show)]


def keys(core: SessionCore, typed: str, now: float = 1.0) -> list[Action]:
    out: list[Action] = []
    for key in typed:
        out += core.handle(KeyPress(key), now)
    return out


def mic(core: SessionCore, frames: list[bytes], start: float) -> list[Action]:
    out: list[Action] = []
    for index, frame in enumerate(frames):
        out += core.handle(MicFrame(frame), start + (index + 1) * FRAME_SECONDS)
    return out


class TestPushToTalk:
    def test_silence_is_sent_until_space_and_after_space_again(self) -> None:
        core = live_core()
        assert sent(mic(core, [VOICE], 0.0)) == [VOICE]  # push-to-talk off: the microphone as is
        keys(core, "t")
        assert sent(mic(core, [VOICE, VOICE], 1.0)) == [SILENCE, SILENCE]  # same length, no sound
        keys(core, " ")
        assert sent(mic(core, [VOICE], 2.0)) == [VOICE]
        keys(core, " ")
        assert sent(mic(core, [VOICE], 3.0)) == [SILENCE]
        keys(core, "t")
        assert sent(mic(core, [VOICE], 4.0)) == [VOICE]
        assert core.stats.ptt_silenced_frames == 3

    def test_turning_push_to_talk_on_starts_not_talking(self) -> None:
        core = live_core()
        keys(core, "t t")  # on, talk, off
        keys(core, "t")  # on again: not talking
        assert sent(mic(core, [VOICE], 1.0)) == [SILENCE]

    def test_space_without_push_to_talk_only_hints(self) -> None:
        core = live_core()
        out = keys(core, " ")
        assert not core.talking and "t turns it on" in lines(out)[0].text
        assert sent(mic(core, [VOICE], 1.0)) == [VOICE]


class TestMutes:
    def test_a_muted_microphone_sends_nothing_and_mute_wins_over_talking(self) -> None:
        core = live_core()
        keys(core, "t m")  # push-to-talk, talking, muted
        assert sent(mic(core, [VOICE], 1.0)) == []
        keys(core, "m")
        assert sent(mic(core, [VOICE], 2.0)) == [VOICE]

    def test_muting_the_speaker_is_an_action_and_the_agent_still_plays(self) -> None:
        core = live_core()
        out = keys(core, "s")
        assert out[0] == MuteSpeaker(True) and core.speaker_muted
        played = core.handle(audio("t1"), 2.0)
        assert any(type(a).__name__ == "Play" for a in played)  # playback (and its accounting) goes on
        assert keys(core, "s")[0] == MuteSpeaker(False)


class TestTyping:
    def test_a_typed_line_is_voiced_then_sent_in_place_of_the_microphone(self) -> None:
        core = live_core()
        out = keys(core, "/hi q?m\x7f\r")  # q, ? and m are text inside the prompt; Backspace erases
        assert SpeakText("hi q?") in out
        assert not core.muted and core.prompt is None
        said = (tone_frame(0.3, seed=5), tone_frame(0.3, seed=6))
        core.handle(Spoken("hi q?", said), 1.5)
        trailing = round(TYPED_SILENCE / FRAME_SECONDS)
        out = mic(core, [VOICE] * (2 + trailing + 1), 2.0)
        assert sent(out) == [*said, *[SILENCE] * trailing, VOICE]  # then the microphone again
        assert core.stats.typed_lines == 1

    def test_enter_opens_the_prompt_and_escape_cancels_it(self) -> None:
        core = live_core()
        assert lines(keys(core, "\n"))[0] == Line("prompt", "")
        out = keys(core, "ab\x1b")
        assert core.prompt is None and not any(isinstance(a, SpeakText) for a in out)
        assert keys(core, "q")[-1] == Close(1000)  # keys act again

    def test_an_empty_line_or_control_keys_send_nothing(self) -> None:
        core = live_core()
        assert not any(isinstance(a, SpeakText) for a in keys(core, "/  \r"))
        assert keys(core, "/\x01") == [Show(Line("prompt", ""))]  # Ctrl-A: ignored in the prompt

    def test_typing_is_dropped_once_the_session_ended(self) -> None:
        core = live_core()
        keys(core, "/hello")
        core.handle(received("session_ended"), 2.0)
        assert not any(isinstance(a, SpeakText) for a in keys(core, "\r"))
        assert core.handle(Spoken("hello", (VOICE,)), 3.0) == []


class TestOtherKeys:
    def test_help_lists_every_key(self) -> None:
        out = lines(keys(live_core(), "?"))
        assert len(out) == len(KEYS) and all(line.speaker == "info" for line in out)

    @pytest.mark.parametrize("key", ["x", "\x1b", "[", "A", "é", "\t", "\x00"])
    def test_unknown_keys_only_hint(self, key: str) -> None:
        core = live_core()
        out = keys(core, key)
        assert [type(a) for a in out] == [Show] and out[0].line.speaker == "status"  # type: ignore[union-attr]
        assert sent(mic(core, [VOICE], 1.0)) == [VOICE]

    def test_quit(self) -> None:
        core = live_core()
        assert keys(core, "q")[-1] == Close(1000) and core.stop_requested


class TestHeard:
    def test_the_unheard_rest_of_an_interrupted_answer_is_split_off(self) -> None:
        core = live_core()
        answer = "one two three four five six seven eight"
        core.handle(text("t1", answer, final=True), 1.0)
        core.handle(audio("t1", 2.0, final=True), 1.0)
        out = core.handle(received("interruption"), 2.0)
        assert Flush("t1") in out
        split = lines(core.handle(Heard("t1", 1.0), 2.0))
        assert split == [Line("agent", "one two three four", key="agent:t1", unheard="five six seven eight")]
        assert core.handle(text("t1", answer + " nine", final=True), 2.1) == []  # shown already

    def test_an_answer_heard_to_the_end_is_not_struck(self) -> None:
        core = live_core()
        core.handle(text("t1", "all of it", final=True), 1.0)
        core.handle(audio("t1", 1.0, final=True), 1.0)
        core.handle(received("interruption"), 2.0)
        assert lines(core.handle(Heard("t1", 1.0), 2.0)) == [Line("agent", "all of it", key="agent:t1")]

    def test_heard_for_a_turn_not_interrupted_is_ignored(self) -> None:
        core = live_core()
        core.handle(text("t1", "hello there"), 1.0)
        assert core.handle(Heard("t1", 0.1), 2.0) == []

    def test_split_heard_cuts_at_a_word_start_and_estimates_missing_audio(self) -> None:
        assert split_heard("abc defgh", 0.5, 1.0, complete=True) == ("abc", "defgh")  # mid-word: back
        assert split_heard("abc def", 0.0, 1.0, complete=True) == ("", "abc def")
        # 1 s of 28 characters' audio received (about 2 s of speech at 14 chars/s): half heard is a quarter
        said = "a" * 6 + " " + "b" * 6 + " " + "c" * 6 + " " + "d" * 6
        assert split_heard(said, 0.5, 1.0, complete=False) == ("a" * 6, " ".join(["b" * 6, "c" * 6, "d" * 6]))


def speak_then_quiet(core: SessionCore, start: float, voiced: int, quiet: int) -> list[Action]:
    return mic(core, [QUIET] * 10 + [VOICE] * voiced + [QUIET] * quiet, start)


class TestLatency:
    def test_end_of_speech_to_the_first_audible_sample(self) -> None:
        core = live_core()
        speak_then_quiet(core, 0.0, voiced=25, quiet=20)  # speech ends at 0.2 + 0.5 = 0.70 s
        assert core.activity is Activity.THINKING
        out = core.handle(Audible("t1", 1.212), 1.3)
        assert lines(out) == [Line("info", "latency 512 ms")]
        assert core.latency.seconds == [pytest.approx(0.512)]
        assert core.handle(Audible("t1", 1.5), 1.5) == []  # a turn counts once

    def test_a_turn_heard_before_the_end_of_speech_or_after_new_speech_does_not_count(self) -> None:
        core = live_core()
        assert core.handle(Audible("t0", 0.1), 0.1) == []  # the agent speaks first: no user turn yet
        speak_then_quiet(core, 0.0, voiced=25, quiet=5)  # still speaking (300 ms of quiet not reached)
        assert core.speech.speaking and core.activity is Activity.USER_SPEAKING
        assert core.handle(Audible("t1", 0.85), 0.85) == []
        assert core.latency.seconds == []

    def test_a_turn_heard_before_the_vad_declares_the_end_counts_once_it_does(self) -> None:
        core = live_core()
        speak_then_quiet(core, 0.0, voiced=25, quiet=5)  # last voiced frame at 0.70 s; end not declared
        assert core.handle(Audible("t1", 0.80), 0.81) == []  # held
        out = mic(core, [QUIET] * 10, 0.90)  # 300 ms of quiet: the end is declared (at 0.70 s)
        assert lines(out) == [Line("info", "latency 100 ms")]
        assert core.latency.seconds == [pytest.approx(0.1)]

    def test_an_agent_heard_while_the_user_talks_on_does_not_count(self) -> None:
        core = live_core()
        speak_then_quiet(core, 0.0, voiced=10, quiet=0)  # speaking from 0.2 s
        core.handle(Audible("t1", 0.45), 0.45)  # the agent starts over the user
        mic(core, [VOICE] * 20 + [QUIET] * 20, 0.40)  # who goes on until 0.80 s
        assert core.latency.seconds == []

    def test_frames_are_timed_at_their_capture_when_the_shell_knows_it(self) -> None:
        core = live_core()
        frames = [QUIET] * 10 + [VOICE] * 25 + [QUIET] * 20
        for index, frame in enumerate(frames):  # each frame reaches the core 80 ms after its capture
            captured = (index + 1) * FRAME_SECONDS
            core.handle(MicFrame(frame, at=captured), captured + 0.08)
        core.handle(Audible("t1", 1.2), 1.3)
        assert core.latency.seconds == [pytest.approx(0.5)]  # from 0.70 s: the last voiced frame captured

    def test_thinking_lasts_until_the_answer_or_ten_seconds(self) -> None:
        core = live_core()
        seen: list[Activity] = []
        speak_then_quiet(core, 0.0, voiced=25, quiet=20)
        seen.append(core.activity)
        timeline: list[tuple[float, Event]] = [
            (10.0, Tick()),
            (11.2, Tick()),
            (12.0, received("speech_started", {"emulated": False})),
            (13.0, received("speech_stopped")),
            (13.5, audio("t1")),
        ]
        for now, event in timeline:
            core.handle(event, now)
            seen.append(core.activity)
        assert [a.value for a in seen] == [
            "thinking",
            "thinking",
            "listening",  # no answer for more than 10 s
            "user speaking",
            "thinking",
            "agent speaking",
        ]

    def test_percentiles(self) -> None:
        assert percentile([0.3, 0.1, 0.2], 0.5) == pytest.approx(0.2)
        assert percentile([0.1, 0.2], 0.95) == pytest.approx(0.195)
        core = live_core()
        for index, delay in enumerate([0.4, 0.6, 0.5]):
            start = 10.0 * index
            speak_then_quiet(core, start, voiced=25, quiet=20)
            core.handle(Audible(f"t{index}", start + 0.7 + delay), start + 2)
        assert core.latency.summary() == {"turns": 3, "p50_ms": 500.0, "p95_ms": 590.0}

    def test_a_muted_microphone_ends_speech_and_push_to_talk_silence_is_not_speech(self) -> None:
        core = live_core()
        mic(core, [QUIET] * 10 + [VOICE] * 10, 0.0)
        assert core.speech.speaking
        keys(core, "m")
        mic(core, [VOICE] * 20, 1.0)
        assert not core.speech.speaking


class TestSpeechEnd:
    def test_levels(self) -> None:
        assert frame_dbfs(SILENCE) == frame_dbfs(b"") == -120.0
        assert frame_dbfs(np.full(480, 16384, "<i2").tobytes()) == pytest.approx(-6.02, abs=0.01)

    def test_the_floor_follows_a_louder_background_and_a_click_is_not_speech(self) -> None:
        vad = SpeechEnd()
        edges = [vad.push(frame, i * 0.02) for i, frame in enumerate([QUIET] * 20 + [VOICE] + [QUIET] * 20)]
        assert edges == [None] * 41  # one loud frame: not speech
        noisy = tone_frame(0.01, seed=3)  # about -40 dBFS: voiced at first, then the floor rises to it
        events = [vad.push(noisy, 1.0 + i * 0.02) for i in range(500)]
        assert [e.started for e in events if e is not None] == [True, False]
        assert vad.floor is not None and vad.floor > -45


def test_every_event_type_reaches_the_core_without_error() -> None:
    core = live_core()
    events: list[Event] = [Spoken("x", ()), Heard("nope", 1.0), Audible("nope", 1.0), KeyPress("?")]
    for event in events:
        core.handle(event, 5.0)
