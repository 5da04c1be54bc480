"""The seed example (``../shared/seed/python-cli-example.txt``) runs on our package unchanged.

Here: its code compiles, every ``vatel`` import it makes resolves, and every SDK call it makes
exists with a compatible signature. The full run through a sound card is in the session tests.
"""

from __future__ import annotations

import ast
import importlib
import inspect

import pytest

import vatel
from support.shared import seed_script

pytestmark = pytest.mark.unit


def test_seed_compiles_and_its_vatel_imports_resolve() -> None:
    tree = ast.parse(compile(seed_script(), "run_session.py", "exec", flags=ast.PyCF_ONLY_AST))
    imported = [
        (node.module, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("vatel")
        for alias in node.names
    ]
    assert ("vatel", "Client") in imported
    assert ("vatel.connection", "Connection") in imported
    assert ("vatel.models.ws", "ToolCall") in imported
    for module, name in imported:
        assert hasattr(importlib.import_module(module), name), f"from {module} import {name}"


def test_the_calls_the_seed_makes_exist() -> None:
    client = vatel.Client(api_key="k", base_url="https://api.vatel.ai")
    try:
        generate = inspect.signature(client.session.generate_token_async)
        assert next(iter(generate.parameters)) == "agent_id"
        connect = inspect.signature(client.connect)
        assert {"token", "url"} <= set(connect.parameters)
        for name in ("stream_messages", "send_input_audio", "send_tool_call_output", "close"):
            assert callable(getattr(vatel.Connection, name))
        assert inspect.iscoroutinefunction(client.aclose)
    finally:
        client.close()


def test_seed_message_fields_exist() -> None:
    # msg.data.id, msg.data.text, msg.data.transcript, msg.data.audio, msg.data.toolName/toolCallId
    fields = {
        vatel.SessionStarted: "id",
        vatel.ResponseText: "text",
        vatel.InputAudioTranscript: "transcript",
        vatel.ResponseAudio: "audio",
        vatel.ToolCall: "toolName",
    }
    for cls, field in fields.items():
        data_type = cls.__pydantic_fields__["data"].annotation  # type: ignore[attr-defined]
        assert field in data_type.__pydantic_fields__
