"""Twilio numbers, SIP trunks and trunk-to-agent assignments (protocol.md §4.1 "Telephony").

``register`` is a class attribute of every pydantic model (from ``abc.ABCMeta``), so the field is
``register_trunk`` in Python and ``register`` on the wire, as in the official SDK.
Passwords exist only on the inputs: the server never returns them.
"""

from __future__ import annotations

from pydantic import Field

from vatel.protocol.base import InputModel, Lenient, ResponseModel
from vatel.protocol.enums import CallerTransformType, PbxType, RegistrationStatus, SIPTrunkAuthType


class TwilioPhoneNumber(ResponseModel):
    id: str | None = None
    phone_number: str | None = None
    phone_sid: str | None = None
    label: str | None = None
    account_sid: str | None = None
    created_at: str | None = None
    updated_at: str | None = None


class TwilioPhoneNumberImportInput(InputModel):
    phone_number: str
    account_sid: str
    auth_token: str
    label: str | None = None


class TwilioPhoneNumberLabelPatchInput(InputModel):
    label: str


class SipTrunkCallerIDTransform(ResponseModel):
    type: Lenient[CallerTransformType]
    value: str | None = None
    value2: str | None = None
    number: int | None = None


class SipTrunk(ResponseModel):
    id: str | None = None
    created_at: str | None = None
    pbx: Lenient[PbxType] | None = None
    caller_id_transforms: list[SipTrunkCallerIDTransform] | None = None
    inbound_host: str | None = None
    inbound_auth_type: Lenient[SIPTrunkAuthType] | None = None
    inbound_sip_username: str | None = None
    inbound_registration_status: Lenient[RegistrationStatus] | None = None
    outbound_host: str | None = None
    outbound_sip_username: str | None = None
    register_trunk: bool | None = Field(default=None, alias="register")
    outbound_registration_status: Lenient[RegistrationStatus] | None = None
    remain_in_dialog: bool | None = None


class _SipTrunkFields(InputModel):
    caller_id_transforms: list[SipTrunkCallerIDTransform] | None = None
    inbound_host: str | None = None
    inbound_auth_type: SIPTrunkAuthType | None = None
    inbound_sip_username: str | None = None
    inbound_sip_password: str | None = None
    outbound_host: str | None = None
    outbound_sip_username: str | None = None
    outbound_sip_password: str | None = None
    register_trunk: bool | None = Field(default=None, alias="register")
    remain_in_dialog: bool | None = None


class SipTrunkCreateInput(_SipTrunkFields):
    pbx: PbxType


class SipTrunkUpdateInput(_SipTrunkFields):
    """Send only what changes; ``caller_id_transforms=[]`` clears the list."""

    pbx: PbxType | None = None


class SipTrunkAgentAssignment(ResponseModel):
    id: str | None = None
    agent_id: str | None = None
    sip_trunk_id: str | None = None
    number: str | None = None
    alternate_number: str | None = None
    created_at: str | None = None


class SipTrunkAgentAssignmentCreateInput(InputModel):
    agent_id: str
    number: str | None = None
    alternate_number: str | None = None


class SipTrunkAgentAssignmentPatchInput(InputModel):
    """Only the keys given are changed; an explicit ``None`` clears that number."""

    number: str | None = None
    alternate_number: str | None = None
