"""What a repository says when a request cannot be done; the API turns each into a status."""

from __future__ import annotations


class StoreError(Exception):
    """Base of the repository errors; the message is safe to show to the API client."""


class NotFound(StoreError):
    """No such row for this organization (404)."""


class Forbidden(StoreError):
    """The row exists but belongs to another organization (403 where the API says so)."""


class Conflict(StoreError):
    """The change clashes with stored data: a duplicate, or a state that forbids it (409)."""


class Invalid(StoreError):
    """The request refers to something unusable, e.g. a number of another organization (400)."""
