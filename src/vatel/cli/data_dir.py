"""The ``--data-dir`` option every command that touches server data shares (``VATEL_DATA_DIR``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vatel.server.settings import ServerSettings


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    """The option only: the server's packages are imported when a command uses its data."""
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where the server keeps its data (VATEL_DATA_DIR; default ~/.local/share/vatel on Linux)",
    )


def settings_from(args: argparse.Namespace) -> ServerSettings:
    from vatel.server.settings import ServerSettings

    data_dir: Path | None = args.data_dir
    return ServerSettings(data_dir=data_dir.expanduser()) if data_dir else ServerSettings()
