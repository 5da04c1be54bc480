"""The read-only reference beside the clone (``../shared``): the wire spec and the seed example.

CI always has it; a checkout without it skips the tests that read it, saying why.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

SHARED = Path(__file__).resolve().parents[2].parent / "shared"


def shared_file(name: str) -> Path:
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"{path} is absent: the reference folder ../shared is not beside this clone")
    return path


@cache
def _openapi() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(shared_file("vatel-openapi.json").read_text())
    return loaded


def openapi() -> dict[str, Any]:
    """The OpenAPI document (``../shared/vatel-openapi.json``)."""
    return _openapi()


def seed_script() -> str:
    """The code block of the seed example (``run_session.py``), exactly as published."""
    text = shared_file("seed/python-cli-example.txt").read_text()
    match = re.search(r"^#!/usr/bin/env python3\n.*?^    main\(\)$", text, re.DOTALL | re.MULTILINE)
    if match is None:
        pytest.fail("the seed example no longer holds a run_session.py code block")
    return match.group(0) + "\n"
