"""Acoustic echo cancellation: the agent's voice, played by the speaker and heard again by the
microphone, is taken out of the microphone before it reaches the server.

Without it an agent on laptop speakers hears itself and interrupts itself. The canceller is
WebRTC's AEC3, through the ``AudioProcessingModule`` of the ``livekit`` wheel (about 0.1 ms per
10 ms frame; ``benchmarks/client.py`` measures it), on the wire's 24 kHz PCM16 in 10 ms frames.

How the two streams meet:

1. The far end is exactly what the speaker callback wrote: the callback hands each block and its
   DAC time (PortAudio's ``outputBufferDacTime``) to a :class:`FarEndTap` (one deque append; a
   silent block is sent as ``None``, so listening costs nothing) and returns.
2. On the event loop, :meth:`EchoCanceller.process` gets each microphone frame with its capture
   time (``inputBufferAdcTime``, the same clock). Before a frame captured at ``t`` is cleaned,
   every played 10 ms frame whose DAC time is at or before ``t`` is given to the APM
   (``process_reverse_stream``), so an echo always comes after its source, as AEC3 needs; it
   finds the acoustic delay left over (the room, the sound server's buffers) by itself.
   ``set_stream_delay_ms`` gets what the timestamps say separates the two.
3. Both clocks count samples and follow the timestamps only when they jump (more than 20 ms: an
   underflow, a stalled loop), so timestamp jitter does not shake the alignment.
4. While nothing has been played for :data:`ECHO_TAIL` seconds the microphone passes through
   untouched and the APM is not called (no CPU while listening).
5. Warm-up: until the far end has played ``warmup`` seconds of sound, the AEC is still
   converging, so the microphone is silenced while the agent is heard (and :data:`ECHO_TAIL`
   after): the agent's first words cannot barge in. The user cannot either, for that long.
"""

from __future__ import annotations

import math
import time
from collections import deque
from typing import Any, Protocol

import numpy as np

from vatel.audio.errors import AudioError
from vatel.audio.pcm import WIRE_RATE, Float32, Resampler, float_to_pcm16

__all__ = [
    "ECHO_TAIL",
    "FRAME_BYTES",
    "WARMUP_SECONDS",
    "EchoCanceller",
    "EchoProcessor",
    "EchoStats",
    "FarEndTap",
    "WebRtcProcessor",
]

FRAME_SAMPLES = WIRE_RATE // 100
"""One 10 ms frame at 24 kHz: the only frame size the APM takes."""
FRAME_BYTES = FRAME_SAMPLES * 2
FRAME_SECONDS = 0.01
WARMUP_SECONDS = 1.5
"""Seconds of played sound before the microphone is trusted while the agent speaks (AEC3
converges within about a second on the virtual card's echo path)."""
ECHO_TAIL = 0.5
"""After the last audible far-end frame, how long its echo may still arrive (sound server
buffers, Bluetooth); the canceller keeps working (and the warm-up keeps muting) that long."""
REANCHOR = 0.02
"""A timestamp further than this from the counted clock is a jump (underflow, stall): follow it."""
AUDIBLE = 10 ** (-50 / 20) * 32768
"""A far-end frame louder than -50 dBFS (RMS) counts as sound played."""
FAR_BACKLOG_SECONDS = 2.0


class EchoProcessor(Protocol):
    """The APM's calls, on 10 ms PCM16 24 kHz mono frames: the far end, then the microphone
    (``delay_ms``: how far the microphone frame lags the far-end frames given so far)."""

    def reverse(self, frame: bytes) -> None: ...
    def capture(self, frame: bytes, delay_ms: int) -> bytes: ...


