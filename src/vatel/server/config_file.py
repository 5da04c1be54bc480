"""The server's config file (TOML): the language models agents may choose with ``llm``.

``vatel serve --config PATH`` (or ``VATEL_CONFIG``) reads it once at start::

    [llms."ollama/llama3.2"]                 # the name agents use in "llm"; /v1/llms lists it
    base_url = "http://127.0.0.1:11434/v1"   # required: up to the API version
    model = "llama3.2"                       # default: the name after its first "/"
    api_key_env = "OLLAMA_API_KEY"           # optional: the variable holding the key (sent as Bearer)
    connect_timeout = 5                      # seconds (default 5)
    first_token_timeout = 10                 # seconds to the first token (default 10)
    token_timeout = 5                        # seconds of silence allowed mid-answer (default 5)
    max_tokens = 300                         # optional
    temperature = 0.7                        # optional

A mistake (bad TOML, an unknown key, a missing or bad ``base_url``, an unset key variable) is a
:class:`ConfigError` naming the file and the key, so the server refuses to start with one line.
The key itself never goes in the file.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from vatel.server.engines.llm_brain import LLMEndpoint

RESERVED_PROVIDER = "vatel"
"""``vatel/...`` names are the server's own brains (``vatel/scripted``)."""
LLM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._:/@+-]*$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_NAME = 200
MAX_SECONDS = 600.0
LLM_KEYS = (
    "base_url",
    "model",
    "api_key_env",
    "connect_timeout",
    "first_token_timeout",
    "token_timeout",
    "max_tokens",
    "temperature",
)
TOP_KEYS = ("llms",)


class ConfigError(ValueError):
    """The config file cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class ServerConfig:
    llms: tuple[LLMEndpoint, ...] = ()


def read_config(path: Path, environ: Mapping[str, str] | None = None) -> ServerConfig:
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read the config file {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    return parse_config(text, str(path), os.environ if environ is None else environ)


def parse_config(text: str, where: str, environ: Mapping[str, str]) -> ServerConfig:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{where}: not valid TOML: {error}") from None
    _known(document, TOP_KEYS, where)
    llms = document.get("llms", {})
    if not isinstance(llms, dict):
        raise ConfigError(f'{where}: llms must be a table of [llms."provider/model"] tables')
    return ServerConfig(tuple(_llm(name, table, where, environ) for name, table in llms.items()))


def _known(table: Mapping[str, Any], keys: tuple[str, ...], where: str) -> None:
    unknown = [key for key in table if key not in keys]
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(keys)})")


def _llm(name: str, table: object, file: str, environ: Mapping[str, str]) -> LLMEndpoint:
    where = f'{file}: [llms."{name}"]'
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table (with base_url = ...)")
    if len(name) > MAX_NAME or not LLM_NAME.match(name):
        raise ConfigError(f'{where}: the name must be "provider/model", e.g. "ollama/llama3.2"')
    if name.split("/", 1)[0] == RESERVED_PROVIDER:
        raise ConfigError(f"{where}: names starting with {RESERVED_PROVIDER}/ are the server's own")
    _known(table, LLM_KEYS, where)
    if "base_url" not in table:
        raise ConfigError(f'{where}: base_url is required, e.g. "http://127.0.0.1:11434/v1"')
    model = table.get("model", name.split("/", 1)[1])
    if not isinstance(model, str) or not model.strip():
        raise ConfigError(f"{where}: model must be a non-empty string")
    return LLMEndpoint(
        name=name,
        base_url=_base_url(table["base_url"], where),
        model=model,
        api_key=_api_key(table.get("api_key_env"), where, environ),
        connect_timeout=_seconds(table, "connect_timeout", 5.0, where),
        first_token_timeout=_seconds(table, "first_token_timeout", 10.0, where),
        token_timeout=_seconds(table, "token_timeout", 5.0, where),
        max_tokens=_max_tokens(table.get("max_tokens"), where),
        temperature=_temperature(table.get("temperature"), where),
    )


def _base_url(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: base_url must be a string")
    try:
        parts = urlsplit(value.strip())
        port = parts.port  # raises on a bad port
    except ValueError as error:
        raise ConfigError(f"{where}: base_url {value!r} is not a URL ({error})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{where}: base_url {value!r} must be an http:// or https:// URL with a host")
    if parts.query or parts.fragment or any(c.isspace() for c in value.strip()) or port == 0:
        raise ConfigError(f"{where}: base_url {value!r} must be a plain URL (no query, fragment or spaces)")
    return value.strip().rstrip("/")


def _api_key(value: object, where: str, environ: Mapping[str, str]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not ENV_NAME.match(value):
        raise ConfigError(f"{where}: api_key_env must name an environment variable, e.g. OPENAI_API_KEY")
    key = environ.get(value, "").strip()
    if not key:
        raise ConfigError(f"{where}: api_key_env names {value}, which is not set (export {value}=...)")
    return key


def _seconds(table: Mapping[str, Any], key: str, default: float, where: str) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= MAX_SECONDS:
        raise ConfigError(f"{where}: {key} must be a number of seconds in (0, {MAX_SECONDS:g}]")
    return float(value)


def _max_tokens(value: object, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1_000_000:
        raise ConfigError(f"{where}: max_tokens must be a whole number from 1")
    return value


def _temperature(value: object, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 2:
        raise ConfigError(f"{where}: temperature must be a number from 0 to 2")
    return float(value)
