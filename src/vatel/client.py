"""``Client``: the REST resources and the session WebSocket of one Vatel server.

Names follow the official Python SDK (``client.agents.list()``, ``client.session.generate_token_async``,
``await client.connect(token)``); behaviour is sturdier (protocol.md §5): typed errors, retries where
safe, custom httpx clients that still get the base URL and auth, ``connect`` that dials this
client's own server, and ``close()``/``aclose()`` that really close.
"""

from __future__ import annotations

import os
from types import TracebackType
from typing import Self

import httpx

from vatel.api import (
    AgentsAPI,
    CallsAPI,
    LLMsAPI,
    OrganizationAPI,
    SessionAPI,
    SipTrunksAPI,
    TwilioNumbersAPI,
    VoicesAPI,
)
from vatel.connection import CONNECTION_PATH, MAX_FRAME_SIZE, ConnectCall, connect
from vatel.transport import HttpTransport

DEFAULT_BASE_URL = "https://api.vatel.ai"


class Client:
    """A client for one Vatel server (the hosted API by default, or ``vatel serve``).

    ``api_key`` falls back to ``VATEL_API_KEY``. Use ``with Client() as c`` (or ``async with``),
    or call :meth:`close` / :meth:`aclose` when done.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float = 30.0,
        max_retries: int = 2,
        http_client: httpx.Client | None = None,
        async_http_client: httpx.AsyncClient | None = None,
    ) -> None:
        if api_key is None:
            api_key = os.environ.get("VATEL_API_KEY") or None
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        self._transport = HttpTransport(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            http_client=http_client,
            async_http_client=async_http_client,
        )
        self.organization = OrganizationAPI(self._transport)
        self.llms = LLMsAPI(self._transport)
        self.voices = VoicesAPI(self._transport)
        self.agents = AgentsAPI(self._transport)
        self.calls = CallsAPI(self._transport)
        self.twilio_numbers = TwilioNumbersAPI(self._transport)
        self.sip_trunks = SipTrunksAPI(self._transport)
        self.session = SessionAPI(self._transport)

    @property
    def base_url(self) -> str:
        return self._transport.base_url

    @property
    def api_key(self) -> str | None:
        return self._transport.api_key

    def connect(
        self,
        token: str,
        *,
        url: str | None = None,
        path: str = CONNECTION_PATH,
        open_timeout: float | None = 10,
        ping_interval: float | None = 20,
        ping_timeout: float | None = 20,
        close_timeout: float | None = 5,
        max_size: int | None = MAX_FRAME_SIZE,
        strict: bool = False,
        additional_headers: dict[str, str] | None = None,
    ) -> ConnectCall:
        """Open the session WebSocket for ``token``: ``conn = await client.connect(token)``
        or ``async with client.connect(token) as conn``.

        Without ``url`` it dials this client's ``base_url`` (``https`` → ``wss``, ``http`` → ``ws``,
        path prefix kept), not production as the official SDK silently does.
        """
        return connect(
            token,
            url=url or self.base_url,
            path=path,
            open_timeout=open_timeout,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_size=max_size,
            strict=strict,
            additional_headers=additional_headers,
        )

    def close(self) -> None:
        """Close the HTTP clients this Client made (sync and async); passed-in clients stay open."""
        self._transport.close()

    async def aclose(self) -> None:
        """Close the HTTP clients this Client made (sync and async); passed-in clients stay open."""
        await self._transport.aclose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