class WebRtcProcessor:
    """WebRTC's audio processing module (AEC3 and its high-pass filter) from the ``livekit`` wheel."""

    def __init__(self) -> None:
        try:
            from livekit import rtc
        except ImportError:
            raise AudioError(
                "echo cancellation needs the livekit package: pip install 'vatel[audio]' (or pass --no-aec)"
            ) from None
        self._rtc: Any = rtc
        self._apm: Any = rtc.AudioProcessingModule(echo_cancellation=True, high_pass_filter=True)

    def reverse(self, frame: bytes) -> None:
        self._apm.process_reverse_stream(self._rtc.AudioFrame(bytearray(frame), WIRE_RATE, 1, FRAME_SAMPLES))

    def capture(self, frame: bytes, delay_ms: int) -> bytes:
        self._apm.set_stream_delay_ms(delay_ms)
        audio = self._rtc.AudioFrame(bytearray(frame), WIRE_RATE, 1, FRAME_SAMPLES)
        self._apm.process_stream(audio)  # in place
        cleaned: bytes = audio.data.tobytes()
        return cleaned


class FarEndTap:
    """What the speaker played, from its callback thread to the canceller, without locks.

    The callback calls :meth:`push` once per block (``deque.append`` is atomic under the GIL);
    the oldest blocks are dropped, and counted, past ``backlog`` seconds.
    """

    def __init__(self, rate: int, backlog: float = FAR_BACKLOG_SECONDS, block: float = 0.01) -> None:
        if rate <= 0:
            raise ValueError(f"the speaker rate must be positive, got {rate}")
        self.rate = rate
        self.blocks: deque[tuple[float, int, bytes | None]] = deque(maxlen=max(1, round(backlog / block)))
        self.dropped = 0

    def push(self, dac_time: float, frames: int, samples: bytes | None) -> None:
        """A block of ``frames`` mono float32 samples to be heard at ``dac_time``; ``None``: silence."""
        if len(self.blocks) == self.blocks.maxlen:
            self.dropped += 1
        self.blocks.append((dac_time, frames, samples))


class EchoStats:
    def __init__(self) -> None:
        self.frames_cancelled = 0
        """10 ms microphone frames that went through the APM."""
        self.frames_muted = 0
        """10 ms microphone frames silenced by the warm-up."""
        self.frames_passed = 0
        """10 ms microphone frames passed untouched (nothing played for ``ECHO_TAIL``)."""
        self.far_frames = 0
        """10 ms far-end frames given to the APM."""
        self.reanchors = 0
        self.busy_seconds = 0.0
        """Wall time spent in the APM (both streams)."""

    def as_dict(self) -> dict[str, float]:
        return dict(vars(self))


