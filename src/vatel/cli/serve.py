"""``vatel serve``: the Vatel REST API and live sessions on this machine, offline.

The first start creates an organization and an API key, prints the key once (stdout) and keeps it
in the data dir for local tools. SIGINT/SIGTERM stop it gracefully and it exits 0. Language models
(OpenAI-compatible servers) come from the config file, ``--config`` or ``VATEL_CONFIG``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import os
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from vatel.cli.data_dir import add_data_dir, settings_from
from vatel.cli.failure import CommandError
from vatel.server.app import SCRIPTED_BRAIN, create_app
from vatel.server.bootstrap import prepare
from vatel.server.config_file import ConfigError, read_config
from vatel.server.engines.llm_brain import LLMBrain, LLMEndpoint
from vatel.server.live.services import LiveServices
from vatel.server.settings import DEFAULT_HOST, DEFAULT_PORT, ServerSettings
from vatel.server.store.database import DatabaseError

if TYPE_CHECKING:
    import uvicorn


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0..65535, got {value}")
    return value


def _chunk_ms(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of milliseconds: {text!r}") from None
    if not 10 <= value <= 200:
        raise argparse.ArgumentTypeError(f"audio chunks must be 10..200 ms, got {value}")
    return value


async def _preflight(settings: ServerSettings) -> str | None:
    """Migrate and create the organization before serving: a bad database fails here in one line,
    and the first key is printed before the server's own log starts."""
    ready = await prepare(settings)
    await ready.engine.dispose()
    return ready.new_key


def _graceful_server(config: uvicorn.Config) -> uvicorn.Server:
    import uvicorn

    class GracefulServer(uvicorn.Server):
        """uvicorn re-raises SIGINT/SIGTERM once its graceful shutdown is done, so the process would
        die by the signal; here a graceful stop is a success (exit 0). A second Ctrl-C still forces."""

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            super().handle_exit(sig, frame)
            self._captured_signals.clear()

    return GracefulServer(config)


def load_live(
    engine_set: str = "models", audio_chunk_ms: int = 40, turn_model: str = "smart-turn"
) -> LiveServices:
    """The speech engines and brains, loaded once before serving (a few seconds, shown as it goes).

    ``tones`` is the set with no models (server/engines/tones.py): the real session path at almost
    no CPU, for transport benchmarks and client development."""
    from vatel.server.engines.loading import EngineConfig, EngineUnavailable, load_engines
    from vatel.server.engines.scripted_brain import ScriptedBrain

    if engine_set == "tones":
        from vatel.server.engines.tones import tone_engines

        print("vatel serve: engines: tones (no models: a loudness VAD, tone voices)", file=sys.stderr)
        return LiveServices(
            tone_engines(), {SCRIPTED_BRAIN: ScriptedBrain()}, audio_chunk_seconds=audio_chunk_ms / 1000
        )

    def show(step: object) -> None:
        print(f"vatel serve: {step}", file=sys.stderr, flush=True)

    try:
        engines = load_engines(
            EngineConfig(turn_model="smart-turn" if turn_model == "smart-turn" else None), progress=show
        )
    except EngineUnavailable as error:
        raise CommandError(
            f"{error} (or run `vatel serve --rest-only` to serve without live calls)"
        ) from None
    return LiveServices(engines, {SCRIPTED_BRAIN: ScriptedBrain()}, audio_chunk_seconds=audio_chunk_ms / 1000)


CONFIG_HELP = """\
language models (agents choose one with "llm"; GET /v1/llms lists them):
  vatel serve --config vatel.toml, or VATEL_CONFIG=vatel.toml, with one table per model:

    [llms."ollama/llama3.2"]                 # the name agents use; "provider/model"
    base_url = "http://127.0.0.1:11434/v1"   # any OpenAI-compatible server (vLLM, Ollama, llama.cpp)
    model = "llama3.2"                       # default: the name after its "/"
    api_key_env = "OLLAMA_API_KEY"           # optional: the variable that holds the key
    first_token_timeout = 10                 # optional, seconds (also connect_timeout, token_timeout)
    max_tokens = 300                         # optional (also temperature)
"""


