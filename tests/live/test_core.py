"""The call core on scripted timelines (virtual clock): each test runs in milliseconds.

Timelines are written as arithmetic in the comments; defaults: start_secs 0.2, stop_secs 0.2,
VAD frames of 32 ms, STT 0.1 s after the end of speech, brain 0.05 s, TTS 0.03 s per sentence,
0.3 s of audio per word, 40 ms chunks, at most 0.2 s ahead of the client's playout.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from support.call_sim import CallSim, Step
from vatel.protocol import ResponseAudio, ResponseText, SessionStarted, ToolCall
from vatel.server.engines.brain import Entry, ToolResult, Utterance
from vatel.server.live.core import CallConfig, CallCore, CallState, CallStateError
from vatel.server.live.events import (
    CheckTurn,
    ClientGone,
    FinishRecognition,
    PartialTranscript,
    Started,
    Tick,
    TurnVerdict,
    VoiceActivity,
)

pytestmark = pytest.mark.unit


def config(**overrides: object) -> CallConfig:
    return CallConfig(session_id="call-1", **overrides)  # type: ignore[arg-type]


class TestStartAndFirstMessage:
    def test_session_started_comes_first_with_the_call_id(self) -> None:
        sim = CallSim(config()).run(0.5)
        assert isinstance(sim.sent[0].message, SessionStarted)
        assert sim.sent[0].message.data.id == "call-1"

    def test_first_message_text_then_paced_audio_with_one_final_chunk(self) -> None:
        # "Hello there, welcome." = 3 words = 0.9 s of audio, synthesised at 0.03 s.
        sim = CallSim(config(first_message="Hello there, welcome.")).run(3.0)
        assert sim.types()[:3] == ["session_started", "response_text", "response_audio"]
        text = sim.first("response_text").message
        assert (
            isinstance(text, ResponseText)
            and text.data.is_final
            and text.data.text == "Hello there, welcome."
        )
        audio = sim.audio()
        assert sum(len(message.data.audio) for _, message in audio) > 0
        finals = [message for _, message in audio if message.data.is_final]
        assert len(finals) == 1 and finals[0] is audio[-1][1]
        # Paced: never more than 0.2 s ahead. The last chunk starts playing at 0.03 + 0.9 - 0.04.
        assert audio[-1][0] >= 0.03 + 0.9 - 0.04 - 0.2 - 1e-9
        assert len({message.data.turn_id for _, message in audio}) == 1

    def test_no_first_message_means_listening(self) -> None:
        sim = CallSim(config()).run(2.0)
        assert sim.types() == ["session_started"]

    def test_started_twice_and_events_before_it_are_errors(self) -> None:
        core = CallCore(config())
        with pytest.raises(CallStateError, match="before Started"):
            core.handle(Tick(), 0.0)
        core.handle(Started(), 0.0)
        with pytest.raises(CallStateError, match="state=active"):
            core.handle(Started(), 0.1)


class TestEndOfTurnModel:
    """``turn_model=True``: at ``stop_secs`` of silence the model is asked; its verdict sets the wait.

    "Hello, [pause 1.0-1.5 s] can you hear me clearly?": the model is asked after turn_check_secs
    (0.1 s) of silence and answers 0.05 s later, before stop_secs (0.2 s) is reached at ≈1.2 s.
    Sure (≥ 0.9): the turn ends at stop_secs; unsure (0.5-0.9): the pause needs 0.7 s;
    incomplete (< 0.5): 1.6 s. The user goes on at 1.5 s in every case but
    the sure one.
    """

    @staticmethod
    def sim(pause_verdict: float | None, final_verdict: float = 0.97, **overrides: object) -> CallSim:
        def verdict(pause: float) -> float | None:
            return pause_verdict if pause < 1.4 else final_verdict

        return (
            CallSim(config(turn_model=True, **overrides), turn_complete=verdict)
            .user_says(0.5, 1.0, "hello")
            .user_says(1.5, 2.5, "hello can you hear me clearly")
        )

    def test_an_incomplete_verdict_keeps_the_turn_open_through_a_mid_sentence_pause(self) -> None:
        sim = self.sim(0.2).run(5.0)
        assert sim.types().count("speech_started") == 1
        assert sim.types().count("speech_stopped") == 1
        # The real end: silence from ≈2.5 s, the sure verdict at ≈2.65 s, stop_secs reached at ≈2.7 s.
        assert 2.7 - 0.032 <= sim.first("speech_stopped").at <= 2.7 + 0.04
        assert [e["message"] for e in sim.records if e.get("role") == "user"] == [
            "hello can you hear me clearly"
        ]

    def test_a_sure_verdict_ends_the_turn_after_stop_secs(self) -> None:
        sim = self.sim(0.95).run(5.0)
        assert sim.types().count("speech_stopped") == 2  # the pause was taken as the end: a false cut
        assert 1.2 - 0.032 <= sim.first("speech_stopped").at <= 1.2 + 0.04

    def test_an_unsure_verdict_waits_longer_and_the_user_goes_on(self) -> None:
        sim = self.sim(0.7).run(5.0)
        assert sim.types().count("speech_stopped") == 1
        # Shorter pause than unsure_stop_secs would end it: the same pause with 0.8 s of silence ends.
        sim = (
            CallSim(config(turn_model=True), turn_complete=lambda _pause: 0.7)
            .user_says(0.5, 1.0, "hello")
            .run(3.0)
        )
        assert 1.7 - 0.032 <= sim.first("speech_stopped").at <= 1.7 + 0.04  # less one VAD frame

    def test_no_verdict_at_all_ends_the_turn_at_max_stop_secs(self) -> None:
        sim = (
            CallSim(config(turn_model=True), turn_complete=lambda _pause: None)
            .user_says(0.5, 1.0, "hi")
            .run(4.0)
        )
        assert 2.6 - 0.032 <= sim.first("speech_stopped").at <= 2.6 + 0.04
        from vatel.server.live.events import FinishRecognition

        assert [at for at, a in sim.actions if isinstance(a, FinishRecognition)]  # decoded all the same

    def test_a_verdict_that_arrives_after_the_user_went_on_is_ignored(self) -> None:
        # The sure verdict for the 1.0 s pause takes 0.4 s: the user spoke again at 1.5 s.
        sim = (
            CallSim(config(turn_model=True), turn_complete=lambda pause: 0.99, turn_delay=0.4)
            .user_says(0.5, 1.0, "hello")
            .user_says(1.45, 2.5, "hello can you hear me")
        )
        sim.run(5.0)
        assert sim.types().count("speech_stopped") == 1

    def test_audio_that_stops_coming_mid_pause_still_ends_the_turn_by_the_clock(self) -> None:
        # The client sends speech 0.5-1.0 s, 0.3 s of silence, then nothing (no VAD frames after 1.3 s).
        # The unsure verdict asks for 0.7 s of silence: due at ≈1.0 + 0.7, by the clock 0.3 s later.
        from vatel.server.live.endpointing import LATE_AUDIO_SECS

        core = CallCore(config(turn_model=True))
        core.handle(Started(), 0.0)
        out: list[object] = []
        for index in range(1, 41):  # 32 ms frames up to 1.28 s
            at = index * 0.032
            out += core.handle(VoiceActivity(at, 0.5 <= at - 0.016 < 1.0, 0.032), at)
        assert any(isinstance(a, CheckTurn) for a in out)
        out += core.handle(TurnVerdict(0.992, 0.7), 1.3)
        wake = core.next_wakeup(1.3)
        assert wake is not None and abs(wake - (0.992 + 0.7 + LATE_AUDIO_SECS)) < 1e-6
        assert not any(isinstance(a, FinishRecognition) for a in core.handle(Tick(), wake - 0.01))
        assert any(isinstance(a, FinishRecognition) for a in core.handle(Tick(), wake))

    @pytest.mark.parametrize(
        ("audio", "text", "ends_in_pause"),
        [
            (0.95, "Hello, I would like to book a table for", False),  # the words trail off: wait
            (0.95, None, True),  # no text in time: the audio's word
            (0.95, "Hello.", True),  # sure and finished: ends in the pause
            (0.7, "Hello.", False),  # unsure audio: a full stop does not make it sure (0.7 s)
            (0.3, "Hello.", False),  # mid-sentence audio: waits
        ],
    )
    def test_words_that_trail_off_keep_the_turn_open(
        self, audio: float, text: str | None, ends_in_pause: bool
    ) -> None:
        # "Hello" 0.5-1.0 s, then 0.45 s of silence, then more speech: a sure verdict ends the
        # turn in the pause (≈1.25 s); unsure (0.7 s) or incomplete (1.6 s) waits through it.
        sim = (
            CallSim(config(turn_model=True), turn_complete=lambda _p: audio, turn_text=lambda _p: text)
            .user_says(0.5, 1.0, "hello")
            .user_says(1.45, 2.5, "hello there")
            .run(5.0)
        )
        assert (sim.types().count("speech_stopped") == 2) is ends_in_pause

    def test_the_words_arriving_after_a_sure_verdict_can_still_hold_the_turn(self) -> None:
        # Speech 0.5-1.0 s; the audio says "sure" at ≈1.15 s; the early decode's words arrive at
        # ≈1.18 s, before stop_secs is reached (≈1.19 s), and trail off: the turn waits 1.6 s.
        core = CallCore(config(turn_model=True))
        core.handle(Started(), 0.0)
        checks: list[CheckTurn] = []
        for index in range(1, 37):  # to 1.152 s
            at = index * 0.032
            out = core.handle(VoiceActivity(at, 0.5 <= at - 0.016 < 1.0, 0.032), at)
            checks += [a for a in out if isinstance(a, CheckTurn)]
        [check] = checks
        core.handle(TurnVerdict(check.pause, 0.95), 1.155)
        core.handle(TurnVerdict(check.pause, 0.95, "I would like a table for"), 1.18)
        ended = []
        for index in range(37, 90):  # silence to 2.88 s
            at = index * 0.032
            out = core.handle(VoiceActivity(at, False, 0.032), at)
            ended += [at for a in out if isinstance(a, FinishRecognition)]
        assert ended and ended[0] >= check.pause + 1.6 - 1e-6

    @staticmethod
    def _pause_with_late_words(text: str | None, words_at: float) -> tuple[float, list[float]]:
        """Speech 0.5-1.0 s; the audio says "sure" at 1.155 s while the early decode still runs
        (``text_pending``); its words (``text``) come at ``words_at``. When the turn ended."""
        core = CallCore(config(turn_model=True))
        core.handle(Started(), 0.0)
        checks: list[CheckTurn] = []
        ended: list[float] = []
        for index in range(1, 90):  # silence from 1.0 s to 2.88 s
            at = index * 0.032
            if checks and at >= words_at > at - 0.032:
                out = core.handle(TurnVerdict(checks[0].pause, 0.95, text), words_at)
                ended += [words_at for a in out if isinstance(a, FinishRecognition)]
            out = core.handle(VoiceActivity(at, 0.5 <= at - 0.016 < 1.0, 0.032), at)
            ended += [at for a in out if isinstance(a, FinishRecognition)]
            new_checks = [a for a in out if isinstance(a, CheckTurn)]
            if new_checks:
                checks += new_checks
                out = core.handle(TurnVerdict(new_checks[0].pause, 0.95, text_pending=True), at + 0.003)
                ended += [at for a in out if isinstance(a, FinishRecognition)]
        return checks[0].pause, ended

    def test_a_sure_verdict_waits_for_the_words_still_being_decoded(self) -> None:
        # The words come 0.3 s into the pause, after stop_secs (0.2 s): the turn did not end at
        # stop_secs, and "a table for" trails off, so it waits the full 1.6 s.
        pause, ended = self._pause_with_late_words("I would like a table for", 1.3)
        assert ended and ended[0] >= pause + 1.6 - 1e-6

    def test_complete_words_end_the_waiting_turn_as_they_arrive(self) -> None:
        pause, ended = self._pause_with_late_words("What are your opening hours?", 1.3)
        assert ended and ended[0] == pytest.approx(1.3)
        assert ended[0] > pause + 0.2  # held past stop_secs only until the words came

    def test_no_words_after_all_end_the_turn_on_the_audio(self) -> None:
        _, ended = self._pause_with_late_words(None, 1.3)  # the decode failed or was too slow
        assert ended and ended[0] == pytest.approx(1.3)

    def test_without_a_model_stop_secs_alone_ends_the_turn(self) -> None:
        from vatel.server.live.events import CheckTurn

        sim = CallSim(config()).user_says(0.5, 1.0, "hello").user_says(1.5, 2.5, "can you hear me").run(5.0)
        assert sim.types().count("speech_stopped") == 2
        assert not [a for _, a in sim.actions if isinstance(a, CheckTurn)]


class TestUserTurn:
    def test_a_spoken_question_gets_an_answer(self) -> None:
        # User speaks 0.5-1.5 s. Turn starts once 0.2 s of speech is seen (≈0.7 s), ends after 0.2 s
        # of silence (≈1.7 s); final transcript at +0.1 s; brain at +0.05 s; audio at +0.03 s.
        sim = CallSim(config()).user_says(0.5, 1.5, "what time is it").run(4.0)
        assert sim.types() == [
            "session_started", "speech_started", "speech_stopped", "input_audio_transcript",
            "response_text", "response_text", "response_audio",
        ]  # fmt: skip
        started, stopped = sim.first("speech_started"), sim.first("speech_stopped")
        assert 0.7 <= started.at <= 0.75
        assert 1.7 <= stopped.at <= 1.75
        transcript = sim.first("input_audio_transcript").message
        assert transcript.data.transcript == "what time is it" and transcript.data.is_final  # type: ignore[union-attr]
        first_audio = sim.first("response_audio")
        assert first_audio.at - stopped.at <= 0.1 + 0.05 + 0.03 + 0.001  # STT + brain + TTS, nothing more
        assert [e["role"] for e in sim.records if e.get("type") == "message"] == ["user", "assistant"]

    def test_recognition_is_prepared_when_silence_begins(self) -> None:
        # Speech 0.5-1.0 and 1.25-2.0 with stop_secs 0.4: two silences begin (≈1.0 and ≈2.0),
        # only the second ends the turn (≈2.4); each silence prepares the decode.
        from vatel.server.live.events import FinishRecognition, PrepareRecognition

        sim = (
            CallSim(config(stop_secs=0.4))
            .user_says(0.5, 1.0, "")
            .user_says(1.25, 2.0, "hello there")
            .run(4.0)
        )
        kinds = [
            (at, type(a)) for at, a in sim.actions if isinstance(a, PrepareRecognition | FinishRecognition)
        ]
        assert [k for _, k in kinds] == [PrepareRecognition, PrepareRecognition, FinishRecognition]
        assert 1.0 <= kinds[0][0] <= 1.07 and 2.0 <= kinds[1][0] <= 2.07 and kinds[2][0] >= 2.4
        assert kinds[2][0] - kinds[1][0] >= 0.4 - 0.032  # a head start of stop_secs, less one VAD frame

    def test_a_short_click_is_not_a_turn(self) -> None:
        sim = CallSim(config()).user_says(0.5, 0.6, "").run(2.0)  # 0.1 s < start_secs
        assert "speech_started" not in sim.types()

    def test_a_pause_shorter_than_stop_secs_does_not_end_the_turn(self) -> None:
        sim = (
            CallSim(config(stop_secs=0.4))
            .user_says(0.5, 1.0, "")
            .user_says(1.25, 2.0, "hello there")
            .run(4.0)
        )
        assert sim.types().count("speech_started") == 1
        assert sim.types().count("speech_stopped") == 1
        assert sim.first("speech_stopped").at >= 2.4

    def test_a_transcript_without_vad_emulates_speech_started(self) -> None:
        sim = CallSim(config()).at(1.0, PartialTranscript("hel")).run(1.5)
        assert sim.types() == ["session_started", "speech_started", "input_audio_transcript"]
        started = sim.first("speech_started").message
        assert started.data.emulated is True  # type: ignore[union-attr]
        interim = sim.first("input_audio_transcript").message
        assert interim.data.is_final is False and interim.data.turn_id  # type: ignore[union-attr]

    def test_empty_final_transcripts_do_not_reach_the_brain(self) -> None:
        sim = CallSim(config()).user_says(0.5, 1.0, "").run(3.0)
        assert "speech_stopped" in sim.types()
        assert "response_text" not in sim.types()


class TestBargeIn:
    def long_answer(self, conversation: Sequence[Entry]) -> list[Step]:
        return ["One two three four five six seven eight nine ten.", "Eleven twelve thirteen fourteen."]

    def test_barge_in_stops_the_audio_at_once_and_a_new_turn_id_follows(self) -> None:
        # Question 0.5-1.0; answer audio from ≈1.39 s, 4.2 s long. Barge-in speech at 3.0 s: the
        # first speech frame is 3.008-3.04, and over the agent barge_in_secs (0.15 s: 5 frames)
        # starts the turn at 3.008 + 0.16 = 3.168 s -> interruption then.
        sim = CallSim(config(), brain=self.long_answer)
        sim.user_says(0.5, 1.0, "tell me a story").user_says(3.0, 3.6, "stop").run(8.0)
        interruption = sim.first("interruption")
        assert 3.16 <= interruption.at <= 3.18
        first_turn = sim.audio()[0][1].data.turn_id
        late = [s for s in sim.of_turn("response_audio", first_turn) if s.at > interruption.at]
        assert late == []
        assert first_turn in sim.cancelled
        later = sim.first("response_audio", after=interruption.at).message
        assert later.data.turn_id != first_turn  # type: ignore[union-attr]
        # The transcript keeps what was heard: (3.0 - 1.39) s of 0.3 s words ≈ 5 words, not 14.
        heard = next(e for e in sim.records if e.get("role") == "assistant")["message"]
        assert heard.startswith("One two three four")
        assert "fourteen" not in heard and 4 <= len(heard.split()) <= 7
        assert any(e["type"] == "interruption" for e in sim.records)

    def test_a_cough_or_a_click_over_the_agent_does_not_cut_it(self) -> None:
        # 0.12 s of "speech" is 3 or 4 VAD frames (<= 0.128 s), under barge_in_secs.
        for noise in (0.005, 0.12):
            sim = CallSim(config(), brain=self.long_answer)
            sim.user_says(0.5, 1.0, "tell me a story").user_says(3.0, 3.0 + noise, "").run(8.0)
            assert "interruption" not in sim.types(), noise
            assert sim.types().count("speech_started") == 1  # the question only

    def test_barge_in_needs_less_speech_than_a_turn_in_silence(self) -> None:
        # 0.17 s of speech: 5 frames (0.16 s) cut the agent, but start no turn while it is silent.
        over = CallSim(config(), brain=self.long_answer)
        over.user_says(0.5, 1.0, "tell me a story").user_says(3.0, 3.17, "").run(8.0)
        assert "interruption" in over.types()
        quiet = CallSim(config()).user_says(0.5, 0.67, "").run(2.0)
        assert "speech_started" not in quiet.types()

    def test_a_smaller_start_secs_applies_to_barge_in_too(self) -> None:
        # start_secs 0.1 (4 frames, 0.128 s) is below barge_in_secs: the agent is cut sooner.
        sim = CallSim(config(start_secs=0.1), brain=self.long_answer)
        sim.user_says(0.5, 1.0, "tell me a story").user_says(3.0, 3.6, "stop").run(8.0)
        assert 3.13 <= sim.first("interruption").at <= 3.14
        slow = CallSim(config(barge_in_secs=0.3), brain=self.long_answer)
        slow.user_says(0.5, 1.0, "tell me a story").user_says(3.0, 3.6, "stop").run(8.0)
        assert 3.23 <= slow.first("interruption").at <= 3.24  # start_secs (7 frames) is the smaller

    def test_barge_in_near_the_end_of_playout_still_interrupts(self) -> None:
        # All audio is *sent* by ≈ end - 0.2 s, but the client plays it until the end: speech
        # starting 0.1 s before the end must still interrupt.
        sim = CallSim(config(), brain=lambda c: ["One two three."])
        sim.user_says(0.5, 1.0, "hi").run(6.0)
        audio = [s for s in sim.sent if s.type == "response_audio"]
        end_of_playout = audio[0].at + 0.9
        again = CallSim(config(), brain=lambda c: ["One two three."])
        again.user_says(0.5, 1.0, "hi").user_says(end_of_playout - 0.3, end_of_playout + 0.5, "wait").run(6.0)
        assert "interruption" in again.types()

    def test_the_first_message_cannot_be_cut_inside_its_window(self) -> None:
        sim = CallSim(
            config(first_message="One two three four five six.", first_message_interruption_time=5.0)
        )
        sim.user_says(0.6, 1.2, "hello").run(5.0)
        assert "interruption" not in sim.types()
        # the user is answered after the first message, not lost
        texts = sim.texts()
        assert "You said hello." in texts

    def test_speech_while_thinking_drops_the_answer_quietly(self) -> None:
        sim = CallSim(config(), brain_delay=1.0)
        sim.user_says(0.5, 1.0, "first").user_says(1.5, 2.0, "second").run(5.0)
        assert "interruption" not in sim.types()
        texts = sim.texts()
        assert "You said first." not in texts and "You said second." in texts


class TestTools:
    def tool_brain(self, conversation: Sequence[Entry]) -> list[Step]:
        last = conversation[-1]
        if isinstance(last, ToolResult):
            return [f"Booked: {last.output}."]
        return [
            "Let me check.",
            ("tool", "book_table", [{"name": "people", "value": 2, "dataType": "number"}]),
        ]

    def test_tool_round_trip_in_one_turn(self) -> None:
        sim = CallSim(config(), brain=self.tool_brain).user_says(0.5, 1.0, "book a table").run(5.0)
        call = sim.first("tool_call").message
        assert isinstance(call, ToolCall)
        assert call.data.toolName == "book_table" and call.data.arguments[0].value == 2
        texts = [s.message for s in sim.sent if s.type == "response_text"]
        assert isinstance(texts[-1], ResponseText) and texts[-1].data.is_final
        assert texts[-1].data.text == f"Let me check. Booked: result of {call.data.toolCallId}."
        turn_ids = {t.data.turn_id for t in texts}  # type: ignore[union-attr]
        assert len(turn_ids) == 1
        kinds = [e["type"] for e in sim.records]
        assert kinds.index("tool_call") < kinds.index("tool_call_output")

    def test_no_tool_output_in_time_continues_with_an_error(self) -> None:
        sim = CallSim(config(tool_timeout=2.0), brain=self.tool_brain, tool_delay=None)
        sim.user_says(0.5, 1.0, "book").run(6.0)
        call_at = sim.first("tool_call").at
        final = [s for s in sim.sent if s.type == "response_text"][-1]
        assert final.at >= call_at + 2.0
        assert "no tool_call_output in time" in final.message.data.text  # type: ignore[union-attr]


class TestEndOfCall:
    def test_the_brain_ends_the_call_after_its_goodbye_is_heard(self) -> None:
        sim = CallSim(config(), brain=lambda c: ["Goodbye.", ("end", "ended_by_agent")])
        sim.user_says(0.5, 1.0, "bye").run(5.0)
        assert sim.types()[-1] == "session_ended"
        last_audio = [s for s in sim.sent if s.type == "response_audio"][-1]
        assert sim.first("session_ended").at >= last_audio.at  # after the goodbye played
        assert sim.hangup is not None and sim.hangup.outcome == "ended_by_agent"

    def test_silence_reprompts_then_ends(self) -> None:
        # silence_timeout 2 s, 2 strikes: reprompt at 2.0, the goodbye after the next 2 s of quiet.
        sim = CallSim(config(silence_timeout_secs=2.0, silence_counter=2)).run(20.0)
        texts = sim.texts()
        assert texts == ["Are you still there?", "Goodbye."]
        assert sim.types()[-1] == "session_ended"
        assert sim.hangup is not None and sim.hangup.reason == "silence timeout"

    def test_speaking_resets_the_silence_count(self) -> None:
        sim = (
            CallSim(config(silence_timeout_secs=2.0, silence_counter=2)).user_says(2.5, 3.0, "here").run(5.5)
        )
        assert "session_ended" not in sim.types()

    def test_the_call_length_limit(self) -> None:
        sim = CallSim(config(max_duration=3.0, silence_timeout_secs=0)).run(10.0)
        assert sim.types() == ["session_started", "session_ended"]
        assert sim.first("session_ended").at == pytest.approx(3.0, abs=0.05)

    def test_a_vanished_client_ends_the_call_without_messages(self) -> None:
        # The answer's audio starts ≈1.39 s; the client leaves at 1.6 s, having heard ≈0.2 s.
        sim = CallSim(config(), brain=lambda c: ["One two three four five."])
        sim.user_says(0.5, 1.0, "hi").client_gone(1.6).run(5.0)
        assert sim.hangup is not None and sim.hangup.reason == "client disconnected"
        assert all(s.at <= 1.6 for s in sim.sent)
        assistant = [e["message"] for e in sim.records if e.get("role") == "assistant"]
        assert assistant in ([], ["One"])  # only what was heard
        assert sim.core.state is CallState.ENDED
        assert sim.core.handle(ClientGone(), 2.0) == [] and sim.core.next_wakeup(2.0) is None


def test_every_message_is_schema_shaped() -> None:
    # Drive a busy call and check every message round-trips as the protocol model it claims to be.
    from vatel.protocol import parse_server_message

    sim = CallSim(config(first_message="Hi."), brain=TestTools().tool_brain)
    sim.user_says(0.5, 1.0, "book").user_says(1.6, 2.2, "stop").run(6.0)
    for sent in sim.sent:
        assert parse_server_message(sent.message.to_wire()) == sent.message
    audio = [s.message for s in sim.sent if isinstance(s.message, ResponseAudio)]
    assert all(len(m.data.audio) <= 4 * 24_000 * 2 * 0.1 / 3 + 4 for m in audio)  # ≤ 100 ms per chunk
    assert isinstance(sim.core.conversation[0], Utterance)