class EchoCanceller:
    """Create with the speaker's rate; give :attr:`tap` to the speaker; clean microphone frames
    with :meth:`process` (on one thread, the event loop)."""

    def __init__(
        self,
        speaker_rate: int,
        *,
        warmup: float = WARMUP_SECONDS,
        processor: EchoProcessor | None = None,
    ) -> None:
        if not (math.isfinite(warmup) and warmup >= 0):
            raise ValueError(f"warmup must be a number of seconds >= 0, got {warmup}")
        self.tap = FarEndTap(speaker_rate)
        self.warmup = warmup
        self.stats = EchoStats()
        self._apm: EchoProcessor = processor if processor is not None else WebRtcProcessor()
        # far end: device-rate blocks -> 24 kHz 10 ms PCM16 frames, each with its DAC time
        self._resampler: Resampler | None = None
        self._far_pending: Float32 = np.zeros(0, dtype=np.float32)
        self._far_time = 0.0
        """DAC time of the first sample in ``_far_pending``."""
        self._far_next: float | None = None
        """DAC time the next block should have if the stream is continuous."""
        self._far_last_sound: float | None = None
        """DAC time of the last audible block drained from the tap."""
        self._far: deque[tuple[float, bytes, bool]] = deque()
        # near end
        self._near_time: float | None = None
        self._last_audible: float | None = None
        """DAC time of the last audible far-end frame that is due (played before the near frame)."""
        self._engaged = False
        self._last_fed = 0.0
        self._played_seconds = 0.0

    @property
    def warmed_up(self) -> bool:
        return self._played_seconds >= self.warmup

    @property
    def played_seconds(self) -> float:
        """Seconds of audible far end the canceller has seen (the warm-up counts these)."""
        return self._played_seconds

    # --- the microphone side ------------------------------------------------------------------------

    def process(self, frame: bytes, captured_at: float) -> bytes:
        """``frame``: PCM16 24 kHz mono, a whole number of 10 ms, captured from ``captured_at``
        (PortAudio's clock, as the speaker's DAC times). Returns it with the echo removed."""
        if len(frame) == 0 or len(frame) % FRAME_BYTES:
            raise ValueError(
                f"the echo canceller takes PCM16 24 kHz mono in whole 10 ms frames ({FRAME_BYTES} bytes "
                f"each), got {len(frame)} bytes"
            )
        if not math.isfinite(captured_at):
            raise ValueError(f"the capture time must be a finite number of seconds, got {captured_at}")
        self._drain_tap()
        if self._near_time is None or abs(captured_at - self._near_time) > REANCHOR:
            if self._near_time is not None:
                self.stats.reanchors += 1
            self._near_time = captured_at
        out = bytearray(frame)
        for offset in range(0, len(out), FRAME_BYTES):
            self._process_one(out, offset, self._near_time)
            self._near_time += FRAME_SECONDS
        return bytes(out)

    def _process_one(self, out: bytearray, offset: int, now: float) -> None:
        started = time.perf_counter()
        self._feed_far(now)
        if not self._engaged:
            self.stats.frames_passed += 1
            return
        delay_ms = min(500, max(0, round((now - self._last_fed) * 1000)))
        cleaned = self._apm.capture(bytes(out[offset : offset + FRAME_BYTES]), delay_ms)
        self.stats.frames_cancelled += 1
        if not self.warmed_up:
            cleaned = bytes(FRAME_BYTES)  # still converging: the agent must not hear itself
            self.stats.frames_muted += 1
        out[offset : offset + FRAME_BYTES] = cleaned
        self.stats.busy_seconds += time.perf_counter() - started
        if self._last_audible is not None and now - self._last_audible >= ECHO_TAIL:
            self._engaged = False  # the echo is over: listen untouched (no APM, no CPU)

    def _feed_far(self, now: float) -> None:
        """Give the APM every far-end frame heard at or before ``now``."""
        far = self._far
        while far and far[0][0] <= now:
            at, pcm, audible = far.popleft()
            if audible:
                self._last_audible = at
                self._played_seconds += FRAME_SECONDS
                self._engaged = True
            if self._engaged:
                self._apm.reverse(pcm)
                self._last_fed = at
                self.stats.far_frames += 1

    # --- the speaker side -----------------------------------------------------------------------------

    def _drain_tap(self) -> None:
        blocks = self.tap.blocks
        rate = self.tap.rate
        while blocks:
            dac, frames, samples = blocks.popleft()
            if samples is None and (
                self._far_last_sound is None or dac - self._far_last_sound > ECHO_TAIL + 0.1
            ):
                self._resampler = None  # listening: nothing to cancel, nothing to compute
                continue
            if samples is None:
                block = np.zeros(frames, dtype=np.float32)
            else:
                block = np.frombuffer(samples, dtype=np.float32)
                self._far_last_sound = dac
            if self._resampler is None or self._far_next is None:  # sound again after silence
                self._resampler = Resampler(rate, WIRE_RATE)
                self._far_pending = np.zeros(0, dtype=np.float32)
                self._far_time = dac
            elif abs(dac - self._far_next) > REANCHOR:
                self.stats.reanchors += 1
                self._far_time = dac - len(self._far_pending) / WIRE_RATE
            self._far_next = dac + frames / rate
            self._cut_far(self._resampler.push(block))
        while len(self._far) > FAR_BACKLOG_SECONDS / FRAME_SECONDS:  # the microphone stalled
            self._far.popleft()

    def _cut_far(self, samples: Float32) -> None:
        pending = np.concatenate([self._far_pending, samples]) if len(self._far_pending) else samples
        whole = len(pending) // FRAME_SAMPLES * FRAME_SAMPLES
        for start in range(0, whole, FRAME_SAMPLES):
            pcm = float_to_pcm16(pending[start : start + FRAME_SAMPLES])
            level = float(np.sqrt(np.mean(np.square(pending[start : start + FRAME_SAMPLES] * 32768.0))))
            self._far.append((self._far_time, pcm, level > AUDIBLE))
            self._far_time += FRAME_SECONDS
        self._far_pending = pending[whole:].copy()
