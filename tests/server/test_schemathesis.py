"""A property-based run of the REST API driven by the OpenAPI document (schemathesis + hypothesis).

For every operation of ``../shared/vatel-openapi.json``, schemathesis generates requests from the
document (parameters, bodies, headers): data that fits the schemas (``positive``), data that breaks
them (``negative``), and fitting data aimed at resources that exist (``existing``: real ids in the
path and in ``agent_id``, so the 2xx paths are exercised too). Each is sent to a real server
(uvicorn on loopback, SQLite) with the server's API key, and:

* no answer is a 5xx, except the two the issue documents: ``dial`` (503, telephony is not
  configured here) and a session token for ``transport: "webrtc"`` (503);
* every 2xx body validates against the document's response schema for that status (checked here
  with the document's own validator, and by schemathesis' ``response_schema_conformance``, which
  also checks the documented error bodies), the status is a documented one and so is the media type.

Bounded and deterministic: ``EXAMPLES`` examples per operation and mode, ``derandomize=True`` (the
examples follow from the test, not from a random seed) and no example database. The whole file takes
about 30 s on two cores.

``GET /v1/connection`` is left out: it is the session WebSocket (a 101 upgrade, tested with the
live-call issue), not a REST operation; its plain-HTTP answer is covered by tests/server/test_api.py.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from openapi_schema_validator import OAS30Validator
from schemathesis import Case, GenerationMode
from schemathesis.core.transport import Response
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from support.live_server import LiveServer
from support.shared import SHARED, openapi

pytestmark = [
    pytest.mark.loopback,
    # SQLite is enough here: the storage paths of both databases are covered by test_bad_input/test_api.
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]

EXAMPLES = 25
EXCLUDED_PATHS = {"/v1/connection"}  # the session WebSocket (see the module docstring)
TIMEOUT = 10.0
SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure reports its request as sent
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    print_blob=False,
)
#: 5xx answers the issue documents, by operation label.
DOCUMENTED_5XX = {
    "POST /v1/agents/{id}/dial": "telephony is not configured on this server",
    "POST /v1/session-token": "transport webrtc",
}


def document() -> dict[str, Any]:
    doc = copy.deepcopy(openapi())
    for path in EXCLUDED_PATHS:
        doc["paths"].pop(path)
    return doc


@cache
def api_schema() -> Any:
    return schemathesis.openapi.from_dict(document())


def operation_labels() -> list[str]:
    """The operations, read at collection time (an absent document gives one test that skips)."""
    if not (SHARED / "vatel-openapi.json").is_file():
        return ["<no OpenAPI document>"]
    return [
        f"{method.upper()} {path}"
        for path, item in openapi()["paths"].items()
        if path not in EXCLUDED_PATHS
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def response_errors(label: str, status: int, body: Any) -> list[str]:
    """How ``body`` breaks the document's schema for ``label``'s ``status`` answer (empty when valid)."""
    method, path = label.split(" ", 1)
    doc = openapi()
    answer = doc["paths"][path][method.lower()]["responses"].get(str(status))
    if answer is None:
        return [f"status {status} is not documented for {label}"]
    schema = answer.get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        return []
    validator = OAS30Validator(
        {**schema, "components": doc["components"]}, format_checker=OAS30Validator.FORMAT_CHECKER
    )
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(body)
    ]


def created(response: httpx.Response) -> str:
    assert response.status_code == 201, (
        f"{response.request.url}: {response.status_code} {response.text[:300]}"
    )
    identifier: str = response.json()["id"]
    return identifier


def existing_ids(live: LiveServer) -> dict[str, str]:
    """One of each resource, for the ``existing`` mode: path parameter name -> id, per path prefix."""
    with live.http() as http:
        agent = created(http.post("/v1/agents", json={"name": "Ada"}))
        version = http.get(f"/v1/agents/{agent}/versions").json()[0]["id"]
        number = created(
            http.post(
                "/v1/twilio/numbers",
                json={"phone_number": "+14155550100", "account_sid": "AC" + "0" * 32, "auth_token": "t"},
            )
        )
        trunk = created(http.post("/v1/sip-trunks", json={"pbx": "generic"}))
        assignment = created(
            http.post(f"/v1/sip-trunks/{trunk}/assignments", json={"agent_id": agent, "number": "100"})
        )
    return {"agent": agent, "version": version, "number": number, "trunk": trunk, "assignment": assignment}


def path_parameters(label: str, ids: dict[str, str]) -> dict[str, str]:
    path = label.split(" ", 1)[1]
    if path.startswith("/v1/agents/"):
        return {"id": ids["agent"], "versionId": ids["version"]}
    if path.startswith("/v1/twilio/numbers/"):
        return {"id": ids["number"]}
    if path.startswith("/v1/sip-trunks/assignments/"):
        return {"assignmentId": ids["assignment"]}
    if path.startswith("/v1/sip-trunks/"):
        return {"id": ids["trunk"]}
    return {}  # /v1/calls/{id}: no call exists without a session; the 404 path is what is left


def point_at_existing(body: dict[str, Any], ids: dict[str, str], live: LiveServer) -> None:
    """Make a generated body name what exists here: the agent, this server's brain and a known language.

    The document cannot say which LLMs and ids a server has, so plain generation almost never
    gets past those checks; this lets the ``existing`` mode reach the 2xx answers of writes.
    """
    if "agent_id" in body:
        body["agent_id"] = ids["agent"]
    for name in ("llm", "fallback_llm"):
        if name in body:
            body[name] = "vatel/scripted"
    if "default_language" in body:
        body["default_language"] = "en"
    if body.get("phone_number_id"):
        body["phone_number_id"] = ids["number"]


def check(case: Case[Any], response: Response, failures: list[str], mode: str) -> None:
    label = case.operation.label
    sent = f"[{mode}] {case.method} {response.request.url} body={str(case.body)[:300]}"
    status = response.status_code
    if status >= 500:
        allowed = DOCUMENTED_5XX.get(label)
        text = response.content.decode(errors="replace")
        if not (status == 503 and allowed is not None and allowed in text):
            failures.append(f"{sent}: {status} {text[:300]}")
        return
    if (
        200 <= status < 300
        and status != 204
        and response.headers.get("content-type", [""])[0].startswith("application/json")
    ):
        problems = response_errors(label, status, response.json())
        if problems:
            failures.append(f"{sent}: {status} body breaks the schema: {problems[:5]}")
    try:
        case.validate_response(
            response, checks=[response_schema_conformance, status_code_conformance, content_type_conformance]
        )
    except Exception as exc:  # schemathesis raises a group of its check failures
        failures.append(f"{sent}: {status}: {str(exc)[:600]}")


def run_mode(live: LiveServer, operation: Any, mode: str, failures: list[str]) -> int:
    """Send ``EXAMPLES`` generated requests of one mode; returns how many were sent."""
    generation = GenerationMode.NEGATIVE if mode == "negative" else GenerationMode.POSITIVE
    ids = existing_ids(live) if mode == "existing" else {}
    wanted = {p.name for p in operation.path_parameters}
    fixed = {k: v for k, v in path_parameters(operation.label, ids).items() if k in wanted} if ids else {}
    strategy = operation.as_strategy(generation_mode=generation, path_parameters=fixed or None)
    headers = {"Authorization": f"Bearer {live.key}"}
    sent = 0

    with requests.Session() as session:

        @SETTINGS
        @given(case=strategy, use_existing=st.booleans())
        def run(case: Case[Any], use_existing: bool) -> None:
            nonlocal sent
            if ids and use_existing and isinstance(case.body, dict):
                point_at_existing(case.body, ids, live)
            response = case.call(base_url=live.url, session=session, headers=headers, timeout=TIMEOUT)
            sent += 1
            check(case, response, failures, mode)

        run()
    return sent


@pytest.mark.parametrize("label", operation_labels())
def test_generated_requests_get_no_5xx_and_schema_valid_answers(live: LiveServer, label: str) -> None:
    """Each operation on a server of its own, in the three modes one after the other."""
    operation = api_schema().find_operation_by_label(label)
    assert operation is not None, label
    modes = ["positive", "negative"]
    if operation.path_parameters or operation.body:
        modes.append("existing")  # else there is nothing to point at what exists
    failures: list[str] = []
    for mode in modes:
        sent = run_mode(live, operation, mode, failures)
        assert sent > 0, f"{mode}: no request was generated"
    assert not failures, f"{len(failures)} answers failed:\n" + "\n".join(failures[:10])
