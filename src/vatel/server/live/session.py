"""The asyncio shell around one call: the socket, the engines and the store meet the call core.

Everything that decides lives in :class:`~vatel.server.live.core.CallCore`; this shell only moves
data: frames in (decoded, counted when bad), VAD on each 32 ms of audio, recognition and synthesis
in the worker pool, the brain as a task per turn, messages out through the call's socket
(:class:`~vatel.server.live.socket.CallSocket`), the core's ticks from one timer on the server's
5 ms grid, the transcript and the recording to the store as the call goes. All ``core.handle``
calls run on the event loop, one at a time.

Bad frames never crash a call: non-JSON, binary junk, bad base64 and odd byte counts are skipped
and counted; past ``MALFORMED_LIMIT`` the socket is closed with 1007. When the server's sends stall
(a client that does not read, on a server with backpressure), past ``SEND_QUEUE`` waiting messages
(10-20 s of audio, by the chunk length) the call is closed with 1008.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import orjson

from vatel.audio.pcm import Float32, PolyphaseResampler, float_to_pcm16, resample
from vatel.protocol import InputAudio, MessageError, ToolCallOutput, UnknownMessage, decode_client_message
from vatel.server.engines.brain import AgentSetup, CallTool, EndCall, Say, ToolRequest
from vatel.server.engines.stt import RecognizerStream
from vatel.server.live.core import CallConfig, CallCore
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
    Tick,
    ToolOutput,
    TurnVerdict,
    VoiceActivity,
)
from vatel.server.live.recording import StereoRecorder
from vatel.server.live.services import LiveServices
from vatel.server.live.socket import CallSocket

logger = logging.getLogger("vatel.server.live")

WIRE_RATE = 24_000
ENGINE_RATE = 16_000
TURN_WINDOW_SAMPLES = 8 * ENGINE_RATE
"""The end-of-turn model looks at the last 8 s."""
TEXT_WAIT_SECONDS = 1.0
"""How long the pause's early decode may take to add its words to the end-of-turn verdict."""


async def _ready_text(decode: asyncio.Future[str] | None) -> str | None:
    """The early decode's text if it is ready within :data:`TEXT_WAIT_SECONDS`; ``None`` otherwise."""
    if decode is None:
        return None
    if not decode.done():
        await asyncio.wait({decode}, timeout=TEXT_WAIT_SECONDS)
    if not decode.done() or decode.cancelled() or decode.exception() is not None:
        return None
    return decode.result()


PREROLL_SECONDS = 0.3
INTERIM_EVERY = 0.25
MALFORMED_LIMIT = 100
SEND_QUEUE = 500
FLUSH_EVERY = 1.0
CLOCK_GRID = 0.005
"""Calls' timers ring on multiples of this (loop time): a busy server wakes 200 times a second for
all its calls' audio, instead of once per call per chunk; a chunk goes out at most this late,
against the 0.2 s its playout is ahead."""


@dataclass
class CallOutcome:
    """How the call ended, for the stored call."""

    reason: str = "ended"
    outcome: str | None = None
    close_code: int = 1000
    counts: dict[str, int] = field(default_factory=lambda: {"malformed": 0, "unknown": 0})


TranscriptSink = Callable[[dict[str, Any]], Awaitable[None]]


def _next_chunk(chunks: Iterator[Float32]) -> Float32 | None:
    return next(chunks, None)


