"""Where the server keeps its data and how it is tuned; read once at start.

Every ``vatel`` command that touches server data takes ``--data-dir`` (or ``VATEL_DATA_DIR``);
``VATEL_DATABASE_URL`` points at PostgreSQL (``postgresql+asyncpg://...``) instead of the SQLite
file in the data dir, which is how several replicas share one database. The language models come
from the config file (``config_file.py``; ``vatel serve --config`` or ``VATEL_CONFIG``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from vatel.server.engines.llm_brain import LLMEndpoint

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
API_KEY_FILE = "api-key"


def default_data_dir() -> Path:
    """``VATEL_DATA_DIR``, else the per-user data directory (``~/.local/share/vatel`` on Linux)."""
    configured = os.environ.get("VATEL_DATA_DIR")
    return Path(configured).expanduser() if configured else Path(platformdirs.user_data_dir("vatel"))


@dataclass(frozen=True)
class ServerSettings:
    data_dir: Path = field(default_factory=default_data_dir)
    database_url: str | None = field(default_factory=lambda: os.environ.get("VATEL_DATABASE_URL") or None)
    session_token_ttl: float = 600.0
    """Seconds a session token stays valid (it is also single-use)."""
    max_body_bytes: int = 1024 * 1024
    """Larger request bodies get 413."""
    llms: tuple[LLMEndpoint, ...] = ()
    """The OpenAI-compatible servers agents may use besides ``vatel/scripted``."""

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'vatel.db'}"

    @property
    def api_key_file(self) -> Path:
        return self.data_dir / API_KEY_FILE

    @property
    def recordings_dir(self) -> Path:
        return self.data_dir / "recordings"
