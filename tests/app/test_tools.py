"""``--tools``: functions from a .py file, outputs from a .json file, "ok" without one; garbage files."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from vatel.app.tools import Tools, ToolsError

pytestmark = pytest.mark.unit

TOOLS_PY = """
import asyncio

def lookup(city: str, units: str = "C") -> dict:
    return {"city": city, "units": units}

def greet(name):
    return "hello " + name

def nothing():
    return None

def broken():
    raise ValueError("no weather today")

async def slow_echo(text: str) -> str:
    await asyncio.sleep(0)
    return text

def _private():
    return "hidden"
"""


def load(tmp_path: Path, name: str, text: str | bytes) -> Tools:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return Tools.load(path)


def error_of(output: str) -> str:
    parsed = orjson.loads(output)
    assert set(parsed) == {"error", "tool"}
    error: str = parsed["error"]
    return error


def test_without_a_file_every_call_is_ok() -> None:
    assert Tools().run("anything", {"x": 1}) == "ok"


def test_python_functions_by_name(tmp_path: Path) -> None:
    tools = load(tmp_path, "tools.py", TOOLS_PY)
    assert tools.names == ["broken", "greet", "lookup", "nothing", "slow_echo"]
    assert orjson.loads(tools.run("lookup", {"city": "Oslo"})) == {"city": "Oslo", "units": "C"}
    assert tools.run("greet", {"name": "Ada"}) == "hello Ada"
    assert tools.run("nothing", {}) == "ok"
    assert tools.run("slow_echo", {"text": "hi"}) == "hi"


def test_failures_are_answered_with_error_json(tmp_path: Path) -> None:
    tools = load(tmp_path, "tools.py", TOOLS_PY)
    assert error_of(tools.run("broken", {})) == "ValueError: no weather today"
    assert error_of(tools.run("lookup", {"town": "Oslo"})).startswith("bad arguments:")
    assert "no tool named 'fly'" in error_of(tools.run("fly", {}))
    assert "_private" not in tools.names


def test_a_tools_dict_chooses_the_names(tmp_path: Path) -> None:
    tools = load(tmp_path, "tools.py", "def f():\n    return 1\nTOOLS = {'weather': f}\n")
    assert tools.names == ["weather"]
    assert tools.run("weather", {}) == "1"


def test_json_static_outputs(tmp_path: Path) -> None:
    tools = load(tmp_path, "tools.json", '{"weather": "sunny", "stock": {"count": 3}}')
    assert tools.run("weather", {"city": "x"}) == "sunny"
    assert tools.run("stock", {}) == '{"count":3}'
    assert "no tool named" in error_of(tools.run("other", {}))


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("tools.json", "{not json", "not valid JSON"),
        ("tools.json", "[1, 2]", "expected an object"),
        ("tools.json", b"\xff\xfe\x00", "not valid JSON"),
        ("tools.py", "def broken(:\n", "importing it failed: SyntaxError"),
        ("tools.py", "raise RuntimeError('boom')\n", "importing it failed: RuntimeError: boom"),
        ("tools.py", "X = 1\n", "defines no public function"),
        ("tools.py", "TOOLS = {'a': 1}\n", "TOOLS must be a dict of name -> function"),
        ("tools.yaml", "a: b\n", "expected a .py file"),
    ],
)
def test_garbage_files_give_one_clear_line(tmp_path: Path, name: str, text: str, message: str) -> None:
    with pytest.raises(
        ToolsError, match="^--tools .*" + message.replace("(", r"\(").replace(")", r"\)")
    ) as info:
        load(tmp_path, name, text)
    assert "\n" not in str(info.value)


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ToolsError, match="no such file"):
        Tools.load(tmp_path / "absent.py")