class CallSession:
    def __init__(
        self,
        socket: CallSocket,
        services: LiveServices,
        *,
        config: CallConfig,
        agent: AgentSetup,
        llm: str,
        fallback_llm: str = "",
        voice: str | None,
        recorder: StereoRecorder | None,
        on_record: TranscriptSink,
        wall_start: float | None = None,
    ) -> None:
        self.socket = socket
        self.services = services
        self.core = CallCore(replace(config, chunk_seconds=services.audio_chunk_seconds))
        self.usage = services.usage
        self.agent = agent
        self.brain = services.brain_for(llm, fallback_llm)
        self.synthesizer = services.engines.synthesizer_for(voice)
        self.voice = voice
        self.recorder = recorder
        self.on_record = on_record
        self.outcome = CallOutcome()
        self.wall_start = wall_start if wall_start is not None else time.time()
        self._loop = asyncio.get_running_loop()
        self._t0 = self._loop.time()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        """When the call's timer rings (session time)."""
        self._flushed = 0.0
        self._done = asyncio.Event()
        self._turn_tasks: dict[str, list[asyncio.Task[None]]] = {}
        self._tasks: set[asyncio.Future[None]] = set()
        self._tts_queues: dict[str, asyncio.Queue[tuple[int, str] | None]] = {}
        self._records: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        # audio in
        # A short polyphase filter shared by all calls: it holds back 1.2 ms of each stream (soxr
        # "HQ": 21 ms, "LQ": 6 ms, that every speech start and end would wait for), and costs a
        # busy server a fraction of soxr's per-stream filters; recognition does not hear the
        # difference (benchmarks/voice_to_voice.py prints the WER).
        self._to_engine = PolyphaseResampler(WIRE_RATE, ENGINE_RATE)
        self._vad = services.engines.vad.stream()
        self._vad_buffer = np.zeros(0, dtype=np.float32)
        self._preroll: deque[Float32] = deque()
        self._preroll_samples = 0
        self._utterance: list[Float32] | None = None
        self._interim: RecognizerStream | None = None
        self._interim_pending: list[Float32] = []
        self._interim_busy = False
        self._last_interim = ""
        self._utterance_id = 0
        self._prepared: asyncio.Future[str] | None = None

    def now(self) -> float:
        return self._loop.time() - self._t0

    # --- running --------------------------------------------------------------------------------

    async def run(self) -> CallOutcome:
        """Serve the call until it ends; never raises for anything the client sent."""
        records = asyncio.create_task(self._record_loop(), name="records")
        self._handle(Started())
        self._arm(self.now())
        self.socket.open(self._on_frame, self._on_client_gone)
        self.usage.call_opened(id(self), time.monotonic())
        try:
            await self._done.wait()
        finally:
            self.usage.call_closed(id(self), time.monotonic())
            self.socket.stop_reading()
            for turn in list(self._turn_tasks):
                self._cancel_turn(turn)
            if self._timer is not None:
                self._timer.cancel()
            await self._records.put(None)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.gather(records, return_exceptions=True), 10)
            for task in [records, *self._tasks]:
                task.cancel()
            if self.recorder is not None:
                self.recorder.close()
        return self.outcome

    def _handle(self, event: Event) -> None:
        if self._done.is_set():
            return
        try:
            actions = self.core.handle(event, self.now())
        except Exception:
            logger.exception("call core failed on %s", type(event).__name__)
            self._finish(CallOutcome("internal error", None, 1011))
            return
        for action in actions:
            self._act(action)
        self._reschedule()

    def _reschedule(self) -> None:
        """Set the timer sooner when the core now needs a tick sooner than it rings (audio was
        queued); other events leave it, since ``core.handle`` already did what was due."""
        timer = self._timer
        if timer is None:  # ringing: it sets itself again when the tick is done
            return
        now = self.now()
        wake = self.core.next_wakeup(now)
        if wake is not None and wake < self._timer_at:
            timer.cancel()
            self._arm(now, wake)

    # --- the clock ------------------------------------------------------------------------------
    # One timer handle per call, whose callback ticks the core: a call ticks 50 times a second
    # while the agent speaks, and a task sleeping on a future would cost a task step and a future
    # per tick on the busiest path of the server.

    def _arm(self, now: float, wake: float | None = None) -> None:
        if wake is None:
            wake = self.core.next_wakeup(now)
        at = now + FLUSH_EVERY if wake is None else min(now + FLUSH_EVERY, max(now, wake))
        # On the server's shared grid: the calls' timers ring together, in one turn of the loop.
        ring = math.ceil((self._t0 + at) / CLOCK_GRID) * CLOCK_GRID
        self._timer_at = ring - self._t0
        self._timer = self._loop.call_at(ring, self._ring)

    def _ring(self) -> None:
        self._timer = None
        if self._done.is_set():
            return
        self._handle(Tick())
        if self.recorder is not None and self.now() - self._flushed >= FLUSH_EVERY:
            self._flushed = self.now()
            try:
                self.recorder.flush(self._flushed - 0.5)
            except Exception:
                logger.exception("could not write the call's recording")
        if self._timer is None and not self._done.is_set():
            self._arm(self.now())

    def _finish(self, outcome: CallOutcome) -> None:
        if self._done.is_set():
            return
        outcome.counts = self.outcome.counts
        self.outcome = outcome
        self._done.set()

    # --- actions --------------------------------------------------------------------------------

    def _act(self, action: Action) -> None:
        if isinstance(action, Send):
            self._send(action.message.to_json())
        elif isinstance(action, AgentAudioSent):
            if self.recorder is not None:
                self.recorder.add_agent(action.at, action.pcm)
        elif isinstance(action, StartRecognition):
            self._start_utterance()
        elif isinstance(action, PrepareRecognition):
            self._prepare_utterance()
        elif isinstance(action, CheckTurn):
            self._check_turn(action.pause)
        elif isinstance(action, FinishRecognition):
            self._finish_utterance()
        elif isinstance(action, CancelRecognition):
            self._utterance, self._interim, self._prepared = None, None, None
        elif isinstance(action, Think):
            self._spawn(action.turn_id, self._think(action))
        elif isinstance(action, Speak):
            self._speak(action)
        elif isinstance(action, CancelTurn):
            self._cancel_turn(action.turn_id)
        elif isinstance(action, Record):
            self._records.put_nowait(self._transcript_entry(dict(action.entry)))
        elif isinstance(action, Hangup):
            self._finish(CallOutcome(action.reason, action.outcome, 1000))

    def _send(self, frame: bytes) -> None:
        self.socket.send(frame)
        if self.socket.queued > SEND_QUEUE:
            logger.warning("client is not reading: %d messages queued; closing with 1008", SEND_QUEUE)
            self._finish(CallOutcome("client too slow", "ended_by_user", 1008))

    def _background(self, work: Awaitable[None]) -> None:
        """A task that belongs to no turn (recognition); kept referenced until it ends."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _spawn(self, turn_id: str, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._turn_tasks.setdefault(turn_id, []).append(task)
        task.add_done_callback(lambda t: self._forget(turn_id, t))

    def _forget(self, turn_id: str, task: asyncio.Task[None]) -> None:
        tasks = self._turn_tasks.get(turn_id)
        if tasks and task in tasks:
            tasks.remove(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("turn %s task failed", turn_id, exc_info=task.exception())

    def _cancel_turn(self, turn_id: str) -> None:
        for task in self._turn_tasks.pop(turn_id, []):
            task.cancel()
        queue = self._tts_queues.pop(turn_id, None)
        if queue is not None:
            queue.put_nowait(None)

    # --- the brain ------------------------------------------------------------------------------

    async def _think(self, action: Think) -> None:
        turn_id = action.turn_id
        events = self.brain.respond(self.agent, action.conversation)
        try:
            async for event in self.usage.steps("brain", events):
                if isinstance(event, Say):
                    self._handle(BrainSaid(turn_id, event.text))
                elif isinstance(event, CallTool):
                    self._handle(BrainCalledTool(turn_id, event.name, event.arguments))
                elif isinstance(event, EndCall):
                    self._handle(BrainEnded(turn_id, event.reason))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.exception("brain %s failed", self.brain.name)
            self._handle(BrainFailed(turn_id, str(exc)))
            return
        finally:
            # A cancelled turn (barge-in) closes the brain now: an LLM's HTTP stream ends here.
            close = getattr(events, "aclose", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()
        self._handle(BrainDone(turn_id))

    # --- speech out -----------------------------------------------------------------------------

    def _speak(self, action: Speak) -> None:
        queue = self._tts_queues.get(action.turn_id)
        if queue is None:
            queue = self._tts_queues[action.turn_id] = asyncio.Queue()
            self._spawn(action.turn_id, self._synthesise(action.turn_id, queue))
        queue.put_nowait((action.segment, action.text))

    async def _synthesise(self, turn_id: str, queue: asyncio.Queue[tuple[int, str] | None]) -> None:
        pool = self.services.pool
        rate = self.synthesizer.sample_rate
        while (item := await queue.get()) is not None:
            segment, text = item
            chunks: Iterator[Float32] = self.synthesizer.synthesize(text, voice=self.voice)
            while True:
                chunk = await self._loop.run_in_executor(pool, self.usage.run, "tts", _next_chunk, chunks)
                if chunk is None:
                    break
                audio = chunk if rate == WIRE_RATE else resample(chunk, rate, WIRE_RATE)
                self._handle(SpeechAudio(turn_id, segment, float_to_pcm16(audio)))
            self._handle(SpeechDone(turn_id, segment))

    # --- audio in -------------------------------------------------------------------------------

    def _on_audio(self, pcm: bytes) -> None:
        if self.recorder is not None:
            self.recorder.add_user(pcm, self.now())
        audio = self._to_engine.push(pcm)
        if audio.size == 0:
            return
        self._remember(audio)
        if self._utterance is not None:
            self._utterance.append(audio)
            if self._interim is not None:
                self._interim_pending.append(audio)
                self._maybe_interim()
        self._vad_buffer = np.concatenate([self._vad_buffer, audio])
        frame = self._vad.frame_samples
        duration = frame / ENGINE_RATE
        while self._vad_buffer.size >= frame:
            piece, self._vad_buffer = self._vad_buffer[:frame], self._vad_buffer[frame:]
            probability = self.usage.run("vad", self._vad.probability, piece)
            speech = probability >= 0.5
            self._handle(VoiceActivity(self.now(), speech, duration))

    def _remember(self, audio: Float32) -> None:
        self._preroll.append(audio)
        self._preroll_samples += audio.size
        limit = int(PREROLL_SECONDS * ENGINE_RATE) + self._vad.frame_samples * 8
        while self._preroll and self._preroll_samples - self._preroll[0].size >= limit:
            self._preroll_samples -= self._preroll.popleft().size

    def _start_utterance(self) -> None:
        self._prepared = None
        self._utterance = list(self._preroll)
        self._utterance_id += 1
        self._last_interim = ""
        interim = self.services.engines.interim_stt
        self._interim = interim.start() if interim is not None else None
        self._interim_pending = list(self._utterance) if self._interim is not None else []

    def _maybe_interim(self) -> None:
        pending = sum(piece.size for piece in self._interim_pending)
        if self._interim_busy or pending < INTERIM_EVERY * ENGINE_RATE or self._interim is None:
            return
        stream, audio = self._interim, np.concatenate(self._interim_pending)
        self._interim_pending = []
        self._interim_busy = True
        utterance = self._utterance_id

        async def feed() -> None:
            try:
                text = await self._loop.run_in_executor(
                    self.services.interim_pool, self.usage.run, "stt_interim", stream.feed, audio
                )
            except Exception as error:  # best-effort: the final transcript does not depend on it
                logger.warning("interim transcript failed: %s", error)
                return
            finally:
                self._interim_busy = False
            if (
                utterance == self._utterance_id
                and self._utterance is not None
                and text
                and text != self._last_interim
            ):
                self._last_interim = text
                self._handle(PartialTranscript(text))

        self._background(feed())

    def _decode(self, pieces: list[Float32]) -> asyncio.Future[str]:
        """The final recogniser on these pieces, in the worker pool."""
        audio = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
        recognizer = self.services.engines.final_stt
        return self._loop.run_in_executor(
            self.services.pool, self.usage.run, "stt_final", recognizer.transcribe, audio
        )

    def _prepare_utterance(self) -> None:
        """Decode what was said so far as soon as the user falls silent (see PrepareRecognition)."""
        if self._utterance is not None:
            if self._prepared is not None and not self._prepared.done():
                # The user spoke again since the last pause: that decode, if it has not begun, is
                # not needed (on a busy server, decodes of stale pauses would hold up the others).
                self._prepared.cancel()
            self._prepared = self._decode(list(self._utterance))

    def _check_turn(self, pause: float) -> None:
        """Ask the end-of-turn model about the utterance so far (its last 8 s), in the worker pool."""
        model = self.services.engines.turn
        if model is None or not self._utterance:
            self._handle(TurnVerdict(pause, 1.0))
            return
        audio = np.concatenate(self._utterance)[-TURN_WINDOW_SAMPLES:]
        prepared = self._prepared  # the early decode of this pause, started when the silence began

        async def ask() -> None:
            try:
                complete = await self._loop.run_in_executor(
                    self.services.turn_pool, self.usage.run, "turn", model.complete_probability, audio
                )
            except Exception:
                logger.exception("the end-of-turn model failed; the pause is taken as the end of the turn")
                complete = 1.0
            if prepared is not None and prepared.done():
                self._handle(TurnVerdict(pause, complete, await _ready_text(prepared)))
                return
            # The audio's answer at once, then the words' (they only matter while the pause goes on).
            self._handle(TurnVerdict(pause, complete, text_pending=prepared is not None))
            if prepared is not None:
                self._handle(TurnVerdict(pause, complete, await _ready_text(prepared)))

        self._background(ask())

    def _finish_utterance(self) -> None:
        pieces, self._utterance, self._interim = self._utterance or [], None, None
        prepared, self._prepared = self._prepared, None
        pending = prepared if prepared is not None else self._decode(pieces)

        async def answer() -> None:
            try:
                text = await pending
            except Exception:
                logger.exception("speech recognition failed")
                text = ""
            self._handle(FinalTranscript(text))

        self._background(answer())

    # --- the socket -----------------------------------------------------------------------------

    def _on_client_gone(self) -> None:
        self._handle(ClientGone())
        self._finish(CallOutcome("client disconnected", "ended_by_user", 1000))

    def _on_frame(self, frame: str | bytes) -> None:
        if self._done.is_set():
            return
        try:
            message = decode_client_message(frame)
            if isinstance(message, InputAudio):
                self._on_audio(message.data.pcm)
            elif isinstance(message, ToolCallOutput):
                self._handle(ToolOutput(message.data.toolCallId, message.data.output))
            elif isinstance(message, UnknownMessage):
                self.outcome.counts["unknown"] += 1
                logger.debug("ignored a client message of unknown type %r", message.type)
        except MessageError as exc:
            count = self.outcome.counts["malformed"] = self.outcome.counts["malformed"] + 1
            if count <= 5 or count % 100 == 0:
                logger.warning("skipped malformed frame #%d: %s", count, exc)
            if count >= MALFORMED_LIMIT:
                self._finish(CallOutcome("too many malformed frames", "ended_by_user", 1007))

    async def _record_loop(self) -> None:
        while (entry := await self._records.get()) is not None:
            try:
                await self.on_record(entry)
            except Exception:
                logger.exception("could not store a transcript entry")

    def _transcript_entry(self, entry: dict[str, Any]) -> dict[str, Any]:
        at = float(entry.pop("at", self.now()))
        created = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.wall_start + at))
        entry["createdAt"] = f"{created}Z"
        tool = entry.pop("tool", None)
        if isinstance(tool, ToolRequest):
            values = {a.get("name"): a.get("value") for a in tool.arguments if a.get("name") is not None}
            entry["toolCall"] = {
                "callId": tool.call_id,
                "toolName": tool.name,
                "arguments": orjson.dumps(values, default=str).decode(),
                "startedAt": entry["createdAt"],
            }
        return {key: value for key, value in entry.items() if value is not None}
