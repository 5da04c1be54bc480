"""``vatel session``: talk to a voice agent through the microphone and speaker (or WAV files).

Flags and variables as the seed example: ``--api-key/--agent-id/--base-url`` or
``VATEL_API_KEY/VATEL_AGENT_ID/VATEL_BASE_URL``. Exit codes: 0 (the session ended), 1 (an
error, one line with the fix), 130 (Ctrl-C).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from vatel.app.config import SessionConfig
from vatel.app.core import DEFAULT_TOOL_TIMEOUT
from vatel.app.errors import SessionError
from vatel.app.text_input import Speak, TextInput
from vatel.cli.data_dir import add_data_dir, settings_from
from vatel.cli.devices import print_devices
from vatel.cli.failure import CommandError
from vatel.client import DEFAULT_BASE_URL


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def run_session_command(args: argparse.Namespace) -> int:
    if args.list_devices:
        print_devices()
        return 0
    if not args.api_key:
        if args.base_url:
            raise CommandError(f"no API key for {args.base_url}: pass --api-key (or set VATEL_API_KEY)")
        return _run_embedded(args)
    if not args.agent_id:
        raise CommandError("no agent: pass --agent-id (or set VATEL_AGENT_ID) with the agent's UUID")
    text = _text_input(args, _hosted_voice) if args.text is not None else None
    config = _config(args, args.api_key, args.agent_id, args.base_url or DEFAULT_BASE_URL, text=text)
    return _run(replace(config, voice=lambda: _hosted_voice(announce=False)))


def _text_input(args: argparse.Namespace, voice: Callable[[], Speak]) -> TextInput:
    """``--text`` (stdin, a line at a time) or ``--text "..."`` (that one line)."""
    if args.input_file is not None:
        raise CommandError("--text and --input-file both replace the microphone: pass only one")
    lines = (args.text,) if args.text else None
    text = TextInput(voice(), lines)
    if lines is None:
        say("typing mode: each line you type is spoken to the agent (Ctrl-D ends input, Ctrl-C the session)")
    return text


def _hosted_voice(announce: bool = True) -> Speak:
    try:
        from vatel.cli.embedded import local_voice
    except ModuleNotFoundError as missing:
        raise CommandError(
            f"typed lines are spoken with the local server's voices, but the Python package {missing.name} "
            "is not installed: pip install 'vatel[server]' (in a checkout: uv sync --extra server)"
        ) from None
    return local_voice(announce=announce)


def _config(
    args: argparse.Namespace,
    key: str,
    agent_id: str,
    base_url: str,
    *,
    text: TextInput | None = None,
    **files: Path | None,
) -> SessionConfig:
    return SessionConfig(
        api_key=key,
        agent_id=agent_id,
        base_url=base_url,
        input_device=args.input_device,
        output_device=args.output_device,
        tools=args.tools,
        input_file=files.get("input_file", args.input_file),
        output_file=files.get("output_file", args.output_file),
        tool_timeout=args.tool_timeout,
        stats_file=args.stats_file,
        text=text,
        record=args.record,
        echo_cancellation=not args.no_aec,
        plain=args.plain,
    )


def _run(config: SessionConfig) -> int:
    from vatel.app.shell import run_session  # the audio stack loads only for a real session

    try:
        return run_session(config)
    except SessionError as error:
        raise CommandError(str(error)) from None


def _run_embedded(args: argparse.Namespace) -> int:
    """No API key: a local server in this process, the demo agent, and the sound card, or, on a
    machine without one, an announced demo turn from and to WAV files."""
    from vatel.audio.probe import sound_unavailable
    from vatel.cli.embedded import DEMO_ANSWER_FILE, caller_voice, demo_agent, demo_question, local_server

    with local_server(settings_from(args)) as local:
        agent_id = args.agent_id or demo_agent(local.url, local.key)
        text = _text_input(args, lambda: caller_voice(local.live.engines)) if args.text is not None else None
        input_file, output_file = args.input_file, args.output_file
        demo = False
        if text is not None:
            if output_file is None:
                reason = sound_unavailable(None, args.output_device, need_input=False)
                if reason is not None:
                    say(f"no usable sound device ({reason})")
                    say(f"so the agent's voice is written to {DEMO_ANSWER_FILE} instead of played")
                    output_file = DEMO_ANSWER_FILE
        elif input_file is None or output_file is None:
            reason = sound_unavailable(args.input_device, args.output_device)
            if reason is not None:
                demo = True
                say(f"no usable sound device ({reason})")
                say(
                    "so this is a demo turn instead: a spoken question is sent from a WAV file, and the "
                    f"agent's voice is written to {output_file or DEMO_ANSWER_FILE}"
                )
                input_file = input_file or demo_question(local.live)
                output_file = output_file or DEMO_ANSWER_FILE
        config = _config(
            args, local.key, agent_id, local.url, text=text, input_file=input_file, output_file=output_file
        )
        code = _run(replace(config, voice=lambda: caller_voice(local.live.engines)))
        if demo:
            say(f"the agent's voice is in {output_file}; with a sound card, `vatel session` talks live")
        return code


def say(text: str) -> None:
    print(f"vatel session: {text}", file=sys.stderr, flush=True)


def add_server_options(parser: argparse.ArgumentParser, what: str) -> None:
    """``--api-key``, ``--agent-id`` and ``--base-url`` (and their variables), as the seed takes them."""
    parser.add_argument("--api-key", default=os.environ.get("VATEL_API_KEY"), help="API key (VATEL_API_KEY)")
    parser.add_argument(
        "--agent-id", default=os.environ.get("VATEL_AGENT_ID"), help="the agent's UUID (VATEL_AGENT_ID)"
    )
    parser.add_argument(
        "--base-url",
        default=os.environ.get("VATEL_BASE_URL") or None,
        help=f"server (VATEL_BASE_URL; default {DEFAULT_BASE_URL} with a key; with no key at all, "
        f"a local server started for the {what})",
    )


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    session = commands.add_parser(
        "session",
        help="talk to a voice agent (microphone and speaker, or WAV files)",
        description="Stream the microphone to a voice agent, play its answers, print what is said "
        "and answer its tool calls. On a terminal a status bar shows who is speaking, the levels, the modes "
        "and each turn's latency (end of your speech to the agent's first sound; p50/p95 at exit). Keys: "
        "m mutes the microphone, s the speaker; t turns push-to-talk on (space then starts and stops "
        "talking; silence is sent otherwise); / or Enter types a line that is voiced locally and sent; "
        "? lists the keys; q ends the session.",
    )
    add_server_options(session, "session")
    session.add_argument("--input-device", metavar="INDEX|NAME", help="microphone (vatel devices lists them)")
    session.add_argument("--output-device", metavar="INDEX|NAME", help="speaker (vatel devices lists them)")
    session.add_argument("--list-devices", action="store_true", help="list the sound devices and exit")
    session.add_argument(
        "--tools",
        type=Path,
        metavar="FILE",
        help="tools.py (functions by name) or tools.json (outputs by name)",
    )
    session.add_argument(
        "--tool-timeout",
        type=_positive_float,
        default=DEFAULT_TOOL_TIMEOUT,
        metavar="SECONDS",
        help=f"answer a tool call with an error after this long (default {DEFAULT_TOOL_TIMEOUT:g})",
    )
    session.add_argument(
        "--input-file",
        type=Path,
        metavar="WAV",
        help="send this WAV (at real-time pace) instead of the microphone",
    )
    session.add_argument(
        "--text",
        nargs="?",
        const="",
        metavar="LINE",
        help="type instead of speaking: each line of stdin (or LINE alone) is spoken with a local voice "
        "and sent as audio; the microphone is not used",
    )
    session.add_argument(
        "--output-file", type=Path, metavar="WAV", help="write the agent's audio here instead of playing it"
    )
    session.add_argument(
        "--no-aec",
        action="store_true",
        help="do not cancel the speaker's echo in the microphone (on by default with a live microphone "
        "and speaker; headphones do not need it)",
    )
    session.add_argument(
        "--plain",
        action="store_true",
        help="plain lines, no status bar and no escape codes (always so when stdout is not a terminal)",
    )
    session.add_argument("--stats-file", type=Path, metavar="JSON", help="write the session's counters here")
    session.add_argument(
        "--record",
        type=Path,
        metavar="DIR",
        help="record the session into DIR (created if missing): session.wav (left: the microphone as sent, "
        "right: the agent), messages.jsonl (every message) and report.json; vatel replay DIR re-runs it",
    )
    add_data_dir(session)
    session.set_defaults(run=run_session_command)
