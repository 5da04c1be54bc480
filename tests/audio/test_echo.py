"""The echo canceller (``vatel.audio.echo``) on synthetic echo paths, with the real WebRTC APM.

A simulated session: the speaker callback writes 10 ms blocks at 48 kHz, 50 ms ahead of their DAC
time, into the tap; the microphone delivers 20 ms wire frames 20 ms after capture, holding the
played signal delayed (the acoustic path beyond the timestamps) and attenuated, plus whatever the
user says. ERLE is measured as the energy of what the microphone heard over what was sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
import soxr

from support.signals import RATE, best_match, noise_burst, to_pcm16
from vatel.audio.echo import FRAME_BYTES, LEAD, EchoCanceller, FarEndTap
from vatel.audio.errors import AudioError

pytestmark = pytest.mark.unit

SPEAKER_RATE = 48_000
BLOCK = SPEAKER_RATE // 100
WIRE_FRAME = RATE // 50
WRITE_AHEAD = 0.05
MIC_LATENCY = 0.02


def talker(seconds: float, seed: int, level: float = 0.3) -> np.ndarray:
    """Speech-band noise in syllables (4 Hz on/off envelope), like a voice's rhythm."""
    t = np.arange(round(seconds * RATE)) / RATE
    envelope = np.clip(np.sin(2 * np.pi * 2.0 * t + seed), 0, None) ** 0.5
    return (noise_burst(seconds, seed, level) * envelope).astype(np.float32)


@dataclass
class Run:
    canceller: EchoCanceller
    heard: np.ndarray
    """What the microphone captured (24 kHz)."""
    sent: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))


def simulate(
    far: np.ndarray | None,
    *,
    seconds: float,
    delay: float = 0.04,
    gain: float = 0.5,
    near: np.ndarray | None = None,
    far_starts: float = 0.5,
    jitter: float = 0.0,
    canceller: EchoCanceller | None = None,
) -> Run:
    """Play ``far`` (24 kHz) from ``far_starts`` s; the microphone hears it ``delay`` s later times
    ``gain``, plus ``near``. Returns what was heard and what the canceller let through."""
    canceller = canceller or EchoCanceller(SPEAKER_RATE, warmup=0.0)
    total = round(seconds * RATE)
    played = np.zeros(total, np.float32)
    if far is not None:
        start = round(far_starts * RATE)
        played[start : start + len(far)] = far[: total - start]
    played_out = soxr.resample(played, RATE, SPEAKER_RATE).astype(np.float32)
    heard = np.zeros(total, np.float32)
    lag = round(delay * RATE)
    heard[lag:] = gain * played[: total - lag]
    if near is not None:
        heard[: len(near)] += near[:total]
    rng = np.random.default_rng(7)
    out: list[bytes] = []
    written = 0  # speaker blocks written
    captured = 0  # microphone frames delivered
    for step in range(round(seconds / 0.01)):
        now = step * 0.01
        while written * 0.01 < now + WRITE_AHEAD and (written + 1) * BLOCK <= len(played_out):
            block = played_out[written * BLOCK : (written + 1) * BLOCK]
            dac = written * 0.01 + rng.uniform(-jitter, jitter)
            canceller.tap.push(dac, BLOCK, block.tobytes() if np.any(block) else None)
            written += 1
        while (captured + 1) * 0.02 + MIC_LATENCY <= now and (captured + 1) * WIRE_FRAME <= total:
            frame = heard[captured * WIRE_FRAME : (captured + 1) * WIRE_FRAME]
            adc = captured * 0.02 + rng.uniform(-jitter, jitter)
            out.append(canceller.process(to_pcm16(frame), adc))
            captured += 1
    sent = np.frombuffer(b"".join(out), "<i2").astype(np.float32) / 32768
    return Run(canceller, heard[: len(sent)], sent)


def erle_db(heard: np.ndarray, sent: np.ndarray, start: float, end: float) -> float:
    a, b = round(start * RATE), round(end * RATE)
    return float(10 * np.log10(np.mean(heard[a:b] ** 2) / max(float(np.mean(sent[a:b] ** 2)), 1e-12)))


