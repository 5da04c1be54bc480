"""The LLM brain: an agent turn from any OpenAI-compatible chat-completions server.

vLLM, Ollama, llama.cpp's server or a hosted API: ``POST {base_url}/chat/completions`` with
``stream: true``. Text is spoken a sentence at a time as it streams in (``SentenceStream``), so
speech starts on the first sentence while the model is still writing the rest. A tool call the
model makes becomes the turn's ``CallTool`` (the call core sends ``tool_call`` and asks again
with the client's output, which goes back to the model as a ``tool`` message).

Failures never end the call: a server that cannot be reached, answers an error status, is too
slow for the first token or between tokens, breaks the wire format or stops mid-answer gets the
caller a short apology (:data:`APOLOGY`) and the details in the log. Cancelling the turn (the
caller cut in) closes the HTTP response at once, so the server stops generating.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from vatel.server.engines.brain import AgentSetup, BrainEvent, CallTool, EndCall, Entry, Say
from vatel.server.engines.llm_messages import (
    END_CALL,
    BadToolArguments,
    Toolbox,
    chat_messages,
    offered_tools,
    tool_arguments,
)
from vatel.server.engines.llm_stream import Completion, Done, StreamError, parse_line
from vatel.server.engines.sentence_stream import SentenceStream, ThinkingFilter

logger = logging.getLogger("vatel.server.engines.llm")

APOLOGY = "Sorry, I'm having trouble thinking right now."
ERROR_BODY = 2000
"""Characters of an error response kept for the log."""
DRAIN_SECONDS = 0.5
"""How long the end of a body after ``[DONE]`` is waited for (else the connection is dropped)."""
MAX_BODY = 1 << 20
"""Bytes of a non-streamed answer read at most."""


@dataclass(frozen=True)
class LLMEndpoint:
    """One configured model (``[llms."NAME"]`` in the server config file)."""

    name: str
    """The id agents name in ``llm`` and ``/v1/llms`` lists, e.g. ``ollama/llama3.2``."""
    base_url: str
    """Up to and including the API version: ``http://127.0.0.1:11434/v1``."""
    model: str
    api_key: str | None = None
    connect_timeout: float = 5.0
    first_token_timeout: float = 10.0
    """Seconds from sending the request to the first text or tool call."""
    token_timeout: float = 5.0
    """Seconds the stream may stay silent once it has begun."""
    max_tokens: int | None = None
    temperature: float | None = None

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"


class LLMTrouble(Exception):
    """Why a turn could not be generated (logged; the caller hears :data:`APOLOGY`)."""


