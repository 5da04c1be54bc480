"""The embedded default of ``vatel session``: with no API key, talk to a local server started for it.

Nothing to configure and no network: the local server runs in this process on a loopback port
over the usual data dir, its key is read from the data dir, and a demo agent is created on first
use and reused after (it is found by name). On a machine with no sound device the session still
shows the whole loop, announced: a spoken question goes in from a WAV, the agent's answer goes to a
WAV in the current directory.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vatel.app.text_input import Speak
from vatel.audio.pcm import WIRE_RATE, Float32, float_to_pcm16, resample
from vatel.cli.failure import CommandError
from vatel.client import Client
from vatel.server.app import create_app
from vatel.server.bootstrap import prepare, read_key_file
from vatel.server.engines.loading import Engines
from vatel.server.live.services import LiveServices
from vatel.server.runner import ServerThread
from vatel.server.settings import ServerSettings
from vatel.server.store.organizations import create_key

DEMO_AGENT = "Vatel demo"
DEMO_PROMPT = """\
# The demo agent of `vatel session` (scripted brain: docs/scripted-brain.md). Edit it freely.
when "hours" or "open*": We are open from nine in the morning to five in the evening, Monday to Friday.
when "book" or "table": tool book_table(people: number, time: time) then say "Done. {output}"
when "story": Once upon a time, a small robot lived by the sea. Every morning it counted the boats \
in the harbour. Some days there were ten, some days twenty. It liked the busy days best. \
Interrupt me whenever you like.
when "bye" or "goodbye": Goodbye, and thanks for trying vatel! -> end
default: I heard {said}. Ask about our opening hours, book a table, ask for a story, or say goodbye.
"""
DEMO_FIRST_MESSAGE = "Hello! This is the vatel demo agent, running on this machine. How can I help?"
DEMO_QUESTION = "What are your opening hours?"
DEMO_BYE = "Goodbye."
DEMO_ANSWER_FILE = Path("vatel-demo-answer.wav")


@dataclass(frozen=True)
class LocalServer:
    url: str
    key: str
    live: LiveServices


def _say(text: str) -> None:
    print(f"vatel session: {text}", file=sys.stderr, flush=True)


async def _key(settings: ServerSettings) -> str:
    ready = await prepare(settings)
    try:
        key = ready.new_key or read_key_file(settings.api_key_file)
        if key is None:  # the key file was removed: make a key for local sessions
            _, key = await create_key(ready.engine, "vatel session")
        return key
    finally:
        await ready.engine.dispose()


@contextmanager
def local_server(settings: ServerSettings) -> Iterator[LocalServer]:
    from vatel.cli.serve import load_live

    _say(f"no API key given: starting a local server on this machine (data in {settings.data_dir})")
    key = asyncio.run(_key(settings))
    live = load_live()
    try:
        with ServerThread(create_app(settings, live=live)) as server:
            yield LocalServer(server.url, key, live)
    except RuntimeError as error:
        raise CommandError(str(error)) from None


def demo_agent(url: str, key: str) -> str:
    """The demo agent's id: found by name, created the first time."""
    with Client(api_key=key, base_url=url, max_retries=0) as client:
        for agent in client.agents.list():
            if agent.name == DEMO_AGENT and agent.id:
                return agent.id
        created = client.agents.create(
            {"name": DEMO_AGENT, "prompt": DEMO_PROMPT, "first_message": DEMO_FIRST_MESSAGE}
        )
    assert created.id is not None
    _say(f'created the agent "{DEMO_AGENT}" ({created.id}); its rules are in its prompt')
    return created.id


def caller_voice(engines: Engines) -> Speak:
    """The user's voice for typed lines and the demo question: text to 24 kHz float audio, spoken
    by a synthesizer other than the agent's default voice (espeak-ng's default voice, when loaded)."""
    synthesizers = engines.synthesizers
    caller = synthesizers[-1] if len(synthesizers) > 1 else synthesizers[0]
    voice = caller.voices[0].id if caller.voices else None  # the other engine's own default voice

    def speak(text: str) -> Float32:
        chunks = [
            resample(chunk, caller.sample_rate, WIRE_RATE) for chunk in caller.synthesize(text, voice=voice)
        ]
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)

    return speak


def local_voice(*, announce: bool = True) -> Speak:
    """For typing against a hosted server: the server's voices loaded here (espeak-ng only, with the
    lightest recogniser the loader insists on), or one clear :class:`CommandError`. ``announce``:
    say so on stderr (not while the live view owns the terminal)."""
    from vatel.server.engines.loading import EngineConfig, EngineUnavailable, load_engines

    config = EngineConfig(
        final_stt="pocketsphinx", interim_stt=None, tts="espeak", extra_tts=(), warm_up=False
    )
    if announce:
        _say("--text: loading a local voice to speak what you type")
    try:
        engines = load_engines(config)
    except EngineUnavailable as error:
        raise CommandError(f"--text needs the local server's voices: {error}") from None
    except ModuleNotFoundError as missing:
        raise CommandError(missing_server_extra(missing)) from None
    return caller_voice(engines)


def missing_server_extra(missing: ModuleNotFoundError) -> str:
    return (
        f"--text speaks with the local server's voices, but the Python package {missing.name} is not "
        "installed: pip install 'vatel[server]' (in a checkout: uv sync --extra server)"
    )


def demo_question(live: LiveServices) -> Path:
    """A spoken question, then a goodbye, in a WAV: the user's side of a demo with no microphone.

    Spoken with a voice other than the agent's default (the server's own synthesizers)."""
    speech = caller_voice(live.engines)

    def pause(seconds: float) -> np.ndarray:
        return np.zeros(int(WIRE_RATE * seconds), dtype=np.float32)

    # After the greeting, the question; time for the answer; then the goodbye that ends the call.
    signal = np.concatenate([pause(6), speech(DEMO_QUESTION), pause(8), speech(DEMO_BYE), pause(5)])
    path = Path(tempfile.mkstemp(prefix="vatel-demo-question-", suffix=".wav")[1])
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(24_000)
        out.writeframes(float_to_pcm16(signal))
    return path
