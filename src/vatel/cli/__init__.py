"""The ``vatel`` command: the composition root (the only package that may import every layer).

Subcommands live in their own modules and register themselves on the parser; later issues add
``serve``, ``session``, ``devices`` and ``keys`` here.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from vatel._version import __version__
from vatel.blas import single_threaded_blas
from vatel.cli.failure import CommandError

COMMANDS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    # (module, the commands it registers, the extra its dependencies come from)
    ("api_commands", ("check", "agents", "token"), "server"),  # only `agents import` needs the extra
    ("session", ("session",), "all"),
    ("replay", ("replay",), "all"),
    ("devices", ("devices",), "audio"),
    ("doctor", ("doctor",), "audio"),
    ("serve", ("serve",), "server"),
    ("keys", ("keys",), "server"),
)
"""Each command module is imported on its own: with only the SDK installed (``pip install vatel``),
a command whose extra is missing says which one to install instead of failing at start-up."""


def _needs_extra(name: str, extra: str, missing: str) -> Callable[[argparse.Namespace], int]:
    def run(_args: argparse.Namespace) -> int:
        raise CommandError(
            f"`vatel {name}` needs the {missing!r} package, which comes with vatel[{extra}]: "
            f"pip install 'vatel[{extra}]'"
        )

    return run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vatel",
        description="Real-time voice-agent sessions over the Vatel Session WebSocket protocol.",
    )
    parser.add_argument("--version", action="version", version=f"vatel {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name, names, extra in COMMANDS:
        try:
            module = importlib.import_module(f"vatel.cli.{module_name}")
        except ImportError as error:
            missing = (error.name or "").split(".")[0]
            if not missing or missing == "vatel":
                raise  # our own bug, not a missing extra
            for name in names:
                placeholder = commands.add_parser(
                    name,
                    help=f"(needs vatel[{extra}]: {missing} is missing)",
                    prefix_chars="\0",  # no options: whatever follows is taken, and the fix is printed
                    add_help=False,
                )
                placeholder.add_argument("rest", nargs="*")
                placeholder.set_defaults(run=_needs_extra(name, extra, missing))
            continue
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    single_threaded_blas()  # before any command loads numpy (vatel/blas.py says why)
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
