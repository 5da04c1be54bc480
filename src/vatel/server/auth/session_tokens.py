"""Session tokens: short-lived, single-use HS256 JWTs that open one session WebSocket.

Claims: ``iss`` (``vatel``), ``org``, ``agent_id``, ``version_id``, ``scopes`` (``["voice"]`` or
``["voice", "chat"]``), ``parameters`` (the per-session overrides: ``prompt``, ``first_message``,
``variables``, ``chat_id``), ``iat``, ``exp`` and ``jti``. The secret is generated once per
install and kept in the database, so every replica on one database accepts every token; single
use is enforced in the database too (the jti is consumed when the WebSocket opens).
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt

ISSUER = "vatel"
ALGORITHM = "HS256"


def generate_secret() -> str:
    return secrets.token_urlsafe(48)


@dataclass(frozen=True)
class SessionGrant:
    """What a token allows: one session with one agent version, with these overrides."""

    organization_id: str
    agent_id: str
    version_id: str
    scopes: tuple[str, ...] = ("voice",)
    parameters: dict[str, Any] = field(default_factory=dict)
    jti: str = field(default_factory=lambda: uuid.uuid4().hex)
    expires_at: float = 0.0


class TokenError(ValueError):
    """A token that is not ours, is damaged, or has expired. ``expired`` tells the last case."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


def mint(grant: SessionGrant, secret: str, *, now: float, ttl: float) -> tuple[str, SessionGrant]:
    """The signed token and the grant with its expiry filled in."""
    expires = now + ttl
    claims = {
        "iss": ISSUER,
        "org": grant.organization_id,
        "agent_id": grant.agent_id,
        "version_id": grant.version_id,
        "scopes": list(grant.scopes),
        "parameters": grant.parameters,
        "iat": int(now),
        "exp": expires,
        "jti": grant.jti,
    }
    token = jwt.encode(claims, secret, algorithm=ALGORITHM)
    return token, SessionGrant(
        grant.organization_id,
        grant.agent_id,
        grant.version_id,
        grant.scopes,
        grant.parameters,
        grant.jti,
        expires,
    )


def verify(token: str, secret: str, *, now: float) -> SessionGrant:
    """The grant of a valid token; :class:`TokenError` otherwise (never anything else)."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "jti", "iss"], "verify_exp": False},
        )
    except jwt.PyJWTError as exc:
        raise TokenError(f"invalid session token: {exc}") from None
    if not isinstance(claims.get("exp"), int | float) or claims["exp"] <= now:
        raise TokenError("session token expired", expired=True)
    try:
        return SessionGrant(
            organization_id=_text(claims, "org"),
            agent_id=_text(claims, "agent_id"),
            version_id=_text(claims, "version_id"),
            scopes=tuple(str(scope) for scope in claims.get("scopes", ())),
            parameters=dict(claims.get("parameters") or {}),
            jti=_text(claims, "jti"),
            expires_at=float(claims["exp"]),
        )
    except (TypeError, ValueError) as exc:
        raise TokenError(f"invalid session token claims: {exc}") from None


def _text(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError(f"claim {name!r} missing")
    return value
