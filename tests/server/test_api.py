"""The REST API of ``vatel serve`` against the spec, over SQLite and PostgreSQL (protocol.md §2, §4).

Every documented path and method is served; every 2xx body validates against the OpenAPI
response schema; the exact success codes; and the behaviours the issue names (one unpublished
version per new agent, 409 on a second publish, PATCH merging, token rules).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import jwt
import pytest

import vatel
from support.live_server import LiveServer
from support.schema import errors
from support.shared import openapi
from vatel.server.auth.session_tokens import verify

pytestmark = pytest.mark.loopback

RESPONSE_SCHEMA = {
    # (method, path template) -> components.schemas name of the 2xx body ("[X]" = array of X)
    ("GET", "/v1/organization"): "Organization",
    ("GET", "/v1/llms"): "LLMStringsResponse",
    ("GET", "/v1/voices"): "VoicesListResponse",
    ("GET", "/v1/agents"): "[Agent]",
    ("POST", "/v1/agents"): "Agent",
    ("GET", "/v1/agents/{id}"): "Agent",
    ("PATCH", "/v1/agents/{id}"): "Agent",
    ("GET", "/v1/agents/{id}/versions"): "[GraphVersion]",
    ("GET", "/v1/agents/{id}/versions/{versionId}"): "GraphVersionDetail",
    ("POST", "/v1/agents/{id}/versions/{versionId}/publish"): "GraphVersion",
    ("GET", "/v1/calls"): "PaginatedCallsResponse",
    ("GET", "/v1/calls/{id}"): "Call",
    ("GET", "/v1/twilio/numbers"): "[TwilioPhoneNumber]",
    ("POST", "/v1/twilio/numbers"): "TwilioPhoneNumber",
    ("PATCH", "/v1/twilio/numbers/{id}"): "TwilioPhoneNumber",
    ("GET", "/v1/sip-trunks"): "[SipTrunk]",
    ("POST", "/v1/sip-trunks"): "SipTrunk",
    ("GET", "/v1/sip-trunks/{id}"): "SipTrunk",
    ("PATCH", "/v1/sip-trunks/{id}"): "SipTrunk",
    ("GET", "/v1/sip-trunks/{id}/assignments"): "[SipTrunkAgentAssignment]",
    ("POST", "/v1/sip-trunks/{id}/assignments"): "SipTrunkAgentAssignment",
    ("GET", "/v1/sip-trunks/assignments/{assignmentId}"): "SipTrunkAgentAssignment",
    ("PATCH", "/v1/sip-trunks/assignments/{assignmentId}"): "SipTrunkAgentAssignment",
    ("POST", "/v1/session-token"): "SessionTokenResponse",
}


def assert_valid(body: Any, schema: str) -> None:
    if schema.startswith("["):
        assert isinstance(body, list)
        for item in body:
            assert errors(item, schema[1:-1]) == []
    else:
        assert errors(body, schema) == []


class Exchange:
    """A raw HTTP client that checks every 2xx body against the spec as it goes."""

    def __init__(self, live: LiveServer) -> None:
        self.http = live.http()
        self.checked: set[tuple[str, str]] = set()

    def __call__(self, method: str, template: str, status: int, *, json: Any = None, **ids: str) -> Any:
        path = template.format(**ids) if ids else template
        response = self.http.request(method, path, json=json)
        assert response.status_code == status, response.text
        if status == 204:
            assert response.content == b""
            self.checked.add((method, template))
            return None
        body = response.json()
        if status < 300 and (method, template) in RESPONSE_SCHEMA:
            assert response.headers["content-type"].startswith("application/json")
            assert_valid(body, RESPONSE_SCHEMA[(method, template)])
            self.checked.add((method, template))
        if status >= 400:
            assert set(body) == {"error"} and body["error"]
        return body


def test_every_documented_operation_is_served_with_its_success_code(live: LiveServer) -> None:
    call = Exchange(live)
    call("GET", "/v1/organization", 200)
    call("GET", "/v1/llms", 200)
    call("GET", "/v1/voices", 200)
    agent = call("POST", "/v1/agents", 201, json={"name": "Front desk", "first_message": "Hello!"})
    call("GET", "/v1/agents", 200)
    call("GET", "/v1/agents/{id}", 200, id=agent["id"])
    call("PATCH", "/v1/agents/{id}", 200, json={"prompt": "Be brief."}, id=agent["id"])
    versions = call("GET", "/v1/agents/{id}/versions", 200, id=agent["id"])
    vid = versions[0]["id"]
    call("GET", "/v1/agents/{id}/versions/{versionId}", 200, id=agent["id"], versionId=vid)
    call("POST", "/v1/agents/{id}/versions/{versionId}/publish", 200, id=agent["id"], versionId=vid)
    call("POST", "/v1/agents/{id}/dial?number=%2B14155550100", 503, id=agent["id"])
    call("GET", "/v1/calls", 200)
    call("GET", "/v1/calls/{id}", 404, id=str(uuid.uuid4()))
    call("GET", "/v1/calls/{id}/recording", 404, id=str(uuid.uuid4()))
    number = call(
        "POST",
        "/v1/twilio/numbers",
        201,
        json={"phone_number": "+14155550100", "account_sid": "AC" + "0" * 32, "auth_token": "secret"},
    )
    call("GET", "/v1/twilio/numbers", 200)
    call("PATCH", "/v1/twilio/numbers/{id}", 200, json={"label": "Main line"}, id=number["id"])
    trunk = call(
        "POST",
        "/v1/sip-trunks",
        201,
        json={"pbx": "3cx", "inbound_auth_type": "acl", "inbound_host": "pbx.example.test"},
    )
    call("GET", "/v1/sip-trunks", 200)
    call("GET", "/v1/sip-trunks/{id}", 200, id=trunk["id"])
    call("PATCH", "/v1/sip-trunks/{id}", 200, json={"remain_in_dialog": True}, id=trunk["id"])
    item = call(
        "POST",
        "/v1/sip-trunks/{id}/assignments",
        201,
        json={"agent_id": agent["id"], "alternate_number": "5551000"},
        id=trunk["id"],
    )
    call("GET", "/v1/sip-trunks/{id}/assignments", 200, id=trunk["id"])
    call("GET", "/v1/sip-trunks/assignments/{assignmentId}", 200, assignmentId=item["id"])
    call(
        "PATCH",
        "/v1/sip-trunks/assignments/{assignmentId}",
        200,
        json={"alternate_number": "5551001"},
        assignmentId=item["id"],
    )
    call("POST", "/v1/session-token", 200, json={"agent_id": agent["id"]})
    call("DELETE", "/v1/sip-trunks/assignments/{assignmentId}", 204, assignmentId=item["id"])
    call("DELETE", "/v1/sip-trunks/{id}", 204, id=trunk["id"])
    call("DELETE", "/v1/agents/{id}", 204, id=agent["id"])
    call("GET", "/v1/agents/{id}", 404, id=agent["id"])

    documented = {
        (method.upper(), path)
        for path, item in openapi()["paths"].items()
        for method in item
        if method in ("get", "post", "patch", "delete") and path != "/v1/connection"  # the WebSocket: issue 5
    }
    exercised = call.checked | {
        ("POST", "/v1/agents/{id}/dial"),  # 503 by design: telephony is not configured here
        ("DELETE", "/v1/agents/{id}"),
        ("GET", "/v1/calls/{id}/recording"),  # 200 checked in test_calls.py with a real WAV
        ("GET", "/v1/calls/{id}"),
    }
    assert documented <= exercised, documented - exercised


def test_a_new_agent_has_one_unpublished_version_and_publishes_once(client: vatel.Client) -> None:
    agent = client.agents.create({"name": "A"})
    assert agent.id
    versions = client.agents.list_versions(agent.id)
    assert len(versions) == 1 and versions[0].published_at is None
    assert versions[0].id is not None
    published = client.agents.publish_version(agent.id, versions[0].id)
    assert published.published_at is not None
    with pytest.raises(vatel.ConflictError, match="already published"):
        client.agents.publish_version(agent.id, versions[0].id)
    detail = client.agents.get_version(agent.id, versions[0].id)
    assert detail.version.published_at == published.published_at and detail.nodes == []


def test_agent_defaults_and_patch_merging(client: vatel.Client) -> None:
    agent = client.agents.create({"name": "A", "vad_settings": {"stop_secs": 0.5}, "keyterms": []})
    assert agent.vad_settings is not None
    assert (agent.vad_settings.start_secs, agent.vad_settings.stop_secs) == (0.2, 0.5)
    assert agent.llm == "vatel/scripted" and agent.status == "active" and agent.phone_number_id == ""
    assert agent.keyterms == []
    assert agent.id is not None
    patched = client.agents.update(agent.id, {"vad_settings": {"start_secs": 0.1}, "keyterms": ["Vatel"]})
    assert patched.vad_settings is not None
    assert (patched.vad_settings.start_secs, patched.vad_settings.stop_secs) == (0.1, 0.5)  # merged per field
    assert patched.keyterms == ["Vatel"]
    replaced = client.agents.update(agent.id, {"keyterms": ["a", "b"]})
    assert replaced.keyterms == ["a", "b"]  # the list is replaced whole
    assert replaced.name == "A" and replaced.created_at == agent.created_at
    assert replaced.updated_at is not None and agent.updated_at is not None
    assert replaced.updated_at >= agent.updated_at


def test_phone_number_assignment_and_clearing(client: vatel.Client) -> None:
    number = client.twilio_numbers.import_number(
        {"phone_number": "+442071838750", "account_sid": "AC" + "a" * 32, "auth_token": "t"}
    )
    assert number.id is not None
    agent = client.agents.create({"name": "A", "phone_number_id": number.id})
    assert agent.id is not None and agent.phone_number_id == number.id
    cleared = client.agents.update(agent.id, vatel.AgentUpdateInput(phone_number_id=None))
    assert cleared.phone_number_id == ""
    with pytest.raises(vatel.BadRequestError, match="not a Twilio number"):
        client.agents.update(agent.id, {"phone_number_id": str(uuid.uuid4())})


def test_llm_must_be_one_the_server_has(client: vatel.Client) -> None:
    assert client.llms.list().llms == ["vatel/scripted"]
    with pytest.raises(vatel.BadRequestError, match="not available"):
        client.agents.create({"name": "A", "llm": "openai/gpt-4o"})


class TestSessionToken:
    """protocol.md §2 and §7.1."""

    def test_the_official_python_sdk_body_with_explicit_nulls(
        self, live: LiveServer, client: vatel.Client
    ) -> None:
        agent = client.agents.create({"name": "A"})
        body = {
            "agent_id": agent.id, "version_id": None, "chat_id": None, "transport": None,
            "first_message": None, "prompt": None, "chat": None,
        }  # fmt: skip
        with live.http() as http:
            response = http.post("/v1/session-token", json=body)
        assert response.status_code == 200, response.text
        assert set(response.json()) == {"token"}

    def test_claims_carry_agent_version_scopes_and_overrides(
        self, live: LiveServer, client: vatel.Client
    ) -> None:
        agent = client.agents.create({"name": "A"})
        assert agent.id is not None
        version = client.agents.list_versions(agent.id)[0]
        chat_id = str(uuid.uuid4())
        token = client.session.generate_token(
            agent.id,
            prompt="Be kind.",
            first_message="Hi!",
            chat=True,
            chat_id=chat_id,
            variables={"name": "Ada"},
        ).token
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["agent_id"] == agent.id and claims["version_id"] == version.id
        assert claims["scopes"] == ["voice", "chat"]
        assert claims["parameters"] == {
            "prompt": "Be kind.", "first_message": "Hi!", "chat_id": chat_id, "variables": {"name": "Ada"}
        }  # fmt: skip
        assert 0 < claims["exp"] - time.time() <= live.settings.session_token_ttl
        assert claims["jti"]

    def test_the_token_verifies_with_the_install_secret_only(
        self, live: LiveServer, client: vatel.Client
    ) -> None:
        agent = client.agents.create({"name": "A"})
        assert agent.id is not None
        token = client.session.generate_token(agent.id).token
        with pytest.raises(ValueError, match="invalid session token"):
            verify(token, "not the secret, though long enough", now=time.time())
        forged = jwt.encode(
            {**jwt.decode(token, options={"verify_signature": False})}, "x" * 32, algorithm="HS256"
        )
        with pytest.raises(ValueError, match="invalid"):
            verify(forged, "y" * 32, now=time.time())

    def test_legacy_query_form_without_a_body(self, live: LiveServer, client: vatel.Client) -> None:
        agent = client.agents.create({"name": "A"})
        with live.http() as http:
            response = http.post(f"/v1/session-token?agentId={agent.id}")
        assert response.status_code == 200 and "token" in response.json()

    def test_version_must_belong_to_the_agent(self, client: vatel.Client) -> None:
        first, second = client.agents.create({"name": "A"}), client.agents.create({"name": "B"})
        assert first.id is not None and second.id is not None
        other_version = client.agents.list_versions(second.id)[0].id
        assert other_version is not None
        with pytest.raises(vatel.NotFoundError):
            client.session.generate_token(first.id, version_id=other_version)

    @pytest.mark.parametrize(
        ("body", "status", "message"),
        [
            ({"agent_id": "x"}, 400, "agent_id is not a valid UUID"),
            ({}, 400, "agent_id"),
            ({"agent_id": "AGENT", "colour": "blue"}, 400, "colour"),
            ({"agent_id": "AGENT", "transport": "carrier-pigeon"}, 400, "transport"),
            ({"agent_id": "AGENT", "transport": "webrtc"}, 503, "webrtc"),
            ({"agent_id": str(uuid.UUID(int=7))}, 404, "agent not found"),
        ],
    )
    def test_refusals(
        self, live: LiveServer, client: vatel.Client, body: dict[str, Any], status: int, message: str
    ) -> None:
        agent = client.agents.create({"name": "A"})
        body = {key: (agent.id if value == "AGENT" else value) for key, value in body.items()}
        with live.http() as http:
            response = http.post("/v1/session-token", json=body)
        assert response.status_code == status
        assert message in response.json()["error"]


def test_another_organizations_agent_is_forbidden_for_tokens(live: LiveServer, client: vatel.Client) -> None:
    import asyncio

    from sqlalchemy import insert

    from vatel.server.store.database import open_engine
    from vatel.server.store.schema import agents, organizations

    foreign = str(uuid.uuid4())
    other_org = str(uuid.uuid4())

    async def add_foreign_agent() -> None:
        engine = open_engine(live.settings.resolved_database_url)
        async with engine.begin() as conn:
            now = "2026-01-01T00:00:00.000000Z"
            await conn.execute(insert(organizations).values(id=other_org, name="Other", created_at=now))
            await conn.execute(
                insert(agents).values(
                    id=foreign,
                    organization_id=other_org,
                    config={"name": "x"},
                    created_at=now,
                    updated_at=now,
                )
            )
        await engine.dispose()

    asyncio.run(add_foreign_agent())
    with pytest.raises(vatel.PermissionDeniedError, match="another organization"):
        client.session.generate_token(foreign)
    with pytest.raises(vatel.NotFoundError):  # REST reads never reveal it exists
        client.agents.get(foreign)


def test_every_error_is_json_with_an_error_message(live: LiveServer) -> None:
    with live.http() as http:
        for method, path in [("GET", "/v1/nowhere"), ("PUT", "/v1/agents"), ("POST", "/v1/calls")]:
            response = http.request(method, path)
            assert response.status_code in (404, 405)
            assert response.headers["content-type"].startswith("application/json")
            assert response.json()["error"]


def test_missing_wrong_and_revoked_keys_get_401(live: LiveServer) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer"},
    ):
        response = httpx.get(live.url + "/v1/agents", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]