class LLMBrain:
    """A brain backed by one :class:`LLMEndpoint`; one instance serves every call."""

    def __init__(self, endpoint: LLMEndpoint, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.name = endpoint.name
        self.endpoint = endpoint
        self._transport = transport
        # One connection pool per event loop (a client cannot be shared across loops).
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
            weakref.WeakKeyDictionary()
        )

    def _client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            headers = {"Accept": "text/event-stream"}
            if self.endpoint.api_key:
                headers["Authorization"] = f"Bearer {self.endpoint.api_key}"
            # Reads are bounded by the token deadlines below, not by httpx.
            timeout = httpx.Timeout(connect=self.endpoint.connect_timeout, read=None, write=30.0, pool=30.0)
            client = self._clients[loop] = httpx.AsyncClient(
                headers=headers, timeout=timeout, transport=self._transport
            )
        return client

    async def aclose(self) -> None:
        """Close this loop's connections (the server does at shutdown; tests do)."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()

    def request_body(
        self, agent: AgentSetup, conversation: Sequence[Entry], toolbox: Toolbox
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.endpoint.model,
            "messages": chat_messages(agent, conversation),
            "stream": True,
        }
        tools = toolbox.offered()
        if tools:  # only when there are some: servers refuse tools for models without tool support
            body["tools"] = tools
        if self.endpoint.max_tokens is not None:
            body["max_tokens"] = self.endpoint.max_tokens
        if self.endpoint.temperature is not None:
            body["temperature"] = self.endpoint.temperature
        return body

    async def respond(self, agent: AgentSetup, conversation: Sequence[Entry]) -> AsyncIterator[BrainEvent]:
        """The turn; when the server fails, what was said so far and then :data:`APOLOGY`."""
        try:
            async with contextlib.aclosing(self.attempt(agent, conversation)) as events:
                async for event in events:
                    yield event
        except LLMTrouble as trouble:
            logger.warning("llm %s: %s", self.name, trouble)
            yield Say(APOLOGY)

    async def attempt(
        self, agent: AgentSetup, conversation: Sequence[Entry]
    ) -> AsyncGenerator[BrainEvent, None]:
        """The turn, or :class:`LLMTrouble` when the server fails (``FallbackBrain`` uses it)."""
        toolbox = offered_tools(agent.nodes)
        for problem in toolbox.problems:
            logger.debug("llm %s: %s", self.name, problem)
        body = self.request_body(agent, conversation, toolbox)
        completion = Completion()
        said = False
        async with contextlib.aclosing(self._sentences(body, completion)) as sentences:
            async for sentence in sentences:
                said = True
                yield Say(sentence)
        event = self._tool_event(completion, toolbox)
        if event is not None:
            yield event
        elif not said:
            reason = completion.finish_reason
            logger.warning("llm %s: the model said nothing (finish_reason %s)", self.name, reason)

    def _tool_event(self, completion: Completion, toolbox: Toolbox) -> BrainEvent | None:
        call = completion.first_call()
        if call is None:
            return None
        if len(completion.calls) > 1:
            logger.info("llm %s: %d tool calls; the first is made", self.name, len(completion.calls))
        if not call.name:
            raise LLMTrouble("a tool call without a function name")
        if call.name == END_CALL and toolbox.end_call:
            return EndCall()
        try:
            arguments = tool_arguments(call.arguments, toolbox.tools.get(call.name))
        except BadToolArguments as error:
            raise LLMTrouble(f"tool call {call.name}: {error}") from None
        return CallTool(call.name, arguments)

    async def _sentences(self, body: dict[str, Any], completion: Completion) -> AsyncGenerator[str, None]:
        """The completion's text, sentence by sentence; its tool calls land in ``completion``.

        Raises :class:`LLMTrouble` for anything that is the server's fault.
        """
        url = self.endpoint.url
        deadline = asyncio.get_running_loop().time() + self.endpoint.first_token_timeout
        response = await self._open(body, deadline)
        try:
            if response.status_code >= 400:
                hint = (
                    " (base_url should end with the API version, e.g. /v1)"
                    if response.status_code == 404
                    else ""
                )
                raise LLMTrouble(
                    f"{url} answered {response.status_code}: {await _error_body(response)}{hint}"
                )
            kind = response.headers.get("content-type", "")
            if kind.startswith("text/html"):
                raise LLMTrouble(f"{url} answered a web page, not an event stream (is base_url right?)")
            if kind.startswith("application/json"):
                # A server that ignored stream=true: the whole completion at once.
                text = completion.add(await _json_body(response, deadline))
                thinking, sentences = ThinkingFilter(), SentenceStream()
                spoken = thinking.feed(text) + thinking.flush()
                for sentence in [*sentences.feed(spoken), *sentences.flush()]:
                    yield sentence
            else:
                async with contextlib.aclosing(self._read_stream(response, completion, deadline)) as read:
                    async for sentence in read:
                        yield sentence
        except StreamError as error:
            raise LLMTrouble(f"{url}: {error}") from None
        except TimeoutError:
            raise LLMTrouble(f"{url} did not send its answer in time") from None
        except httpx.HTTPError as error:
            raise LLMTrouble(f"{url} broke off: {type(error).__name__}: {error}") from None
        finally:
            await response.aclose()  # on cancellation too: the server sees the disconnect

    async def _open(self, body: dict[str, Any], deadline: float) -> httpx.Response:
        client = self._client()
        request = client.build_request("POST", self.endpoint.url, json=body)
        try:
            async with asyncio.timeout_at(deadline):
                return await client.send(request, stream=True)
        except TimeoutError:
            raise LLMTrouble(
                f"no answer from {self.endpoint.url} within {self.endpoint.first_token_timeout:g} s"
            ) from None
        except httpx.HTTPError as error:
            reason = f"{type(error).__name__}: {error}"
            raise LLMTrouble(f"could not reach {self.endpoint.url}: {reason}") from None

    async def _read_stream(
        self, response: httpx.Response, completion: Completion, deadline: float
    ) -> AsyncGenerator[str, None]:
        """Sentences as the stream completes them. Nothing is yielded inside a timeout block, so
        the consumer's own time never counts against the model."""
        loop = asyncio.get_running_loop()
        endpoint = self.endpoint
        sent = loop.time()
        thinking, sentences = ThinkingFilter(), SentenceStream()
        lines = response.aiter_lines()
        started = done = False
        events = 0
        while not done:
            try:
                async with asyncio.timeout_at(deadline):
                    line = await anext(lines)
            except StopAsyncIteration:
                break
            except TimeoutError:
                wait, what = (
                    (endpoint.token_timeout, "between tokens")
                    if started
                    else (endpoint.first_token_timeout, "for the first token")
                )
                raise LLMTrouble(f"{endpoint.url} was silent for {wait:g} s {what}") from None
            chunk = parse_line(line)
            if chunk is None:
                continue
            events += 1
            if isinstance(chunk, Done):
                done = True
                continue
            calls = len(completion.calls)
            text = completion.add(chunk)
            if text or len(completion.calls) != calls or completion.finish_reason or started:
                if not started:
                    started = True
                    logger.debug("llm %s: first token after %.3f s", self.name, loop.time() - sent)
                deadline = loop.time() + endpoint.token_timeout
            for sentence in sentences.feed(thinking.feed(text)):
                yield sentence
        if not events:
            raise LLMTrouble(f"{endpoint.url} sent no events (is it an OpenAI-compatible /v1?)")
        if not done and completion.finish_reason is None:
            raise LLMTrouble(f"{endpoint.url} stopped mid-answer (no [DONE])")
        for sentence in [*sentences.feed(thinking.feed("") + thinking.flush()), *sentences.flush()]:
            yield sentence
        if done:  # read the end of the body, so the connection goes back to the pool
            with contextlib.suppress(TimeoutError, StopAsyncIteration, httpx.HTTPError):
                async with asyncio.timeout(DRAIN_SECONDS):
                    async for _ in lines:
                        pass


