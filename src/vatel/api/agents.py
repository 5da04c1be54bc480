"""``/v1/agents``: agents, their versions, publishing and outbound dialling."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

from vatel.api.resource import Resource, body_of, many, nothing, one
from vatel.protocol import (
    Agent,
    AgentCreateInput,
    AgentUpdateInput,
    DialAgentResponse,
    GraphVersion,
    GraphVersionDetail,
)
from vatel.transport import ApiRequest, path_segment


class AgentsAPI(Resource):
    def list(self) -> builtins.list[Agent]:
        return self._transport.send(self._list())

    async def list_async(self) -> builtins.list[Agent]:
        return await self._transport.send_async(self._list())

    def create(self, body: AgentCreateInput | Mapping[str, Any]) -> Agent:
        return self._transport.send(self._create(body))

    async def create_async(self, body: AgentCreateInput | Mapping[str, Any]) -> Agent:
        return await self._transport.send_async(self._create(body))

    def get(self, agent_id: str) -> Agent:
        return self._transport.send(self._get(agent_id))

    async def get_async(self, agent_id: str) -> Agent:
        return await self._transport.send_async(self._get(agent_id))

    def update(self, agent_id: str, body: AgentUpdateInput | Mapping[str, Any]) -> Agent:
        return self._transport.send(self._update(agent_id, body))

    async def update_async(self, agent_id: str, body: AgentUpdateInput | Mapping[str, Any]) -> Agent:
        return await self._transport.send_async(self._update(agent_id, body))

    def delete(self, agent_id: str) -> None:
        self._transport.send(self._delete(agent_id))

    async def delete_async(self, agent_id: str) -> None:
        await self._transport.send_async(self._delete(agent_id))

    def list_versions(self, agent_id: str) -> builtins.list[GraphVersion]:
        return self._transport.send(self._list_versions(agent_id))

    async def list_versions_async(self, agent_id: str) -> builtins.list[GraphVersion]:
        return await self._transport.send_async(self._list_versions(agent_id))

    def get_version(self, agent_id: str, version_id: str) -> GraphVersionDetail:
        return self._transport.send(self._get_version(agent_id, version_id))

    async def get_version_async(self, agent_id: str, version_id: str) -> GraphVersionDetail:
        return await self._transport.send_async(self._get_version(agent_id, version_id))

    def publish_version(self, agent_id: str, version_id: str) -> GraphVersion:
        return self._transport.send(self._publish_version(agent_id, version_id))

    async def publish_version_async(self, agent_id: str, version_id: str) -> GraphVersion:
        return await self._transport.send_async(self._publish_version(agent_id, version_id))

    def dial(
        self,
        agent_id: str,
        number: str | None = None,
        *,
        destination: str | None = None,
        sip_trunk_id: str | None = None,
        caller_id: str | None = None,
        first_message: str | None = None,
        prompt: str | None = None,
    ) -> DialAgentResponse:
        return self._transport.send(
            self._dial(agent_id, number, destination, sip_trunk_id, caller_id, first_message, prompt)
        )

    async def dial_async(
        self,
        agent_id: str,
        number: str | None = None,
        *,
        destination: str | None = None,
        sip_trunk_id: str | None = None,
        caller_id: str | None = None,
        first_message: str | None = None,
        prompt: str | None = None,
    ) -> DialAgentResponse:
        return await self._transport.send_async(
            self._dial(agent_id, number, destination, sip_trunk_id, caller_id, first_message, prompt)
        )

    # --- request builders ----------------------------------------------------------------------

    @staticmethod
    def _list() -> ApiRequest[builtins.list[Agent]]:
        return ApiRequest("GET", "/v1/agents", many(Agent))

    @staticmethod
    def _create(body: AgentCreateInput | Mapping[str, Any]) -> ApiRequest[Agent]:
        return ApiRequest("POST", "/v1/agents", one(Agent), json=body_of(AgentCreateInput, body))

    @staticmethod
    def _get(agent_id: str) -> ApiRequest[Agent]:
        return ApiRequest("GET", f"/v1/agents/{path_segment(agent_id, 'agent_id')}", one(Agent))

    @staticmethod
    def _update(agent_id: str, body: AgentUpdateInput | Mapping[str, Any]) -> ApiRequest[Agent]:
        return ApiRequest(
            "PATCH",
            f"/v1/agents/{path_segment(agent_id, 'agent_id')}",
            one(Agent),
            json=body_of(AgentUpdateInput, body),
        )

    @staticmethod
    def _delete(agent_id: str) -> ApiRequest[None]:
        return ApiRequest("DELETE", f"/v1/agents/{path_segment(agent_id, 'agent_id')}", nothing)

    @staticmethod
    def _list_versions(agent_id: str) -> ApiRequest[builtins.list[GraphVersion]]:
        return ApiRequest(
            "GET", f"/v1/agents/{path_segment(agent_id, 'agent_id')}/versions", many(GraphVersion)
        )

    @staticmethod
    def _version_path(agent_id: str, version_id: str) -> str:
        return (
            f"/v1/agents/{path_segment(agent_id, 'agent_id')}"
            f"/versions/{path_segment(version_id, 'version_id')}"
        )

    @classmethod
    def _get_version(cls, agent_id: str, version_id: str) -> ApiRequest[GraphVersionDetail]:
        return ApiRequest("GET", cls._version_path(agent_id, version_id), one(GraphVersionDetail))

    @classmethod
    def _publish_version(cls, agent_id: str, version_id: str) -> ApiRequest[GraphVersion]:
        return ApiRequest("POST", cls._version_path(agent_id, version_id) + "/publish", one(GraphVersion))

    @staticmethod
    def _dial(
        agent_id: str,
        number: str | None,
        destination: str | None,
        sip_trunk_id: str | None,
        caller_id: str | None,
        first_message: str | None,
        prompt: str | None,
    ) -> ApiRequest[DialAgentResponse]:
        # Dial takes only query parameters (protocol.md §4), in camelCase.
        given = {
            "number": number,
            "destination": destination,
            "sipTrunkId": sip_trunk_id,
            "callerId": caller_id,
            "firstMessage": first_message,
            "prompt": prompt,
        }
        params = {key: value for key, value in given.items() if value is not None}
        return ApiRequest(
            "POST",
            f"/v1/agents/{path_segment(agent_id, 'agent_id')}/dial",
            one(DialAgentResponse),
            params=params,
        )
