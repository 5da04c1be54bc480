"""The interim recogniser in a child process (``engines.recognizer_process``): the same words as
in this process, the GIL left alone, bad audio refused without losing the child, a dead child
started again, and its CPU counted."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from vatel.server.engines.loading import Engines
from vatel.server.engines.recognizer_process import ProcessRecognizer, RecognizerProcessError
from vatel.server.engines.sphinx import SphinxRecognizer

pytestmark = pytest.mark.models

Speak = Callable[..., np.ndarray]
SENTENCE = "Could you please book a table by the window for my family tonight"
CHUNK = 4000  # 0.25 s at 16 kHz, as the server feeds interims


@pytest.fixture(scope="module")
def process() -> Iterator[ProcessRecognizer]:
    recognizer = ProcessRecognizer("vatel.server.engines.sphinx:SphinxRecognizer")
    yield recognizer
    recognizer.close()


def transcribe(recognizer: ProcessRecognizer | SphinxRecognizer, audio: np.ndarray) -> tuple[list[str], str]:
    stream = recognizer.start()
    interims = [stream.feed(audio[i : i + CHUNK]) for i in range(0, len(audio), CHUNK)]
    return interims, stream.finish()


def test_the_server_runs_interims_in_a_child(engines: Engines) -> None:
    assert isinstance(engines.interim_stt, ProcessRecognizer)
    assert engines.interim_stt.pid not in (None, os.getpid())


def test_same_interims_and_final_as_in_this_process(
    process: ProcessRecognizer, sphinx: SphinxRecognizer, user_says: Speak
) -> None:
    audio = user_says(SENTENCE)
    assert (process.name, process.sample_rate) == (sphinx.name, sphinx.sample_rate)
    here = transcribe(sphinx, audio)
    there = transcribe(process, audio)
    assert there == here
    assert there[1], "no final hypothesis"
    assert any(there[0]), "no interim hypothesis"


def test_overlapping_streams_stay_apart(process: ProcessRecognizer, user_says: Speak) -> None:
    speech, silence = user_says(SENTENCE), np.zeros(16_000, dtype=np.float32)
    talking, quiet = process.start(), process.start()
    for start in range(0, len(speech), CHUNK):
        talking.feed(speech[start : start + CHUNK])
        quiet.feed(silence[: CHUNK // 4])
    assert quiet.finish() == ""
    assert talking.finish() != ""


def test_the_decoding_does_not_hold_this_process(process: ProcessRecognizer, user_says: Speak) -> None:
    """While the child decodes 5 s of speech, a thread here keeps running (in this process,
    pocketsphinx holds the GIL for the whole decode)."""
    audio = np.tile(user_says(SENTENCE), 2)
    ticks = 0
    stop = threading.Event()

    def count() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0.001)

    counter = threading.Thread(target=count)
    stream = process.start()
    counter.start()
    started = time.perf_counter()
    stream.feed(audio)
    spent = time.perf_counter() - started
    stop.set()
    counter.join()
    stream.finish()
    assert ticks >= 0.3 * spent / 0.0011, (ticks, spent)  # the thread ran through the decode


def test_bad_audio_is_refused_and_the_child_goes_on(process: ProcessRecognizer, user_says: Speak) -> None:
    stream = process.start()
    with pytest.raises(ValueError, match=r"finite|NaN|nan"):  # refused here
        stream.feed(np.full(800, np.nan, dtype=np.float32))
    with pytest.raises(ValueError, match=r"buffer size must be a multiple"):  # refused in the child
        process.request("feed", 10**6, b"abc")
    with pytest.raises(ValueError, match=r"unknown request 'sing'"):
        process.request("sing", 0)
    stream.finish()
    assert transcribe(process, user_says(SENTENCE))[1]


def test_a_dropped_stream_is_forgotten(process: ProcessRecognizer, user_says: Speak) -> None:
    stream = process.start()
    stream.feed(user_says("hello there")[:CHUNK])
    del stream  # never finished: the child is told with the next request
    assert transcribe(process, user_says(SENTENCE))[1]


def test_its_cpu_is_counted(process: ProcessRecognizer, user_says: Speak) -> None:
    before = process.child_cpu_seconds
    transcribe(process, np.tile(user_says(SENTENCE), 2))
    assert process.child_cpu_seconds - before > 0.01


def test_a_dead_child_is_started_again(user_says: Speak, caplog: pytest.LogCaptureFixture) -> None:
    recognizer = ProcessRecognizer("vatel.server.engines.sphinx:SphinxRecognizer")
    try:
        first = recognizer.pid
        assert first is not None
        stream = recognizer.start()
        stream.feed(user_says("hello")[:CHUNK])
        os.kill(first, signal.SIGKILL)
        failures = 0
        message = "died"
        with caplog.at_level(logging.ERROR, logger="vatel.server.engines"):
            deadline = time.monotonic() + 10
            while recognizer.pid == first and time.monotonic() < deadline:
                try:  # a request caught by the death fails; the next one starts a new child
                    stream.feed(np.zeros(CHUNK, dtype=np.float32))
                except RecognizerProcessError as error:
                    failures += 1
                    message = str(error)
                time.sleep(0.02)
            assert transcribe(recognizer, user_says(SENTENCE))[1]
        assert recognizer.pid not in (None, first)
        assert failures <= 1
        assert "died" in message
        assert "starting it again" in caplog.text
    finally:
        recognizer.close()


def test_a_factory_that_cannot_load_says_why() -> None:
    with pytest.raises(RecognizerProcessError, match="No module named 'vatel_no_such_engine'"):
        ProcessRecognizer("vatel_no_such_engine:Recognizer")


def test_a_stuck_child_is_stopped_and_started_again(
    user_says: Speak, monkeypatch: pytest.MonkeyPatch
) -> None:
    recognizer = ProcessRecognizer("vatel.server.engines.sphinx:SphinxRecognizer")
    try:
        first = recognizer.pid
        assert first is not None
        os.kill(first, signal.SIGSTOP)  # alive but never answers
        monkeypatch.setattr("vatel.server.engines.recognizer_process.REQUEST_TIMEOUT", 0.5)
        stream = recognizer.start()
        with pytest.raises(RecognizerProcessError, match=r"no answer within 0\.5 s"):
            stream.feed(np.zeros(CHUNK, dtype=np.float32))
        assert transcribe(recognizer, user_says(SENTENCE))[1]  # a new child answers
        assert recognizer.pid not in (None, first)
    finally:
        recognizer.close()


def test_a_child_that_keeps_dying_is_started_at_most_every_restart_every(
    user_says: Speak, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("vatel.server.engines.recognizer_process.RESTART_EVERY", 4.0)
    recognizer = ProcessRecognizer("vatel.server.engines.sphinx:SphinxRecognizer")
    try:
        for _ in range(2):
            pid = recognizer.pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)  # let it die
            try:
                transcribe(recognizer, user_says("hello"))
            except RecognizerProcessError as error:
                message = str(error)
                break
        else:
            pytest.fail("the second death within RESTART_EVERY started a new child at once")
        assert "one starts soon" in message
        time.sleep(4.1)
        assert transcribe(recognizer, user_says(SENTENCE))[1]  # then it does
    finally:
        recognizer.close()
