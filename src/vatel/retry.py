"""When to retry a REST call, and how long to wait (pure: no clock, no I/O).

Only what is safe is retried: a connection that was never made (nothing reached the server), and
429/5xx answers or broken reads on idempotent methods. A POST that reached the server is never
sent twice.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """``max_retries`` extra attempts; exponential backoff from ``base_delay`` up to ``max_delay``."""

    max_retries: int = 2
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, got {self.max_retries}")

    def should_retry_status(self, method: str, status_code: int, attempt: int) -> bool:
        """After ``attempt`` failed attempts (1-based), may a status answer be retried?"""
        return (
            attempt <= self.max_retries
            and method.upper() in IDEMPOTENT_METHODS
            and status_code in RETRY_STATUSES
        )

    def should_retry_transport(self, method: str, *, reached_server: bool, attempt: int) -> bool:
        """After a network failure: always when nothing was sent, else only for idempotent methods."""
        if attempt > self.max_retries:
            return False
        return not reached_server or method.upper() in IDEMPOTENT_METHODS

    def delay(
        self,
        attempt: int,
        retry_after: str | None = None,
        *,
        now: datetime | None = None,
        jitter: float | None = None,
    ) -> float:
        """Seconds to wait before attempt ``attempt + 1``.

        Honours ``Retry-After`` (seconds, or an HTTP date compared with ``now``), capped at
        ``max_retry_after``; otherwise exponential backoff with ±25 % jitter (``jitter`` in 0..1
        makes it deterministic for tests).
        """
        hinted = _parse_retry_after(retry_after, now)
        if hinted is not None:
            return min(max(hinted, 0.0), self.max_retry_after)
        backoff: float = min(self.base_delay * 2.0 ** (attempt - 1), self.max_delay)
        spread = random.random() if jitter is None else jitter
        return backoff * (0.75 + 0.5 * spread)


def _parse_retry_after(value: str | None, now: datetime | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if now is None or when.tzinfo is None:
        return None
    return (when - now).total_seconds()
