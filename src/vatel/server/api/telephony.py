"""``/v1/twilio/numbers`` and ``/v1/sip-trunks``: stored and validated, never dialled from here.

Offline there is no Twilio to ask, so an imported number keeps what the client sent (its format
checked) and gets a local ``phone_sid``. Passwords and auth tokens are write-only.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from vatel.protocol import (
    CallerTransformType,
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
from vatel.server.api.problems import ApiProblem, JSONResponse
from vatel.server.api.request import check_uuid, parse_model, path_id, read_json
from vatel.server.api.routing import Caller, endpoint, resource
from vatel.server.store import agents as agent_store
from vatel.server.store import telephony as store

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
HOST = re.compile(r"^[A-Za-z0-9.\-]{1,253}(:\d{1,5})?$")
DIAL_STRING = re.compile(r"^[0-9+*#A-Za-z@.\-_]{1,64}$")
SECRET_FIELDS = ("inbound_sip_password", "outbound_sip_password")
HOST_FIELDS = ("inbound_host", "outbound_host")
TEXT_LIMIT = 200


def _wire(model: type[Any], body: dict[str, Any]) -> dict[str, Any]:
    wire: dict[str, Any] = model.model_validate(body).to_wire()
    return wire


# --- Twilio numbers --------------------------------------------------------------------------------


def _label(label: str | None) -> str:
    if label is not None and len(label) > TEXT_LIMIT:
        raise ApiProblem(400, f"label is too long: at most {TEXT_LIMIT} characters")
    return (label or "").strip()


@endpoint
async def list_numbers(request: Request, caller: Caller) -> Response:
    async with caller.state.engine.connect() as conn:
        numbers = await store.list_numbers(conn, caller.organization_id)
    return JSONResponse([_wire(TwilioPhoneNumber, n) for n in numbers])


@endpoint
async def import_number(request: Request, caller: Caller) -> Response:
    body = parse_model(
        TwilioPhoneNumberImportInput, await read_json(request, caller.state.settings.max_body_bytes)
    )
    if not E164.match(body.phone_number):
        raise ApiProblem(
            400, f"phone_number must be E.164 (+ and 7 to 15 digits), got {body.phone_number[:32]!r}"
        )
    if not ACCOUNT_SID.match(body.account_sid):
        raise ApiProblem(400, "account_sid must be AC followed by 32 hexadecimal characters")
    if not body.auth_token.strip() or len(body.auth_token) > 256:
        raise ApiProblem(400, "auth_token must be 1 to 256 characters")
    values = {
        "phone_number": body.phone_number,
        "account_sid": body.account_sid,
        "auth_token": body.auth_token,
        "label": _label(body.label) or body.phone_number,
        "phone_sid": "PN" + secrets.token_hex(16),
    }
    async with caller.state.engine.begin() as conn:
        number = await store.import_number(conn, caller.organization_id, values)
    return JSONResponse(_wire(TwilioPhoneNumber, number), status_code=201)


@endpoint
async def relabel_number(request: Request, caller: Caller) -> Response:
    number_id = path_id(request)
    body = parse_model(
        TwilioPhoneNumberLabelPatchInput, await read_json(request, caller.state.settings.max_body_bytes)
    )
    async with caller.state.engine.begin() as conn:
        number = await store.relabel_number(conn, caller.organization_id, number_id, _label(body.label))
    return JSONResponse(_wire(TwilioPhoneNumber, number))


# --- SIP trunks ------------------------------------------------------------------------------------


def _transforms(items: list[Any]) -> list[dict[str, Any]]:
    result = []
    for position, item in enumerate(items):
        data = {
            k: v
            for k, v in item.model_dump(mode="json").items()
            if v is not None and k in type(item).model_fields
        }
        kind = data["type"]
        if kind not in {member.value for member in CallerTransformType}:
            raise ApiProblem(400, f"caller_id_transforms[{position}].type {kind!r} is not a known transform")
        if kind in ("add_prefix", "add_suffix", "replace") and not data.get("value"):
            raise ApiProblem(400, f"caller_id_transforms[{position}]: {kind} needs a value")
        if kind.startswith("strip_digits") and not (
            isinstance(data.get("number"), int) and 0 <= data["number"] <= 32
        ):
            raise ApiProblem(
                400, f"caller_id_transforms[{position}]: {kind} needs a number of digits from 0 to 32"
            )
        result.append(data)
    return result


def _trunk_document(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Apply the set fields of a trunk input; an empty string or null clears a text field."""
    doc = dict(current)
    for key, value in changes.items():
        if key in SECRET_FIELDS:
            if value is not None and len(value) > 256:
                raise ApiProblem(400, f"{key} is too long: at most 256 characters")
            continue
        if key == "pbx" and value is None:
            continue  # pbx is required: null leaves it unchanged
        if key == "caller_id_transforms":
            doc[key] = _transforms(value or [])
        elif value is None or value == "":
            doc.pop(key, None)
        else:
            doc[key] = value.value if hasattr(value, "value") else value
    for key in HOST_FIELDS:
        host = doc.get(key)
        if host is not None and not HOST.match(host):
            raise ApiProblem(400, f"{key} must be a host name or address with an optional :port")
    for key in ("inbound_sip_username", "outbound_sip_username"):
        if doc.get(key) is not None and len(doc[key]) > TEXT_LIMIT:
            raise ApiProblem(400, f"{key} is too long: at most {TEXT_LIMIT} characters")
    return doc


