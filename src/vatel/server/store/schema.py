"""The tables. Migrations (``migrations/versions``) must build exactly this; a test compares them.

Agent and trunk settings are one JSON document each: the API reads and merges them whole and
never filters on them, and new settings need no migration. Calls keep real columns for every
``GET /v1/calls`` filter. Ids are UUID strings; times are fixed-width UTC text (``timestamps``).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(36)
TIME = String(32)

server_settings = Table(
    "server_settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

organizations = Table(
    "organizations",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", TIME, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", ID, primary_key=True),
    Column("organization_id", ID, ForeignKey("organizations.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_at", TIME, nullable=False),
    Column("revoked_at", TIME),
)

agents = Table(
    "agents",
    metadata,
    Column("id", ID, primary_key=True),
    Column("organization_id", ID, ForeignKey("organizations.id"), nullable=False, index=True),
    Column("config", JSON, nullable=False),
    Column("created_at", TIME, nullable=False),
    Column("updated_at", TIME, nullable=False),
    Column("deleted_at", TIME),
)

agent_versions = Table(
    "agent_versions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("agent_id", ID, ForeignKey("agents.id"), nullable=False, index=True),
    Column("tag", String(200), nullable=False),
    Column("nodes", JSON, nullable=False),
    Column("created_at", TIME, nullable=False),
    Column("published_at", TIME),
)

calls = Table(
    "calls",
    metadata,
    Column("id", ID, primary_key=True),
    Column("organization_id", ID, ForeignKey("organizations.id"), nullable=False),
    Column("agent_id", ID, nullable=False, index=True),
    Column("graph_version_id", ID),
    Column("party_number", String(64), nullable=False),
    Column("status", String(32), nullable=False),
    Column("source", String(32), nullable=False),
    Column("outbound", Boolean, nullable=False),
    Column("outcome", String(32)),
    Column("termination_reason", String(200)),
    Column("created_at", TIME, nullable=False),
    Column("connected_at", TIME),
    Column("started_at", TIME),
    Column("ended_at", TIME),
    Column("summary", Text),
    Column("cost", Float),
    Column("tags", JSON, nullable=False),
    Column("extracted_variables", JSON, nullable=False),
    Column("feedback", JSON),
    Column("recording_path", String(1024)),
    Index("ix_calls_organization_id_created_at", "organization_id", "created_at"),
)

transcript_entries = Table(
    "transcript_entries",
    metadata,
    Column("call_id", ID, ForeignKey("calls.id"), primary_key=True),
    Column("index", Integer, primary_key=True, autoincrement=False),
    Column("entry", JSON, nullable=False),
)

call_recordings = Table(
    # A finished call's WAV in 1 MiB pieces, when replicas share the database (PostgreSQL): any
    # replica can then serve a call another one recorded (store/recordings.py).
    "call_recordings",
    metadata,
    Column("call_id", ID, ForeignKey("calls.id"), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("data", LargeBinary, nullable=False),
)

twilio_numbers = Table(
    "twilio_numbers",
    metadata,
    Column("id", ID, primary_key=True),
    Column("organization_id", ID, ForeignKey("organizations.id"), nullable=False, index=True),
    Column("phone_number", String(32), nullable=False, unique=True),
    Column("phone_sid", String(64), nullable=False),
    Column("account_sid", String(64), nullable=False),
    Column("auth_token", String(256), nullable=False),
    Column("label", String(200), nullable=False),
    Column("created_at", TIME, nullable=False),
    Column("updated_at", TIME, nullable=False),
)

sip_trunks = Table(
    "sip_trunks",
    metadata,
    Column("id", ID, primary_key=True),
    Column("organization_id", ID, ForeignKey("organizations.id"), nullable=False, index=True),
    Column("config", JSON, nullable=False),
    Column("inbound_sip_username", String(200), unique=True),
    Column("inbound_sip_password", String(256)),
    Column("outbound_sip_password", String(256)),
    Column("created_at", TIME, nullable=False),
)

sip_trunk_assignments = Table(
    "sip_trunk_assignments",
    metadata,
    Column("id", ID, primary_key=True),
    Column("organization_id", ID, ForeignKey("organizations.id"), nullable=False),
    Column("sip_trunk_id", ID, ForeignKey("sip_trunks.id"), nullable=False, index=True),
    Column("agent_id", ID, nullable=False),
    Column("number", String(64)),
    Column("alternate_number", String(64), unique=True),
    Column("created_at", TIME, nullable=False),
    UniqueConstraint("sip_trunk_id", "number"),
)

used_session_tokens = Table(
    "used_session_tokens",
    metadata,
    Column("jti", String(64), primary_key=True),
    Column("expires_at", TIME, nullable=False, index=True),
)
