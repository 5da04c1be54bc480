"""REST resources, one module per area of the API; each method has a sync and an ``*_async`` twin."""

from vatel.api.agents import AgentsAPI
from vatel.api.calls import CallFilters, CallsAPI
from vatel.api.catalog import LLMsAPI, VoicesAPI
from vatel.api.organization import OrganizationAPI
from vatel.api.session import SessionAPI
from vatel.api.telephony import SipTrunksAPI, TwilioNumbersAPI

__all__ = [
    "AgentsAPI",
    "CallFilters",
    "CallsAPI",
    "LLMsAPI",
    "OrganizationAPI",
    "SessionAPI",
    "SipTrunksAPI",
    "TwilioNumbersAPI",
    "VoicesAPI",
]
