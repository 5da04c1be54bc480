"""The ``vatel`` command: the composition root (the only package that may import every layer).

Subcommands live in their own modules and register themselves on the parser; later issues add
``serve``, ``session``, ``devices`` and ``keys`` here.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from vatel._version import __version__
from vatel.cli import api_commands, doctor, keys, replay, serve
from vatel.cli import devices as devices_command
from vatel.cli import session as session_command
from vatel.cli.failure import CommandError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vatel",
        description="Real-time voice-agent sessions over the Vatel Session WebSocket protocol.",
    )
    parser.add_argument("--version", action="version", version=f"vatel {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    api_commands.register(commands)
    session_command.register(commands)
    replay.register(commands)
    devices_command.register(commands)
    doctor.register(commands)
    serve.register(commands)
    keys.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        code: int = args.run(args)
    except CommandError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code


def entry_point() -> None:
    sys.exit(main())
