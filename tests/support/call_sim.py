"""A whole call on a virtual clock: the call core plus fake engines that answer its actions.

Write the scenario (``user_says(0.5, 2.0, "hello")``, ``barge_in``...), run it to a time, and read
the timeline of what the core sent. Fake engines: VAD frames every 32 ms from the scripted speech;
STT answers ``FinishRecognition`` with the scripted text after ``stt_delay``; TTS answers ``Speak``
after ``tts_delay`` with ``seconds_per_word`` of audio; the brain is a function of the conversation.
Nothing here sleeps: a 60 s call runs in milliseconds.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from vatel.protocol import ResponseAudio, ResponseText, ServerMessage, ToolCall
from vatel.server.engines.brain import Entry, ToolResult, Utterance
from vatel.server.live.core import CallConfig, CallCore
from vatel.server.live.events import (
    Action,
    BrainCalledTool,
    BrainDone,
    BrainEnded,
    BrainSaid,
    CancelTurn,
    CheckTurn,
    ClientGone,
    Event,
    FinalTranscript,
    FinishRecognition,
    Hangup,
    Record,
    Send,
    Speak,
    SpeechAudio,
    SpeechDone,
    Started,
    StartRecognition,
    Think,
    Tick,
    ToolOutput,
    TurnVerdict,
    VoiceActivity,
)

FRAME = 0.032
Step = str | tuple[Any, ...]
"""A brain step: text to say, ``("tool", name, [argument descriptors])`` or ``("end", reason)``."""


def echo_brain(conversation: Sequence[Entry]) -> list[Step]:
    last = conversation[-1]
    if isinstance(last, ToolResult):
        return [f"Tool said {last.output}."]
    assert isinstance(last, Utterance)
    return [f"You said {last.text}."]


@dataclass(order=True)
class _Pending:
    at: float
    order: int
    event: Event = field(compare=False)


@dataclass
class Sent:
    at: float
    message: ServerMessage

    @property
    def type(self) -> str:
        return self.message.type


class CallSim:
    def __init__(
        self,
        config: CallConfig | None = None,
        *,
        brain: Callable[[Sequence[Entry]], list[Step]] = echo_brain,
        brain_delay: float = 0.05,
        stt_delay: float = 0.1,
        tts_delay: float = 0.03,
        seconds_per_word: float = 0.3,
        tool_delay: float | None = 0.2,
        turn_complete: Callable[[float], float | None] = lambda _pause: 1.0,
        turn_delay: float = 0.05,
        turn_text: Callable[[float], str | None] = lambda _pause: None,
    ) -> None:
        self.core = CallCore(config or CallConfig(session_id="call-1"))
        self.brain, self.brain_delay = brain, brain_delay
        self.stt_delay, self.tts_delay, self.seconds_per_word = stt_delay, tts_delay, seconds_per_word
        self.tool_delay = tool_delay
        self.turn_complete, self.turn_delay, self.turn_text = turn_complete, turn_delay, turn_text
        """The end-of-turn model (with ``turn_model=True``): the pause's start -> P(complete), or None
        for a model that never answers."""
        self.speech: list[tuple[float, float, str]] = []
        self.sent: list[Sent] = []
        self.actions: list[tuple[float, Action]] = []
        self.records: list[dict[str, Any]] = []
        self.cancelled: set[str] = set()
        self.hangup: Hangup | None = None
        self._queue: list[_Pending] = []
        self._order = itertools.count()
        self._now = 0.0
        self._recognising: float | None = None
        self._ticks: set[float] = set()

    # --- scenario -------------------------------------------------------------------------------

    def user_says(self, start: float, end: float, text: str) -> CallSim:
        self.speech.append((start, end, text))
        return self

    def at(self, when: float, event: Event) -> CallSim:
        self._push(when, event)
        return self

    def _push(self, when: float, event: Event) -> None:
        heapq.heappush(self._queue, _Pending(when, next(self._order), event))

    # --- running --------------------------------------------------------------------------------

    def run(self, until: float) -> CallSim:
        if not self.sent and not self.actions:
            self._push(0.0, Started())
            frames = int(until / FRAME) + 1
            for index in range(1, frames):
                at = index * FRAME
                self._push(at, VoiceActivity(at, self._speaking(at - FRAME / 2), FRAME))
        spins = 0
        while self._queue and self._queue[0].at <= until and self.hangup is None:
            item = heapq.heappop(self._queue)
            if isinstance(item.event, Tick):
                self._ticks.discard(item.at)
            spins = spins + 1 if isinstance(item.event, Tick) and item.at == self._now else 0
            if spins > 5:
                raise AssertionError(f"the core keeps asking for a tick at {item.at} and changes nothing")
            self._now = item.at
            self._apply(item.event, item.at)
            wake = self.core.next_wakeup(item.at)
            if wake is not None and wake <= until:
                wake = max(wake, item.at)
                if wake not in self._ticks:
                    self._ticks.add(wake)
                    self._push(wake, Tick())
        return self

    def _speaking(self, at: float) -> bool:
        return any(start <= at < end for start, end, _ in self.speech)

    def _utterance_text(self, at: float) -> str:
        ended = [text for start, end, text in self.speech if start <= at <= end + 1.0]
        return ended[-1] if ended else ""

    def _apply(self, event: Event, now: float) -> None:
        for action in self.core.handle(event, now):
            self.actions.append((now, action))
            self._answer(action, now)

    def _answer(self, action: Action, now: float) -> None:
        if isinstance(action, Send):
            self.sent.append(Sent(now, action.message))
            message = action.message
            if isinstance(message, ToolCall) and self.tool_delay is not None:
                call_id = message.data.toolCallId
                self._push(now + self.tool_delay, ToolOutput(call_id, f"result of {call_id}"))
        elif isinstance(action, StartRecognition):
            self._recognising = action.at
        elif isinstance(action, CheckTurn):
            complete = self.turn_complete(action.pause)
            if complete is not None:
                verdict = TurnVerdict(action.pause, complete, self.turn_text(action.pause))
                self._push(now + self.turn_delay, verdict)
        elif isinstance(action, FinishRecognition):
            self._push(now + self.stt_delay, FinalTranscript(self._utterance_text(now)))
        elif isinstance(action, Think):
            when = now + self.brain_delay
            for step in self.brain(action.conversation):
                event: Event
                if isinstance(step, str):
                    event = BrainSaid(action.turn_id, step)
                elif step[0] == "tool":
                    event = BrainCalledTool(action.turn_id, step[1], tuple(step[2]))
                else:
                    event = BrainEnded(action.turn_id, step[1])
                self._push(when, event)
                when += 0.01
            self._push(when, BrainDone(action.turn_id))
        elif isinstance(action, Speak):
            seconds = max(1, len(action.text.split())) * self.seconds_per_word
            samples = int(seconds * 24_000)
            self._push(
                now + self.tts_delay, SpeechAudio(action.turn_id, action.segment, b"\x01\x00" * samples)
            )
            self._push(now + self.tts_delay, SpeechDone(action.turn_id, action.segment))
        elif isinstance(action, CancelTurn):
            self.cancelled.add(action.turn_id)
        elif isinstance(action, Record):
            self.records.append(dict(action.entry))
        elif isinstance(action, Hangup):
            self.hangup = action

    def client_gone(self, at: float) -> CallSim:
        return self.at(at, ClientGone())

    # --- reading the timeline -------------------------------------------------------------------

    def types(self) -> list[str]:
        """Message types in order, with runs of response_audio collapsed to one."""
        out: list[str] = []
        for sent in self.sent:
            if sent.type == "response_audio" and out and out[-1] == "response_audio":
                continue
            out.append(sent.type)
        return out

    def first(self, kind: str, after: float = 0.0) -> Sent:
        for sent in self.sent:
            if sent.type == kind and sent.at >= after:
                return sent
        raise AssertionError(f"no {kind} after {after}: {self.types()}")

    def audio(self) -> list[tuple[float, ResponseAudio]]:
        return [(s.at, s.message) for s in self.sent if isinstance(s.message, ResponseAudio)]

    def texts(self) -> list[str]:
        """The agent's ``response_text`` texts in order."""
        return [s.message.data.text for s in self.sent if isinstance(s.message, ResponseText)]

    def of_turn(self, kind: str, turn_id: str) -> list[Sent]:
        return [
            s for s in self.sent if s.type == kind and getattr(s.message.data, "turn_id", None) == turn_id
        ]
