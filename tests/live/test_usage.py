"""CPU accounting per component (``server/live/usage.py``) and the model-free engine set (``tones``)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace

import numpy as np
import pytest

from vatel.server.engines.native_threads import native_thread_ids, threads_cpu_seconds, threads_started_by
from vatel.server.engines.tones import LoudnessVad, SecondsRecognizer, ToneSynthesizer, tone_engines
from vatel.server.live.usage import CpuUsage

pytestmark = pytest.mark.unit


def burn(seconds: float) -> None:
    """Spend ``seconds`` of this thread's CPU."""
    until = time.thread_time() + seconds
    while time.thread_time() < until:
        pass


class TestCpuUsage:
    def test_run_counts_the_calls_cpu_and_returns_its_result(self) -> None:
        usage = CpuUsage()

        def work() -> int:
            burn(0.01)
            return 7

        assert usage.run("vad", work) == 7
        usage.run("vad", burn, 0.01)
        vad = usage.components["vad"]
        assert vad.calls == 2 and 0.02 <= vad.cpu_seconds < 0.2
        assert usage.components["tts"].calls == 0

    def test_run_counts_a_call_that_raises(self) -> None:
        usage = CpuUsage()

        def broken() -> None:
            burn(0.005)
            raise ValueError("bad frame")

        with pytest.raises(ValueError, match="bad frame"):
            usage.run("stt_final", broken)
        assert usage.components["stt_final"].calls == 1
        assert usage.components["stt_final"].cpu_seconds >= 0.005

    async def test_steps_count_the_brains_own_cpu_not_what_ran_while_it_waited(self) -> None:
        usage = CpuUsage()

        async def brain() -> AsyncIterator[str]:
            burn(0.02)
            await asyncio.sleep(0.01)  # another task burns 0.1 s meanwhile
            burn(0.02)
            yield "one"
            await asyncio.sleep(0)
            yield "two"

        async def neighbour() -> None:
            await asyncio.sleep(0)
            burn(0.1)

        other = asyncio.create_task(neighbour())
        said = [event async for event in usage.steps("brain", brain())]
        await other
        assert said == ["one", "two"]
        brain_cpu = usage.components["brain"].cpu_seconds
        assert 0.04 <= brain_cpu < 0.09, brain_cpu  # 0.14 if the neighbour's burn were counted

    async def test_steps_pass_errors_and_cancellation_through(self) -> None:
        usage = CpuUsage()

        async def failing() -> AsyncIterator[str]:
            yield "a"
            raise RuntimeError("model server down")

        with pytest.raises(RuntimeError, match="model server down"):
            [event async for event in usage.steps("brain", failing())]

        closed: list[bool] = []

        async def slow() -> AsyncIterator[str]:
            try:
                await asyncio.sleep(10)
                yield "never"
            except asyncio.CancelledError:
                closed.append(True)
                raise

        async def consume() -> None:
            async for _ in usage.steps("brain", slow()):
                pass

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert closed == [True]

    def test_snapshot_splits_the_loop_and_counts_call_seconds(self) -> None:
        usage = CpuUsage()
        usage.add("vad", 0.25)
        usage.add("brain", 0.05)
        usage.add("tts", 0.5)
        usage.call_opened(1, 100.0)
        usage.call_opened(2, 100.0)
        usage.call_closed(1, 103.0)
        usage.call_closed(1, 104.0)  # twice: counted once
        usage.call_closed(3, 104.0)  # never opened: ignored
        snap = usage.snapshot(loop_thread_cpu=1.0)
        assert snap["transport_cpu_seconds"] == pytest.approx(0.7)
        assert snap["components"]["tts"] == {
            "cpu_seconds": 0.5,
            "calls": 1,
            "native_threads_cpu_seconds": 0.0,
        }
        assert snap["open_calls"] == 1
        assert snap["call_seconds"] >= 3.0  # call 1's three seconds, plus call 2 still open


@pytest.fixture
def busy_thread() -> Iterator[tuple[frozenset[int], threading.Event]]:
    """A native thread started under ``threads_started_by`` that burns 0.1 s of CPU when asked."""
    go, stop = threading.Event(), threading.Event()

    def worker() -> None:
        go.wait()
        burn(0.1)
        stop.wait()

    thread = threading.Thread(target=worker, daemon=True)
    _, started = threads_started_by(thread.start)
    try:
        yield started, go
    finally:
        stop.set()
        thread.join()


