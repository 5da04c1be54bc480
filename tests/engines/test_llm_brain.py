"""The LLM brain against a fake OpenAI-compatible server on loopback (``support.fake_llm``).

The fake speaks the real streaming wire (chunked SSE over HTTP/1.1); each test scripts what it
answers and then looks at what the brain yielded and what the server received.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Sequence

import pytest

from support.fake_llm import DONE, FakeLLM, Reply, chunk, text_events, tool_events
from vatel.server.engines.brain import (
    AgentSetup,
    BrainEvent,
    CallTool,
    EndCall,
    Entry,
    Say,
    ToolRequest,
    ToolResult,
    Utterance,
)
from vatel.server.engines.llm_brain import APOLOGY, LLMBrain, LLMEndpoint

pytestmark = pytest.mark.loopback

BOOK_TABLE = {
    "type": "tool",
    "name": "book_table",
    "description": "Book a table.",
    "parameters": {
        "type": "object",
        "properties": {
            "people": {"type": "integer", "description": "How many guests"},
            "time": {"type": "string"},
            "name": {"type": "string"},
        },
        "required": ["people", "time"],
    },
}
HELLO: tuple[Entry, ...] = (Utterance("user", "Hello there"),)


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    with FakeLLM() as fake:
        yield fake


def endpoint(base_url: str, **options: object) -> LLMEndpoint:
    settings: dict[str, object] = {
        "name": "fake/model",
        "base_url": base_url,
        "model": "fake-model",
        "first_token_timeout": 2.0,
        "token_timeout": 1.0,
        **options,
    }
    return LLMEndpoint(**settings)  # type: ignore[arg-type]


@pytest.fixture
async def brain(llm: FakeLLM) -> AsyncIterator[LLMBrain]:
    made = LLMBrain(endpoint(llm.base_url))
    yield made
    await made.aclose()


async def turn(
    brain: LLMBrain, conversation: Sequence[Entry] = HELLO, agent: AgentSetup | None = None
) -> list[BrainEvent]:
    return [event async for event in brain.respond(agent or AgentSetup(), conversation)]


class TestText:
    async def test_streamed_text_comes_out_a_sentence_at_a_time(self, llm: FakeLLM, brain: LLMBrain) -> None:
        llm.script(Reply(text_events("Hel", "lo! I am", " Dr. Smith", ". How can", " I help", " today?")))
        events = await turn(brain)
        assert events == [Say("Hello!"), Say("I am Dr. Smith."), Say("How can I help today?")]

    async def test_the_first_sentence_is_yielded_before_the_stream_ends(
        self, llm: FakeLLM, brain: LLMBrain
    ) -> None:
        llm.script(Reply(text_events("First sentence.", " Second", " sentence."), delay=0.3))
        responses = brain.respond(AgentSetup(), HELLO)
        first = await anext(responses)
        # the server is still pausing before its later pieces: only two of them were sent yet
        assert first == Say("First sentence.")
        assert len(llm.requests) == 1 and llm.hangups == 0
        rest = [event async for event in responses]
        assert rest == [Say("Second sentence.")]

    async def test_the_request_carries_model_prompt_with_variables_and_history(
        self, llm: FakeLLM, brain: LLMBrain
    ) -> None:
        llm.script(Reply(text_events("Sure.")))
        agent = AgentSetup(
            prompt="You are the host of {Restaurant}. The caller is {name}. Keep {unknown} as is.",
            variables={"restaurant": "Chez Ada", "NAME": "Grace"},
        )
        conversation: tuple[Entry, ...] = (
            Utterance("assistant", "Welcome to Chez Ada."),
            Utterance("user", "Hi."),
            Utterance("user", "Do you have a table?"),
        )
        assert await turn(brain, conversation, agent) == [Say("Sure.")]
        request = llm.requests[0]
        assert request.method == "POST" and request.path == "/v1/chat/completions"
        assert request.headers["accept"] == "text/event-stream"
        assert "authorization" not in request.headers
        assert request.body == {
            "model": "fake-model",
            "stream": True,
            "messages": [
                {
                    "role": "system",
                    "content": "You are the host of Chez Ada. The caller is Grace. Keep {unknown} as is.",
                },
                {"role": "assistant", "content": "Welcome to Chez Ada."},
                {"role": "user", "content": "Hi. Do you have a table?"},
            ],
        }

    async def test_api_key_limits_and_markup(self, llm: FakeLLM) -> None:
        brain = LLMBrain(endpoint(llm.base_url, api_key="sk-test", max_tokens=64, temperature=0.2))
        llm.script(Reply(text_events("**Yes**, we are", " open.\n- Monday\n- Tuesday")))
        try:
            assert await turn(brain) == [Say("Yes, we are open."), Say("Monday"), Say("Tuesday")]
        finally:
            await brain.aclose()
        request = llm.requests[0]
        assert request.headers["authorization"] == "Bearer sk-test"
        assert request.body["max_tokens"] == 64 and request.body["temperature"] == 0.2
        assert "tools" not in request.body

    async def test_a_server_that_ignores_stream_true(self, llm: FakeLLM, brain: LLMBrain) -> None:
        body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "One. Two."}}]}
        llm.script(Reply(body=json.dumps(body), content_type="application/json"))
        assert await turn(brain) == [Say("One."), Say("Two.")]

    async def test_inline_reasoning_is_not_spoken(self, llm: FakeLLM, brain: LLMBrain) -> None:
        llm.script(
            Reply(text_events("<think>", "The user greets.", " Greet back.</th", "ink>\n\n", "Hello! Hi."))
        )
        assert await turn(brain) == [Say("Hello!"), Say("Hi.")]

    async def test_an_empty_answer_is_logged(
        self, llm: FakeLLM, brain: LLMBrain, caplog: pytest.LogCaptureFixture
    ) -> None:
        llm.script(Reply(text_events("<think>only thinking</think>", "  ")))
        with caplog.at_level(logging.WARNING):
            assert await turn(brain) == []
        assert "the model said nothing (finish_reason stop)" in caplog.text

    async def test_connections_are_reused_across_turns(self, llm: FakeLLM, brain: LLMBrain) -> None:
        llm.script(Reply(text_events("One.")), Reply(text_events("Two.")))
        assert await turn(brain) == [Say("One.")]
        assert await turn(brain) == [Say("Two.")]
        assert len(llm.requests) == 2 and llm.connections == 1


class TestTools:
    async def test_a_split_tool_call_becomes_call_tool_and_its_output_goes_back(
        self, llm: FakeLLM, brain: LLMBrain
    ) -> None:
        agent = AgentSetup(prompt="Book tables.", nodes=(BOOK_TABLE, {"type": "start"}))
        llm.script(
            Reply(
                tool_events(
                    "call_abc", "book_table", ['{"peo', 'ple": 4, "ti', 'me": "19:30"}'], say="One moment."
                )
            )
        )
        events = await turn(brain, HELLO, agent)
        assert events[0] == Say("One moment.")
        assert isinstance(events[1], CallTool) and len(events) == 2
        assert events[1].name == "book_table"
        assert list(events[1].arguments) == [
            {
                "name": "people",
                "type": "resolved",
                "dataType": "number",
                "value": 4,
                "required": True,
                "description": "How many guests",
            },
            {"name": "time", "type": "resolved", "dataType": "string", "value": "19:30", "required": True},
            {"name": "name", "type": "resolved", "dataType": "string", "value": None, "required": False},
        ]
        offered = llm.requests[0].body["tools"]
        assert offered == [
            {
                "type": "function",
                "function": {
                    "name": "book_table",
                    "description": "Book a table.",
                    "parameters": BOOK_TABLE["parameters"],
                },
            }
        ]
        # The call core names the call and sends the client's output back: the next request has both.
        conversation = (
            *HELLO,
            ToolRequest("call-1", "book_table", events[1].arguments),
            ToolResult("call-1", '{"reference": "A7"}'),
        )
        llm.script(Reply(text_events("Booked, your reference is A7.")))
        assert await turn(brain, conversation, agent) == [Say("Booked, your reference is A7.")]
        messages = llm.requests[1].body["messages"]
        assert messages[1:] == [
            {"role": "user", "content": "Hello there"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call-1",
                        "type": "function",
                        "function": {
                            "name": "book_table",
                            "arguments": '{"people": 4, "time": "19:30", "name": null}',
                        },
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call-1", "content": '{"reference": "A7"}'},
        ]

    async def test_end_call_tool_hangs_up(self, llm: FakeLLM, brain: LLMBrain) -> None:
        agent = AgentSetup(nodes=({"type": "end_call"},))
        llm.script(Reply(tool_events("c1", "end_call", ["{}"], say="Goodbye!")))
        assert await turn(brain, HELLO, agent) == [Say("Goodbye!"), EndCall()]
        names = [tool["function"]["name"] for tool in llm.requests[0].body["tools"]]
        assert names == ["end_call"]

    async def test_tool_arguments_that_are_not_json_get_an_apology(
        self, llm: FakeLLM, brain: LLMBrain, caplog: pytest.LogCaptureFixture
    ) -> None:
        agent = AgentSetup(nodes=(BOOK_TABLE,))
        llm.script(Reply(tool_events("c1", "book_table", ['{"people": 4,'])))
        with caplog.at_level(logging.WARNING):
            assert await turn(brain, HELLO, agent) == [Say(APOLOGY)]
        assert "book_table: arguments are not JSON" in caplog.text


class TestFailures:
    """Every failure of the server is an apology and a log line, never an exception."""

    @pytest.mark.parametrize(
        ("status", "message"),
        [(500, "model crashed"), (429, "rate limit reached"), (401, "invalid api key")],
    )
    async def test_error_statuses(
        self, llm: FakeLLM, brain: LLMBrain, caplog: pytest.LogCaptureFixture, status: int, message: str
    ) -> None:
        llm.script(Reply.error(status, message))
        with caplog.at_level(logging.WARNING):
            assert await turn(brain) == [Say(APOLOGY)]
        assert f"answered {status}: {message}" in caplog.text

    async def test_an_error_body_that_is_not_json(
        self, llm: FakeLLM, brain: LLMBrain, caplog: pytest.LogCaptureFixture
    ) -> None:
        llm.script(Reply(status=502, body="<html>bad gateway</html>", content_type="text/html"))
        with caplog.at_level(logging.WARNING):
            assert await turn(brain) == [Say(APOLOGY)]
        assert "answered 502: <html>bad gateway</html>" in caplog.text

    async def test_a_wrong_base_url(self, llm: FakeLLM, caplog: pytest.LogCaptureFixture) -> None:
        brain = LLMBrain(endpoint(llm.base_url.removesuffix("/v1")))
        with caplog.at_level(logging.WARNING):
            assert await turn(brain) == [Say(APOLOGY)]  # the fake has no such route: 404
        await brain.aclose()
        assert "answered 404: no route /chat/completions (base_url should end with" in caplog.text
        assert "answered a web page" not in caplog.text
        brain = LLMBrain(endpoint(llm.base_url))
        llm.script(
            Reply(status=200, body="<html>a web UI</html>", content_type="text/html"),
            Reply(["hello\n", "plain text\n"], content_type="text/plain"),
        )
        with caplog.at_level(logging.WARNING):
            assert await turn(brain) == [Say(APOLOGY)]
            assert await turn(brain) == [Say(APOLOGY)]
        await brain.aclose()
        assert "answered a web page, not an event stream (is base_url right?)" in caplog.text
        assert "sent no events (is it an OpenAI-compatible /v1?)" in caplog.text

    async def test_connection_refused(self, caplog: pytest.LogCaptureFixture) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        brain = LLMBrain(endpoint(f"http://127.0.0.1:{port}/v1"))
        with caplog.at_level(logging.WARNING):
            assert await turn(brain) == [Say(APOLOGY)]
        await brain.aclose()
        assert "could not reach" in caplog.text and "ConnectError" in caplog.text

    async def test_slow_first_token(self, llm: FakeLLM, caplog: pytest.LogCaptureFixture) -> None:
        brain = LLMBrain(endpoint(llm.base_url, first_token_timeout=0.3))
        llm.script(Reply(text_events("Too late."), first_delay=5.0))
        with caplog.at_level(logging.WARNING):
            assert await turn(brain) == [Say(APOLOGY)]
        await brain.aclose()
        assert "silent for 0.3 s for the first token" in caplog.text
        assert llm.wait_hangup(5.0)  # the brain closed the connection; the server may stop

    async def test_silence_between_tokens(self, llm: FakeLLM, caplog: pytest.LogCaptureFixture) -> None:
        brain = LLMBrain(endpoint(llm.base_url, token_timeout=0.3))
        llm.script(
            Reply([chunk(role="assistant"), chunk("Said in time. And then"), chunk(" nothing")], hang=5.0)
        )
        with caplog.at_level(logging.WARNING):
            events = await turn(brain)
        await brain.aclose()
        assert events == [Say("Said in time."), Say(APOLOGY)]
        assert "silent for 0.3 s between tokens" in caplog.text

    async def test_slow_headers(self, llm: FakeLLM, caplog: pytest.LogCaptureFixture) -> None:
        brain = LLMBrain(endpoint(llm.base_url, first_token_timeout=0.3))
        llm.script(Reply(body="{}", content_type="application/json", first_delay=5.0))
        with caplog.at_level(logging.WARNING):
            assert await turn(brain) == [Say(APOLOGY)]
        await brain.aclose()
        assert "no answer from" in caplog.text

    async def test_a_server_that_dies_mid_stream(
        self, llm: FakeLLM, brain: LLMBrain, caplog: pytest.LogCaptureFixture
    ) -> None:
        llm.script(
            Reply([chunk(role="assistant"), chunk("Half a thought. And the"), chunk(" rest")], die=True)
        )
        with caplog.at_level(logging.WARNING):
            events = await turn(brain)
        assert events == [Say("Half a thought."), Say(APOLOGY)]
        assert "broke off" in caplog.text
        # the call goes on: the next turn works
        llm.script(Reply(text_events("Back again.")))
        assert await turn(brain) == [Say("Back again.")]

    async def test_a_stream_that_ends_without_done(
        self, llm: FakeLLM, brain: LLMBrain, caplog: pytest.LogCaptureFixture
    ) -> None:
        llm.script(Reply([chunk(role="assistant"), chunk("Cut short. Mid")]))
        with caplog.at_level(logging.WARNING):
            assert await turn(brain) == [Say("Cut short."), Say(APOLOGY)]
        assert "stopped mid-answer" in caplog.text

    async def test_finish_reason_without_done_is_complete(self, llm: FakeLLM, brain: LLMBrain) -> None:
        llm.script(Reply([chunk("All of it."), chunk(finish="stop")]))
        assert await turn(brain) == [Say("All of it.")]

    @pytest.mark.parametrize(
        "garbage",
        [
            "data: {not json\n\n",
            "data: [1, 2]\n\n",
            'data: {"error": {"message": "overloaded"}}\n\n',
            'data: {"choices": [{"delta": {"content": 5}}]}\n\n',
            'data: {"choices": [{"delta": {"tool_calls": [{"index": "x"}]}}]}\n\n',
            'data: {"choices": ["nope"]}\n\n',
        ],
    )
    async def test_malformed_events(
        self, llm: FakeLLM, brain: LLMBrain, caplog: pytest.LogCaptureFixture, garbage: str
    ) -> None:
        llm.script(Reply([chunk("Fine so far. Then"), garbage, chunk(" more."), DONE]))
        with caplog.at_level(logging.WARNING):
            assert await turn(brain) == [Say("Fine so far."), Say(APOLOGY)]
        assert "llm fake/model" in caplog.text

    async def test_lines_that_carry_no_data_are_skipped(self, llm: FakeLLM, brain: LLMBrain) -> None:
        noise = [
            ": keep-alive\n\n",
            "event: message\n",
            "id: 7\n",
            "retry: 100\n",
            "junk line\n\n",
            "data:\n\n",
        ]
        llm.script(Reply([noise[0], chunk("Still"), *noise[1:], chunk(" fine."), DONE]))
        assert await turn(brain) == [Say("Still fine.")]


class TestCancellation:
    async def test_closing_the_turn_closes_the_http_stream(self, llm: FakeLLM, brain: LLMBrain) -> None:
        llm.script(Reply(text_events("First.", " Second.", " Third.", " Fourth."), delay=0.5))
        responses = brain.respond(AgentSetup(), HELLO)
        assert isinstance(responses, AsyncGenerator)
        assert await anext(responses) == Say("First.")
        await responses.aclose()
        assert llm.wait_hangup(5.0)

    async def test_cancelling_the_task_closes_the_http_stream(self, llm: FakeLLM, brain: LLMBrain) -> None:
        llm.script(Reply(text_events("Never said."), first_delay=10.0))
        said: list[BrainEvent] = []

        async def think() -> None:
            async for event in brain.respond(AgentSetup(), HELLO):
                said.append(event)

        task = asyncio.create_task(think())
        await asyncio.to_thread(llm.wait_request, 5.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert said == []
        assert await asyncio.to_thread(llm.wait_hangup, 5.0)
