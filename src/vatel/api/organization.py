"""``GET /v1/organization``."""

from __future__ import annotations

from vatel.api.resource import Resource, one
from vatel.protocol import Organization
from vatel.transport import ApiRequest


class OrganizationAPI(Resource):
    def get(self) -> Organization:
        return self._transport.send(self._get())

    async def get_async(self) -> Organization:
        return await self._transport.send_async(self._get())

    @staticmethod
    def _get() -> ApiRequest[Organization]:
        return ApiRequest("GET", "/v1/organization", one(Organization))
