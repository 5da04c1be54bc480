"""``POST /v1/session-token``: a short-lived JWT that opens one session WebSocket."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from vatel.api.resource import Resource, one
from vatel.protocol import GenerateSessionTokenRequest, SessionTokenResponse, SessionVariable, Transport
from vatel.transport import ApiRequest

Variables = Mapping[str, str] | Sequence[SessionVariable | Mapping[str, str]]


class SessionAPI(Resource):
    def generate_token(
        self,
        agent_id: str,
        *,
        version_id: str | None = None,
        chat_id: str | None = None,
        transport: Transport | str | None = None,
        first_message: str | None = None,
        prompt: str | None = None,
        chat: bool | None = None,
        variables: Variables | None = None,
    ) -> SessionTokenResponse:
        return self._transport.send(
            self._token(agent_id, version_id, chat_id, transport, first_message, prompt, chat, variables)
        )

    async def generate_token_async(
        self,
        agent_id: str,
        *,
        version_id: str | None = None,
        chat_id: str | None = None,
        transport: Transport | str | None = None,
        first_message: str | None = None,
        prompt: str | None = None,
        chat: bool | None = None,
        variables: Variables | None = None,
    ) -> SessionTokenResponse:
        return await self._transport.send_async(
            self._token(agent_id, version_id, chat_id, transport, first_message, prompt, chat, variables)
        )

    @staticmethod
    def _token(
        agent_id: str,
        version_id: str | None,
        chat_id: str | None,
        transport: Transport | str | None,
        first_message: str | None,
        prompt: str | None,
        chat: bool | None,
        variables: Variables | None,
    ) -> ApiRequest[SessionTokenResponse]:
        if isinstance(variables, Mapping):
            variables = [{"key": key, "value": value} for key, value in variables.items()]
        given = {
            "agent_id": agent_id,
            "version_id": version_id,
            "chat_id": chat_id,
            "transport": transport,
            "first_message": first_message,
            "prompt": prompt,
            "chat": chat,
            "variables": variables,
        }
        # Only the fields that carry a value: the official SDK's explicit nulls are a known quirk.
        body = GenerateSessionTokenRequest.model_validate(
            {key: value for key, value in given.items() if value is not None}
        )
        return ApiRequest("POST", "/v1/session-token", one(SessionTokenResponse), json=body.to_wire())
