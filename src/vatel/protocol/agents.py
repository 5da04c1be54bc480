"""Agents and their versions (protocol.md §4.1 "Agent", "GraphVersion").

Ids and timestamps stay strings, as in the official SDK, so code that compares or prints them
keeps working; enums are typed (``Lenient`` on what the server sends).
"""

from __future__ import annotations

from pydantic import ConfigDict, Field

from vatel.protocol.base import InputModel, Lenient, ResponseModel
from vatel.protocol.enums import AgentStatus, TimeoutAction, TTSStrategy


class VoiceSettings(ResponseModel):
    """Voice and TTS provider. On create/update send ``id`` and ``provider``."""

    id: str | None = None
    provider: Lenient[TTSStrategy] | None = None
    speed: float | None = None
    stability: float | None = None
    similarity_boost: float | None = None
    volume: float | None = None


class VadSettings(ResponseModel):
    """Turn-taking timing. A PATCH merges it per field."""

    start_secs: float | None = None
    stop_secs: float | None = None
    silence_timeout_secs: float | None = None


class NoiseCancelSettings(ResponseModel):
    enabled: bool | None = None
    level: float | None = None


class TimeoutSettings(ResponseModel):
    default_timeout: float | None = None
    timeout_action: Lenient[TimeoutAction] | None = None
    transfer_number: str | None = None
    transfer_message: str | None = None
    silence_counter: int | None = None
    silence_timeout_action: Lenient[TimeoutAction] | None = None
    silence_transfer_number: str | None = None


class Agent(ResponseModel):
    id: str | None = None
    phone_number_id: str | None = None
    name: str | None = None
    llm: str | None = None
    fallback_llm: str | None = None
    status: Lenient[AgentStatus] | None = None
    prompt: str | None = None
    first_message: str | None = None
    first_message_interruption_time: float | None = None
    default_language: str | None = None
    summarize_calls: bool | None = None
    created_at: str | None = None
    updated_at: str | None = None
    noise_cancel_settings: NoiseCancelSettings | None = None
    vad_settings: VadSettings | None = None
    enable_first_message_outbound: bool | None = None
    voice_settings: VoiceSettings | None = None
    timeout_settings: TimeoutSettings | None = None
    keyterms: list[str] | None = None


class _AgentFields(InputModel):
    """The writable agent fields, shared by create and update."""

    phone_number_id: str | None = None
    llm: str | None = None
    fallback_llm: str | None = None
    status: AgentStatus | None = None
    prompt: str | None = None
    first_message: str | None = None
    first_message_interruption_time: float | None = None
    default_language: str | None = None
    summarize_calls: bool | None = None
    noise_cancel_settings: NoiseCancelSettings | None = None
    vad_settings: VadSettings | None = None
    enable_first_message_outbound: bool | None = None
    timeout_settings: TimeoutSettings | None = None
    keyterms: list[str] | None = None
    voice_settings: VoiceSettings | None = None


class AgentCreateInput(_AgentFields):
    """``POST /v1/agents``. Only ``name`` is required; the server fills the rest."""

    name: str


class AgentUpdateInput(_AgentFields):
    """``PATCH /v1/agents/{id}``: send only what changes. ``phone_number_id=None`` clears it."""

    name: str | None = None


class GraphVersion(ResponseModel):
    """An agent version. ``published_at`` is null until it is published."""

    id: str | None = None
    agent_id: str | None = None
    created_at: str | None = None
    published_at: str | None = None
    tag: str | None = None


class GraphNode(ResponseModel):
    """One free-form node of a version (``additionalProperties: true``)."""

    model_config = ConfigDict(extra="allow")


class GraphVersionDetail(ResponseModel):
    version: GraphVersion
    nodes: list[GraphNode] = Field(default_factory=list)


class DialAgentResponse(ResponseModel):
    success: bool
