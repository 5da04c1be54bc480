"""``RetryPolicy``: only what is safe is retried, and waits grow and are capped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from vatel.retry import RetryPolicy

pytestmark = pytest.mark.unit


def test_status_retries_only_for_idempotent_methods() -> None:
    policy = RetryPolicy(max_retries=2)
    assert policy.should_retry_status("GET", 503, attempt=1)
    assert policy.should_retry_status("delete", 429, attempt=2)
    assert not policy.should_retry_status("GET", 503, attempt=3)  # out of retries
    assert not policy.should_retry_status("POST", 503, attempt=1)
    assert not policy.should_retry_status("PATCH", 500, attempt=1)
    assert not policy.should_retry_status("GET", 404, attempt=1)
    assert not policy.should_retry_status("GET", 501, attempt=1)


def test_transport_errors() -> None:
    policy = RetryPolicy(max_retries=1)
    assert policy.should_retry_transport("POST", reached_server=False, attempt=1)  # nothing was sent
    assert not policy.should_retry_transport("POST", reached_server=True, attempt=1)
    assert policy.should_retry_transport("GET", reached_server=True, attempt=1)
    assert not policy.should_retry_transport("GET", reached_server=False, attempt=2)
    assert not RetryPolicy(max_retries=0).should_retry_transport("GET", reached_server=False, attempt=1)


def test_backoff_grows_with_bounded_jitter_and_a_cap() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0)
    assert policy.delay(1, jitter=0.5) == 0.5
    assert policy.delay(2, jitter=0.5) == 1.0
    assert policy.delay(3, jitter=0.0) == pytest.approx(1.5)
    assert policy.delay(3, jitter=1.0) == pytest.approx(2.5)
    assert policy.delay(10, jitter=0.5) == 4.0
    assert all(0.375 <= policy.delay(1) <= 0.625 for _ in range(50))


def test_retry_after_seconds_and_dates() -> None:
    policy = RetryPolicy(max_retry_after=30)
    now = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    assert policy.delay(1, "2") == 2.0
    assert policy.delay(1, "0") == 0.0
    assert policy.delay(1, "-5") == 0.0
    assert policy.delay(1, "999") == 30.0
    in_ten = format_datetime(now + timedelta(seconds=10), usegmt=True)
    assert policy.delay(1, in_ten, now=now) == pytest.approx(10.0)
    # a date we cannot compare, or garbage, falls back to backoff
    assert policy.delay(1, in_ten, jitter=0.5) == 0.5
    assert policy.delay(1, "soon", jitter=0.5) == 0.5


def test_negative_retries_are_refused() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        RetryPolicy(max_retries=-1)