async def _error_body(response: httpx.Response) -> str:
    """The server's error, for the log: ``error.message`` when it is OpenAI-shaped, else the text."""
    raw = b""
    try:
        async with asyncio.timeout(2.0):
            async for piece in response.aiter_bytes():
                raw += piece
                if len(raw) > ERROR_BODY:
                    break
    except (TimeoutError, httpx.HTTPError):
        pass
    text = raw.decode("utf-8", "replace")[:ERROR_BODY]
    try:
        parsed = json.loads(text)
    except ValueError:
        return text.strip() or "(no body)"
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(error, Mapping) and isinstance(error.get("message"), str):
        return str(error["message"])
    if isinstance(error, str):
        return error
    return text.strip()


async def _json_body(response: httpx.Response, deadline: float) -> dict[str, Any]:
    raw = b""
    async with asyncio.timeout_at(deadline):
        async for piece in response.aiter_bytes():
            raw += piece
            if len(raw) > MAX_BODY:
                raise StreamError(f"a non-streamed answer larger than {MAX_BODY} bytes")
    try:
        parsed = json.loads(raw)
    except ValueError:
        raise StreamError(f"a JSON answer that is not JSON: {raw[:200]!r}") from None
    if not isinstance(parsed, dict):
        raise StreamError("a JSON answer that is not an object")
    if "error" in parsed:
        raise StreamError(f"the server reported an error: {str(parsed['error'])[:500]}")
    return parsed
