"""Shared pieces of every wire model: the model bases, the lenient-enum type and the error root.

Two directions, two attitudes (protocol.md §5, weaknesses 2 and 13):

* What *we receive* (REST responses, server messages) is read leniently: unknown fields are
  kept, unknown enum values stay plain strings, so a newer server never breaks an older SDK.
* What *we send* (REST inputs) is built strictly: unknown keys are refused at construction, so a
  typo is caught here and not answered by a 400 from the server.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field


class VatelError(Exception):
    """Root of every error this package raises on purpose (see `vatel.errors` for the tree)."""


E = TypeVar("E", bound=StrEnum)

#: An enum value as the server sent it: the enum member when known, else the raw string.
#: ``Lenient[AgentStatus]`` types as ``AgentStatus | str`` and tries the enum first.
Lenient = Annotated[E | str, Field(union_mode="left_to_right")]


class ResponseModel(BaseModel):
    """A body the server sends: tolerant of extra fields (kept in ``model_extra``)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    def to_wire(self) -> dict[str, Any]:
        """The JSON object for this body, with only the fields that are set and not null."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class InputModel(BaseModel):
    """A body the client sends: unknown keys are an error, and only fields set are sent."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def to_wire(self) -> dict[str, Any]:
        """The JSON object to send: fields given explicitly (``None`` kept where set, it clears)."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


class ErrorResponse(ResponseModel):
    """``{"error": "..."}``: the body of most non-2xx REST replies."""

    error: str
