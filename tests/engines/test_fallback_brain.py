"""``fallback_llm``: the fallback answers a turn the LLM's server cannot begin."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import pytest

from support.fake_engines import fake_services
from support.fake_llm import FakeLLM, Reply, chunk, text_events
from vatel.server.engines.brain import AgentSetup, BrainEvent, Entry, Say, Utterance
from vatel.server.engines.fallback_brain import FallbackBrain
from vatel.server.engines.llm_brain import APOLOGY, LLMBrain, LLMEndpoint
from vatel.server.engines.scripted_brain import ScriptedBrain

pytestmark = pytest.mark.loopback

RULES = AgentSetup(prompt='when "hours": We are open from nine to five.')
HOURS: tuple[Entry, ...] = (Utterance("user", "what are your hours"),)


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    with FakeLLM() as fake:
        yield fake


@pytest.fixture
async def brains(llm: FakeLLM) -> AsyncIterator[tuple[LLMBrain, LLMBrain]]:
    primary = LLMBrain(LLMEndpoint("fake/primary", llm.base_url, "primary", first_token_timeout=2.0))
    second = LLMBrain(LLMEndpoint("fake/second", llm.base_url, "second", first_token_timeout=2.0))
    yield primary, second
    await primary.aclose()
    await second.aclose()


async def turn(brain: FallbackBrain) -> list[BrainEvent]:
    return [event async for event in brain.respond(RULES, HOURS)]


async def test_the_scripted_rules_answer_when_the_model_server_fails(
    llm: FakeLLM, brains: tuple[LLMBrain, LLMBrain], caplog: pytest.LogCaptureFixture
) -> None:
    llm.script(Reply.error(503, "loading model"))
    with caplog.at_level(logging.WARNING):
        assert await turn(FallbackBrain(brains[0], ScriptedBrain())) == [
            Say("We are open from nine to five.")
        ]
    assert "answered 503: loading model; vatel/scripted answers instead" in caplog.text


async def test_another_model_answers_and_fails_with_its_own_apology(
    llm: FakeLLM, brains: tuple[LLMBrain, LLMBrain]
) -> None:
    llm.script(Reply.error(500, "down"), Reply(text_events("From the second.")))
    brain = FallbackBrain(*brains)
    assert await turn(brain) == [Say("From the second.")]
    assert [request.body["model"] for request in llm.requests] == ["primary", "second"]
    llm.script(Reply.error(500, "down"), Reply.error(500, "down too"))
    assert await turn(brain) == [Say(APOLOGY)]


async def test_no_fallback_once_the_primary_has_spoken(
    llm: FakeLLM, brains: tuple[LLMBrain, LLMBrain]
) -> None:
    llm.script(Reply([chunk("Half of it. And"), chunk(" then")], die=True))
    assert await turn(FallbackBrain(brains[0], ScriptedBrain())) == [Say("Half of it."), Say(APOLOGY)]
    assert len(llm.requests) == 1


async def test_a_working_primary_answers_alone(llm: FakeLLM, brains: tuple[LLMBrain, LLMBrain]) -> None:
    llm.script(Reply(text_events("Nine to five.")))
    assert await turn(FallbackBrain(brains[0], ScriptedBrain())) == [Say("Nine to five.")]
    assert len(llm.requests) == 1


async def test_services_wrap_an_llm_that_has_a_fallback(brains: tuple[LLMBrain, LLMBrain]) -> None:
    services, _, _ = fake_services()
    services = services.__class__(
        services.engines, {**services.brains, "fake/primary": brains[0]}, services.pool
    )
    wrapped = services.brain_for("fake/primary", "vatel/scripted")
    assert isinstance(wrapped, FallbackBrain) and wrapped.name == "fake/primary"
    assert services.brain_for("fake/primary") is brains[0]
    assert services.brain_for("fake/primary", "gone/model") is brains[0]
    assert services.brain_for("fake/primary", "fake/primary") is brains[0]
    assert isinstance(services.brain_for("vatel/scripted", "fake/primary"), ScriptedBrain)
