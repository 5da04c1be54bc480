"""Acoustic echo cancellation: the agent's voice, played by the speaker and heard again by the
microphone, is taken out of the microphone before it reaches the server.

Without it an agent on laptop speakers hears itself and interrupts itself. The canceller is
WebRTC's AEC3, through the ``AudioProcessingModule`` of the ``livekit`` wheel (about 0.1 ms per
10 ms frame, 0.15-0.2 ms with the far end's resampling; ``benchmarks/client.py`` measures it), on
the wire's 24 kHz PCM16 in 10 ms frames.

How the two streams meet:

1. The far end is exactly what the speaker callback wrote: the callback hands each block and its
   DAC time (PortAudio's ``outputBufferDacTime``) to a :class:`FarEndTap` (one deque append; a
   silent block is sent as ``None``, so listening costs nothing) and returns.
2. On the event loop, :meth:`EchoCanceller.process` gets each microphone frame with its capture
   time (``inputBufferAdcTime``, the same clock). Before a frame captured at ``t`` is cleaned,
   every played 10 ms frame whose DAC time is at or before ``t`` (plus a :data:`LEAD`) is given to
   the APM (``process_reverse_stream``), so an echo always comes after its source, as AEC3 needs;
   it finds the acoustic delay left over (the room, the sound server's buffers) by itself.
   ``set_stream_delay_ms`` gets what the timestamps say separates the two.
3. Both clocks count samples (:class:`StreamClock`), since a step in either moves the echo
   against its source: the speaker's follows its DAC timestamps slowly and takes them as they
   are after an underflow; the capture clock ignores its timestamps' jitter (through PulseAudio
   they jump by tens of ms, more on a busy machine) and resyncs only after a reported loss of
   audio or a jump of more than :data:`NEAR_JUMP`.
4. While nothing has been played for :data:`IDLE_AFTER` seconds the microphone passes through
   untouched and the APM is not called (no CPU while listening); when it starts again, the
   microphone is silenced while the first :data:`REWARM_SECONDS` of sound play.
5. Warm-up: until the far end has played ``warmup`` seconds of sound, the AEC is still
   converging, so the microphone is silenced while the agent is heard (and :data:`ECHO_TAIL`
   after): the agent's first words cannot barge in. The user cannot either, for that long.
6. Residual gate: while the agent is heard, a frame the AEC made much quieter
   (:data:`RESIDUAL_GATE_DB`) holds only what is left of the echo, and is silenced.
7. A glitch (the speaker ran dry, the microphone overflowed, a timestamp jumped) moves the echo
   against its source, and AEC3 needs a moment to find it again: the microphone is silenced
   again while the next :data:`REWARM_SECONDS` of sound play (:meth:`EchoCanceller.glitch`).
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
REWARM_SECONDS = 1.0
"""Seconds of played sound silenced after a glitch (AEC3 re-finds a moved echo within about that)."""
ECHO_TAIL = 0.5
"""After the last audible far-end frame, how long its echo may still arrive (sound server
buffers, Bluetooth): the warm-up and the residual gate act that long."""
IDLE_AFTER = 5.0
"""After this long with nothing audible played, the APM stops (no CPU while listening). Not
sooner: a pause between two sentences must not break the stream the APM sees (restarting it on
exactly the same alignment is fragile, and a misaligned echo leaks until AEC3 re-finds it)."""
LEAD = 0.04
"""The far end is given this much ahead of the microphone: timestamps that put the echo a little
early (capture times jitter by tens of ms) must still leave it after its source; AEC3 finds the
delay itself, so a lead costs nothing."""
JUMP = 0.2
"""A timestamp this far from the counted clock is a discontinuity (lost blocks, a stall): follow it."""
NEAR_JUMP = 1.0
"""The same for capture timestamps, which jitter far more (a lost block is reported, see glitch)."""
DRIFT_LIMIT = 0.03
"""The smoothed gap between the timestamps and the counted clock that moves the clock (a step:
the echo moves against its source, which counts as a glitch)."""
DRIFT_GAIN = 0.01
"""How much of each timestamp's gap goes into the smoothed gap (a time constant of 100 blocks:
jitter of tens of ms averages out; a real shift, after an underflow, is followed within seconds)."""
AUDIBLE = 10 ** (-50 / 20) * 32768
"""A far-end frame louder than -50 dBFS (RMS) counts as sound played."""
FAR_BACKLOG_SECONDS = 2.0
RESIDUAL_GATE_DB = 12.0
"""While the agent is heard, a frame the AEC made this much quieter is residual echo, and is
silenced. AEC3 removes 50-60 dB of a steady echo but lets short bursts through about 15-25 dB down
(a sentence's onset, a moved echo), which a server's VAD takes for a barge-in; a user speaking
over the agent loses only a few dB in the AEC, so passes."""
RESIDUAL = 10 ** (-RESIDUAL_GATE_DB / 20)


def rms(pcm: Any) -> float:
    """The RMS of PCM16 samples, in PCM16 units."""
    return float(np.sqrt(np.mean(np.square(pcm, dtype=np.float64)))) if len(pcm) else 0.0


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
        self.glitches = 0
        """Times the speaker ran dry (PortAudio's output underflow): the playout moved."""

    def push(self, dac_time: float, frames: int, samples: bytes | None) -> None:
        """A block of ``frames`` mono float32 samples to be heard at ``dac_time``; ``None``: silence."""
        if len(self.blocks) == self.blocks.maxlen:
            self.dropped += 1
        self.blocks.append((dac_time, frames, samples))

    def glitch(self) -> None:
        """The device ran dry (call from the callback): what follows is heard later than planned."""
        self.glitches += 1


class StreamClock:
    """A clock that counts samples and follows the stream's timestamps: not at all through jitter;
    with ``drift``, in one step when their smoothed gap passes :data:`DRIFT_LIMIT`; at once through
    a jump of more than ``jump`` seconds, or at the next timestamp after :meth:`resync` (a glitch
    the device reported). Steps and jumps are counted in :attr:`jumps` (each moves the echo).

    The capture side runs without drift and with a wide jump: PulseAudio's capture timestamps
    jitter by tens of ms (more on a busy machine) while the stream itself stays continuous, so
    following them would move the echo for nothing."""

    def __init__(self, *, drift: bool = True, jump: float = JUMP) -> None:
        self.now: float | None = None
        self.jumps = 0
        self.drift = drift
        self.jump = jump
        self._gap = 0.0
        self._resync = False

    def resync(self) -> None:
        """Take the next timestamp as it is (the stream lost or repeated audio)."""
        self._resync = True

    def follow(self, stamp: float) -> float:
        """The time of the block stamped ``stamp`` (call :meth:`advance` with its length after)."""
        if self.now is None or self._resync or abs(stamp - self.now) > self.jump:
            if self.now is not None and not self._resync:
                self.jumps += 1
            self.now, self._gap, self._resync = stamp, 0.0, False
            return stamp
        if not self.drift:
            return self.now
        self._gap += DRIFT_GAIN * (stamp - self.now - self._gap)
        if abs(self._gap) > DRIFT_LIMIT:
            self.now, self._gap = self.now + self._gap, 0.0
            self.jumps += 1
        return self.now

    def advance(self, seconds: float) -> None:
        if self.now is not None:
            self.now += seconds


class EchoStats:
    def __init__(self) -> None:
        self.frames_cancelled = 0
        """10 ms microphone frames that went through the APM."""
        self.frames_muted = 0
        """10 ms microphone frames silenced by the warm-up."""
        self.frames_passed = 0
        """10 ms microphone frames passed untouched (nothing played for ``IDLE_AFTER``)."""
        self.restarts = 0
        """Times the APM started again after the agent was quiet for ``IDLE_AFTER``."""
        self.frames_gated = 0
        """10 ms microphone frames silenced as residual echo (:data:`RESIDUAL_GATE_DB`)."""
        self.far_frames = 0
        """10 ms far-end frames given to the APM."""
        self.clock_jumps = 0
        """Jumps and steps in either stream's timestamps that the alignment followed."""
        self.glitches = 0
        """Glitches that silenced the microphone again while the AEC re-converged."""
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
        self._far_clock = StreamClock()
        self._far_last_sound: float | None = None
        """DAC time of the last audible block drained from the tap."""
        self._far: deque[tuple[float, bytes, float]] = deque()
        """10 ms far-end frames waiting for their time: (DAC time, PCM16, RMS level)."""
        # near end
        self._near_clock = StreamClock(drift=False, jump=NEAR_JUMP)
        self._last_audible: float | None = None
        """DAC time of the last audible far-end frame that is due (played before the near frame)."""
        self._engaged = False
        self._last_fed = 0.0
        self._played_seconds = 0.0
        self._muted_until = warmup
        """Mute while fewer seconds than this have played (the warm-up, pushed on by glitches)."""
        self._tap_glitches = 0

    @property
    def warmed_up(self) -> bool:
        """Converged: the first warm-up and any re-warm after a glitch are over."""
        return self._played_seconds >= self._muted_until

    def glitch(self, *, capture: bool = True) -> None:
        """Audio was lost on the way in (``capture``) or out: the echo may have moved against its
        source. The lossy side's clock takes its next timestamp as it is, and the microphone is
        silenced again while the next :data:`REWARM_SECONDS` of sound play."""
        (self._near_clock if capture else self._far_clock).resync()
        self._rewarm()

    def _rewarm(self) -> None:
        self.stats.glitches += 1
        self._muted_until = max(self._muted_until, self._played_seconds + REWARM_SECONDS)

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
        jumps = self._near_clock.jumps
        now = self._near_clock.follow(captured_at)
        self._jumped(self._near_clock.jumps - jumps)
        self._near_clock.advance(len(frame) / FRAME_BYTES * FRAME_SECONDS)
        if not self._engaged and not self._far:  # listening: nothing played, nothing to do
            self.stats.frames_passed += len(frame) // FRAME_BYTES
            return frame
        out = bytearray(frame)
        for offset in range(0, len(out), FRAME_BYTES):
            self._process_one(out, offset, now)
            now += FRAME_SECONDS
        return bytes(out)

    def _process_one(self, out: bytearray, offset: int, now: float) -> None:
        started = time.perf_counter()
        self._feed_far(now)
        if not self._engaged:
            self.stats.frames_passed += 1
            return
        delay_ms = min(500, max(0, round((self._last_fed - now) * 1000)))
        heard = bytes(out[offset : offset + FRAME_BYTES])
        cleaned = self._apm.capture(heard, delay_ms)
        self.stats.frames_cancelled += 1
        agent_heard = self._last_audible is not None and now - self._last_audible < ECHO_TAIL
        if agent_heard and not self.warmed_up:
            cleaned = bytes(FRAME_BYTES)  # still converging: the agent must not hear itself
            self.stats.frames_muted += 1
        elif agent_heard and rms(np.frombuffer(cleaned, "<i2")) < rms(np.frombuffer(heard, "<i2")) * RESIDUAL:
            # The AEC took most of this frame away: what is left is echo, not a voice over it.
            cleaned = bytes(FRAME_BYTES)
            self.stats.frames_gated += 1
        out[offset : offset + FRAME_BYTES] = cleaned
        self.stats.busy_seconds += time.perf_counter() - started
        if self._last_audible is not None and now - self._last_audible >= IDLE_AFTER:
            self._engaged = False  # the agent is done talking: listen untouched (no APM, no CPU)

    def _feed_far(self, now: float) -> None:
        """Give the APM every far-end frame heard at or before ``now``."""
        far = self._far
        while far and far[0][0] <= now + LEAD:
            at, pcm, level = far.popleft()
            audible = level > AUDIBLE
            if audible:
                if not self._engaged and self._last_audible is not None:
                    # The APM starts again after a long pause: give it a moment, as after a glitch.
                    self._muted_until = max(self._muted_until, self._played_seconds + REWARM_SECONDS)
                    self.stats.restarts += 1
                self._last_audible = at
                self._played_seconds += FRAME_SECONDS
                self._engaged = True
            if self._engaged:
                self._apm.reverse(pcm)
                self._last_fed = at
                self.stats.far_frames += 1

    # --- the speaker side -----------------------------------------------------------------------------

    def _jumped(self, jumps: int) -> None:
        if jumps:
            self.stats.clock_jumps += jumps
            self._rewarm()

    def _drain_tap(self) -> None:
        blocks = self.tap.blocks
        rate = self.tap.rate
        if self.tap.glitches != self._tap_glitches:
            self._tap_glitches = self.tap.glitches
            self.glitch(capture=False)
        while blocks:
            dac, frames, samples = blocks.popleft()
            expected, jumps = self._far_clock.now, self._far_clock.jumps
            now = self._far_clock.follow(dac)  # the clock runs on through silence
            self._far_clock.advance(frames / rate)
            if samples is None and (
                self._far_last_sound is None or dac - self._far_last_sound > IDLE_AFTER + 0.1
            ):
                # Listening: nothing to cancel, nothing to compute. What is held is silence.
                self._resampler, self._far_pending = None, np.zeros(0, dtype=np.float32)
                continue
            if samples is None:
                block = np.zeros(frames, dtype=np.float32)
            else:
                block = np.frombuffer(samples, dtype=np.float32)
                self._far_last_sound = dac
            if self._resampler is None:
                # Sound again after silence: a fresh resampler, on the same 10 ms grid as before (a
                # grid moved by a few ms is a moved echo to AEC3, which would have to re-converge).
                self._resampler = Resampler(rate, WIRE_RATE)
                lead_in = round(((now - self._far_time) % FRAME_SECONDS) * WIRE_RATE) % FRAME_SAMPLES
                self._far_pending = np.zeros(lead_in, dtype=np.float32)
                self._far_time = now - lead_in / WIRE_RATE
            else:  # counted on (the resampler keeps the samples in time); moved only as the clock moves
                self._far_time += now - (expected if expected is not None else now)
                self._jumped(self._far_clock.jumps - jumps)
            self._cut_far(self._resampler.push(block))
        while len(self._far) > FAR_BACKLOG_SECONDS / FRAME_SECONDS:  # the microphone stalled
            self._far.popleft()

    def _cut_far(self, samples: Float32) -> None:
        pending = np.concatenate([self._far_pending, samples]) if len(self._far_pending) else samples
        whole = len(pending) // FRAME_SAMPLES * FRAME_SAMPLES
        for start in range(0, whole, FRAME_SAMPLES):
            pcm = float_to_pcm16(pending[start : start + FRAME_SAMPLES])
            self._far.append((self._far_time, pcm, rms(np.frombuffer(pcm, dtype="<i2"))))
            self._far_time += FRAME_SECONDS
        self._far_pending = pending[whole:].copy()
