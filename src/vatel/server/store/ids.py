"""New row ids: random UUIDs as text, the form every path parameter of the API takes."""

from __future__ import annotations

import uuid


def new_id() -> str:
    return str(uuid.uuid4())
