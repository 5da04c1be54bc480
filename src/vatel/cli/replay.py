"""``vatel replay DIR``: send a recorded session's audio to a server again and say what came back different.

Server and agent as ``vatel session``: ``--api-key/--agent-id/--base-url`` (or the ``VATEL_*``
variables); with no API key, a local server started in this process and its demo agent.
Exit codes: 0 (no differences), 3 (differences, listed), 1 (an error, one line), 130 (Ctrl-C).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import orjson

from vatel.app.config import SessionConfig
from vatel.app.errors import SessionError
from vatel.app.replay import Recording, Replay, load_recording
from vatel.app.replay_diff import compare_reports, format_comparison
from vatel.app.session_log import LogError
from vatel.cli.data_dir import add_data_dir, settings_from
from vatel.cli.failure import CommandError
from vatel.cli.session import add_server_options
from vatel.client import DEFAULT_BASE_URL

DIFFERENT = 3


def run_replay_command(args: argparse.Namespace) -> int:
    directory: Path = args.directory
    try:
        recording = load_recording(directory)
    except LogError as error:
        raise CommandError(str(error)) from None
    if args.record is not None and args.record.resolve() == directory.resolve():
        raise CommandError("--record must name another directory than the recording being replayed")
    for warning in recording.warnings:
        say(f"warning: {warning}")
    if not args.api_key:
        if args.base_url:
            raise CommandError(f"no API key for {args.base_url}: pass --api-key (or set VATEL_API_KEY)")
        from vatel.cli.embedded import demo_agent, local_server

        with local_server(settings_from(args)) as local:
            agent_id = args.agent_id or demo_agent(local.url, local.key)
            return _replay(args, recording, SessionConfig(local.key, agent_id, local.url, record=args.record))
    if not args.agent_id:
        raise CommandError("no agent: pass --agent-id (or set VATEL_AGENT_ID) with the agent's UUID")
    base_url = args.base_url or DEFAULT_BASE_URL
    return _replay(args, recording, SessionConfig(args.api_key, args.agent_id, base_url, record=args.record))


def _replay(args: argparse.Namespace, recording: Recording, config: SessionConfig) -> int:
    replay = Replay(recording, config)
    length = recording.frames[-1][0] if recording.frames else 0.0
    say(f"sending {len(recording.frames)} recorded frames to {config.base_url} over {length:.1f} s")
    try:
        now = asyncio.run(replay.run())
    except SessionError as error:
        raise CommandError(str(error)) from None
    for note in replay.notes:
        say(note)
    recorded = recording.report()
    comparison = compare_reports(recorded, now)
    if args.json:
        out: dict[str, Any] = {
            "recording": str(recording.directory),
            "server": config.base_url,
            "warnings": recording.warnings,
            "notes": replay.notes,
            **comparison,
            "recorded": recorded,
            "now": now,
        }
        sys.stdout.write(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(format_comparison(comparison, f"replay of {recording.directory} against {config.base_url}"))
    return 0 if comparison["same"] else DIFFERENT


def say(text: str) -> None:
    print(f"vatel replay: {text}", file=sys.stderr, flush=True)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    replay = commands.add_parser(
        "replay",
        help="send a recorded session (vatel session --record) to a server again and compare",
        description="Send the user's audio of a recorded session at its recorded times, answer tool calls "
        "with the recorded outputs, and report how the new messages differ from the recorded ones "
        "(exit 0: no differences, 3: differences).",
    )
    replay.add_argument(
        "directory", type=Path, metavar="DIR", help="a directory made by vatel session --record"
    )
    add_server_options(replay, "replay")
    replay.add_argument("--json", action="store_true", help="print the comparison as JSON")
    replay.add_argument(
        "--record", type=Path, metavar="DIR", help="record the new run into DIR (as vatel session --record)"
    )
    add_data_dir(replay)
    replay.set_defaults(run=run_replay_command)
