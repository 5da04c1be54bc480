"""Live calls with an LLM agent: the session WebSocket end to end, the brain talking to a fake
OpenAI-compatible server (``support.fake_llm``), with the small fake speech engines.

What is shown: the model's streamed text is spoken a sentence at a time, with the agent's prompt
and the token's variables; a tool call goes to the client and its output back to the model; a
barge-in stops the generation (the model server sees the client hang up); a model server that
dies mid-answer gets the caller an apology and the call goes on.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

import vatel
from support.call_audio import collect, silence, speak, tone
from support.fake_engines import ScriptedRecognizer, ToneSynthesizer, fake_services
from support.fake_llm import FakeLLM, Reply, chunk, text_events, tool_events
from support.live_server import LiveServer
from vatel.server import ServerSettings, create_app
from vatel.server.bootstrap import prepare
from vatel.server.engines.llm_brain import APOLOGY, LLMBrain, LLMEndpoint
from vatel.server.runner import ServerThread
from vatel.server.store import agents as agent_store

pytestmark = pytest.mark.loopback

LLM = "fake/model"
BOOK_TABLE = {
    "type": "tool",
    "name": "book_table",
    "description": "Book a table.",
    "parameters": {"type": "object", "properties": {"people": {"type": "integer"}}, "required": ["people"]},
}


@dataclasses.dataclass
class Served:
    server: LiveServer
    recognizer: ScriptedRecognizer
    synthesizer: ToneSynthesizer
    llm: FakeLLM


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    with FakeLLM() as fake:
        yield fake


@pytest.fixture
def served(tmp_path: Path, llm: FakeLLM) -> Iterator[Served]:
    services, recognizer, synthesizer = fake_services()
    endpoint = LLMEndpoint(LLM, llm.base_url, "fake-model", first_token_timeout=3.0, token_timeout=2.0)
    services = dataclasses.replace(services, brains={**services.brains, LLM: LLMBrain(endpoint)})
    keys: list[str] = []
    settings = ServerSettings(data_dir=tmp_path / "data", database_url=None)
    runner = ServerThread(create_app(settings, live=services, on_first_key=keys.append)).start()
    try:
        yield Served(LiveServer(runner.url, keys[0], settings), recognizer, synthesizer, llm)
    finally:
        runner.stop()


def make_agent(served: Served, **fields: Any) -> str:
    with served.server.client() as client:
        agent = client.agents.create({"name": "Host", "llm": LLM, **fields})
    assert agent.id is not None
    return agent.id


async def set_nodes(served: Served, agent_id: str, nodes: list[dict[str, Any]]) -> None:
    """Graph nodes (the agent's tools) go in through the store, as ``vatel agents import`` does."""
    ready = await prepare(served.server.settings)
    try:
        async with ready.engine.begin() as conn:
            agent = await agent_store.get_agent(conn, ready.organization.id, agent_id)
            version = await agent_store.active_version(conn, agent)
            await agent_store.set_version_nodes(conn, agent, version.id, nodes)
    finally:
        await ready.engine.dispose()


@pytest.fixture
async def session(served: Served) -> AsyncIterator[Any]:
    opened: list[vatel.Connection] = []

    async def open_session(agent_id: str, **token: Any) -> vatel.Connection:
        async with served.server.client() as client:
            minted = await client.session.generate_token_async(agent_id, **token)
            conn = await client.connect(minted.token)
        opened.append(conn)
        return conn

    yield open_session
    for conn in opened:
        await conn.close()


async def final_text(conn: vatel.Connection) -> tuple[list[Any], str]:
    """Messages up to the agent turn's final ``response_text``, and that text."""
    seen = await collect(conn, "response_text")
    while not (seen[-1].type == "response_text" and seen[-1].data.is_final):
        seen += await collect(conn, "response_text")
    return seen, seen[-1].data.text


async def played_out(conn: vatel.Connection) -> None:
    """Until the turn's last audio, and a little more for it to be heard."""
    audio = await collect(conn, "response_audio")
    while not audio[-1].data.is_final:
        audio += await collect(conn, "response_audio")
    await asyncio.sleep(0.6)


async def test_the_model_answers_with_the_prompt_and_variables(served: Served, session: Any) -> None:
    served.recognizer.texts.extend(["what are your hours"])
    served.llm.script(Reply(text_events("We open", " at nine.", " We close", " at five.")))
    agent_id = make_agent(served, prompt="You are the host of {place}.", first_message="Welcome to {place}!")
    conn = await session(agent_id, variables={"place": "Chez Ada"})
    await collect(conn, "session_started")
    await played_out(conn)
    await speak(conn, tone(0.6) + silence(0.5))
    _, text = await final_text(conn)
    assert text == "We open at nine. We close at five."
    await played_out(conn)
    # each sentence went to speech on its own, the first before the model had finished
    assert served.synthesizer.spoken == ["Welcome to Chez Ada!", "We open at nine.", "We close at five."]
    request = served.llm.requests[0].body
    assert request["model"] == "fake-model" and request["stream"] is True
    assert request["messages"] == [
        {"role": "system", "content": "You are the host of Chez Ada."},
        {"role": "assistant", "content": "Welcome to Chez Ada!"},
        {"role": "user", "content": "what are your hours"},
    ]


async def test_a_tool_call_round_trip(served: Served, session: Any) -> None:
    served.recognizer.texts.extend(["a table for four please"])
    agent_id = make_agent(served, prompt="Book tables.")
    await set_nodes(served, agent_id, [BOOK_TABLE])
    served.llm.script(
        Reply(tool_events("call_x", "book_table", ['{"peop', 'le": 4}'], say="One moment.")),
        Reply(text_events("Booked,", " your table is 12.")),
    )
    conn = await session(agent_id)
    await collect(conn, "session_started")
    await speak(conn, tone(0.6) + silence(0.5))
    call = (await collect(conn, "tool_call"))[-1]
    assert call.data.toolName == "book_table"
    assert call.data.argument_values() == {"people": 4}
    assert call.data.arguments[0].dataType == "number" and call.data.arguments[0].required is True
    await conn.send_tool_call_output(call.data.toolCallId, "table 12")
    _, text = await final_text(conn)
    assert text == "One moment. Booked, your table is 12."
    first, second = (request.body for request in served.llm.requests)
    assert [tool["function"]["name"] for tool in first["tools"]] == ["book_table"]
    assert second["messages"][-2:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call.data.toolCallId,
                    "type": "function",
                    "function": {"name": "book_table", "arguments": '{"people": 4}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call.data.toolCallId, "content": "table 12"},
    ]


async def test_barge_in_stops_the_generation(served: Served, session: Any) -> None:
    served.recognizer.texts.extend(["tell me a story", "stop"])
    pieces = ["Once upon a time there was a keeper.", *[f" Word{i}" for i in range(40)], "."]
    served.llm.script(Reply(text_events(*pieces), delay=0.25), Reply(text_events("Okay, I stopped.")))
    conn = await session(make_agent(served))
    await collect(conn, "session_started")
    await speak(conn, tone(0.6) + silence(0.5))
    await collect(conn, "response_audio")  # the first sentence is being heard; the model goes on
    await asyncio.sleep(0.5)
    assert served.llm.hangups == 0
    await speak(conn, tone(0.6))
    cut = await collect(conn, "interruption")
    assert cut[-1].type == "interruption"
    assert await asyncio.to_thread(served.llm.wait_hangup, 5.0)  # the model server saw the hang-up
    await speak(conn, silence(0.5))
    _, text = await final_text(conn)
    assert text == "Okay, I stopped."
    history = served.llm.requests[1].body["messages"]
    assert history[-1] == {"role": "user", "content": "stop"}
    # what the caller heard of the cut answer (a part of its first sentence) is in the history
    assert history[-2]["role"] == "assistant" and history[-2]["content"].startswith("Once upon")
    assert "Word" not in history[-2]["content"]


async def test_a_model_server_that_dies_mid_answer(served: Served, session: Any) -> None:
    served.recognizer.texts.extend(["hello", "are you there"])
    served.llm.script(
        Reply([chunk("Let me think about that. And"), chunk(" then")], die=True),
        Reply(text_events("Yes, I am here.")),
    )
    conn = await session(make_agent(served))
    await collect(conn, "session_started")
    await speak(conn, tone(0.6) + silence(0.5))
    _, text = await final_text(conn)
    assert text == f"Let me think about that. {APOLOGY}"
    await played_out(conn)
    await speak(conn, tone(0.6) + silence(0.5))  # the call goes on
    _, text = await final_text(conn)
    assert text == "Yes, I am here."


async def test_the_fallback_llm_answers_when_the_model_server_fails(served: Served, session: Any) -> None:
    served.recognizer.texts.extend(["what are your hours"])
    served.llm.script(Reply.error(503, "model is loading"))
    prompt = 'You are a host.\nwhen "hours": We are open from nine to five.'
    agent_id = make_agent(served, prompt=prompt, fallback_llm="vatel/scripted")
    conn = await session(agent_id)
    await collect(conn, "session_started")
    await speak(conn, tone(0.6) + silence(0.5))
    _, text = await final_text(conn)
    assert text == "We are open from nine to five."  # the scripted rules, not an apology
    assert len(served.llm.requests) == 1
