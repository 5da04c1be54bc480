"""What an organization can use: itself, its language models and its voices (protocol.md §4.1)."""

from __future__ import annotations

from pydantic import Field

from vatel.protocol.base import Lenient, ResponseModel
from vatel.protocol.enums import TTSStrategy


class Organization(ResponseModel):
    id: str | None = None
    name: str | None = None
    created_at: str | None = None


class LLMStringsResponse(ResponseModel):
    """``GET /v1/llms``: model ids in ``provider/model`` form, sorted."""

    llms: list[str]


class VoiceCatalogEntry(ResponseModel):
    id: str
    name: str
    description: str | None = None
    provider: Lenient[TTSStrategy]
    languages: list[str] = Field(default_factory=list)
    preview_url: str | None = None
    featured: bool | None = None


class VoicesListResponse(ResponseModel):
    voices: list[VoiceCatalogEntry]
