"""``vatel devices``: the sound devices, the default input and output marked."""

from __future__ import annotations

import argparse

from vatel.audio.devices import format_table, list_devices
from vatel.audio.errors import AudioError
from vatel.cli.failure import CommandError


def print_devices() -> None:
    try:
        devices = list_devices()
    except AudioError as error:
        raise CommandError(str(error)) from None
    print(format_table(devices))


def run_devices(args: argparse.Namespace) -> int:
    print_devices()
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    devices = commands.add_parser("devices", help="list the sound devices (defaults marked)")
    devices.set_defaults(run=run_devices)
