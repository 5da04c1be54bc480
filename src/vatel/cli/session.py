"""``vatel session``: talk to a voice agent through the microphone and speaker (or WAV files).

Flags and variables as the seed example: ``--api-key/--agent-id/--base-url`` or
``VATEL_API_KEY/VATEL_AGENT_ID/VATEL_BASE_URL``. Exit codes: 0 (the session ended), 1 (an
error, one line with the fix), 130 (Ctrl-C).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from vatel.app.config import SessionConfig
from vatel.app.core import DEFAULT_TOOL_TIMEOUT
from vatel.app.errors import SessionError
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
        # The embedded local server (the default with no key) comes with `vatel serve`.
        raise CommandError(
            "no API key: pass --api-key (or set VATEL_API_KEY); "
            "a local server for sessions without a key is not available yet"
        )
    if not args.agent_id:
        raise CommandError("no agent: pass --agent-id (or set VATEL_AGENT_ID) with the agent's UUID")
    config = SessionConfig(
        api_key=args.api_key,
        agent_id=args.agent_id,
        base_url=args.base_url,
        input_device=args.input_device,
        output_device=args.output_device,
        tools=args.tools,
        input_file=args.input_file,
        output_file=args.output_file,
        tool_timeout=args.tool_timeout,
        stats_file=args.stats_file,
    )
    from vatel.app.shell import run_session  # the audio stack loads only for a real session

    try:
        return run_session(config)
    except SessionError as error:
        raise CommandError(str(error)) from None


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    session = commands.add_parser(
        "session",
        help="talk to a voice agent (microphone and speaker, or WAV files)",
        description="Stream the microphone to a voice agent, play its answers, print what is said "
        "and answer its tool calls. Keys on a terminal: m mutes the microphone, q ends the session.",
    )
    session.add_argument("--api-key", default=os.environ.get("VATEL_API_KEY"), help="API key (VATEL_API_KEY)")
    session.add_argument(
        "--agent-id", default=os.environ.get("VATEL_AGENT_ID"), help="the agent's UUID (VATEL_AGENT_ID)"
    )
    session.add_argument(
        "--base-url",
        default=os.environ.get("VATEL_BASE_URL") or DEFAULT_BASE_URL,
        help=f"server (VATEL_BASE_URL; default {DEFAULT_BASE_URL})",
    )
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
        "--output-file", type=Path, metavar="WAV", help="write the agent's audio here instead of playing it"
    )
    session.add_argument("--stats-file", type=Path, metavar="JSON", help="write the session's counters here")
    session.set_defaults(run=run_session_command)
