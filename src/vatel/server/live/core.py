"""The call core: turn-taking, barge-in, tools, timeouts and the end of a call, as a pure machine.

Rules (read before changing anything here):

1. Nothing here does I/O or reads a clock. ``handle(event, now)`` returns the actions the shell
   must carry out; the shell calls ``handle(Tick(), now)`` at :meth:`CallCore.next_wakeup` (and
   whenever it likes). So a whole call can be scripted on a virtual clock and run in milliseconds.
2. One agent turn at a time (:class:`~vatel.server.live.playout.Playout`). A new user utterance
   that reaches the brain cancels nothing; a barge-in cancels the turn (``interruption``,
   :class:`CancelTurn`) and the next agent turn gets a new ``turn_id``. Late results of a
   cancelled turn are dropped here, by ``turn_id``.
3. The agent is speaking until the audio already sent would have finished playing, so a barge-in
   near the end of an answer still interrupts, and the transcript keeps only what was heard.
4. States: CONNECTING → ACTIVE → (ENDING →) ENDED. ``Started`` twice, or anything before it,
   raises :class:`CallStateError`; results arriving after ENDED are ignored (engines finish late).

Messages follow protocol.md §3 and the OpenAPI schemas exactly; every ``Send`` carries a
``vatel.protocol`` message model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from vatel.protocol import (
    InputAudioTranscript,
    InputAudioTranscriptData,
    Interruption,
    ResponseAudio,
    ResponseText,
    ResponseTextData,
    SessionEnded,
    SessionStarted,
    SessionStartedData,
    SpeechStarted,
    SpeechStartedData,
    SpeechStopped,
    ToolCall,
    ToolCallArgument,
    ToolCallData,
)
from vatel.server.engines.brain import Entry, ToolRequest, ToolResult, Utterance
from vatel.server.live.endpointing import (
    Endpointer,
    PauseReached,
    SilenceBegan,
    TurnEnded,
    TurnStarted,
    text_verdict,
)
from vatel.server.live.events import (
    Action,
    AgentAudioSent,
    BrainCalledTool,
    BrainDone,
    BrainEnded,
    BrainFailed,
    BrainSaid,
    CancelRecognition,
    CancelTurn,
    CheckTurn,
    ClientGone,
    Event,
    FinalTranscript,
    FinishRecognition,
    Hangup,
    PartialTranscript,
    PrepareRecognition,
    Record,
    Send,
    Speak,
    SpeechAudio,
    SpeechDone,
    Started,
    StartRecognition,
    Think,
    ToolOutput,
    TurnVerdict,
    VoiceActivity,
)
from vatel.server.live.playout import Playout

SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
EPS = 1e-9
"""Deadlines are compared with this tolerance: a wake-up computed as ``a + b`` must find its deadline due."""


class CallState(Enum):
    CONNECTING = "connecting"
    ACTIVE = "active"
    ENDING = "ending"
    ENDED = "ended"


class CallStateError(RuntimeError):
    """An event the core cannot take in its state (a bug in the shell, not in the call)."""


@dataclass(frozen=True)
class CallConfig:
    session_id: str
    first_message: str = ""
    first_message_interruption_time: float = 0.0
    start_secs: float = 0.2
    barge_in_secs: float = 0.15
    """While the agent is audible, this much speech (if less than ``start_secs``) starts the user's
    turn and cuts the agent: with 32 ms VAD frames, 0.2 s takes 7 frames and the agent stops about
    0.27 s after the onset; 0.15 s takes 5 and it stops within 0.25 s, while a 0.1 s cough or a
    click still stays under it (benchmarks/barge_in.py)."""
    stop_secs: float = 0.2
    turn_model: bool = False
    """An end-of-turn model answers :class:`CheckTurn`; without one, ``stop_secs`` of silence ends a turn."""
    sure_complete: float = 0.9
    """A verdict this sure ends the turn after ``stop_secs``; a less sure one waits ``unsure_stop_secs``."""
    unsure_complete: float = 0.5
    """Below this the user is taken to be mid-sentence: the turn ends only at ``max_stop_secs``."""
    unsure_stop_secs: float = 0.7
    max_stop_secs: float = 1.6
    turn_check_secs: float = 0.1
    """Silence before the model is asked (at most ``stop_secs``): its answer is ready by ``stop_secs``."""
    silence_timeout_secs: float = 10.0
    silence_counter: int = 3
    max_duration: float = 1800.0
    tool_timeout: float = 15.0
    lead: float = 0.2
    chunk_seconds: float = 0.04
    reprompt: str = "Are you still there?"
    goodbye: str = "Goodbye."


@dataclass
class _AgentTurn:
    playout: Playout
    interruptible_from: float
    brain_done: bool = True
    tool: tuple[str, float] | None = None
    """The tool call it waits for: (toolCallId, deadline)."""
    end_reason: str | None = None
    position: int = 0
    """Where its text goes in the conversation: before what the user said while it spoke."""

    @property
    def complete(self) -> bool:
        """Nothing more will be added: the brain is done, nothing waits, all is synthesised."""
        return self.brain_done and self.tool is None and self.playout.synthesised


def split_sentences(text: str) -> list[str]:
    return [part for part in (p.strip() for p in SENTENCE_END.split(text.strip())) if part]


class CallCore:
    def __init__(self, config: CallConfig) -> None:
        self.config = config
        self.state = CallState.CONNECTING
        self.conversation: list[Entry] = []
        self._endpointer = Endpointer(
            config.start_secs,
            config.stop_secs,
            config.max_stop_secs if config.turn_model else None,
            config.turn_check_secs,
        )
        self._turns = 0
        self._users = 0
        self._tools = 0
        self._agent: _AgentTurn | None = None
        self._user_turn: str | None = None
        self._waiting_final = False
        self._unanswered = False
        self._started_at = 0.0
        self._listening_since = 0.0
        self._strikes = 0
        self._end: tuple[str, str | None] | None = None

    # --- the one entry point --------------------------------------------------------------------

    def handle(self, event: Event, now: float) -> list[Action]:
        if self.state is CallState.CONNECTING and not isinstance(event, Started):
            raise CallStateError(f"can't handle {type(event).__name__} before Started")
        if isinstance(event, Started):
            if self.state is not CallState.CONNECTING:
                raise CallStateError(f"can't handle Started when state={self.state.value}")
            return self._on_started(now)
        if self.state is CallState.ENDED:
            return []
        if isinstance(event, ClientGone):
            return self._on_client_gone(now)
        out: list[Action] = []
        if isinstance(event, VoiceActivity):
            out += self._on_voice(event, now)
        elif isinstance(event, TurnVerdict):
            out += self._on_verdict(event)
        elif isinstance(event, PartialTranscript):
            out += self._on_partial(event, now)
        elif isinstance(event, FinalTranscript):
            out += self._on_final(event, now)
        elif isinstance(event, BrainSaid | BrainCalledTool | BrainEnded | BrainDone | BrainFailed):
            out += self._on_brain(event, now)
        elif isinstance(event, SpeechAudio | SpeechDone):
            out += self._on_speech(event)
        elif isinstance(event, ToolOutput):
            out += self._on_tool_output(event, now)
        out += self._advance(now)
        return out

    def next_wakeup(self, now: float) -> float | None:
        """When a :class:`Tick` may next change something (``None``: only an event will)."""
        if self.state is CallState.ENDED:
            return None
        times = [self._started_at + self.config.max_duration]
        if self._agent is not None:
            playout = self._agent.playout
            send = playout.next_send(now)
            if send is not None:
                times.append(send)
            if now < playout.play_end:
                times.append(playout.play_end)
            if self._agent.tool is not None:
                times.append(self._agent.tool[1])
        elif self._listening() and self.config.silence_timeout_secs > 0:
            times.append(self._listening_since + self.config.silence_timeout_secs)
        pause_deadline = self._endpointer.deadline
        if pause_deadline is not None and self._user_turn is not None and not self._waiting_final:
            times.append(pause_deadline)
        return min(times)

    # --- call start and end ---------------------------------------------------------------------

    def _on_started(self, now: float) -> list[Action]:
        self.state = CallState.ACTIVE
        self._started_at = self._listening_since = now
        out: list[Action] = [Send(SessionStarted(data=SessionStartedData(id=self.config.session_id)))]
        if self.config.first_message.strip():
            out += self._say(
                now,
                self.config.first_message,
                interruptible_after=self.config.first_message_interruption_time,
            )
        return out

    def _on_client_gone(self, now: float) -> list[Action]:
        out = self._keep_heard(now) + self._drop_agent_turn() + self._drop_user_turn()
        self.state = CallState.ENDED
        return [*out, Hangup("client disconnected", "ended_by_user")]

    def _keep_heard(self, now: float) -> list[Action]:
        """When a call stops mid-answer, the transcript keeps what the user heard of it."""
        turn = self._agent
        if turn is None:
            return []
        heard = turn.playout.heard(now)
        if not heard:
            return []
        self.conversation.insert(turn.position, Utterance("assistant", heard))
        return [Record(_message("assistant", heard, turn.playout.turn_id, now))]

    def _finish(self, reason: str, outcome: str | None, now: float) -> list[Action]:
        out = self._keep_heard(now) + self._drop_agent_turn() + self._drop_user_turn()
        self.state = CallState.ENDED
        return [*out, Send(SessionEnded()), Hangup(reason, outcome)]

    # --- agent turns ----------------------------------------------------------------------------

    def _new_turn(self, now: float, interruptible_after: float = 0.0) -> _AgentTurn:
        self._turns += 1
        playout = Playout(
            f"turn-{self._turns}", chunk_seconds=self.config.chunk_seconds, lead=self.config.lead
        )
        turn = _AgentTurn(
            playout, interruptible_from=now + interruptible_after, position=len(self.conversation)
        )
        self._agent = turn
        return turn

    def _say(
        self, now: float, text: str, *, interruptible_after: float = 0.0, end: str | None = None
    ) -> list[Action]:
        """A turn whose text is known up front (first message, reprompt, goodbye)."""
        turn = self._new_turn(now, interruptible_after)
        turn.end_reason = end
        out: list[Action] = []
        for sentence in split_sentences(text):
            index = turn.playout.add_segment(sentence)
            out.append(Speak(turn.playout.turn_id, index, sentence))
        out.append(self._text(turn, final=True))
        return out

    def _think(self, now: float) -> list[Action]:
        turn = self._new_turn(now)
        turn.brain_done = False
        return [Think(turn.playout.turn_id, tuple(self.conversation))]

    def _text(self, turn: _AgentTurn, *, final: bool) -> Send:
        text = turn.playout.text
        return Send(
            ResponseText(data=ResponseTextData(turn_id=turn.playout.turn_id, text=text, is_final=final))
        )

    def _on_brain(
        self, event: BrainSaid | BrainCalledTool | BrainEnded | BrainDone | BrainFailed, now: float
    ) -> list[Action]:
        turn = self._agent
        if turn is None or turn.playout.turn_id != event.turn_id or self.state is not CallState.ACTIVE:
            return []  # a cancelled turn's late result
        if isinstance(event, BrainSaid):
            out: list[Action] = []
            for sentence in split_sentences(event.text):
                index = turn.playout.add_segment(sentence)
                out.append(Speak(turn.playout.turn_id, index, sentence))
            return [*out, self._text(turn, final=False)] if out else []
        if isinstance(event, BrainCalledTool):
            self._tools += 1
            call_id = f"call-{self._tools}"
            turn.tool = (call_id, now + self.config.tool_timeout)
            arguments = [ToolCallArgument.model_validate(dict(a)) for a in event.arguments]
            request = ToolRequest(call_id, event.name, tuple(event.arguments))
            self.conversation.append(request)
            message = ToolCall(
                data=ToolCallData(toolCallId=call_id, toolName=event.name, arguments=arguments)
            )
            return [Send(message), Record(_tool_entry(request, turn.playout.turn_id, now))]
        if isinstance(event, BrainEnded):
            turn.end_reason = event.reason
            return []
        if isinstance(event, BrainFailed):
            turn.brain_done = True
            return (
                self._say(now, "Sorry, something went wrong on my side.") if not turn.playout.segments else []
            )
        # BrainDone: the turn's text is final unless a tool call is still out.
        if turn.tool is None:
            turn.brain_done = True
            return [self._text(turn, final=True)] if turn.playout.segments else []
        return []

    def _on_speech(self, event: SpeechAudio | SpeechDone) -> list[Action]:
        turn = self._agent
        if turn is None or turn.playout.turn_id != event.turn_id:
            return []
        if isinstance(event, SpeechAudio):
            turn.playout.add_audio(event.segment, event.pcm)
        else:
            turn.playout.segment_done(event.segment)
        return []

    def _on_tool_output(self, event: ToolOutput, now: float) -> list[Action]:
        turn = self._agent
        if turn is None or turn.tool is None or turn.tool[0] != event.tool_call_id:
            return []  # unknown, late or duplicate: the agent is not waiting for it
        return self._tool_answered(turn, event.tool_call_id, event.output, now)

    def _tool_answered(self, turn: _AgentTurn, call_id: str, output: str, now: float) -> list[Action]:
        turn.tool = None
        result = ToolResult(call_id, output)
        self.conversation.append(result)
        entry = {
            "type": "tool_call_output",
            "toolCallOutput": output,
            "turnId": turn.playout.turn_id,
            "at": now,
        }
        return [Record(entry), Think(turn.playout.turn_id, tuple(self.conversation))]

    def _drop_agent_turn(self) -> list[Action]:
        turn, self._agent = self._agent, None
        return [CancelTurn(turn.playout.turn_id)] if turn is not None else []

    # --- the user -------------------------------------------------------------------------------

    def _listening(self) -> bool:
        return self._agent is None and self._user_turn is None and not self._waiting_final

    def _begin_user_turn(self, at: float, *, emulated: bool) -> list[Action]:
        self._users += 1
        self._user_turn = f"user-{self._users}"
        out: list[Action] = [Send(SpeechStarted(data=SpeechStartedData(emulated=emulated)))]
        if not emulated:
            out.append(StartRecognition(at))
        return out + self._barge_in(at)

    def _barge_in(self, at: float) -> list[Action]:
        """The user started speaking at ``at`` while an agent turn exists."""
        turn = self._agent
        if turn is None or self.state is not CallState.ACTIVE:
            return []
        if at < turn.interruptible_from:
            return []  # the first message cannot be cut yet: the user is answered after it
        if turn.playout.sent_seconds == 0:
            # Nothing audible yet (still thinking or synthesising): drop the answer quietly.
            self._agent = None
            return [CancelTurn(turn.playout.turn_id)]
        if not turn.playout.audible(at):
            return []  # its audio is over; the turn is closed by _advance
        heard = turn.playout.heard(at)
        self._agent = None
        out: list[Action] = [Send(Interruption()), CancelTurn(turn.playout.turn_id)]
        if heard:
            self.conversation.insert(turn.position, Utterance("assistant", heard))
            out.append(Record(_message("assistant", heard, turn.playout.turn_id, at)))
        out.append(Record({"type": "interruption", "turnId": turn.playout.turn_id, "at": at}))
        return out

    def _start_secs(self, at: float) -> float:
        """The speech that starts a turn: less over the agent's audio, so a barge-in is quick."""
        turn = self._agent
        if turn is not None and at >= turn.interruptible_from and turn.playout.audible(at):
            return min(self.config.start_secs, self.config.barge_in_secs)
        return self.config.start_secs

    def _on_voice(self, event: VoiceActivity, now: float) -> list[Action]:
        if self.state is not CallState.ACTIVE:
            return []
        boundary = self._endpointer.feed(
            event.at, event.speech, event.duration, start_secs=self._start_secs(event.at)
        )
        if isinstance(boundary, TurnStarted) and self._user_turn is None:
            self._strikes = 0
            return self._begin_user_turn(boundary.at, emulated=False)
        if isinstance(boundary, SilenceBegan) and self._user_turn is not None and not self._waiting_final:
            return [PrepareRecognition()]
        if isinstance(boundary, PauseReached) and self._user_turn is not None and not self._waiting_final:
            return [CheckTurn(boundary.at)]
        return self._end_user_turn(boundary)

    def _on_verdict(self, event: TurnVerdict) -> list[Action]:
        """How much silence this pause needs, from how sure the model is that the user is done."""
        if self.state is not CallState.ACTIVE:
            return []
        config = self.config
        complete = event.complete
        if event.text is not None and text_verdict(event.text) == "incomplete":
            # "I would like to book a table for": the words trail off, whatever the voice did. (Only
            # downwards: whisper puts a full stop after half a sentence as readily as after a whole.)
            complete = min(complete, config.unsure_complete - 0.01)
        if complete >= config.sure_complete and event.text_pending:
            needed = config.unsure_stop_secs  # until the words say whether they trail off
        elif complete >= config.sure_complete:
            needed = config.stop_secs
        elif complete >= config.unsure_complete:
            needed = config.unsure_stop_secs
        else:
            needed = config.max_stop_secs
        return self._end_user_turn(self._endpointer.require(event.pause, needed))

    def _end_user_turn(self, boundary: object) -> list[Action]:
        if isinstance(boundary, TurnEnded) and self._user_turn is not None and not self._waiting_final:
            self._waiting_final = True
            return [Send(SpeechStopped()), FinishRecognition()]
        return []

    def _on_partial(self, event: PartialTranscript, now: float) -> list[Action]:
        if not event.text.strip() or self.state is not CallState.ACTIVE or self._waiting_final:
            return []
        out: list[Action] = []
        if self._user_turn is None:
            out += self._begin_user_turn(now, emulated=True)
        data = InputAudioTranscriptData(
            transcript=event.text.strip(), turn_id=self._user_turn, is_final=False
        )
        return [*out, Send(InputAudioTranscript(data=data))]

    def _on_final(self, event: FinalTranscript, now: float) -> list[Action]:
        text = event.text.strip()
        if self.state is not CallState.ACTIVE:
            return []
        out: list[Action] = []
        if not text:
            self._user_turn, self._waiting_final = None, False
            self._listening_since = now
            return out
        if self._user_turn is None:
            out += self._begin_user_turn(now, emulated=True)
        data = InputAudioTranscriptData(transcript=text, turn_id=self._user_turn, is_final=True)
        out += [Send(InputAudioTranscript(data=data)), Record(_message("user", text, self._user_turn, now))]
        self.conversation.append(Utterance("user", text))
        self._user_turn, self._waiting_final = None, False
        self._strikes = 0
        if self._agent is not None and self._agent.playout.audible(now):
            self._unanswered = True  # answer once the agent has finished speaking
            return out
        return out + self._drop_agent_turn() + self._think(now)

    def _drop_user_turn(self) -> list[Action]:
        busy = self._user_turn is not None or self._waiting_final
        self._user_turn, self._waiting_final = None, False
        self._endpointer.reset()
        return [CancelRecognition()] if busy else []

    # --- time -----------------------------------------------------------------------------------

    def _advance(self, now: float) -> list[Action]:
        """Send what is due, finish what is over, and fire the timeouts."""
        if self.state is CallState.ENDED:
            return []
        out: list[Action] = []
        if now - self._started_at + EPS >= self.config.max_duration:
            return self._finish("call timeout", "ended_by_agent", now)
        turn = self._agent
        if turn is not None:
            out += self._send_audio(turn, now)
            if turn.tool is not None and now + EPS >= turn.tool[1]:
                out += self._tool_answered(turn, turn.tool[0], '{"error":"no tool_call_output in time"}', now)
            if turn.complete and not turn.playout.audible(now):
                out += self._turn_over(turn, now)
        if self.state is CallState.ENDING and self._agent is None and self._end is not None:
            return out + self._finish(*self._end, now)
        if self.state is CallState.ACTIVE and self._user_turn is not None and not self._waiting_final:
            out += self._end_user_turn(self._endpointer.due(now + EPS))
        silence = self.config.silence_timeout_secs
        if (
            self.state is CallState.ACTIVE
            and self._listening()
            and 0 < silence <= now - self._listening_since + EPS
        ):
            out += self._silence(now)
        return out

    def _send_audio(self, turn: _AgentTurn, now: float) -> list[Action]:
        out: list[Action] = []
        playout = turn.playout
        due = playout.due(now)
        for position, (starts, pcm) in enumerate(due):
            final = turn.complete and not playout.queue and position == len(due) - 1
            message = ResponseAudio.from_pcm(playout.turn_id, pcm, is_final=final)
            out += [Send(message), AgentAudioSent(starts, pcm)]
            playout.final_sent = playout.final_sent or final
        if turn.complete and not playout.queue and not playout.final_sent and playout.segments:
            out.append(Send(ResponseAudio.from_pcm(playout.turn_id, b"", is_final=True)))
            playout.final_sent = True
        return out

    def _turn_over(self, turn: _AgentTurn, now: float) -> list[Action]:
        self._agent = None
        self._listening_since = max(now, turn.playout.play_end)
        out: list[Action] = []
        text = turn.playout.text
        if text:
            self.conversation.insert(turn.position, Utterance("assistant", text))
            out.append(Record(_message("assistant", text, turn.playout.turn_id, now)))
        if turn.end_reason is not None:
            outcome = "ended_by_agent"
            self._end = (turn.end_reason, outcome)
            self.state = CallState.ENDING
            return out
        if self._unanswered:
            self._unanswered = False
            return out + self._think(now)
        return out

    def _silence(self, now: float) -> list[Action]:
        self._strikes += 1
        if self._strikes >= max(1, self.config.silence_counter):
            return self._say(now, self.config.goodbye, end="silence timeout")
        return self._say(now, self.config.reprompt)


def _message(role: str, text: str, turn_id: str | None, at: float) -> dict[str, object]:
    return {"role": role, "message": text, "type": "message", "turnId": turn_id, "at": at}


def _tool_entry(request: ToolRequest, turn_id: str, at: float) -> dict[str, object]:
    return {"type": "tool_call", "turnId": turn_id, "at": at, "tool": request}
