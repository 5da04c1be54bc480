"""``vatel serve``: the Vatel REST and session protocol, served offline from this machine.

``api/`` holds the REST routes, ``auth/`` the API keys and session tokens, ``store/`` the database
(SQLAlchemy 2 + Alembic; SQLite by default, PostgreSQL for several replicas).
"""

from vatel.server.app import create_app
from vatel.server.settings import ServerSettings

__all__ = ["ServerSettings", "create_app"]
