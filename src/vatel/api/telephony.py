"""``/v1/twilio/numbers`` and ``/v1/sip-trunks``: phone numbers, SIP trunks and their agents."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

from vatel.api.resource import Resource, body_of, many, nothing, one
from vatel.protocol import (
    SipTrunk,
    SipTrunkAgentAssignment,
    SipTrunkAgentAssignmentCreateInput,
    SipTrunkAgentAssignmentPatchInput,
    SipTrunkCreateInput,
    SipTrunkUpdateInput,
    TwilioPhoneNumber,
    TwilioPhoneNumberImportInput,
    TwilioPhoneNumberLabelPatchInput,
)
from vatel.transport import ApiRequest, path_segment


class TwilioNumbersAPI(Resource):
    def list(self) -> builtins.list[TwilioPhoneNumber]:
        return self._transport.send(self._list())

    async def list_async(self) -> builtins.list[TwilioPhoneNumber]:
        return await self._transport.send_async(self._list())

    def import_number(self, body: TwilioPhoneNumberImportInput | Mapping[str, Any]) -> TwilioPhoneNumber:
        return self._transport.send(self._import(body))

    async def import_number_async(
        self, body: TwilioPhoneNumberImportInput | Mapping[str, Any]
    ) -> TwilioPhoneNumber:
        return await self._transport.send_async(self._import(body))

    def update_label(
        self, number_id: str, body: TwilioPhoneNumberLabelPatchInput | Mapping[str, Any]
    ) -> TwilioPhoneNumber:
        return self._transport.send(self._update_label(number_id, body))

    async def update_label_async(
        self, number_id: str, body: TwilioPhoneNumberLabelPatchInput | Mapping[str, Any]
    ) -> TwilioPhoneNumber:
        return await self._transport.send_async(self._update_label(number_id, body))

    @staticmethod
    def _list() -> ApiRequest[builtins.list[TwilioPhoneNumber]]:
        return ApiRequest("GET", "/v1/twilio/numbers", many(TwilioPhoneNumber))

    @staticmethod
    def _import(body: TwilioPhoneNumberImportInput | Mapping[str, Any]) -> ApiRequest[TwilioPhoneNumber]:
        return ApiRequest(
            "POST",
            "/v1/twilio/numbers",
            one(TwilioPhoneNumber),
            json=body_of(TwilioPhoneNumberImportInput, body),
        )

    @staticmethod
    def _update_label(
        number_id: str, body: TwilioPhoneNumberLabelPatchInput | Mapping[str, Any]
    ) -> ApiRequest[TwilioPhoneNumber]:
        return ApiRequest(
            "PATCH",
            f"/v1/twilio/numbers/{path_segment(number_id, 'number_id')}",
            one(TwilioPhoneNumber),
            json=body_of(TwilioPhoneNumberLabelPatchInput, body),
        )


class SipTrunksAPI(Resource):
    def list(self) -> builtins.list[SipTrunk]:
        return self._transport.send(self._list())

    async def list_async(self) -> builtins.list[SipTrunk]:
        return await self._transport.send_async(self._list())

    def create(self, body: SipTrunkCreateInput | Mapping[str, Any]) -> SipTrunk:
        return self._transport.send(self._create(body))

    async def create_async(self, body: SipTrunkCreateInput | Mapping[str, Any]) -> SipTrunk:
        return await self._transport.send_async(self._create(body))

    def get(self, trunk_id: str) -> SipTrunk:
        return self._transport.send(self._get(trunk_id))

    async def get_async(self, trunk_id: str) -> SipTrunk:
        return await self._transport.send_async(self._get(trunk_id))

    def update(self, trunk_id: str, body: SipTrunkUpdateInput | Mapping[str, Any]) -> SipTrunk:
        return self._transport.send(self._update(trunk_id, body))

    async def update_async(self, trunk_id: str, body: SipTrunkUpdateInput | Mapping[str, Any]) -> SipTrunk:
        return await self._transport.send_async(self._update(trunk_id, body))

    def delete(self, trunk_id: str) -> None:
        self._transport.send(self._delete(trunk_id))

    async def delete_async(self, trunk_id: str) -> None:
        await self._transport.send_async(self._delete(trunk_id))

    def list_assignments(self, trunk_id: str) -> builtins.list[SipTrunkAgentAssignment]:
        return self._transport.send(self._list_assignments(trunk_id))

    async def list_assignments_async(self, trunk_id: str) -> builtins.list[SipTrunkAgentAssignment]:
        return await self._transport.send_async(self._list_assignments(trunk_id))

    def create_assignment(
        self, trunk_id: str, body: SipTrunkAgentAssignmentCreateInput | Mapping[str, Any]
    ) -> SipTrunkAgentAssignment:
        return self._transport.send(self._create_assignment(trunk_id, body))

    async def create_assignment_async(
        self, trunk_id: str, body: SipTrunkAgentAssignmentCreateInput | Mapping[str, Any]
    ) -> SipTrunkAgentAssignment:
        return await self._transport.send_async(self._create_assignment(trunk_id, body))

    def get_assignment(self, assignment_id: str) -> SipTrunkAgentAssignment:
        return self._transport.send(self._get_assignment(assignment_id))

    async def get_assignment_async(self, assignment_id: str) -> SipTrunkAgentAssignment:
        return await self._transport.send_async(self._get_assignment(assignment_id))

    def update_assignment(
        self, assignment_id: str, body: SipTrunkAgentAssignmentPatchInput | Mapping[str, Any]
    ) -> SipTrunkAgentAssignment:
        return self._transport.send(self._update_assignment(assignment_id, body))

    async def update_assignment_async(
        self, assignment_id: str, body: SipTrunkAgentAssignmentPatchInput | Mapping[str, Any]
    ) -> SipTrunkAgentAssignment:
        return await self._transport.send_async(self._update_assignment(assignment_id, body))

    def delete_assignment(self, assignment_id: str) -> None:
        self._transport.send(self._delete_assignment(assignment_id))

    async def delete_assignment_async(self, assignment_id: str) -> None:
        await self._transport.send_async(self._delete_assignment(assignment_id))

    # --- request builders ----------------------------------------------------------------------

    @staticmethod
    def _trunk_path(trunk_id: str) -> str:
        return f"/v1/sip-trunks/{path_segment(trunk_id, 'trunk_id')}"

    @staticmethod
    def _assignment_path(assignment_id: str) -> str:
        return f"/v1/sip-trunks/assignments/{path_segment(assignment_id, 'assignment_id')}"

    @staticmethod
    def _list() -> ApiRequest[builtins.list[SipTrunk]]:
        return ApiRequest("GET", "/v1/sip-trunks", many(SipTrunk))

    @staticmethod
    def _create(body: SipTrunkCreateInput | Mapping[str, Any]) -> ApiRequest[SipTrunk]:
        return ApiRequest("POST", "/v1/sip-trunks", one(SipTrunk), json=body_of(SipTrunkCreateInput, body))

    @classmethod
    def _get(cls, trunk_id: str) -> ApiRequest[SipTrunk]:
        return ApiRequest("GET", cls._trunk_path(trunk_id), one(SipTrunk))

    @classmethod
    def _update(cls, trunk_id: str, body: SipTrunkUpdateInput | Mapping[str, Any]) -> ApiRequest[SipTrunk]:
        return ApiRequest(
            "PATCH", cls._trunk_path(trunk_id), one(SipTrunk), json=body_of(SipTrunkUpdateInput, body)
        )

    @classmethod
    def _delete(cls, trunk_id: str) -> ApiRequest[None]:
        return ApiRequest("DELETE", cls._trunk_path(trunk_id), nothing)

    @classmethod
    def _list_assignments(cls, trunk_id: str) -> ApiRequest[builtins.list[SipTrunkAgentAssignment]]:
        return ApiRequest("GET", cls._trunk_path(trunk_id) + "/assignments", many(SipTrunkAgentAssignment))

    @classmethod
    def _create_assignment(
        cls, trunk_id: str, body: SipTrunkAgentAssignmentCreateInput | Mapping[str, Any]
    ) -> ApiRequest[SipTrunkAgentAssignment]:
        return ApiRequest(
            "POST",
            cls._trunk_path(trunk_id) + "/assignments",
            one(SipTrunkAgentAssignment),
            json=body_of(SipTrunkAgentAssignmentCreateInput, body),
        )

    @classmethod
    def _get_assignment(cls, assignment_id: str) -> ApiRequest[SipTrunkAgentAssignment]:
        return ApiRequest("GET", cls._assignment_path(assignment_id), one(SipTrunkAgentAssignment))

    @classmethod
    def _update_assignment(
        cls, assignment_id: str, body: SipTrunkAgentAssignmentPatchInput | Mapping[str, Any]
    ) -> ApiRequest[SipTrunkAgentAssignment]:
        return ApiRequest(
            "PATCH",
            cls._assignment_path(assignment_id),
            one(SipTrunkAgentAssignment),
            json=body_of(SipTrunkAgentAssignmentPatchInput, body),
        )

    @classmethod
    def _delete_assignment(cls, assignment_id: str) -> ApiRequest[None]:
        return ApiRequest("DELETE", cls._assignment_path(assignment_id), nothing)
