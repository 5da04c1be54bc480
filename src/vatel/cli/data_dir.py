"""The ``--data-dir`` option every command that touches server data shares (``VATEL_DATA_DIR``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from vatel.server.settings import ServerSettings, default_data_dir


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"where the server keeps its data (VATEL_DATA_DIR; default {default_data_dir()})",
    )


def settings_from(args: argparse.Namespace) -> ServerSettings:
    data_dir: Path | None = args.data_dir
    return ServerSettings(data_dir=data_dir.expanduser()) if data_dir else ServerSettings()
