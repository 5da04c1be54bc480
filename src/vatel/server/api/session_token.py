"""``POST /v1/session-token`` (protocol.md §2): a signed, short-lived, single-use session JWT.

Accepts what every official SDK sends: the Python SDK's explicit ``null`` for each optional field
(null means absent), the docs-only ``variables``, and the legacy ``?agentId=`` form with no body.
Unknown properties are refused (the schema has ``additionalProperties: false``).
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from vatel.protocol import GenerateSessionTokenRequest, Transport
from vatel.server.api.problems import ApiProblem, JSONResponse, problem
from vatel.server.api.request import check_uuid, parse_model, read_json
from vatel.server.api.routing import Caller, endpoint, resource
from vatel.server.auth.session_tokens import SessionGrant, mint
from vatel.server.store import agents as store
from vatel.server.store.errors import Forbidden

MAX_VARIABLES = 100


def _request_body(data: Any, legacy_agent_id: str | None) -> GenerateSessionTokenRequest:
    if data is None:
        if legacy_agent_id is None:
            raise ApiProblem(400, "send a JSON body with agent_id (or the legacy ?agentId= query)")
        data = {"agent_id": legacy_agent_id}
    if isinstance(data, dict):
        # null means absent for the known optional fields (the official Python SDK sends them);
        # an unknown property is refused whatever its value.
        known = GenerateSessionTokenRequest.model_fields
        data = {key: value for key, value in data.items() if value is not None or key not in known}
    body = parse_model(GenerateSessionTokenRequest, data)
    check_uuid(body.agent_id, "agent_id")
    if body.version_id is not None:
        check_uuid(body.version_id, "version_id")
    if body.chat_id is not None:
        check_uuid(body.chat_id, "chat_id")
    if body.variables is not None and len(body.variables) > MAX_VARIABLES:
        raise ApiProblem(400, f"at most {MAX_VARIABLES} variables")
    return body


@endpoint
async def session_token(request: Request, caller: Caller) -> Response:
    state = caller.state
    data = await read_json(request, state.settings.max_body_bytes, required=False)
    body = _request_body(data, request.query_params.get("agentId"))
    if body.transport is Transport.WEBRTC:
        return problem(503, "transport webrtc is not available on this server; use websocket")
    async with state.engine.connect() as conn:
        agent = await store.get_agent(conn, caller.organization_id, body.agent_id, other_org=Forbidden)
        if body.version_id is not None:
            version = await store.get_version(conn, agent, body.version_id)
        else:
            version = await store.active_version(conn, agent)
    parameters: dict[str, Any] = {}
    for name in ("prompt", "first_message", "chat_id"):
        value = getattr(body, name)
        if value is not None:
            parameters[name] = value
    if body.variables:
        parameters["variables"] = {item.key: item.value for item in body.variables}
    grant = SessionGrant(
        organization_id=caller.organization_id,
        agent_id=agent.id,
        version_id=version.id,
        scopes=("voice", "chat") if body.chat else ("voice",),
        parameters=parameters,
    )
    token, _ = mint(grant, state.token_secret, now=time.time(), ttl=state.settings.session_token_ttl)
    return JSONResponse({"token": token})


routes = [resource("/v1/session-token", POST=session_token)]
