"""The one way a session fails on purpose: :class:`SessionError`, a single line that says the fix.

The CLI prints it as ``error: ...`` and exits 1; bugs keep their traceback.
"""

from __future__ import annotations

__all__ = ["SessionError"]


class SessionError(Exception):
    """An expected failure: bad key, unknown agent, unreachable server, no sound device ..."""
