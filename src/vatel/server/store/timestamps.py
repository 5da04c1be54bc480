"""Times as the wire and the database keep them: UTC RFC 3339 strings of one fixed width.

A fixed width (``2026-11-25T07:20:00.000000Z``) sorts as text in SQLite and PostgreSQL alike, so
``date_from``/``date_to`` filters are plain string comparisons on both.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_text(moment: datetime) -> str:
    """A datetime (naive means UTC) as the stored and sent text."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def epoch_to_text(seconds: float) -> str:
    """Unix time (as in a JWT's ``exp``) as the stored text."""
    return to_text(datetime.fromtimestamp(seconds, UTC))


def now_text() -> str:
    return to_text(utc_now())


def parse(text: str) -> datetime:
    """RFC 3339 / ISO 8601 text to an aware datetime (``ValueError`` when it is not one)."""
    value = text.strip()
    if value.endswith(("z", "Z")):
        value = value[:-1] + "+00:00"
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