def _check_auth(doc: dict[str, Any], has_inbound_password: bool) -> None:
    auth = doc.get("inbound_auth_type")
    if auth == "digest" and not (doc.get("inbound_sip_username") and has_inbound_password):
        raise ApiProblem(400, "inbound_auth_type digest needs inbound_sip_username and inbound_sip_password")
    if auth == "acl" and not doc.get("inbound_host"):
        raise ApiProblem(400, "inbound_auth_type acl needs inbound_host (the address the ACL allows)")
    if doc.get("register") and not doc.get("outbound_host"):
        raise ApiProblem(400, "register needs outbound_host")


def _split(doc: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    config = {k: v for k, v in doc.items() if k != "inbound_sip_username"}
    config.setdefault("inbound_registration_status", "not_registered")
    config.setdefault("outbound_registration_status", "not_registered")
    config.setdefault("caller_id_transforms", [])
    return config, doc.get("inbound_sip_username")


def _set_fields(model: Any) -> dict[str, Any]:
    fields = {}
    for name in model.model_fields_set:
        wire_name = type(model).model_fields[name].alias or name
        fields[wire_name] = getattr(model, name)
    return fields


def _trunk_body(trunk: dict[str, Any]) -> dict[str, Any]:
    return _wire(SipTrunk, {k: v for k, v in trunk.items() if v is not None})


@endpoint
async def list_trunks(request: Request, caller: Caller) -> Response:
    async with caller.state.engine.connect() as conn:
        trunks = await store.list_trunks(conn, caller.organization_id)
    return JSONResponse([_trunk_body(t) for t in trunks])


@endpoint
async def create_trunk(request: Request, caller: Caller) -> Response:
    body = parse_model(SipTrunkCreateInput, await read_json(request, caller.state.settings.max_body_bytes))
    fields = _set_fields(body)
    doc = _trunk_document({}, fields)
    secrets_ = {key: fields.get(key) or None for key in SECRET_FIELDS}
    _check_auth(doc, bool(secrets_["inbound_sip_password"]))
    config, username = _split(doc)
    async with caller.state.engine.begin() as conn:
        trunk = await store.create_trunk(conn, caller.organization_id, config, username, secrets_)
    return JSONResponse(_trunk_body(trunk), status_code=201)


@endpoint
async def get_trunk(request: Request, caller: Caller) -> Response:
    trunk_id = path_id(request)
    async with caller.state.engine.connect() as conn:
        trunk = await store.get_trunk(conn, caller.organization_id, trunk_id)
    return JSONResponse(_trunk_body(trunk))


@endpoint
async def patch_trunk(request: Request, caller: Caller) -> Response:
    trunk_id = path_id(request)
    body = parse_model(SipTrunkUpdateInput, await read_json(request, caller.state.settings.max_body_bytes))
    fields = _set_fields(body)
    async with caller.state.engine.begin() as conn:
        row = await store.trunk_row(conn, caller.organization_id, trunk_id)
        current = {**row.config, "inbound_sip_username": row.inbound_sip_username}
        current = {k: v for k, v in current.items() if v is not None}
        doc = _trunk_document(current, fields)
        secrets_ = {
            key: (fields[key] or None) if key in fields else getattr(row, key) for key in SECRET_FIELDS
        }
        _check_auth(doc, bool(secrets_["inbound_sip_password"]))
        config, username = _split(doc)
        trunk = await store.update_trunk(conn, caller.organization_id, trunk_id, config, username, secrets_)
    return JSONResponse(_trunk_body(trunk))


@endpoint
async def delete_trunk(request: Request, caller: Caller) -> Response:
    trunk_id = path_id(request)
    async with caller.state.engine.begin() as conn:
        await store.delete_trunk(conn, caller.organization_id, trunk_id)
    return Response(status_code=204)


# --- assignments -----------------------------------------------------------------------------------


def _dial_string(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    if not DIAL_STRING.match(value):
        raise ApiProblem(400, f"{name} must be 1 to 64 dialable characters, got {value[:32]!r}")
    return value


@endpoint
async def list_assignments(request: Request, caller: Caller) -> Response:
    trunk_id = path_id(request)
    async with caller.state.engine.connect() as conn:
        items = await store.list_assignments(conn, caller.organization_id, trunk_id)
    return JSONResponse([_wire(SipTrunkAgentAssignment, item) for item in items])


@endpoint
async def create_assignment(request: Request, caller: Caller) -> Response:
    trunk_id = path_id(request)
    body = parse_model(
        SipTrunkAgentAssignmentCreateInput, await read_json(request, caller.state.settings.max_body_bytes)
    )
    agent_id = check_uuid(body.agent_id, "agent_id")
    values = {
        "agent_id": agent_id,
        "number": _dial_string("number", body.number),
        "alternate_number": _dial_string("alternate_number", body.alternate_number),
    }
    async with caller.state.engine.begin() as conn:
        trunk = await store.trunk_row(conn, caller.organization_id, trunk_id)
        await agent_store.get_agent(conn, caller.organization_id, agent_id)
        auth = trunk.config.get("inbound_auth_type")
        if auth == "digest" and not values["number"]:
            raise ApiProblem(400, "a digest trunk routes by number: send number")
        if auth == "acl" and not values["alternate_number"]:
            raise ApiProblem(400, "an ACL trunk routes by alternate_number: send alternate_number")
        item = await store.create_assignment(conn, caller.organization_id, trunk_id, values)
    return JSONResponse(_wire(SipTrunkAgentAssignment, item), status_code=201)


@endpoint
async def get_assignment(request: Request, caller: Caller) -> Response:
    assignment_id = path_id(request, "assignmentId")
    async with caller.state.engine.connect() as conn:
        item = await store.get_assignment(conn, caller.organization_id, assignment_id)
    return JSONResponse(_wire(SipTrunkAgentAssignment, item))


@endpoint
async def patch_assignment(request: Request, caller: Caller) -> Response:
    assignment_id = path_id(request, "assignmentId")
    body = parse_model(
        SipTrunkAgentAssignmentPatchInput, await read_json(request, caller.state.settings.max_body_bytes)
    )
    values = {name: _dial_string(name, getattr(body, name)) for name in body.model_fields_set}
    async with caller.state.engine.begin() as conn:
        item = await store.update_assignment(conn, caller.organization_id, assignment_id, values)
    return JSONResponse(_wire(SipTrunkAgentAssignment, item))


@endpoint
async def delete_assignment(request: Request, caller: Caller) -> Response:
    assignment_id = path_id(request, "assignmentId")
    async with caller.state.engine.begin() as conn:
        await store.delete_assignment(conn, caller.organization_id, assignment_id)
    return Response(status_code=204)


routes = [
    resource("/v1/twilio/numbers", GET=list_numbers, POST=import_number),
    resource("/v1/twilio/numbers/{id}", PATCH=relabel_number),
    resource("/v1/sip-trunks", GET=list_trunks, POST=create_trunk),
    resource(
        "/v1/sip-trunks/assignments/{assignmentId}",
        GET=get_assignment,
        PATCH=patch_assignment,
        DELETE=delete_assignment,
    ),
    resource("/v1/sip-trunks/{id}", GET=get_trunk, PATCH=patch_trunk, DELETE=delete_trunk),
    resource("/v1/sip-trunks/{id}/assignments", GET=list_assignments, POST=create_assignment),
]
