"""Garbage at every entry point of the REST API, over SQLite and PostgreSQL (issue 4, "Bad input").

Every refusal must be a 4xx (the one the spec or the issue names, where it names one) with a JSON
``{"error": "<message>"}`` whose message names the problem, never a 5xx or a hang (every request has
a timeout), and a refused request must leave the stored data exactly as it was (``snapshot``).

Each test sends a table of cases and reports every case that went wrong at once. The server bugs
this file found have their own tests at the end, which keep them fixed.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest

from support.live_server import LiveServer
from support.postgres import run_in_thread
from support.shared import openapi
from vatel.server.store.database import open_engine
from vatel.server.store.organizations import create_key, revoke_key

pytestmark = pytest.mark.loopback

TIMEOUT = 10.0
CAP = 1024 * 1024  # ServerSettings.max_body_bytes
RANDOM_ID = "6f1c3f1e-6a3e-4e3b-9f54-2d3c4a6b7c00"  # a well-formed UUID that names nothing

# Malformed UUIDs as they would appear in a path segment (already URL-encoded where needed).
BAD_UUIDS = [
    "not-a-uuid",
    "1234",
    "-1",
    "null",
    "6f1c3f1e-6a3e-4e3b-9f54-2d3c4a6b7c0g",  # a non-hex digit
    "6f1c3f1e-6a3e-4e3b-9f54-2d3c4a6b7c00-00",  # too long
    "6f1c3f1e-6a3e-4e3b-9f54",  # too short
    "%27%20OR%20%271%27%3D%271",  # ' OR '1'='1
    "%00",
    "%E2%98%83",  # a snowman
    "x" * 2000,
]

# --- helpers ----------------------------------------------------------------------------------------


@dataclass
class Findings:
    """Collects every case that went wrong, so one run shows them all."""

    problems: list[str] = field(default_factory=list)

    def problem(self, label: str, response: httpx.Response, status: int | set[int], *names: str) -> None:
        """Expect a 4xx ``status`` with ``{"error": msg}`` JSON whose ``msg`` names each of ``names``.

        A name may be ``"a|b"``: either spelling will do.
        """
        wanted = {status} if isinstance(status, int) else status
        where = f"{label}: {response.request.method} {response.request.url.raw_path.decode()[:120]}"
        if response.status_code not in wanted:
            self.problems.append(
                f"{where}: status {response.status_code}, expected {sorted(wanted)}; {response.text[:300]}"
            )
            return
        assert all(400 <= code < 500 for code in wanted)
        if not response.headers.get("content-type", "").startswith("application/json"):
            self.problems.append(f"{where}: content-type {response.headers.get('content-type')!r}, not JSON")
            return
        try:
            body = response.json()
        except ValueError:
            self.problems.append(f"{where}: the body is not JSON: {response.text[:200]!r}")
            return
        if not (isinstance(body, dict) and set(body) == {"error"} and isinstance(body["error"], str)):
            self.problems.append(f"{where}: the body is not {{'error': str}}: {body!r:.300}")
            return
        message = body["error"].lower()
        if not message.strip():
            self.problems.append(f"{where}: an empty error message")
        for name in names:
            if not any(part.lower() in message for part in name.split("|")):
                self.problems.append(f"{where}: the message does not name {name!r}: {body['error'][:300]!r}")

    def ok(self, label: str, response: httpx.Response, status: int = 200) -> None:
        if response.status_code != status:
            self.problems.append(
                f"{label}: {response.request.method} {response.request.url.raw_path.decode()[:120]}: "
                f"status {response.status_code}, expected {status}; {response.text[:300]}"
            )

    def same(self, label: str, before: dict[str, Any], after: dict[str, Any]) -> None:
        for path, was in before.items():
            now = after.get(path)
            if was != now:
                self.problems.append(
                    f"{label}: refused requests changed GET {path}:\n  was {was}\n  now {now}"
                )

    def check(self) -> None:
        if self.problems:
            pytest.fail(f"{len(self.problems)} bad answer(s):\n" + "\n".join(self.problems), pytrace=False)


@dataclass
class World:
    """One of each resource on a live server, and an authorised raw HTTP client for it."""

    live: LiveServer
    http: httpx.Client
    agent_id: str
    version_id: str
    number_id: str
    trunk_id: str
    assignment_id: str

    def snapshot(self) -> dict[str, Any]:
        """Everything stored that a refused request could have changed."""
        paths = [
            "/v1/agents",
            f"/v1/agents/{self.agent_id}",
            f"/v1/agents/{self.agent_id}/versions",
            f"/v1/agents/{self.agent_id}/versions/{self.version_id}",
            "/v1/twilio/numbers",
            "/v1/sip-trunks",
            f"/v1/sip-trunks/{self.trunk_id}",
            f"/v1/sip-trunks/{self.trunk_id}/assignments",
            f"/v1/sip-trunks/assignments/{self.assignment_id}",
            "/v1/calls",
            "/v1/organization",
        ]
        state = {}
        for path in paths:
            response = self.http.get(path)
            assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text[:300]}"
            state[path] = response.json()
        return state

    def path(self, template: str, **values: str) -> str:
        ids = {
            "id": self.agent_id,
            "versionId": self.version_id,
            "numberId": self.number_id,
            "trunkId": self.trunk_id,
            "assignmentId": self.assignment_id,
        }
        return template.format(**{**ids, **values})


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, (
        f"{response.request.url}: {response.status_code} {response.text[:300]}"
    )
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def world(live: LiveServer) -> Iterator[World]:
    with httpx.Client(
        base_url=live.url, headers={"Authorization": f"Bearer {live.key}"}, timeout=TIMEOUT
    ) as http:
        agent = created(http.post("/v1/agents", json={"name": "Ada", "prompt": "Be brief."}))
        versions = http.get(f"/v1/agents/{agent['id']}/versions").json()
        number = created(
            http.post(
                "/v1/twilio/numbers",
                json={"phone_number": "+14155550100", "account_sid": "AC" + "0" * 32, "auth_token": "t0ken"},
            )
        )
        trunk = created(
            http.post(
                "/v1/sip-trunks",
                json={
                    "pbx": "generic",
                    "inbound_auth_type": "digest",
                    "inbound_sip_username": "world-user",
                    "inbound_sip_password": "s3cret",
                    "outbound_host": "pbx.example.com",
                },
            )
        )
        assignment = created(
            http.post(
                f"/v1/sip-trunks/{trunk['id']}/assignments", json={"agent_id": agent["id"], "number": "100"}
            )
        )
        yield World(live, http, agent["id"], versions[0]["id"], number["id"], trunk["id"], assignment["id"])


# Every operation of the OpenAPI document except the session WebSocket: (method, path, a valid body).
OPERATIONS: list[tuple[str, str, Any]] = [
    ("GET", "/v1/organization", None),
    ("GET", "/v1/llms", None),
    ("GET", "/v1/voices", None),
    ("GET", "/v1/agents", None),
    ("POST", "/v1/agents", {"name": "Refused"}),
    ("GET", "/v1/agents/{id}", None),
    ("PATCH", "/v1/agents/{id}", {"name": "Refused"}),
    ("DELETE", "/v1/agents/{id}", None),
    ("GET", "/v1/agents/{id}/versions", None),
    ("GET", "/v1/agents/{id}/versions/{versionId}", None),
    ("POST", "/v1/agents/{id}/versions/{versionId}/publish", None),
    ("POST", "/v1/agents/{id}/dial", None),
    ("GET", "/v1/calls", None),
    ("GET", "/v1/calls/{id}", None),
    ("GET", "/v1/calls/{id}/recording", None),
    ("GET", "/v1/twilio/numbers", None),
    (
        "POST",
        "/v1/twilio/numbers",
        {"phone_number": "+14155550199", "account_sid": "AC" + "1" * 32, "auth_token": "t"},
    ),
    ("PATCH", "/v1/twilio/numbers/{numberId}", {"label": "Refused"}),
    ("GET", "/v1/sip-trunks", None),
    ("POST", "/v1/sip-trunks", {"pbx": "generic"}),
    ("GET", "/v1/sip-trunks/{trunkId}", None),
    ("PATCH", "/v1/sip-trunks/{trunkId}", {"pbx": "3cx"}),
    ("DELETE", "/v1/sip-trunks/{trunkId}", None),
    ("GET", "/v1/sip-trunks/{trunkId}/assignments", None),
    ("POST", "/v1/sip-trunks/{trunkId}/assignments", {"agent_id": "{id}", "number": "101"}),
    ("GET", "/v1/sip-trunks/assignments/{assignmentId}", None),
    ("PATCH", "/v1/sip-trunks/assignments/{assignmentId}", {"number": "102"}),
    ("DELETE", "/v1/sip-trunks/assignments/{assignmentId}", None),
    ("POST", "/v1/session-token", {"agent_id": "{id}"}),
]


def test_the_operation_table_is_every_operation_of_the_document() -> None:
    """So "every entry point" stays true when the document grows."""
    documented = {
        (method.upper(), path)
        for path, item in openapi()["paths"].items()
        if path != "/v1/connection"  # the session WebSocket, another issue
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }
    ours = {
        (method, path.replace("{numberId}", "{id}").replace("{trunkId}", "{id}"))
        for method, path, _ in OPERATIONS
    }
    assert ours == documented


# The operations that read a JSON body: (method, path template, a valid body).
BODY_OPERATIONS = [(m, p, b) for m, p, b in OPERATIONS if b is not None]


def fill_body(world: World, body: Any) -> Any:
    if isinstance(body, dict):
        return {key: fill_body(world, value) for key, value in body.items()}
    if isinstance(body, str) and "{" in body:
        return world.path(body)
    return body


def send(world: World, method: str, path: str, body: Any = None, **options: Any) -> httpx.Response:
    if body is not None and "content" not in options:
        options["json"] = body
    return world.http.request(method, path, **options)


# --- path parameters ---------------------------------------------------------------------------------

# (method, template, the parameter the garbage goes into, body)
PATH_PARAMETERS: list[tuple[str, str, str, Any]] = [
    ("GET", "/v1/agents/{bad}", "id", None),
    ("PATCH", "/v1/agents/{bad}", "id", {"name": "Renamed"}),
    ("DELETE", "/v1/agents/{bad}", "id", None),
    ("GET", "/v1/agents/{bad}/versions", "id", None),
    ("GET", "/v1/agents/{bad}/versions/{versionId}", "id", None),
    ("GET", "/v1/agents/{id}/versions/{bad}", "versionId", None),
    ("POST", "/v1/agents/{bad}/versions/{versionId}/publish", "id", None),
    ("POST", "/v1/agents/{id}/versions/{bad}/publish", "versionId", None),
    ("POST", "/v1/agents/{bad}/dial", "id", None),
    ("GET", "/v1/calls/{bad}", "id", None),
    ("GET", "/v1/calls/{bad}/recording", "id", None),
    ("PATCH", "/v1/twilio/numbers/{bad}", "id", {"label": "Renamed"}),
    ("GET", "/v1/sip-trunks/{bad}", "id", None),
    ("PATCH", "/v1/sip-trunks/{bad}", "id", {"pbx": "3cx"}),
    ("DELETE", "/v1/sip-trunks/{bad}", "id", None),
    ("GET", "/v1/sip-trunks/{bad}/assignments", "id", None),
    ("POST", "/v1/sip-trunks/{bad}/assignments", "id", {"agent_id": "{id}", "number": "103"}),
    ("GET", "/v1/sip-trunks/assignments/{bad}", "assignmentId", None),
    ("PATCH", "/v1/sip-trunks/assignments/{bad}", "assignmentId", {"number": "104"}),
    ("DELETE", "/v1/sip-trunks/assignments/{bad}", "assignmentId", None),
]


def test_malformed_uuids_in_every_path_parameter_give_400_naming_the_parameter(world: World) -> None:
    findings = Findings()
    before = world.snapshot()
    for method, template, name, body in PATH_PARAMETERS:
        for bad in BAD_UUIDS:
            response = send(world, method, world.path(template, bad=bad), fill_body(world, body))
            findings.problem(f"{name}={bad[:20]}", response, 400, name, "uuid")
    findings.same("malformed path ids", before, world.snapshot())
    findings.check()


def test_well_formed_ids_of_nothing_give_404(world: World) -> None:
    findings = Findings()
    before = world.snapshot()
    for method, template, name, body in PATH_PARAMETERS:
        for missing in (RANDOM_ID, RANDOM_ID.upper(), "{" + RANDOM_ID + "}"):
            response = send(world, method, world.path(template, bad=missing), fill_body(world, body))
            findings.problem(f"{name}={missing}", response, 404, "not found|no ")
    findings.same("unknown ids", before, world.snapshot())
    findings.check()


# --- bodies ------------------------------------------------------------------------------------------

INVALID_JSON = [
    b"{",
    b"not json",
    b"{'name': 'single quotes'}",
    b'{"name": "Ada",}',
    b'{"name": "Ada"} trailing',
    b'{"name": "\xff\xfe"}',  # not UTF-8
    b'{"name": "\\ud800"}',  # a lone surrogate
    b'{"vad_settings": {"start_secs": NaN}}',
    b'{"vad_settings": {"start_secs": Infinity}}',
    b'{"vad_settings": {"start_secs": -Infinity}}',
    b'{"vad_settings": {"start_secs": 1e400}}',  # overflows a double
    b"[" * 5000 + b"]" * 5000,  # nested deeper than any parser allows
]


def test_invalid_json_gives_400_naming_json(world: World) -> None:
    findings = Findings()
    before = world.snapshot()
    for method, template, _ in BODY_OPERATIONS:
        path = world.path(template)
        for raw in INVALID_JSON:
            response = send(world, method, path, content=raw, headers={"Content-Type": "application/json"})
            findings.problem(f"body {raw[:30]!r}", response, 400, "json")
        response = send(world, method, path, content=b"", headers={"Content-Type": "application/json"})
        if template != "/v1/session-token":  # an empty body there is the legacy ?agentId= form
            findings.problem("empty body", response, 400, "body")
    findings.same("invalid JSON", before, world.snapshot())
    findings.check()


def test_json_that_is_not_an_object_gives_400(world: World) -> None:
    findings = Findings()
    before = world.snapshot()
    for method, template, _ in BODY_OPERATIONS:
        path = world.path(template)
        for raw in (b"[]", b'[{"name": "Ada"}]', b'"Ada"', b"42", b"-1.5", b"true", b"null"):
            response = send(world, method, path, content=raw, headers={"Content-Type": "application/json"})
            findings.problem(f"body {raw!r}", response, 400, "object|json body")
    findings.same("non-object JSON", before, world.snapshot())
    findings.check()


# (label, body, the field the message must name)
AGENT_CREATE_GARBAGE: list[tuple[str, Any, str]] = [
    ("missing name", {}, "name"),
    ("missing name, other fields", {"prompt": "hello"}, "name"),
    ("name null", {"name": None}, "name"),
    ("name number", {"name": 5}, "name"),
    ("name array", {"name": ["Ada"]}, "name"),
    ("name object", {"name": {"first": "Ada"}}, "name"),
    ("name empty", {"name": ""}, "name"),
    ("name blank", {"name": "   "}, "name"),
    ("unknown property", {"name": "Ada", "colour": "blue"}, "colour"),
    ("llm number", {"name": "Ada", "llm": 5}, "llm"),
    ("llm unknown", {"name": "Ada", "llm": "nobody/none"}, "llm"),
    ("fallback_llm unknown", {"name": "Ada", "fallback_llm": "nobody/none"}, "fallback_llm"),
    ("status unknown", {"name": "Ada", "status": "sleeping"}, "status"),
    ("status number", {"name": "Ada", "status": 1}, "status"),
    ("prompt object", {"name": "Ada", "prompt": {"text": "hi"}}, "prompt"),
    ("first_message array", {"name": "Ada", "first_message": ["hi"]}, "first_message"),
    ("default_language unknown", {"name": "Ada", "default_language": "klingon"}, "default_language"),
    ("summarize_calls array", {"name": "Ada", "summarize_calls": [True]}, "summarize_calls"),
    ("summarize_calls object", {"name": "Ada", "summarize_calls": {}}, "summarize_calls"),
    ("keyterms string", {"name": "Ada", "keyterms": "one,two"}, "keyterms"),
    ("keyterms numbers", {"name": "Ada", "keyterms": [1, 2]}, "keyterms"),
    ("keyterms nested", {"name": "Ada", "keyterms": [["a"]]}, "keyterms"),
    ("vad_settings string", {"name": "Ada", "vad_settings": "fast"}, "vad_settings"),
    ("vad_settings array", {"name": "Ada", "vad_settings": [0.2]}, "vad_settings"),
    ("vad start_secs word", {"name": "Ada", "vad_settings": {"start_secs": "soon"}}, "start_secs"),
    ("vad stop_secs object", {"name": "Ada", "vad_settings": {"stop_secs": {}}}, "stop_secs"),
    ("noise enabled object", {"name": "Ada", "noise_cancel_settings": {"enabled": {}}}, "enabled"),
    ("noise level word", {"name": "Ada", "noise_cancel_settings": {"level": "loud"}}, "level"),
    ("voice_settings number", {"name": "Ada", "voice_settings": 3}, "voice_settings"),
    (
        "voice speed word",
        {"name": "Ada", "voice_settings": {"id": "v", "provider": "openai", "speed": "fast"}},
        "speed",
    ),
    ("timeout_settings array", {"name": "Ada", "timeout_settings": []}, "timeout_settings"),
    (
        "silence_counter word",
        {"name": "Ada", "timeout_settings": {"silence_counter": "three"}},
        "silence_counter",
    ),
    (
        "silence_counter fraction",
        {"name": "Ada", "timeout_settings": {"silence_counter": 2.5}},
        "silence_counter",
    ),
    ("phone_number_id number", {"name": "Ada", "phone_number_id": 7}, "phone_number_id"),
    ("phone_number_id not a uuid", {"name": "Ada", "phone_number_id": "not-a-uuid"}, "phone_number_id"),
    ("phone_number_id of nothing", {"name": "Ada", "phone_number_id": RANDOM_ID}, "phone_number_id"),
]

# Out-of-range numbers: (section, key or None for a top-level field, values). "NaN"-like strings parse
# as floats, so they reach the range checks too; the JSON literals NaN/Infinity are in INVALID_JSON.
RANGE_CASES: list[tuple[str, str | None, list[Any]]] = [
    ("vad_settings", "start_secs", [-1, -0.001, 10.5, 1e308, "NaN", "Infinity", "-Infinity"]),
    ("vad_settings", "stop_secs", [-1, 11, 1e308, "NaN"]),
    ("vad_settings", "silence_timeout_secs", [-5, 3601, 1e308, "inf"]),
    ("noise_cancel_settings", "level", [-1, 100.5, 1e9, "NaN"]),
    ("voice_settings", "speed", [-0.5, 2.01, 1e10, "NaN"]),
    ("voice_settings", "stability", [-1, 3]),
    ("voice_settings", "similarity_boost", [-0.1, 2.5]),
    ("voice_settings", "volume", [-2, 100, "Infinity"]),
    ("timeout_settings", "default_timeout", [-1, 86_401, 1e300, "NaN"]),
    ("timeout_settings", "silence_counter", [-1, 101, 2**62, 10**30]),
    ("first_message_interruption_time", None, [-1, 601, 1e308, "NaN"]),
]


def out_of_range() -> list[tuple[str, dict[str, Any], str]]:
    """(label, settings fragment, the field the message must name) for every RANGE_CASES value."""
    cases = []
    for section, key, values in RANGE_CASES:
        for value in values:
            fragment: dict[str, Any]
            if key is None:
                fragment = {section: value}
            elif section == "voice_settings":
                fragment = {section: {"id": "v", "provider": "openai", key: value}}
            else:
                fragment = {section: {key: value}}
            cases.append((f"{section}.{key or ''}={value}", fragment, key or section))
    return cases


OUT_OF_RANGE = out_of_range()

HUGE_AGENT_STRINGS: list[tuple[str, dict[str, Any], str]] = [
    ("name 201 characters", {"name": "n" * 201}, "name"),
    ("name 100k characters", {"name": "n" * 100_000}, "name"),
    ("prompt 200001 characters", {"prompt": "p" * 200_001}, "prompt"),
    ("prompt 900k characters", {"prompt": "p" * 900_000}, "prompt"),
    ("first_message 10001 characters", {"first_message": "f" * 10_001}, "first_message"),
    ("llm 100k characters", {"llm": "l" * 100_000}, "llm"),
    ("201 keyterms", {"keyterms": [f"k{i}" for i in range(201)]}, "keyterms"),
    ("keyterm 201 characters", {"keyterms": ["k" * 201]}, "keyterms"),
]


def test_agent_create_garbage_gives_400_naming_the_field_and_stores_nothing(world: World) -> None:
    findings = Findings()
    before = world.snapshot()
    cases = [
        *AGENT_CREATE_GARBAGE,
        *[(label, {"name": "Ada", **fragment}, name) for label, fragment, name in OUT_OF_RANGE],
        *[(label, {"name": "Ada", **fragment}, name) for label, fragment, name in HUGE_AGENT_STRINGS],
    ]
    for label, body, name in cases:
        findings.problem(label, world.http.post("/v1/agents", json=body), 400, name)
    findings.same("agent create", before, world.snapshot())
    findings.check()


def test_agent_patch_garbage_gives_400_naming_the_field_and_changes_nothing(world: World) -> None:
    findings = Findings()
    before = world.snapshot()
    path = f"/v1/agents/{world.agent_id}"
    cases = [
        (label, body, name)
        for label, body, name in AGENT_CREATE_GARBAGE
        if "missing name" not in label and label != "name null"  # both are fine on PATCH
    ]
    cases += [*OUT_OF_RANGE, *HUGE_AGENT_STRINGS]
    for label, body, name in cases:
        findings.problem(label, world.http.patch(path, json=body), 400, name)
    findings.same("agent patch", before, world.snapshot())
    findings.check()


TWILIO_IMPORT = {"phone_number": "+14155550123", "account_sid": "AC" + "a" * 32, "auth_token": "t0ken"}
TWILIO_GARBAGE: list[tuple[str, dict[str, Any], str]] = [
    ("missing phone_number", {k: v for k, v in TWILIO_IMPORT.items() if k != "phone_number"}, "phone_number"),
    ("missing account_sid", {k: v for k, v in TWILIO_IMPORT.items() if k != "account_sid"}, "account_sid"),
    ("missing auth_token", {k: v for k, v in TWILIO_IMPORT.items() if k != "auth_token"}, "auth_token"),
    ("phone_number number", {**TWILIO_IMPORT, "phone_number": 14155550123}, "phone_number"),
    ("phone_number not E.164", {**TWILIO_IMPORT, "phone_number": "415-555-0123"}, "phone_number"),
    ("phone_number leading zero", {**TWILIO_IMPORT, "phone_number": "+04155550123"}, "phone_number"),
    ("phone_number huge", {**TWILIO_IMPORT, "phone_number": "+1" + "5" * 100_000}, "phone_number"),
    ("account_sid wrong", {**TWILIO_IMPORT, "account_sid": "XX" + "a" * 32}, "account_sid"),
    ("account_sid short", {**TWILIO_IMPORT, "account_sid": "AC123"}, "account_sid"),
    ("auth_token empty", {**TWILIO_IMPORT, "auth_token": ""}, "auth_token"),
    ("auth_token huge", {**TWILIO_IMPORT, "auth_token": "t" * 100_000}, "auth_token"),
    ("auth_token null", {**TWILIO_IMPORT, "auth_token": None}, "auth_token"),
    ("label number", {**TWILIO_IMPORT, "label": 5}, "label"),
    ("label huge", {**TWILIO_IMPORT, "label": "l" * 100_000}, "label"),
    ("unknown property", {**TWILIO_IMPORT, "sms": True}, "sms"),
]
RELABEL_GARBAGE: list[tuple[str, Any, str]] = [
    ("missing label", {}, "label"),
    ("label null", {"label": None}, "label"),
    ("label number", {"label": 5}, "label"),
    ("label array", {"label": ["a"]}, "label"),
    ("label huge", {"label": "l" * 100_000}, "label"),
    ("unknown property", {"label": "x", "colour": "red"}, "colour"),
]
TRUNK_GARBAGE: list[tuple[str, dict[str, Any], str]] = [
    ("missing pbx", {}, "pbx"),
    ("pbx unknown", {"pbx": "asterisk-9000"}, "pbx"),
    ("pbx number", {"pbx": 3}, "pbx"),
    ("unknown property", {"pbx": "generic", "colour": "red"}, "colour"),
    ("inbound_auth_type unknown", {"pbx": "generic", "inbound_auth_type": "kerberos"}, "inbound_auth_type"),
    ("digest without username", {"pbx": "generic", "inbound_auth_type": "digest"}, "digest"),
    ("acl without host", {"pbx": "generic", "inbound_auth_type": "acl"}, "acl"),
    ("register without outbound_host", {"pbx": "generic", "register": True}, "register"),
    ("inbound_host garbage", {"pbx": "generic", "inbound_host": "not a host!"}, "inbound_host"),
    ("outbound_host huge", {"pbx": "generic", "outbound_host": "h" * 100_000}, "outbound_host"),
    (
        "inbound_sip_username huge",
        {"pbx": "generic", "inbound_sip_username": "u" * 100_000},
        "inbound_sip_username",
    ),
    ("inbound_sip_username number", {"pbx": "generic", "inbound_sip_username": 5}, "inbound_sip_username"),
    ("register array", {"pbx": "generic", "register": [True]}, "register"),
    (
        "transforms object",
        {"pbx": "generic", "caller_id_transforms": {"type": "replace"}},
        "caller_id_transforms",
    ),
    ("transform without type", {"pbx": "generic", "caller_id_transforms": [{"value": "1"}]}, "type"),
    ("transform type unknown", {"pbx": "generic", "caller_id_transforms": [{"type": "reverse"}]}, "type"),
    (
        "add_prefix without value",
        {"pbx": "generic", "caller_id_transforms": [{"type": "add_prefix"}]},
        "add_prefix",
    ),
    (
        "strip_digits_end negative",
        {"pbx": "generic", "caller_id_transforms": [{"type": "strip_digits_end", "number": -1}]},
        "strip_digits_end",
    ),
    (
        "strip_digits_start huge",
        {"pbx": "generic", "caller_id_transforms": [{"type": "strip_digits_start", "number": 10**20}]},
        "number",
    ),
    (
        "transform number fraction",
        {"pbx": "generic", "caller_id_transforms": [{"type": "strip_digits_end", "number": 1.5}]},
        "number",
    ),
]
# Garbage only on create: every field is optional on PATCH, and the world's trunk already has a
# username and an outbound host.
CREATE_ONLY = {"missing pbx", "digest without username", "register without outbound_host"}
# The world's trunk is a digest trunk: taking what digest needs away is refused.
TRUNK_PATCH_GARBAGE: list[tuple[str, dict[str, Any], str]] = [
    ("digest trunk loses its username", {"inbound_sip_username": ""}, "digest"),
    ("digest trunk loses its username (null)", {"inbound_sip_username": None}, "digest"),
    ("digest trunk loses its password", {"inbound_sip_password": None}, "digest"),
    ("register without outbound_host", {"register": True, "outbound_host": None}, "register"),
]
ASSIGNMENT_GARBAGE: list[tuple[str, dict[str, Any], str]] = [
    ("missing agent_id", {"number": "105"}, "agent_id"),
    ("agent_id null", {"agent_id": None, "number": "105"}, "agent_id"),
    ("agent_id number", {"agent_id": 5, "number": "105"}, "agent_id"),
    ("agent_id not a uuid", {"agent_id": "not-a-uuid", "number": "105"}, "agent_id"),
    ("number with spaces", {"agent_id": "{id}", "number": "1 0 5"}, "number"),
    ("number huge", {"agent_id": "{id}", "number": "1" * 100_000}, "number"),
    ("number object", {"agent_id": "{id}", "number": {"n": 1}}, "number"),
    (
        "alternate_number garbage",
        {"agent_id": "{id}", "number": "105", "alternate_number": "<>"},
        "alternate_number",
    ),
    ("digest trunk without number", {"agent_id": "{id}"}, "number"),
    ("unknown property", {"agent_id": "{id}", "number": "105", "priority": 1}, "priority"),
]
ASSIGNMENT_PATCH_GARBAGE: list[tuple[str, dict[str, Any], str]] = [
    ("number garbage", {"number": "not a number!"}, "number"),
    ("number huge", {"number": "1" * 100_000}, "number"),
    ("number array", {"number": ["1"]}, "number"),
    ("alternate_number number", {"alternate_number": 5}, "alternate_number"),
    ("unknown property", {"agent_id": RANDOM_ID}, "agent_id"),
]


def test_telephony_garbage_gives_400_naming_the_field_and_stores_nothing(world: World) -> None:
    findings = Findings()
    before = world.snapshot()
    for label, body, name in TWILIO_GARBAGE:
        findings.problem(f"import {label}", world.http.post("/v1/twilio/numbers", json=body), 400, name)
    for label, body, name in RELABEL_GARBAGE:
        response = world.http.patch(f"/v1/twilio/numbers/{world.number_id}", json=body)
        findings.problem(f"relabel {label}", response, 400, name)
    for label, body, name in TRUNK_GARBAGE:
        findings.problem(f"trunk create {label}", world.http.post("/v1/sip-trunks", json=body), 400, name)
        if label not in CREATE_ONLY:
            patch = {key: value for key, value in body.items() if key != "pbx" or label.startswith("pbx")}
            response = world.http.patch(f"/v1/sip-trunks/{world.trunk_id}", json=patch)
            findings.problem(f"trunk patch {label}", response, 400, name)
    for label, body, name in TRUNK_PATCH_GARBAGE:
        response = world.http.patch(f"/v1/sip-trunks/{world.trunk_id}", json=body)
        findings.problem(f"trunk patch {label}", response, 400, name)
    for label, body, name in ASSIGNMENT_GARBAGE:
        response = world.http.post(
            f"/v1/sip-trunks/{world.trunk_id}/assignments", json=fill_body(world, body)
        )
        findings.problem(f"assignment create {label}", response, 400, name)
    for label, body, name in ASSIGNMENT_PATCH_GARBAGE:
        response = world.http.patch(f"/v1/sip-trunks/assignments/{world.assignment_id}", json=body)
        findings.problem(f"assignment patch {label}", response, 400, name)
    # Well-formed references to nothing: 404, not a stored dangling row.
    response = world.http.post(
        f"/v1/sip-trunks/{world.trunk_id}/assignments", json={"agent_id": RANDOM_ID, "number": "106"}
    )
    findings.problem("assignment for an unknown agent", response, 404, "agent")
    findings.same("telephony", before, world.snapshot())
    findings.check()


def test_session_token_garbage_gives_4xx_naming_the_problem(world: World) -> None:
    findings = Findings()
    before = world.snapshot()
    agent = world.agent_id
    cases: list[tuple[str, Any, int, str]] = [
        ("missing agent_id", {}, 400, "agent_id"),
        ("missing agent_id, other fields", {"prompt": "hi", "chat": True}, 400, "agent_id"),
        ("agent_id number", {"agent_id": 5}, 400, "agent_id"),
        ("agent_id array", {"agent_id": [agent]}, 400, "agent_id"),
        ("agent_id not a uuid", {"agent_id": "not-a-uuid"}, 400, "agent_id"),
        ("agent_id huge", {"agent_id": "a" * 100_000}, 400, "agent_id"),
        ("version_id not a uuid", {"agent_id": agent, "version_id": "v1"}, 400, "version_id"),
        ("version_id number", {"agent_id": agent, "version_id": 1}, 400, "version_id"),
        ("chat_id not a uuid", {"agent_id": agent, "chat_id": "chat-1"}, 400, "chat_id"),
        ("transport unknown", {"agent_id": agent, "transport": "carrier-pigeon"}, 400, "transport"),
        ("transport number", {"agent_id": agent, "transport": 1}, 400, "transport"),
        ("chat object", {"agent_id": agent, "chat": {"on": True}}, 400, "chat"),
        ("prompt number", {"agent_id": agent, "prompt": 42}, 400, "prompt"),
        ("first_message array", {"agent_id": agent, "first_message": ["hi"]}, 400, "first_message"),
        ("variables string", {"agent_id": agent, "variables": "a=b"}, 400, "variables"),
        ("variables object", {"agent_id": agent, "variables": {"a": "b"}}, 400, "variables"),
        ("variable without value", {"agent_id": agent, "variables": [{"key": "a"}]}, 400, "value"),
        ("variable value number", {"agent_id": agent, "variables": [{"key": "a", "value": 1}]}, 400, "value"),
        (
            "variable extra key",
            {"agent_id": agent, "variables": [{"key": "a", "value": "b", "x": 1}]},
            400,
            "x",
        ),
        (
            "1000 variables",
            {"agent_id": agent, "variables": [{"key": f"k{i}", "value": "v"} for i in range(1000)]},
            400,
            "variables",
        ),
        ("unknown property", {"agent_id": agent, "colour": "red"}, 400, "colour"),
        ("legacy camelCase in the body", {"agent_id": agent, "agentId": agent}, 400, "agentid"),
        ("unknown agent", {"agent_id": RANDOM_ID}, 404, "agent"),
        ("unknown version", {"agent_id": agent, "version_id": RANDOM_ID}, 404, "version"),
    ]
    for label, body, status, name in cases:
        findings.problem(label, world.http.post("/v1/session-token", json=body), status, name)
    # The legacy no-body form with garbage in its query.
    for query, status, name in [
        ("agentId=not-a-uuid", 400, "agent_id|agentid"),
        (f"agentId={RANDOM_ID}", 404, "agent"),
        ("agentId=", 400, "agent"),
        ("", 400, "agent"),
    ]:
        response = world.http.post(f"/v1/session-token?{query}")
        findings.problem(f"legacy ?{query}", response, status, name)
    findings.same("session tokens", before, world.snapshot())
    findings.check()


# --- the body-size cap -------------------------------------------------------------------------------


def oversized(valid: Any) -> bytes:
    """A JSON object just over the cap (a valid body with one long, otherwise harmless string)."""
    body = dict(valid) if isinstance(valid, dict) else {}
    body["prompt"] = ""
    skeleton = len(orjson.dumps(body))
    body["prompt"] = "p" * (CAP - skeleton + 1)
    raw = orjson.dumps(body)
    assert len(raw) == CAP + 1
    return raw


def test_a_body_over_the_cap_with_content_length_gives_413(world: World) -> None:
    findings = Findings()
    before = world.snapshot()
    for method, template, body in BODY_OPERATIONS:
        raw = oversized(fill_body(world, body))
        response = send(
            world, method, world.path(template), content=raw, headers={"Content-Type": "application/json"}
        )
        assert response.request.headers["content-length"] == str(CAP + 1)
        findings.problem("Content-Length over the cap", response, 413, "too large")
    findings.same("oversized bodies", before, world.snapshot())
    findings.check()


def test_a_streamed_body_over_the_cap_without_content_length_gives_413(world: World) -> None:
    findings = Findings()
    before = world.snapshot()
    for method, template, body in BODY_OPERATIONS:
        raw = oversized(fill_body(world, body)) + b" " * (3 * CAP)  # 4 MiB, sent in 64 KiB chunks

        def chunks(data: bytes = raw) -> Iterator[bytes]:
            for start in range(0, len(data), 64 * 1024):
                yield data[start : start + 64 * 1024]

        try:
            response = send(world, method, world.path(template), content=chunks())
        except httpx.TransportError as exc:  # the server may close the socket while we still send
            findings.problems.append(f"{method} {template}: chunked upload failed without an answer: {exc!r}")
            continue
        assert "content-length" not in response.request.headers
        assert response.request.headers.get("transfer-encoding") == "chunked"
        findings.problem("chunked body over the cap", response, 413, "too large")
    findings.same("streamed bodies", before, world.snapshot())
    findings.check()


def test_a_declared_length_over_the_cap_is_refused_before_the_body_arrives(world: World) -> None:
    """A client announcing 1 GB gets 413 at once, without the server waiting for (or reading) it."""
    port = httpx.URL(world.live.url).port
    assert port is not None
    for method, template, _ in BODY_OPERATIONS:
        head = (
            f"{method} {world.path(template)} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {world.live.key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {10**9}\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(head.encode())
            began = time.monotonic()
            reply = b""
            while b"\r\n\r\n" not in reply:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reply += chunk
        assert reply.startswith(b"HTTP/1.1 413 "), f"{method} {template}: {reply[:200]!r}"
        assert b"content-type: application/json" in reply.lower()
        assert time.monotonic() - began < 2.0


def test_a_body_of_exactly_the_cap_is_read_and_judged(world: World) -> None:
    """The cap is inclusive: a 1 MiB body is parsed (and here refused for its too-long prompt)."""
    raw = oversized({"name": "Ada"})[:-3] + b'"}'  # one character shorter: exactly CAP bytes
    assert len(raw) == CAP
    findings = Findings()
    before = world.snapshot()
    findings.problem("exactly the cap", world.http.post("/v1/agents", content=raw), 400, "prompt")
    findings.same("body at the cap", before, world.snapshot())
    findings.check()


# --- query values on /v1/calls -----------------------------------------------------------------------

CALLS_GARBAGE: list[tuple[dict[str, str], str]] = [
    ({"page": "0"}, "page"),
    ({"page": "-1"}, "page"),
    ({"page": "abc"}, "page"),
    ({"page": "1.5"}, "page"),
    ({"page": "1e3"}, "page"),
    ({"page": "0x10"}, "page"),
    ({"page": "9" * 40}, "page"),
    ({"page": "9" * 5000}, "page"),
    ({"page": "1000001"}, "page"),
    ({"page": "NaN"}, "page"),
    ({"page_size": "0"}, "page_size"),
    ({"page_size": "101"}, "page_size"),
    ({"page_size": "-20"}, "page_size"),
    ({"page_size": "twenty"}, "page_size"),
    ({"page_size": "Infinity"}, "page_size"),
    ({"page_size": "1" * 100}, "page_size"),
    ({"agent_ids": "not-a-uuid"}, "agent_ids"),
    ({"agent_ids": f"{RANDOM_ID},garbage"}, "agent_ids"),
    ({"agent_ids": f"{RANDOM_ID};{RANDOM_ID}"}, "agent_ids"),
    ({"agent_ids": "%00"}, "agent_ids"),
    ({"status": "exploded"}, "status"),
    ({"status": "ENDED"}, "status"),
    ({"source": "pigeon"}, "source"),
    ({"date_from": "yesterday"}, "date_from"),
    ({"date_from": "2026-13-01T00:00:00Z"}, "date_from"),
    ({"date_from": "2026-01-01T25:00:00Z"}, "date_from"),
    ({"date_from": "1700000000"}, "date_from"),
    ({"date_to": "2026-02-30"}, "date_to"),
    ({"date_to": "x" * 10_000}, "date_to"),
    ({"outbound": "yes"}, "outbound"),
    ({"outbound": "1"}, "outbound"),
    ({"outbound": "TRUE"}, "outbound"),
    ({"search": "s" * 257}, "search"),
    ({"tag": "t" * 129}, "tag"),
    ({"outcome": "vanished"}, "outcome"),
]
CALLS_ACCEPTED: list[dict[str, str]] = [
    {"page": "", "page_size": ""},  # empty means the default
    {"page": "1000000", "page_size": "100"},
    {"agent_ids": f"{RANDOM_ID},{RANDOM_ID.upper()}"},
    {"status": "ended", "source": "api", "outbound": "false", "outcome": "transferred"},
    {"date_from": "2026-01-01T00:00:00Z", "date_to": "2026-12-31T23:59:59+02:00"},
    {"search": "s" * 256, "tag": "t" * 128},
    {"search": "%_'\"\\; DROP TABLE calls; --", "tag": "' OR 1=1 --"},
    {"organization_id": "garbage"},  # only for the internal key: ignored for org keys
    {"unknown_filter": "whatever"},
]


def test_bad_query_values_on_calls_give_400_naming_the_parameter(world: World) -> None:
    findings = Findings()
    for params, name in CALLS_GARBAGE:
        findings.problem(f"?{str(params)[:60]}", world.http.get("/v1/calls", params=params), 400, name)
    for params in CALLS_ACCEPTED:
        response = world.http.get("/v1/calls", params=params)
        findings.ok(f"?{str(params)[:60]}", response)
        if response.status_code == 200 and response.json()["calls"] != []:
            findings.problems.append(f"?{params}: calls appeared out of nowhere")
    findings.check()


# --- routing: unknown paths, wrong methods -----------------------------------------------------------

UNKNOWN_PATHS = [
    "/",
    "/v1",
    "/v2/agents",
    "/v1/nope",
    "/v1/agent",
    "/V1/agents",
    "/v1/agents/{id}/nope",
    "/v1/agents/{id}/versions/{versionId}/nope",
    "/v1/calls/{id}/recording/extra",
    "/v1/sip-trunks/{trunkId}/assignments/{assignmentId}",
    "/v1/twilio",
    "/v1/twilio/numbers/{numberId}/extra",
    "/v1/session-token/extra",
    "/v1/" + "x" * 5000,
    "/v1/%00",
]


def test_unknown_paths_give_404_naming_the_path(world: World) -> None:
    findings = Findings()
    before = world.snapshot()
    for template in UNKNOWN_PATHS:
        path = world.path(template)
        for method in ("GET", "POST", "PATCH", "DELETE"):
            response = world.http.request(
                method, path, json={"name": "x"} if method in ("POST", "PATCH") else None
            )
            findings.problem(f"{template[:40]}", response, 404, "no such endpoint|not found")
    # without any key too: an unknown path says so before asking for credentials
    findings.problem("no key", httpx.get(f"{world.live.url}/v1/nope", timeout=TIMEOUT), 404, "/v1/nope")
    findings.same("unknown paths", before, world.snapshot())
    findings.check()


# (method, path) pairs that name a real path with a method it does not serve
WRONG_METHODS: list[tuple[str, str]] = [
    ("PUT", "/v1/agents"),
    ("DELETE", "/v1/agents"),
    ("PATCH", "/v1/agents"),
    ("PUT", "/v1/agents/{id}"),
    ("POST", "/v1/agents/{id}"),
    ("POST", "/v1/agents/{id}/versions"),
    ("DELETE", "/v1/agents/{id}/versions/{versionId}"),
    ("GET", "/v1/agents/{id}/versions/{versionId}/publish"),
    ("GET", "/v1/agents/{id}/dial"),
    ("POST", "/v1/calls"),
    ("DELETE", "/v1/calls/{id}"),
    ("POST", "/v1/calls/{id}/recording"),
    ("PUT", "/v1/calls/{id}/recording"),
    ("DELETE", "/v1/calls/{id}/recording"),
    ("GET", "/v1/session-token"),
    ("DELETE", "/v1/session-token"),
    ("POST", "/v1/organization"),
    ("DELETE", "/v1/llms"),
    ("PUT", "/v1/voices"),
    ("DELETE", "/v1/twilio/numbers"),
    ("GET", "/v1/twilio/numbers/{numberId}"),
    ("PUT", "/v1/sip-trunks"),
    ("POST", "/v1/sip-trunks/{trunkId}"),
    ("PUT", "/v1/sip-trunks/assignments/{assignmentId}"),
    ("POST", "/v1/connection"),
    ("OPTIONS", "/v1/agents"),
    ("TRACE", "/v1/agents"),
]


def test_wrong_methods_give_405_naming_the_method(world: World) -> None:
    findings = Findings()
    before = world.snapshot()
    for method, template in WRONG_METHODS:
        response = world.http.request(method, world.path(template), content=b'{"name": "x"}')
        findings.problem(f"{method} {template}", response, 405, method)
        if response.status_code == 405 and not response.headers.get("allow"):
            findings.problems.append(f"{method} {template}: 405 without an Allow header")
    findings.same("wrong methods", before, world.snapshot())
    findings.check()


# --- authorization -----------------------------------------------------------------------------------

BAD_AUTHORIZATION: list[tuple[str, dict[str, str] | dict[bytes, bytes]]] = [
    ("no header", {}),
    ("empty", {"Authorization": ""}),
    ("scheme only", {"Authorization": "Bearer"}),
    ("wrong key", {"Authorization": "Bearer vtl_" + "A" * 43}),
    ("not our format", {"Authorization": "Bearer hunter2"}),
    ("basic auth", {"Authorization": "Basic dXNlcjpwYXNz"}),
    ("token scheme", {"Authorization": "Token vtl_abc"}),
    ("huge key", {"Authorization": "Bearer " + "k" * 8000}),
    ("not latin-1 text", {b"Authorization": b"Bearer \xff\xfe\xfd"}),
    ("api-key header instead", {"API-KEY": "vtl_whatever"}),
    ("key in the query", {}),
]


def test_missing_or_garbage_keys_give_401_on_every_operation_and_store_nothing(world: World) -> None:
    findings = Findings()
    before = world.snapshot()
    real = world.live.key
    cases: list[tuple[str, dict[str, str] | dict[bytes, bytes]]] = [
        *BAD_AUTHORIZATION,
        ("real key without scheme", {"Authorization": real}),
        ("real key plus a character", {"Authorization": f"Bearer {real}x"}),
        ("real key truncated", {"Authorization": f"Bearer {real[:-1]}"}),
        ("real key, another scheme", {"Authorization": f"Basic {real}"}),
    ]
    with httpx.Client(base_url=world.live.url, timeout=TIMEOUT) as anonymous:
        for method, template, body in OPERATIONS:
            path = world.path(template) + ("?api_key=" + real if template == "/v1/agents" else "")
            for label, headers in cases:
                response = anonymous.request(
                    method, path, json=fill_body(world, body), headers=httpx.Headers(headers)
                )
                findings.problem(f"{label}", response, 401, "api key|key")
            # garbage body and no key: the key is judged first
            response = anonymous.request(method, world.path(template), content=b"{garbage")
            findings.problem("no key, garbage body", response, 401, "key")
    findings.same("unauthorised requests", before, world.snapshot())
    findings.check()


async def _revoked_key(database_url: str) -> str:
    engine = open_engine(database_url)
    try:
        info, key = await create_key(engine, "soon revoked")
        await revoke_key(engine, info.id)
    finally:
        await engine.dispose()
    return key


def test_a_revoked_key_gives_401_on_every_operation(world: World) -> None:
    revoked = run_in_thread(lambda: _revoked_key(world.live.settings.resolved_database_url))
    findings = Findings()
    before = world.snapshot()
    with httpx.Client(
        base_url=world.live.url, headers={"Authorization": f"Bearer {revoked}"}, timeout=TIMEOUT
    ) as http:
        for method, template, body in OPERATIONS:
            response = http.request(method, world.path(template), json=fill_body(world, body))
            findings.problem("revoked key", response, 401, "revoked|invalid")
    findings.same("revoked key", before, world.snapshot())
    findings.check()


# --- bugs this file found in the server, fixed: each test keeps them fixed ------------------------------

POSTGRES_ONLY = "postgresql"


def test_calls_date_filters_out_of_the_representable_range_give_400(world: World) -> None:
    findings = Findings()
    for params in (
        {"date_from": "0001-01-01T00:00:00+14:00"},
        {"date_to": "9999-12-31T23:59:59-14:00"},
    ):
        findings.problem(str(params), world.http.get("/v1/calls", params=params), 400, next(iter(params)))
    findings.check()


def test_a_nul_character_is_refused_or_kept_never_a_500(world: World) -> None:
    """SQLite keeps NUL characters; PostgreSQL text cannot hold them: 400 there is fine, 500 is not."""
    findings = Findings()

    def judged(label: str, response: httpx.Response) -> None:
        if response.status_code >= 300:
            findings.problem(label, response, 400, "")

    judged(
        "trunk username",
        world.http.post("/v1/sip-trunks", json={"pbx": "generic", "inbound_sip_username": "a\x00b"}),
    )
    judged(
        "trunk password",
        world.http.post("/v1/sip-trunks", json={"pbx": "generic", "inbound_sip_password": "a\x00"}),
    )
    judged(
        "outbound password",
        world.http.post("/v1/sip-trunks", json={"pbx": "generic", "outbound_sip_password": "\x00"}),
    )
    judged(
        "twilio label",
        world.http.post("/v1/twilio/numbers", json={**TWILIO_IMPORT, "label": "l\x00"}),
    )
    judged(
        "twilio auth token",
        world.http.post(
            "/v1/twilio/numbers", json={**TWILIO_IMPORT, "phone_number": "+14155550124", "auth_token": "\x00"}
        ),
    )
    judged("relabel", world.http.patch(f"/v1/twilio/numbers/{world.number_id}", json={"label": "\x00"}))
    judged("calls search", world.http.get("/v1/calls", params={"search": "a\x00"}))
    judged("agent name", world.http.post("/v1/agents", json={"name": "A\x00da"}))
    judged(
        "session token prompt",
        world.http.post("/v1/session-token", json={"agent_id": world.agent_id, "prompt": "\x00"}),
    )
    findings.check()


def test_huge_sip_passwords_give_400(world: World) -> None:
    findings = Findings()
    before = world.snapshot()
    for name in ("inbound_sip_password", "outbound_sip_password"):
        response = world.http.post("/v1/sip-trunks", json={"pbx": "generic", name: "p" * 5000})
        findings.problem(f"create {name}", response, 400, name)
        response = world.http.patch(f"/v1/sip-trunks/{world.trunk_id}", json={name: "p" * 5000})
        findings.problem(f"patch {name}", response, 400, name)
    findings.same("huge passwords", before, world.snapshot())
    findings.check()


def test_an_unknown_session_token_property_is_refused_even_when_null(world: World) -> None:
    findings = Findings()
    response = world.http.post("/v1/session-token", json={"agent_id": world.agent_id, "colour": None})
    findings.problem("unknown null property", response, 400, "colour")
    findings.check()


def test_strings_and_numbers_are_not_coerced_into_numbers_and_booleans(world: World) -> None:
    findings = Findings()
    before = world.snapshot()
    for label, body, name in [
        ("number as string", {"name": "Ada", "vad_settings": {"start_secs": "0.5"}}, "start_secs"),
        ("level as string", {"name": "Ada", "noise_cancel_settings": {"level": "50"}}, "level"),
        ("boolean as string", {"name": "Ada", "summarize_calls": "yes"}, "summarize_calls"),
        (
            "boolean as number",
            {"name": "Ada", "enable_first_message_outbound": 0},
            "enable_first_message_outbound",
        ),
        (
            "integer as string",
            {"name": "Ada", "timeout_settings": {"silence_counter": "3"}},
            "silence_counter",
        ),
    ]:
        findings.problem(label, world.http.post("/v1/agents", json=body), 400, name)
    response = world.http.post("/v1/session-token", json={"agent_id": world.agent_id, "chat": "yes"})
    findings.problem("token chat as string", response, 400, "chat")
    response = world.http.post("/v1/sip-trunks", json={"pbx": "generic", "remain_in_dialog": "yes"})
    findings.problem("trunk boolean as string", response, 400, "remain_in_dialog")
    findings.same("coerced types", before, world.snapshot())
    findings.check()


def test_unknown_enum_values_in_agent_settings_give_400(world: World) -> None:
    findings = Findings()
    before = world.snapshot()
    for label, fragment, name in [
        ("voice provider", {"voice_settings": {"id": "v", "provider": "nope"}}, "provider"),
        ("timeout_action", {"timeout_settings": {"timeout_action": "explode"}}, "timeout_action"),
        (
            "silence_timeout_action",
            {"timeout_settings": {"silence_timeout_action": "x"}},
            "silence_timeout_action",
        ),
    ]:
        findings.problem(
            f"create {label}", world.http.post("/v1/agents", json={"name": "Ada", **fragment}), 400, name
        )
        response = world.http.patch(f"/v1/agents/{world.agent_id}", json=fragment)
        findings.problem(f"patch {label}", response, 400, name)
    findings.same("unknown enums", before, world.snapshot())
    findings.check()


def test_a_null_pbx_does_not_erase_the_trunks_pbx(world: World) -> None:
    response = world.http.patch(f"/v1/sip-trunks/{world.trunk_id}", json={"pbx": None})
    assert response.status_code == 400 or response.json().get("pbx") == "generic", response.text
    assert world.http.get(f"/v1/sip-trunks/{world.trunk_id}").json().get("pbx") == "generic"


def test_405_allow_header_lists_every_method_of_the_path(world: World) -> None:
    findings = Findings()
    for template, methods in [
        ("/v1/agents", {"GET", "POST"}),
        ("/v1/agents/{id}", {"GET", "PATCH", "DELETE"}),
        ("/v1/twilio/numbers", {"GET", "POST"}),
        ("/v1/sip-trunks/{trunkId}", {"GET", "PATCH", "DELETE"}),
        ("/v1/sip-trunks/{trunkId}/assignments", {"GET", "POST"}),
        ("/v1/sip-trunks/assignments/{assignmentId}", {"GET", "PATCH", "DELETE"}),
    ]:
        response = world.http.put(world.path(template), json={})
        allowed = {m.strip().upper() for m in response.headers.get("allow", "").split(",") if m.strip()}
        if response.status_code != 405 or not methods <= allowed:
            findings.problems.append(
                f"PUT {template}: {response.status_code}, Allow: {sorted(allowed)}, want {sorted(methods)}"
            )
    findings.check()


def test_a_malformed_sip_trunk_id_on_dial_gives_400(world: World) -> None:
    findings = Findings()
    response = world.http.post(f"/v1/agents/{world.agent_id}/dial", params={"sipTrunkId": "not-a-uuid"})
    findings.problem("dial sipTrunkId", response, 400, "sipTrunkId")
    findings.check()


def test_a_client_leaving_mid_body_is_not_a_server_error(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    port = httpx.URL(world.live.url).port
    assert port is not None
    caplog.set_level(logging.ERROR)
    head = (
        f"POST /v1/agents HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {world.live.key}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(head.encode() + b'{"name": "A')
        time.sleep(0.2)  # the handler is now waiting for the rest of the body
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline and not any(r.levelno >= logging.ERROR for r in caplog.records):
        time.sleep(0.05)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, errors
    assert world.http.get("/v1/agents").status_code == 200