class TestCancellation:
    @pytest.mark.parametrize("delay", [0.0, 0.04, 0.15])
    def test_an_echo_is_cancelled_by_20_db_after_two_seconds(self, delay: float) -> None:
        run = simulate(talker(6.0, seed=1), seconds=7.0, delay=delay)
        erle = erle_db(run.heard, run.sent, 0.5 + 2.0, 6.5)
        assert erle >= 20, f"ERLE {erle:.1f} dB with {delay * 1000:.0f} ms of acoustic delay"

    def test_a_quiet_echo_is_cancelled_too(self) -> None:
        run = simulate(talker(6.0, seed=2), seconds=7.0, gain=0.05)
        assert erle_db(run.heard, run.sent, 2.5, 6.5) >= 20

    def test_timestamp_jitter_does_not_shake_the_alignment(self) -> None:
        """Capture timestamps through PulseAudio jump by tens of ms from block to block."""
        run = simulate(talker(6.0, seed=3), seconds=7.0, jitter=0.04)
        assert run.canceller.stats.clock_jumps == 0
        assert erle_db(run.heard, run.sent, 2.5, 6.5) >= 20

    @pytest.mark.parametrize("pause", [0.3, 0.8, 3.0])
    def test_the_echo_stays_cancelled_after_a_pause(self, pause: float) -> None:
        """A pause longer than the echo tail stops the APM; the agent's next sentence must find the
        far end on the same 10 ms grid (a grid moved by a few ms is a moved echo to AEC3)."""
        far = talker(6.0 + pause, seed=11)
        far[round(4.0 * RATE) : round((4.0 + pause) * RATE)] = 0
        run = simulate(far, seconds=7.0 + pause)
        resumed = 0.5 + 4.0 + pause
        assert run.canceller.stats.frames_passed > 50  # the APM stopped in the pause (and before)
        erle = erle_db(run.heard, run.sent, resumed, resumed + 1.0)
        assert erle >= 20, f"ERLE {erle:.1f} dB in the second after a {pause} s pause"

    def test_after_a_long_silence_the_apm_stops_and_starts_again_muted_for_a_second(self) -> None:
        far = noise_burst(10.0, seed=13)  # sound all along, but for 6 s in the middle
        far[round(2.0 * RATE) : round(8.0 * RATE)] = 0
        canceller = EchoCanceller(SPEAKER_RATE, warmup=0.0)
        run = simulate(far, seconds=10.5, canceller=canceller, far_starts=0.0)
        assert canceller.stats.restarts == 1
        assert canceller.stats.frames_passed >= 50  # idle between 2 + 5 s and 8 s
        restart = round(8.0 * RATE)
        assert np.abs(run.sent[restart + RATE // 10 : restart + RATE // 2]).max() == 0  # re-warming
        assert erle_db(run.heard, run.sent, 9.5, 10.2) >= 20

    def test_near_speech_alone_passes_through_untouched(self) -> None:
        voice = talker(3.0, seed=4)
        run = simulate(None, seconds=3.0, near=voice)
        assert np.array_equal(run.sent, np.rint(run.heard * 32768).clip(-32768, 32767) / 32768)
        assert run.canceller.stats.frames_cancelled == 0  # listening costs no APM call

    def test_the_user_is_heard_over_the_converged_agent(self) -> None:
        """Double talk: after the AEC converged on the agent's voice, the user still gets through."""
        user = np.zeros(round(8.0 * RATE), np.float32)
        voice = noise_burst(2.0, seed=5, level=0.3)
        user[round(5.0 * RATE) : round(7.0 * RATE)] = voice
        run = simulate(talker(7.5, seed=6), seconds=8.0, near=user)
        sent = run.sent[round(5.0 * RATE) : round(7.0 * RATE)]
        score, _ = best_match(voice[RATE // 2 : RATE], sent)
        assert score > 0.6, f"the user's voice through the canceller: correlation {score:.2f}"
        level = 10 * np.log10(np.mean(sent**2) / np.mean(voice**2))
        assert level > -10, f"the user's voice lost {-level:.1f} dB"


class TestWarmUp:
    def test_the_first_words_are_silenced_then_the_microphone_returns(self) -> None:
        """The agent plays from 1.0 s to 4.0 s (audible about half the time). The user speaks before
        it (heard), during its first second (silenced: the AEC is converging), and after it (heard)."""
        canceller = EchoCanceller(SPEAKER_RATE, warmup=1.0)
        user = np.zeros(8 * RATE, np.float32)
        spans = {"before": (0.2, 0.8), "warm-up": (1.2, 1.8), "after": (5.0, 6.0)}
        for seed, (a, b) in enumerate(spans.values()):
            user[round(a * RATE) : round(b * RATE)] = noise_burst(b - a, seed=20 + seed)
        run = simulate(talker(3.0, seed=9), seconds=8.0, near=user, far_starts=1.0, canceller=canceller)
        level = {
            name: np.abs(run.sent[round(a * RATE) : round(b * RATE)]).max() for name, (a, b) in spans.items()
        }
        assert level["before"] > 0.1 and level["after"] > 0.1, level
        assert level["warm-up"] == 0, level
        # Muted while 1 s of the agent's sound played: about 2 s of a voice audible half the time.
        assert 100 <= canceller.stats.frames_muted <= 300
        assert canceller.warmed_up

    def test_a_glitch_silences_the_microphone_again_for_a_second_of_sound(self) -> None:
        """The speaker ran dry at 2 s: the echo moved, so the next second of sound is muted."""
        canceller = EchoCanceller(RATE, warmup=0.0, processor=RecordingProcessor())
        loud = np.full(RATE // 100, 0.1, np.float32).tobytes()
        voice = to_pcm16(np.full(RATE // 100, 0.05, np.float32))
        muted = []
        for k in range(400):
            canceller.tap.push(k * 0.01, RATE // 100, loud)
            if k == 200:
                canceller.tap.glitch()
            if k >= 5:
                j = k - 5
                muted.append(canceller.process(voice, j * 0.01 + 0.005) == bytes(FRAME_BYTES))
        first = muted.index(True)
        assert not any(muted[:first]) and 190 <= first <= 200
        assert all(muted[first : first + 95]) and not any(muted[first + 105 :])
        assert canceller.stats.glitches == 1 and canceller.warmed_up

    def test_no_warm_up_when_nothing_plays(self) -> None:
        canceller = EchoCanceller(SPEAKER_RATE, warmup=1.0)
        run = simulate(None, seconds=2.0, near=noise_burst(2.0, seed=10), canceller=canceller)
        assert canceller.stats.frames_muted == 0 and not canceller.warmed_up
        assert np.abs(run.sent).max() > 0.1


class RecordingProcessor:
    """A stand-in APM that records what it was given, to check the alignment exactly."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int]] = []

    def reverse(self, frame: bytes) -> None:
        self.calls.append(("far", int(np.frombuffer(frame, "<i2")[0]), 0))

    def capture(self, frame: bytes, delay_ms: int) -> bytes:
        self.calls.append(("near", int(np.frombuffer(frame, "<i2")[0]), delay_ms))
        return frame


class ScalingProcessor(RecordingProcessor):
    """A stand-in APM that takes ``db`` off every microphone frame."""

    def __init__(self, db: float) -> None:
        super().__init__()
        self.gain = 10 ** (-db / 20)

    def capture(self, frame: bytes, delay_ms: int) -> bytes:
        samples = np.frombuffer(frame, "<i2").astype(np.float64) * self.gain
        return bytes(np.rint(samples).astype("<i2").tobytes())


class TestResidualGate:
    @pytest.mark.parametrize(("db", "gated"), [(20.0, True), (14.0, True), (6.0, False), (0.0, False)])
    def test_what_the_aec_mostly_removed_is_silenced_while_the_agent_is_heard(
        self, db: float, gated: bool
    ) -> None:
        """A frame the AEC took 20 dB off is what is left of the echo; one it took 6 dB off holds a
        voice over the agent."""
        canceller = EchoCanceller(RATE, warmup=0.0, processor=ScalingProcessor(db))
        loud = np.full(RATE // 100, 0.1, np.float32).tobytes()
        heard = to_pcm16(noise_burst(0.01, seed=30))
        for k in range(50):
            canceller.tap.push(k * 0.01, RATE // 100, loud)
        sent = [canceller.process(heard, j * 0.01 + 0.005) for j in range(40)]
        silent = [frame == bytes(FRAME_BYTES) for frame in sent]
        assert all(silent) if gated else not any(silent)
        assert canceller.stats.frames_gated == (40 if gated else 0)


class TestAlignment:
    def test_each_far_frame_reaches_the_apm_before_the_microphone_frame_that_can_hold_its_echo(self) -> None:
        """Far frame k (DAC time k*10 ms) carries k in its level; microphone frame j (captured from
        j*10 ms + 5 ms) carries j. Far frame k must be given before near frame k, and only the lead before."""
        processor = RecordingProcessor()
        canceller = EchoCanceller(RATE, warmup=0.0, processor=processor)
        far_frame = RATE // 100
        for k in range(200):  # 2 s of far end, all written 50 ms ahead of the microphone
            canceller.tap.push(k * 0.01, far_frame, np.full(far_frame, (k + 10) / 1000, np.float32).tobytes())
            if k >= 5:
                j = k - 5
                canceller.process(to_pcm16(np.full(far_frame, (j + 10) / 1000, np.float32)), j * 0.01 + 0.005)
        order = [(kind, round(value * 1000 / 32768) - 10, delay) for kind, value, delay in processor.calls]
        fed = -1
        for kind, index, delay in order:
            if kind == "far":
                assert index == fed + 1, "far frames in order, none skipped"
                fed = index
            else:  # the far end leads by LEAD: frames up to index + 4 are given, their echo is 40 ms away
                ahead = round(LEAD / 0.01)
                assert fed == index + ahead, f"near frame {index} processed after far frame {fed}"
                assert delay == round(ahead * 10 - 5)  # ms from now to the last far frame's DAC time
        assert fed >= 190

    def test_a_jump_in_the_timestamps_is_followed(self) -> None:
        processor = RecordingProcessor()
        canceller = EchoCanceller(RATE, warmup=0.0, processor=processor)
        loud = np.full(RATE // 100, 0.1, np.float32).tobytes()
        for k in range(10):
            canceller.tap.push(k * 0.01, RATE // 100, loud)
        canceller.process(bytes(FRAME_BYTES), 0.05)
        canceller.process(bytes(FRAME_BYTES), 0.06 + 1.5)  # capture resumed 1.5 s later (a lost stretch)
        assert canceller.stats.clock_jumps == 1
        assert canceller.stats.glitches == 1  # the echo may have moved: re-converge muted


class TestGarbage:
    @pytest.mark.parametrize("size", [1, 100, FRAME_BYTES - 2, FRAME_BYTES + 2, 0])
    def test_a_frame_that_is_not_whole_10_ms_is_refused(self, size: int) -> None:
        canceller = EchoCanceller(SPEAKER_RATE)
        with pytest.raises(ValueError, match="whole 10 ms frames"):
            canceller.process(bytes(size), 0.0)

    @pytest.mark.parametrize("when", [float("nan"), float("inf")])
    def test_a_capture_time_that_is_not_a_time_is_refused(self, when: float) -> None:
        with pytest.raises(ValueError, match="capture time"):
            EchoCanceller(SPEAKER_RATE).process(bytes(FRAME_BYTES), when)

    @pytest.mark.parametrize("warmup", [-1.0, float("nan")])
    def test_a_bad_warm_up_is_refused(self, warmup: float) -> None:
        with pytest.raises(ValueError, match="warmup"):
            EchoCanceller(SPEAKER_RATE, warmup=warmup)

    def test_a_speaker_rate_that_is_not_a_rate_is_refused(self) -> None:
        with pytest.raises(ValueError, match="speaker rate"):
            EchoCanceller(0)

    def test_the_tap_drops_the_oldest_blocks_when_nobody_reads(self) -> None:
        tap = FarEndTap(SPEAKER_RATE, backlog=0.05)
        for k in range(8):
            tap.push(k * 0.01, BLOCK, None)
        assert len(tap.blocks) == 5 and tap.dropped == 3
        assert tap.blocks[0][0] == pytest.approx(0.03)

    def test_without_livekit_the_error_says_the_fix(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import sys

        monkeypatch.setitem(sys.modules, "livekit", None)
        with pytest.raises(AudioError, match=r"pip install 'vatel\[audio\]' \(or pass --no-aec\)"):
            EchoCanceller(SPEAKER_RATE)
