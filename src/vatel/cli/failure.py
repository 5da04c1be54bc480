"""The one way a command fails on purpose: a short message, printed as ``error: ...``, exit 1."""


class CommandError(Exception):
    """An expected failure (bad configuration, unreachable server): no traceback, just the fix."""