class TestNativeThreads:
    def test_a_started_thread_is_found_and_its_cpu_read(
        self, busy_thread: tuple[frozenset[int], threading.Event]
    ) -> None:
        started, go = busy_thread
        assert len(started) == 1 and started <= native_thread_ids()
        before = threads_cpu_seconds(started)
        go.set()
        deadline = time.monotonic() + 10
        while threads_cpu_seconds(started) - before < 0.05 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert threads_cpu_seconds(started) - before >= 0.05
        assert threads_cpu_seconds([2**30]) == 0.0  # no such thread

    def test_an_engines_native_threads_count_for_its_component(
        self, busy_thread: tuple[frozenset[int], threading.Event]
    ) -> None:
        started, go = busy_thread
        recogniser = SimpleNamespace(native_threads=started)
        engines = SimpleNamespace(vad=None, final_stt=recogniser, interim_stt=None, synthesizers=())
        usage = CpuUsage()
        first = usage.snapshot(time.thread_time(), engines)  # type: ignore[arg-type]
        go.set()
        while threads_cpu_seconds(started) < 0.05:
            time.sleep(0.01)
        second = usage.snapshot(time.thread_time(), engines)  # type: ignore[arg-type]
        stt = second["components"]["stt_final"]
        grew = (
            stt["native_threads_cpu_seconds"] - first["components"]["stt_final"]["native_threads_cpu_seconds"]
        )
        assert grew >= 0.05 and stt["cpu_seconds"] == stt["native_threads_cpu_seconds"]
        assert second["components"]["tts"]["native_threads_cpu_seconds"] == 0.0


@pytest.mark.models
def test_whisper_names_the_threads_it_decodes_on() -> None:
    from vatel.server.engines.whisper import WhisperRecognizer

    # The full 30 s window: with the utterance window a second of noise decodes in a few tens of ms,
    # as short as the feature extraction done in the calling thread, and the ratio says nothing.
    recognizer = WhisperRecognizer(cpu_threads=2, window="full")
    audio = np.random.default_rng(0).normal(0, 0.05, 16_000).astype(np.float32)
    recognizer.transcribe(audio)
    assert recognizer.native_threads
    before, caller = threads_cpu_seconds(recognizer.native_threads), time.thread_time()
    recognizer.transcribe(audio)
    on_its_threads = threads_cpu_seconds(recognizer.native_threads) - before
    assert on_its_threads > 5 * (time.thread_time() - caller)  # the decode runs there, not here


class TestToneEngines:
    def test_loudness_vad(self) -> None:
        stream = LoudnessVad().stream()
        quiet = np.full(512, 0.001, dtype=np.float32)
        loud = (0.3 * np.sin(np.arange(512) / 5)).astype(np.float32)
        assert stream.probability(quiet) == 0.0
        assert stream.probability(loud) == 1.0
        with pytest.raises(ValueError, match="512 samples"):
            stream.probability(loud[:100])
        with pytest.raises(ValueError, match="float samples"):
            stream.probability(np.zeros(512, dtype=np.int16))

    def test_the_recogniser_hears_the_length(self) -> None:
        recognizer = SecondsRecognizer()
        assert recognizer.transcribe(np.zeros(0, dtype=np.float32)) == ""
        assert recognizer.transcribe(np.zeros(8_000, dtype=np.float32)) == "one second"
        assert recognizer.transcribe(np.zeros(2 * 16_000, dtype=np.float32)) == "two seconds"
        assert recognizer.transcribe(np.zeros(14 * 16_000, dtype=np.float32)) == "14 seconds"

    def test_a_tone_per_word(self) -> None:
        synthesizer = ToneSynthesizer(seconds_per_word=0.1)
        chunks = list(synthesizer.synthesize("one two three"))
        assert sum(chunk.size for chunk in chunks) == 3 * 2_400
        assert float(np.abs(np.concatenate(chunks)).max()) == pytest.approx(0.1, abs=1e-3)

    def test_the_set_needs_nothing_loaded(self) -> None:
        engines = tone_engines()
        assert engines.interim_stt is None
        assert [voice.id for voice in engines.voices] == ["tones/a"]
