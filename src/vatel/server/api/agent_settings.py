"""An agent's settings document: server defaults, validation of ranges, and PATCH merging.

The wire models check types; this module checks what types cannot say (ranges, the language set,
an LLM this server has, a phone number of the same organization) and merges a PATCH the way the
spec says: settings objects per field, ``keyterms`` replaced whole, ``phone_number_id: null``
clears the number.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel

from vatel.protocol import Agent, AgentCreateInput, AgentUpdateInput, TimeoutAction, TTSStrategy
from vatel.server.api.problems import ApiProblem

LANGUAGES = frozenset({"multi", "en", "es", "fr", "de", "it", "pt", "ru", "zh", "ja", "ko", "ar", "hi"})
NESTED = ("noise_cancel_settings", "vad_settings", "voice_settings", "timeout_settings")
#: Legacy fields some SDK versions send (protocol.md §4.1 "Extras in SDKs only"): accepted, ignored.
LEGACY_FIELDS = frozenset({"tts_strategy"})
LEGACY_NESTED = {"vad_settings": {"starting_secs", "stopping_secs"}}

DEFAULTS: dict[str, Any] = {
    "name": "",
    "llm": "vatel/scripted",
    "fallback_llm": "",
    "status": "active",
    "prompt": "",
    "first_message": "",
    "first_message_interruption_time": 0.0,
    "default_language": "en",
    "summarize_calls": False,
    "phone_number_id": "",
    "noise_cancel_settings": {"enabled": False, "level": 0.0},
    "vad_settings": {"start_secs": 0.2, "stop_secs": 0.2, "silence_timeout_secs": 10.0},
    "enable_first_message_outbound": True,
    "timeout_settings": {
        "default_timeout": 1800.0,
        "timeout_action": "end_call",
        "silence_counter": 3,
        "silence_timeout_action": "end_call",
    },
    "keyterms": [],
}

MAX_TEXT = {"name": 200, "prompt": 200_000, "first_message": 10_000, "llm": 200, "fallback_llm": 200}
RANGES: dict[tuple[str, str | None], tuple[float, float]] = {
    ("first_message_interruption_time", None): (0, 600),
    ("noise_cancel_settings", "level"): (0, 100),
    ("vad_settings", "start_secs"): (0, 10),
    ("vad_settings", "stop_secs"): (0, 10),
    ("vad_settings", "silence_timeout_secs"): (0, 3600),
    ("timeout_settings", "default_timeout"): (0, 86_400),
    ("timeout_settings", "silence_counter"): (0, 100),
}


def strip_legacy(body: Any) -> Any:
    """Drop the legacy fields old SDKs send, so the strict input models accept the rest."""
    if not isinstance(body, dict):
        return body
    cleaned = {key: value for key, value in body.items() if key not in LEGACY_FIELDS}
    for section, names in LEGACY_NESTED.items():
        if isinstance(cleaned.get(section), dict):
            cleaned[section] = {k: v for k, v in cleaned[section].items() if k not in names}
    return cleaned


def _declared(model: BaseModel) -> dict[str, Any]:
    """The fields a client set, as JSON, without unknown extras inside settings objects."""
    data: dict[str, Any] = {}
    for name in model.model_fields_set:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            known = type(value).model_fields
            value = {k: v for k, v in value.model_dump(mode="json").items() if k in known and v is not None}
        elif hasattr(value, "value"):  # an enum
            value = value.value
        data[name] = value
    return data


def _check(config: dict[str, Any], llms: tuple[str, ...]) -> None:
    for name, limit in MAX_TEXT.items():
        text = config.get(name)
        if isinstance(text, str) and len(text) > limit:
            raise ApiProblem(400, f"{name} is too long: {len(text)} characters, at most {limit}")
    if not config.get("name", "").strip():
        raise ApiProblem(400, "name must not be empty")
    if config.get("llm") not in llms:
        raise ApiProblem(400, f"llm {config.get('llm')!r} is not available here; choose one of {list(llms)}")
    if config.get("fallback_llm") and config["fallback_llm"] not in llms:
        raise ApiProblem(
            400, f"fallback_llm {config['fallback_llm']!r} is not available; choose one of {list(llms)}"
        )
    if config.get("default_language") not in LANGUAGES:
        raise ApiProblem(400, f"default_language must be one of {sorted(LANGUAGES)}")
    for (section, key), (low, high) in RANGES.items():
        value = config.get(section) if key is None else (config.get(section) or {}).get(key)
        if value is None:
            continue
        if not math.isfinite(value) or not low <= value <= high:
            where = section if key is None else f"{section}.{key}"
            raise ApiProblem(400, f"{where} must be between {low} and {high}, got {value}")
    for section, key, allowed in (
        ("voice_settings", "provider", TTSStrategy),
        ("timeout_settings", "timeout_action", TimeoutAction),
        ("timeout_settings", "silence_timeout_action", TimeoutAction),
    ):
        value = (config.get(section) or {}).get(key)
        if value is not None and value not in {member.value for member in allowed}:
            raise ApiProblem(400, f"{section}.{key} must be one of {sorted(m.value for m in allowed)}")
    voice = config.get("voice_settings") or {}
    for key in ("speed", "stability", "similarity_boost", "volume"):
        value = voice.get(key)
        if value is not None and value != 0 and not (math.isfinite(value) and 0 <= value <= 2):
            raise ApiProblem(400, f"voice_settings.{key} must be between 0 and 2 when set, got {value}")
    keyterms = config.get("keyterms") or []
    if len(keyterms) > 200 or any(len(term) > 200 for term in keyterms):
        raise ApiProblem(400, "keyterms: at most 200 terms of at most 200 characters each")


def new_config(body: AgentCreateInput, llms: tuple[str, ...]) -> dict[str, Any]:
    config = {key: (dict(value) if isinstance(value, dict) else value) for key, value in DEFAULTS.items()}
    for key, value in _declared(body).items():
        if value is None and key != "phone_number_id":
            continue  # an explicit null on create means "use the default"
        if key in NESTED and isinstance(value, dict):
            config[key] = {**(config.get(key) or {}), **value}
        elif key == "phone_number_id":
            config[key] = value or ""
        elif key == "keyterms" and not value:
            continue  # "empty or omitted uses the server default"
        else:
            config[key] = value
    _check(config, llms)
    return config


def merged_config(current: dict[str, Any], patch: AgentUpdateInput, llms: tuple[str, ...]) -> dict[str, Any]:
    config = {key: (dict(value) if isinstance(value, dict) else value) for key, value in current.items()}
    for key, value in _declared(patch).items():
        if value is None and key != "phone_number_id":
            continue  # null means "unchanged", except for the number, where it clears
        if key in NESTED:
            config[key] = {**(config.get(key) or {}), **(value or {})}
        elif key == "phone_number_id":
            config[key] = value or ""
        else:
            config[key] = value
    _check(config, llms)
    return config


def agent_body(agent_id: str, config: dict[str, Any], created_at: str, updated_at: str) -> dict[str, Any]:
    """The ``Agent`` JSON for a stored config (validated through the wire model)."""
    body = {"id": agent_id, **config, "created_at": created_at, "updated_at": updated_at}
    return Agent.model_validate(body).to_wire()
