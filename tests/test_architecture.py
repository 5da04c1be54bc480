"""The import rule of docs/architecture.md, enforced by reading every module's imports.

Each module belongs to a layer by its name; a layer may import only the layers listed for it
(and its own). Third-party imports are checked too: the wire models must stay on pydantic.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

SRC = Path(__file__).resolve().parents[1] / "src"

#: module prefix -> layer (longest prefix wins)
LAYERS = {
    "vatel.protocol": "protocol",
    "vatel.models": "protocol",
    "vatel._version": "base",
    "vatel.blas": "base",  # numpy's BLAS threads, set by every process that computes
    "vatel": "client",  # vatel/__init__, client, connection, api/, errors, transport, retry
    "vatel.audio": "audio",
    "vatel.audio.pcm": "pcm",
    "vatel.audio.wav": "pcm",  # WAV files: the server's call recordings use them too
    "vatel.audio.errors": "pcm",
    "vatel.app": "app",
    "vatel.server": "server",
    "vatel.server.engines": "engines",
    "vatel.engines": "engines",
    "vatel.cli": "cli",
}

ALLOWED = {
    "base": {"base"},
    "protocol": {"protocol", "base"},
    "client": {"client", "protocol", "base"},
    "pcm": {"pcm", "base"},
    "audio": {"audio", "pcm", "base"},
    "app": {"app", "client", "audio", "pcm", "protocol", "base"},
    "engines": {"engines", "pcm", "base"},
    "server": {"server", "engines", "protocol", "pcm", "base"},
    "cli": set(LAYERS.values()),
}

#: third-party packages a layer may use (the standard library is always allowed)
THIRD_PARTY = {
    "protocol": {"pydantic", "orjson", "pybase64"},
    "client": {"pydantic", "orjson", "pybase64", "httpx", "websockets"},
    "pcm": {"numpy", "soxr"},
    "audio": {"numpy", "soxr", "sounddevice", "livekit"},  # livekit: WebRTC's echo canceller
    "app": {"orjson", "rich"},
}


def layer_of(module: str) -> str:
    best = max((prefix for prefix in LAYERS if module == prefix or module.startswith(prefix + ".")), key=len)
    return LAYERS[best]


def modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted((SRC / "vatel").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found.append((".".join(parts), path))
    return found


def imports_of(module: str, path: Path) -> list[str]:
    names = []
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                names.append(".".join([*base, node.module] if node.module else base))
            elif node.module:
                names.append(node.module)
    return names


def test_every_module_has_a_layer() -> None:
    assert modules(), "no modules found under src/vatel"
    for module, _ in modules():
        assert layer_of(module) in ALLOWED


@pytest.mark.parametrize(("module", "path"), modules(), ids=[m for m, _ in modules()])
def test_imports_follow_the_layers(module: str, path: Path) -> None:
    layer = layer_of(module)
    for name in imports_of(module, path):
        root = name.split(".")[0]
        if root == "vatel":
            target = layer_of(name)
            assert target in ALLOWED[layer], f"{module} ({layer}) may not import {name} ({target})"
        elif layer in THIRD_PARTY and root not in _stdlib():
            assert root in THIRD_PARTY[layer], f"{module} ({layer}) may not depend on {root}"


def test_the_rule_catches_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from vatel.client import Client\nimport httpx\n")
    names = imports_of("vatel.protocol.bad", bad)
    assert "vatel.client" in names
    assert layer_of("vatel.client") not in ALLOWED["protocol"]
    assert "httpx" not in THIRD_PARTY["protocol"]


def _stdlib() -> frozenset[str]:
    import sys

    return frozenset(sys.stdlib_module_names) | {"__future__"}
