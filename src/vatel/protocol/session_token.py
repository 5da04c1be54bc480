"""``POST /v1/session-token`` (protocol.md §2).

The official SDK sends every optional field as an explicit ``null``; we send only what was set.
``variables`` is in the newest docs but not in the OpenAPI document, whose request schema forbids
extra properties: it is sent only when given.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from vatel.protocol.base import InputModel, ResponseModel
from vatel.protocol.enums import Transport


class SessionVariable(BaseModel):
    """One ``{key, value}`` pair of custom data for the agent (docs only)."""

    model_config = ConfigDict(extra="forbid")

    key: str
    value: str


class GenerateSessionTokenRequest(InputModel):
    agent_id: str
    version_id: str | None = None
    chat_id: str | None = None
    transport: Transport | None = None
    first_message: str | None = None
    prompt: str | None = None
    chat: bool | None = None
    variables: list[SessionVariable] | None = None

    def to_wire(self) -> dict[str, object]:
        """Only fields that carry a value: no explicit nulls (a null is "absent" anyway)."""
        return self.model_dump(mode="json", exclude_none=True)


class SessionTokenResponse(ResponseModel):
    """``token`` is the session JWT; the rest comes only with ``transport="webrtc"``."""

    token: str
    room: str | None = None
    identity: str | None = None
    url: str | None = None
    webrtc_token: str | None = None
