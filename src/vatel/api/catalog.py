"""``GET /v1/llms`` and ``GET /v1/voices``: what the organization can choose from."""

from __future__ import annotations

from vatel.api.resource import Resource, one
from vatel.protocol import LLMStringsResponse, VoicesListResponse
from vatel.transport import ApiRequest


class LLMsAPI(Resource):
    def list(self) -> LLMStringsResponse:
        return self._transport.send(self._list())

    async def list_async(self) -> LLMStringsResponse:
        return await self._transport.send_async(self._list())

    @staticmethod
    def _list() -> ApiRequest[LLMStringsResponse]:
        return ApiRequest("GET", "/v1/llms", one(LLMStringsResponse))


class VoicesAPI(Resource):
    def list(self) -> VoicesListResponse:
        return self._transport.send(self._list())

    async def list_async(self) -> VoicesListResponse:
        return await self._transport.send_async(self._list())

    @staticmethod
    def _list() -> ApiRequest[VoicesListResponse]:
        return ApiRequest("GET", "/v1/voices", one(VoicesListResponse))
