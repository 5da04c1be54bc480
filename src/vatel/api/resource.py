"""What every REST resource shares: the transport it sends through and the answer readers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

from vatel.protocol import InputModel
from vatel.transport import HttpTransport

M = TypeVar("M", bound=BaseModel)
I = TypeVar("I", bound=InputModel)  # noqa: E741


class Resource:
    """A group of REST methods; each builds an ``ApiRequest`` once and sends it sync or async."""

    def __init__(self, transport: HttpTransport) -> None:
        self._transport = transport


def one(model: type[M]) -> Callable[[Any], M]:
    """Read the body as one ``model``."""
    return model.model_validate


def many(model: type[M]) -> Callable[[Any], list[M]]:
    """Read the body as a bare JSON array of ``model``."""

    def parse(body: Any) -> list[M]:
        if not isinstance(body, list):
            raise TypeError(f"expected a JSON array, got {type(body).__name__}")
        return [model.model_validate(item) for item in body]

    return parse


def nothing(_body: Any) -> None:
    """For 204 answers: there is no body to read."""


def body_of(model: type[I], body: I | Mapping[str, Any]) -> dict[str, Any]:
    """The JSON to send for an input model, or a dict checked against that model first."""
    if isinstance(body, Mapping):
        body = model.model_validate(body)
    if not isinstance(body, model):
        raise TypeError(f"expected {model.__name__} or a dict, got {type(body).__name__}")
    return body.to_wire()
