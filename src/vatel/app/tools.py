"""Answers to ``tool_call``: functions from ``--tools tools.py``, static outputs from ``--tools tools.json``.

* ``tools.py``: every public function defined in the file is a tool named after it (or, when the
  file defines a ``TOOLS`` dict, exactly the callables in it, by key). It is called with the
  call's arguments as keywords (``arguments`` of the ``tool_call``, ``{name: value}``); a
  coroutine function is run to completion. A ``str`` result is sent as is, ``None`` as ``"ok"``,
  anything else as JSON.
* ``tools.json``: an object ``{"name": output}``; a non-string output is sent as JSON.
* No file: every call is answered ``"ok"``, as the seed example does.

:meth:`Tools.run` never raises: an exception, an unknown tool or bad arguments give an error
JSON (``{"error": ..., "tool": ...}``), because the agent waits for an answer to every call. It
blocks, so the shell runs it in a worker thread, with the core's timeout around it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson

from vatel.app.core import tool_error

__all__ = ["DEFAULT_OUTPUT", "Tools", "ToolsError", "encode_output"]

DEFAULT_OUTPUT = "ok"


class ToolsError(Exception):
    """A ``--tools`` file that cannot be loaded (one line, with the fix)."""


def encode_output(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return DEFAULT_OUTPUT
    return orjson.dumps(value, default=str).decode()


class Tools:
    """The tools of one session: functions, static outputs, or neither (answer ``"ok"``)."""

    def __init__(
        self,
        functions: Mapping[str, Callable[..., Any]] | None = None,
        static: Mapping[str, str] | None = None,
        *,
        source: str | None = None,
    ) -> None:
        self.functions = dict(functions or {})
        self.static = dict(static or {})
        self.source = source
        """The file the tools came from (``None``: answer every call ``"ok"``)."""

    @property
    def names(self) -> list[str]:
        return sorted({*self.functions, *self.static})

    @classmethod
    def load(cls, path: str | Path) -> Tools:
        """Load ``tools.py`` or ``tools.json`` (:class:`ToolsError` when it cannot be used)."""
        file = Path(path)
        if not file.is_file():
            raise ToolsError(f"--tools {file}: no such file")
        if file.suffix == ".json":
            return cls(static=_load_json(file), source=str(file))
        if file.suffix == ".py":
            return cls(functions=_load_python(file), source=str(file))
        raise ToolsError(f"--tools {file}: expected a .py file of functions or a .json file of outputs")

    def run(self, name: str, arguments: Mapping[str, Any]) -> str:
        """The output for one call; never raises (see the module docstring)."""
        if self.source is None:
            return DEFAULT_OUTPUT
        if name in self.static:
            return self.static[name]
        function = self.functions.get(name)
        if function is None:
            return tool_error(name, f"no tool named {name!r} in {self.source}")
        try:
            inspect.signature(function).bind(**arguments)
        except TypeError as exc:
            return tool_error(name, f"bad arguments: {exc}")
        except ValueError:
            pass  # no signature to check (a builtin): let the call say
        try:
            result = function(**arguments)
            if inspect.isawaitable(result):
                result = asyncio.run(_await(result))
            return encode_output(result)
        except Exception as exc:
            return tool_error(name, f"{type(exc).__name__}: {exc}")


async def _await(awaitable: Any) -> Any:
    return await awaitable


def _load_json(file: Path) -> dict[str, str]:
    try:
        data = orjson.loads(file.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise ToolsError(f"--tools {file}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise ToolsError(f'--tools {file}: expected an object {{"tool name": output}}, got {kind}')
    return {str(name): encode_output(value) for name, value in data.items()}


def _load_python(file: Path) -> dict[str, Callable[..., Any]]:
    spec = importlib.util.spec_from_file_location(f"vatel_tools_{file.stem}", file)
    if spec is None or spec.loader is None:
        raise ToolsError(f"--tools {file}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise ToolsError(f"--tools {file}: importing it failed: {type(exc).__name__}: {exc}") from None
    table = getattr(module, "TOOLS", None)
    if table is not None:
        if not isinstance(table, dict) or not all(callable(f) for f in table.values()):
            raise ToolsError(f"--tools {file}: TOOLS must be a dict of name -> function")
        return {str(name): function for name, function in table.items()}
    functions: dict[str, Callable[..., Any]] = {
        name: value
        for name, value in vars(module).items()
        if inspect.isfunction(value) and value.__module__ == module.__name__ and not name.startswith("_")
    }
    if not functions:
        raise ToolsError(f"--tools {file}: defines no public function (nor a TOOLS dict)")
    return functions
