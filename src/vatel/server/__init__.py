"""``vatel serve``: the Vatel REST and session protocol, served offline from this machine.

``api/`` holds the REST routes, ``auth/`` the API keys and session tokens, ``store/`` the database
(SQLAlchemy 2 + Alembic; SQLite by default, PostgreSQL for several replicas).

``create_app`` and ``ServerSettings`` are imported on first use: an engine's child process (the
interims' recogniser) imports ``vatel.server.engines`` and needs none of the web stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vatel.server.app import create_app
    from vatel.server.settings import ServerSettings

__all__ = ["ServerSettings", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from vatel.server.app import create_app

        return create_app
    if name == "ServerSettings":
        from vatel.server.settings import ServerSettings

        return ServerSettings
    raise AttributeError(f"module 'vatel.server' has no attribute {name!r}")
