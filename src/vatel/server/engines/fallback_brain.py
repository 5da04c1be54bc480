"""An agent's ``llm`` with its ``fallback_llm``: the second answers when the first cannot.

"Cannot" means the model server failed before the turn said anything (unreachable, an error
status, no first token in time, a broken stream before the first sentence): the caller then
hears the fallback's answer instead of an apology, and nothing of the failure. Once the primary
has spoken, a failure ends the turn with the apology as usual (the fallback cannot continue
someone else's sentence). The fallback may be any brain, the scripted one included.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Sequence

from vatel.server.engines.brain import AgentSetup, Brain, BrainEvent, Entry, Say
from vatel.server.engines.llm_brain import APOLOGY, LLMBrain, LLMTrouble

logger = logging.getLogger("vatel.server.engines.llm")


class FallbackBrain:
    def __init__(self, primary: LLMBrain, fallback: Brain) -> None:
        self.name = primary.name
        self.primary = primary
        self.fallback = fallback

    async def respond(self, agent: AgentSetup, conversation: Sequence[Entry]) -> AsyncIterator[BrainEvent]:
        said = False
        try:
            async with contextlib.aclosing(self.primary.attempt(agent, conversation)) as events:
                async for event in events:
                    said = said or isinstance(event, Say)
                    yield event
            return
        except LLMTrouble as trouble:
            if said:
                logger.warning("llm %s: %s", self.name, trouble)
                yield Say(APOLOGY)
                return
            logger.warning("llm %s: %s; %s answers instead", self.name, trouble, self.fallback.name)
        answer = self.fallback.respond(agent, conversation)
        try:
            async for event in answer:
                yield event
        finally:
            close = getattr(answer, "aclose", None)
            if close is not None:
                await close()
