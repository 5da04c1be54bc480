"""Opening the session: a token for the agent, then the WebSocket, with each failure in one line;
and winding it down when it is over.

The messages name the flag or variable that fixes them (``--api-key`` / ``VATEL_API_KEY`` ...).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from vatel.app.config import SessionConfig
from vatel.app.errors import SessionError
from vatel.client import Client
from vatel.connection import Connection
from vatel.errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
)

__all__ = ["explain", "open_session", "wind_down"]


def explain(error: APIError, config: SessionConfig) -> str:
    """One line for a failed token request or handshake, with the fix."""
    if isinstance(error, AuthenticationError):
        return f"the server refused the API key ({error}): check --api-key or VATEL_API_KEY"
    if isinstance(error, NotFoundError):
        return f"agent {config.agent_id} was not found ({error}): check --agent-id or VATEL_AGENT_ID"
    if isinstance(error, PermissionDeniedError):
        return f"this API key may not use agent {config.agent_id} ({error}): check --agent-id"
    if isinstance(error, APIConnectionError):
        return f"cannot reach {config.base_url} ({error}): check --base-url or VATEL_BASE_URL and the network"
    return str(error)


async def open_session(client: Client, config: SessionConfig) -> Connection:
    """A token for ``config.agent_id``, then the session socket (:class:`SessionError` on failure)."""
    try:
        token = (await client.session.generate_token_async(config.agent_id)).token
        return await client.connect(token)
    except APIError as error:
        raise SessionError(explain(error, config)) from None
    except ValueError as error:
        raise SessionError(f"{error}: check --base-url or VATEL_BASE_URL") from None


async def wind_down(
    conn: Connection, helpers: Sequence[asyncio.Future[None]], closing: asyncio.Future[None] | None
) -> None:
    """Stop the session's helper tasks, then finish the close already under way (``closing``) or
    close with 1000 if the socket is still open."""
    for task in helpers:
        task.cancel()
    await asyncio.gather(*helpers, return_exceptions=True)
    if closing is not None:
        await asyncio.gather(closing, return_exceptions=True)
    elif conn.close_code is None:
        await conn.close(1000)