def configured_llms(path: str | None) -> tuple[LLMEndpoint, ...]:
    """The models of the config file at ``path`` (else ``VATEL_CONFIG``; none without either)."""
    chosen = path or os.environ.get("VATEL_CONFIG") or None
    if chosen is None:
        return ()
    try:
        return read_config(Path(chosen).expanduser()).llms
    except ConfigError as error:
        raise CommandError(str(error)) from None


def with_llms(live: LiveServices, endpoints: tuple[LLMEndpoint, ...]) -> LiveServices:
    """The live services with a brain per configured model, after the scripted one."""
    brains = {**live.brains, **{endpoint.name: LLMBrain(endpoint) for endpoint in endpoints}}
    return dataclasses.replace(live, brains=brains)


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from vatel.server.live.websocket_protocol import CallWebSocketProtocol

    settings = dataclasses.replace(settings_from(args), llms=configured_llms(args.config))
    for endpoint in settings.llms:
        print(f"vatel serve: llm {endpoint.name}: {endpoint.model} at {endpoint.base_url}", file=sys.stderr)
    try:
        new_key = asyncio.run(_preflight(settings))
    except (DatabaseError, OSError) as error:
        raise CommandError(f"{error} (check --data-dir, VATEL_DATA_DIR or VATEL_DATABASE_URL)") from None
    if new_key is not None:
        print(
            f"vatel serve: created this server's organization; its API key (shown once):\n{new_key}",
            flush=True,
        )
        print(f"vatel serve: the key is also kept in {settings.api_key_file} (mode 0600)", file=sys.stderr)
    database = "PostgreSQL" if settings.database_url else f"SQLite in {settings.data_dir}"
    print(f"vatel serve: http://{args.host}:{args.port} ({database})", file=sys.stderr, flush=True)
    live = None if args.rest_only else load_live(args.engines, args.audio_chunk_ms, args.turn_model)
    if live is not None:
        live = with_llms(live, settings.llms)
    names = (SCRIPTED_BRAIN, *(endpoint.name for endpoint in settings.llms))
    config = uvicorn.Config(
        create_app(settings, live=live, llms=names),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        lifespan="on",
        ws=CallWebSocketProtocol,
    )
    server = _graceful_server(config)
    # Everything loaded so far (modules, models, the app) lives as long as the server: frozen, a full
    # collection no longer walks it, which stalled every call's audio for tens of milliseconds.
    gc.collect()
    gc.freeze()
    server.run()
    if not server.started:
        raise CommandError(f"the server did not start on {args.host}:{args.port} (see the log above)")
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the local Vatel server (REST and live calls) here",
        epilog=CONFIG_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    serve.add_argument("--port", type=_port, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    serve.add_argument(
        "--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"]
    )
    serve.add_argument(
        "--rest-only",
        action="store_true",
        help="serve the REST API without loading speech engines (the session WebSocket answers 503)",
    )
    serve.add_argument(
        "--engines",
        choices=["models", "tones"],
        default="models",
        help="the speech engines of live calls: the offline models (default), or tones: no models, "
        "a loudness VAD and a tone per word, for transport benchmarks and client development",
    )
    serve.add_argument(
        "--turn-model",
        choices=["smart-turn", "none"],
        default="smart-turn",
        help="what decides, at each pause, whether the user has finished: Smart Turn v3.2 (default: a "
        "sure verdict ends the turn after the agent's stop_secs, mid-sentence pauses get more time) or "
        "none (stop_secs of silence alone ends a turn)",
    )
    serve.add_argument(
        "--config",
        metavar="PATH",
        default=None,
        help="the server's TOML config file: its language models (VATEL_CONFIG; see below)",
    )
    serve.add_argument(
        "--audio-chunk-ms",
        type=_chunk_ms,
        default=40,
        help="length of each response_audio chunk, 10..200 ms (default 40; 20 sends 50 frames/s)",
    )
    add_data_dir(serve)
    serve.set_defaults(run=run_serve)
