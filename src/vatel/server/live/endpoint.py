"""``GET /v1/connection?token=``: the session WebSocket (protocol.md §3, §7).

The token is checked before the upgrade, so a refused client gets an HTTP status and a JSON
``{error}``: 400 when the token is missing or not a JWT (or ``agentId``/``versionId`` disagree with
it), 401 when it is forged, expired or already used (the jti is consumed here, in the database, so
a token replayed against another replica is refused too), 404 when its agent is gone.

The endpoint is a raw ASGI app: Starlette's ``WebSocket`` checks the token and accepts, and then
the call's frames go straight between the server and the call (:class:`CallSocket`).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from vatel.server.api.problems import problem
from vatel.server.api.routing import ServerState
from vatel.server.auth.session_tokens import SessionGrant, TokenError, verify
from vatel.server.engines.brain import AgentSetup
from vatel.server.engines.placeholders import fill_variables
from vatel.server.live.core import CallConfig
from vatel.server.live.recording import StereoRecorder
from vatel.server.live.services import LiveServices
from vatel.server.live.session import CallSession
from vatel.server.live.socket import DIRECT_FRAMES, CallSocket
from vatel.server.store import agents as agent_store
from vatel.server.store import calls as call_store
from vatel.server.store.agents import AgentRow, VersionRow
from vatel.server.store.errors import NotFound
from vatel.server.store.recordings import move_recording
from vatel.server.store.schema import used_session_tokens
from vatel.server.store.timestamps import epoch_to_text, now_text

logger = logging.getLogger("vatel.server.live")

JWT_SHAPE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")


class Refusal(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def _grant(websocket: WebSocket, state: ServerState) -> SessionGrant:
    token = websocket.query_params.get("token")
    if not token:
        raise Refusal(400, "the token query parameter is required (from POST /v1/session-token)")
    if len(token) > 8192 or not JWT_SHAPE.match(token):
        raise Refusal(400, "token is not a session token (malformed JWT)")
    try:
        grant = verify(token, state.token_secret, now=time.time())
    except TokenError as exc:
        raise Refusal(401, "session token expired" if exc.expired else "session token is not valid") from None
    for name, claimed in (("agentId", grant.agent_id), ("versionId", grant.version_id)):
        given = websocket.query_params.get(name)
        if given and given != claimed:
            raise Refusal(400, f"{name} does not match the session token")
    return grant


async def _admit(state: ServerState, grant: SessionGrant) -> tuple[AgentRow, VersionRow, str]:
    """In one transaction: the agent and version still exist, the token's jti is consumed, and the
    call row is created; a refused token leaves nothing behind, and no call is lost."""
    call_id = str(uuid.uuid4())
    try:
        async with state.engine.begin() as conn:
            agent = await agent_store.get_agent(conn, grant.organization_id, grant.agent_id)
            version = await agent_store.get_version(conn, agent, grant.version_id)
            await conn.execute(
                insert(used_session_tokens).values(jti=grant.jti, expires_at=epoch_to_text(grant.expires_at))
            )
            now = now_text()
            await call_store.insert_call(
                conn,
                id=call_id,
                organization_id=grant.organization_id,
                agent_id=agent.id,
                graph_version_id=version.id,
                party_number="",
                status="connected",
                source="api",
                outbound=False,
                created_at=now,
                connected_at=now,
                recording_path=recording_path(call_id),
            )
    except IntegrityError:
        raise Refusal(401, "session token already used: get a new one for each connection") from None
    return agent, version, call_id


async def share_recording(state: ServerState, call_id: str) -> None:
    """Copy the call's WAV into the shared database and remove the local file (a failure is
    logged and leaves the file, still served by this replica)."""
    try:
        await move_recording(state.engine, call_id, state.settings.data_dir / recording_path(call_id))
    except Exception:
        logger.exception("could not copy the recording of call %s to the database", call_id)


def recording_path(call_id: str) -> str:
    """Where a call's WAV lives, relative to the data dir (as stored on the call)."""
    return f"recordings/{call_id}.wav"


def call_config(
    call_id: str, config: dict[str, Any], first_message: str, *, turn_model: bool = False
) -> CallConfig:
    vad = config.get("vad_settings") or {}
    timeouts = config.get("timeout_settings") or {}
    return CallConfig(
        session_id=call_id,
        first_message=first_message,
        first_message_interruption_time=float(config.get("first_message_interruption_time") or 0.0),
        start_secs=float(vad.get("start_secs", 0.2)),
        stop_secs=float(vad.get("stop_secs", 0.2)),
        turn_model=turn_model,
        silence_timeout_secs=float(vad.get("silence_timeout_secs", 10.0)),
        silence_counter=int(timeouts.get("silence_counter", 3)),
        max_duration=float(timeouts.get("default_timeout") or 1800.0),
    )


class SessionEndpoint:
    """The ASGI app of ``/v1/connection``. (A class, because Starlette routes a plain function as a
    ``func(websocket)`` endpoint, and an instance as an ASGI app.)"""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await connection(scope, receive, send)


async def connection(scope: Scope, receive: Receive, send: Send) -> None:
    websocket = WebSocket(scope, receive, send)
    state: ServerState = websocket.app.state.vatel
    live: LiveServices | None = websocket.app.state.live
    try:
        if live is None:
            raise Refusal(503, "live sessions are disabled on this server (started without speech engines)")
        grant = await _grant(websocket, state)
        agent, version, call_id = await _admit(state, grant)
    except NotFound as exc:
        await websocket.send_denial_response(problem(404, str(exc)))
        return
    except Refusal as exc:
        await websocket.send_denial_response(problem(exc.status, exc.message))
        return

    parameters = grant.parameters
    config = agent.config
    variables = {str(k): str(v) for k, v in (parameters.get("variables") or {}).items()}
    first_message = str(parameters.get("first_message", config.get("first_message", "")))
    setup = AgentSetup(
        prompt=str(parameters.get("prompt", config.get("prompt", ""))),
        first_message=fill_variables(first_message, variables, keep_unknown=False),
        variables=variables,
        nodes=tuple(node for node in version.nodes if isinstance(node, dict)),
        language=str(config.get("default_language", "en")),
    )
    await websocket.accept()

    async def store_entry(entry: dict[str, Any]) -> None:
        async with state.engine.begin() as conn:
            await call_store.add_transcript_entry(conn, call_id, entry)

    voice = (config.get("voice_settings") or {}).get("id")
    socket = CallSocket(receive, send, scope.get("extensions", {}).get(DIRECT_FRAMES))
    session = CallSession(
        socket,
        live,
        config=call_config(call_id, config, setup.first_message, turn_model=live.engines.turn is not None),
        agent=setup,
        llm=str(config.get("llm", "")),
        fallback_llm=str(config.get("fallback_llm") or ""),
        voice=voice,
        recorder=StereoRecorder(state.settings.data_dir / recording_path(call_id)),
        on_record=store_entry,
    )
    async with state.engine.begin() as conn:
        await call_store.update_call(conn, call_id, status="in_progress", started_at=now_text())
    outcome = await session.run()
    async with state.engine.begin() as conn:
        await call_store.update_call(
            conn,
            call_id,
            status="ended",
            ended_at=now_text(),
            termination_reason=outcome.reason,
            outcome=outcome.outcome,
        )
    await socket.close(outcome.close_code)
    if state.settings.database_url:  # replicas share the database: any of them can serve the WAV
        await share_recording(state, call_id)
    logger.info("call %s ended: %s (%s)", call_id, outcome.reason, outcome.counts)
